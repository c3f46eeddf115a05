"""Check the import contract ([tool.importlinter] in pyproject.toml) on the `scientist` package as it is installed.

pyproject maps top-level folders into one namespace (sandbox/ -> scientist.sandbox, tools/ -> scientist.tools, ...),
which the editable install resolves with an import hook that import-linter's graph builder cannot follow: it would
silently see `scientist/` alone. So this copies the installed layout's Python files into a temporary folder (the
same mapping scripts/typecheck.py uses) and runs `lint-imports` there. Experiment templates are left out: they are
programs run inside the sandbox, not modules of the library. Exit status is lint-imports' (0: every contract kept).

    python scripts/lint_imports.py [--tree DIR] [lint-imports options, e.g. --verbose]

`--tree DIR` checks an already built layout instead (tests plant an upward import in a copy and expect a failure).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
NOT_LIBRARY = {"scientist.templates"}  # sandbox programs (no __init__.py), checked by ruff, not by the contract


def package_dirs() -> dict[str, str]:
    """Package name -> repository folder, from [tool.setuptools] package-dir."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return mapping


def _python_only(folder: str, names: list[str]) -> set[str]:
    """copytree filter: keep sub-folders and .py files (data, templates and fixtures are not part of the graph)."""
    base = Path(folder)
    return set(SKIP(folder, names)) | {n for n in names if not (base / n).is_dir() and not n.endswith(".py")}


def build_tree(root: Path, repo: Path = REPO) -> Path:
    """Copy each mapped folder's Python files to where its package name puts it under `root`; returns `root`."""
    for package, folder in sorted(package_dirs().items(), key=lambda item: item[0].count(".")):
        target = root / package.replace(".", "/")
        if target.exists():  # a subpackage mapped elsewhere replaces the root package's own folder of that name
            shutil.rmtree(target)
        shutil.copytree(repo / folder, target, ignore=_python_only)
    for package in NOT_LIBRARY:
        shutil.rmtree(root / package.replace(".", "/"), ignore_errors=True)
    return root


def lint(tree: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with `tree` first on the path (the editable install's hook comes after it)."""
    path = [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-logo", *options, str(REPO / "pyproject.toml")]
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)


def main(argv: list[str]) -> int:
    options = list(argv)
    tree_arg = None
    if "--tree" in options:
        at = options.index("--tree")
        tree_arg = Path(options[at + 1])
        del options[at : at + 2]
    with tempfile.TemporaryDirectory(prefix="scientist-imports-") as tmp:
        tree = tree_arg or build_tree(Path(tmp))
        done = lint(tree, "--no-cache", *options)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
