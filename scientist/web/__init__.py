"""`scientist serve`: a small local web page to watch runs and decide approvals."""
