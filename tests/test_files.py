"""scientist.files: atomic replacement, safe for concurrent writers of one file and for a write that fails."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from scientist.files import write_bytes_atomic, write_text_atomic


def test_concurrent_writers_of_one_file_never_share_a_temporary_or_leave_one(tmp_path: Path) -> None:
    """Two writers used to share `run.tmp` (a fixed name): one could rename the other's half-written file."""
    target = tmp_path / "deep" / "run.json"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for _ in range(200):
                write_text_atomic(target, str(n) * 4096)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_text() in {str(n) * 4096 for n in range(4)}  # one writer's whole text, never a mixture
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    target = write_text_atomic(tmp_path / "out" / "verdict.json", "old", fsync=True)

    with pytest.raises(TypeError):  # fails after the temporary was created, before the rename
        write_bytes_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old" and [p.name for p in target.parent.iterdir()] == ["verdict.json"]
