"""`scientist view RUN` (issue 27): starts a page and prints the run page's URL with its token; with the token of a
page already running there, it only prints that page's URL for the run (no second server)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.conftest import SCIENTIST, run_cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def test_view_serves_the_run_page_and_reuses_a_running_page(recorded_run: Path) -> None:
    runs_dir = recorded_run.parent
    port = free_port()
    env = {**os.environ, "SCIENTIST_SERVE_TOKEN": "view-token-0123456789"}
    args = ["view", recorded_run.name, "--no-open", "--port", str(port), "--runs-dir", str(runs_dir)]
    process = subprocess.Popen(
        [*SCIENTIST, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://\S+)", line)
        assert match, line
        url = match.group(1)
        assert url == f"http://127.0.0.1:{port}/runs/{recorded_run.name}?token=view-token-0123456789"
        wait_for(port)
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert reply.status == 200 and f"Run {recorded_run.name}" in reply.read().decode()
        again = run_cli(*args, env={"SCIENTIST_SERVE_TOKEN": "view-token-0123456789"})
        assert again.returncode == 0 and f"run page: {url}" in again.stdout  # the running page, not a new one
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(10)
    missing = run_cli("view", "no-such-run", "--no-open", "--runs-dir", str(runs_dir))
    assert missing.returncode != 0 and "no run 'no-such-run'" in missing.stderr + missing.stdout
