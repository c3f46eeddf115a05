"""The paper: sections drafted into LaTeX (`writeup`), compiled to PDF (`latex`), with citations checked against the
index (`citations`). Rewriting a finished run's paper is a driver of whole runs and lives in `scientist.rewrite`."""
