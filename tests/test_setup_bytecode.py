"""scripts/bytecode.sh: a venv's packages compiled once per machine, then linked into the next venv when valid.

The venvs here are small folders laid out as uv lays them: the second venv's sources are hard links to the first's
(uv links every venv to its cache), so their .pyc files are valid there; a third venv with copied sources (new mtimes)
must not be handed stale bytecode that Python would only throw away."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "bytecode.sh"
TAG = sys.implementation.cache_tag
SOURCES = {f"pkg{i}/mod{j}.py": f"VALUE = {i * 10 + j}\n" for i in range(3) for j in range(30)}


def run(site: Path, cache: Path) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), sys.executable, str(site), str(cache)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def pyc(site: Path, source: str) -> Path:
    path = site / source
    return path.parent / "__pycache__" / f"{path.stem}.{TAG}.pyc"


@pytest.fixture
def first(tmp_path: Path) -> Path:
    site = tmp_path / "venv1"
    for name, text in SOURCES.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    return site


def linked_copy(site: Path, target: Path) -> Path:
    for name in SOURCES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(site / name, target / name)
    return target


def test_the_first_venv_compiles_and_the_next_one_links_the_same_files(first: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "lock-cpython"
    assert "compiled; kept for the next venv" in run(first, cache)
    assert all(pyc(first, name).is_file() for name in SOURCES)
    assert (cache / "complete").is_file() and not list(cache.parent.glob("*.building.*"))

    second = linked_copy(first, tmp_path / "venv2")
    assert "reused the machine's" in run(second, cache)
    for name in SOURCES:  # the cache's file itself, not a fresh compile
        assert pyc(second, name).stat().st_ino == pyc(cache, name).stat().st_ino, name


def test_a_venv_whose_files_already_have_bytecode_keeps_its_own(first: Path, tmp_path: Path) -> None:
    """pip compiles what it installs (the bootstrap packages): those files are valid and must not be replaced."""
    cache = tmp_path / "cache" / "lock-cpython"
    run(first, cache)
    second = linked_copy(first, tmp_path / "venv2")
    own = pyc(second, "pkg0/mod0.py")
    own.parent.mkdir(parents=True)
    shutil.copy2(pyc(first, "pkg0/mod0.py"), own)
    inode = own.stat().st_ino
    assert "reused the machine's" in run(second, cache)
    assert own.stat().st_ino == inode


def test_copied_sources_with_new_mtimes_are_compiled_again_not_handed_stale_bytecode(
    first: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache" / "lock-cpython"
    run(first, cache)
    third = tmp_path / "venv3"
    for name, text in SOURCES.items():
        (third / name).parent.mkdir(parents=True, exist_ok=True)
        (third / name).write_text(text)
        os.utime(third / name, (1_000_000_000, 1_000_000_000))  # not the first venv's mtime: its .pyc is stale
    out = run(third, cache)
    assert "stale: compiling again" in out and "compiled; kept for the next venv" in out
    for name in SOURCES:  # every .pyc now matches its own source's mtime (bytes 8..12 of the header)
        header = pyc(third, name).read_bytes()[:16]
        assert int.from_bytes(header[8:12], "little") == 1_000_000_000, name
