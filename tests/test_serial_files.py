"""The serial phase of scripts/test.sh collects only the files phase 1 found serial tests in (tests/conftest.py writes
them to SCIENTIST_TEST_SERIAL_FILES before `-m` deselects them): a file missing from that list would silently run in
neither phase, so the list must name every file holding a serial test, live-marked ones included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def without_xdist() -> dict[str, str]:
    """This test's environment minus pytest-xdist's worker variables (the child is a collector of its own)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_XDIST")}


def test_phase_one_lists_the_files_of_serial_tests_it_deselected(tmp_path: Path) -> None:
    listed = tmp_path / "serial-files"
    files = ["tests/test_local_model.py", "tests/test_live_run.py", "tests/test_serial_files.py"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q", "--collect-only",
         "-m", "not serial and not live_full", *files],
        cwd=REPO, env={**without_xdist(), "SCIENTIST_TEST_SERIAL_FILES": str(listed)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]
    # the two files of live (hence serial) tests, not this one, whose test is not serial
    assert listed.read_text(encoding="utf-8").splitlines() == ["tests/test_live_run.py", "tests/test_local_model.py"]
