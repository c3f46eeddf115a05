"""scientist: an automated AI-safety research agent inside a measurement and safety harness."""

from importlib.metadata import PackageNotFoundError, version

try:
    # One source of truth: pyproject's `version`, as the installed distribution's metadata records it.
    __version__ = version("scientist")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
