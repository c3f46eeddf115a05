"""Review form, reviewer, ensemble and meta-review."""
