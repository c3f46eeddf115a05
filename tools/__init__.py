"""What the agent can use: literature search, index, novelty, citations, edits, plots."""
