"""Type-check the `scientist` distribution as it is installed, not as its folders lie.

pyproject maps top-level folders into one namespace (sandbox/ -> scientist.sandbox, tools/ -> scientist.tools, ...).
The editable install resolves that with an import hook, which mypy cannot follow: checked folder by folder, every
`from scientist.sandbox import ...` silently became `Any` (ignore_missing_imports), hiding real errors. So this
builds the installed layout as a tree of symlinks in a temporary folder, checks `-p scientist` there, and maps
the paths in mypy's messages back to the repository's files. Exit status is mypy's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def package_dirs() -> dict[str, str]:
    """Package name -> repository folder, from [tool.setuptools] package-dir."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return mapping


def build_tree(root: Path, mapping: dict[str, str]) -> dict[str, str]:
    """Symlink each mapped folder where its package name puts it; returns tree prefix -> repository prefix."""
    prefixes = {}
    for package, folder in sorted(mapping.items(), key=lambda item: item[0].count(".")):
        target = root / package.replace(".", "/")
        source = REPO / folder
        if package.count(".") == 0:  # the root package: a real folder, so subpackages can be linked into it
            target.mkdir(parents=True)
            for entry in source.iterdir():
                (target / entry.name).symlink_to(entry)
        else:
            if target.is_symlink():
                target.unlink()  # a subpackage mapped elsewhere replaces the root package's own entry
            target.symlink_to(source)
        prefixes[package.replace(".", "/") + "/"] = folder.rstrip("/") + "/"
    return prefixes


def cache_dir() -> Path:
    """mypy's cache outside the checkout, so a fresh clone on a machine that ran CI before checks in seconds, not two
    minutes (~110 CPU-s cold on 2 cores). Sharing it between checkouts is safe: mypy re-validates every cached module
    by the hash of its source, not by path or mtime. MYPY_CACHE_DIR overrides it, as it does for mypy itself."""
    chosen = os.environ.get("MYPY_CACHE_DIR")
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scientist" / "mypy"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="scientist-typecheck-") as tmp:
        prefixes = build_tree(Path(tmp), package_dirs())
        command = [
            sys.executable, "-m", "mypy",
            "--config-file", str(REPO / "pyproject.toml"),
            "--cache-dir", str(cache_dir()),
            *sys.argv[1:],
            "-p", "scientist",
        ]
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
    longest_first = sorted(prefixes.items(), key=lambda item: -len(item[0]))
    for line in (done.stdout + done.stderr).splitlines():
        for tree_prefix, repo_prefix in longest_first:
            if line.startswith(tree_prefix):
                line = repo_prefix + line[len(tree_prefix):]
                break
        print(line)
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
