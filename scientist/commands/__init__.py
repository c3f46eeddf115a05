"""CLI command groups, one module each (`app = typer.Typer(...)`), registered in `scientist.cli`."""
