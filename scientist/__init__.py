"""scientist: an automated AI-safety research agent inside a measurement and safety harness."""

__version__ = "0.1.0"
