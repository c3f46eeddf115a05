"""The CLI's inspection commands and its start-up cost (heavy libraries load only when a command needs them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys, scientist.cli\n"
        "heavy = [m for m in ('litellm', 'langgraph', 'llama_cpp', 'chromadb', 'docker', 'numpy')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_doctor_reports_each_check_with_a_fix(isolated_env: Path) -> None:
    result = run_cli("doctor")
    text = " ".join(result.stdout.split())
    for check in ("python", "model", "sandbox:local", "sandbox:docker", "latex", "disk"):
        assert check in text
    assert result.returncode in (0, 1)
    failing = run_cli("doctor", "--model", "local/nope")
    assert failing.returncode == 1 and "fail" in failing.stdout and "smollm2-135m" in failing.stdout


@pytest.mark.slow
def test_runs_list_and_show_describe_a_finished_run(recorded_run: Path) -> None:
    run_dir = recorded_run
    listing = run_cli("runs", "list", env={"COLUMNS": "250"})
    assert run_dir.name in listing.stdout and "completed" in listing.stdout
    shown = run_cli("runs", "show", run_dir.name, env={"COLUMNS": "250"})
    assert shown.returncode == 0
    results = [json.loads(path.read_text()) for path in sorted(run_dir.glob("experiments/*/result.json"))]
    record = next(r for r in results if r["ok"] and r["label"] != "baseline")
    final = json.loads((run_dir / record["final_info_path"]).read_text())
    assert f"true_return={final['metrics']['true_return']:.3f}" in shown.stdout  # numbers from the sandbox output
    calls = len([line for line in (run_dir / "audit.jsonl").read_text().splitlines() if '"llm_call"' in line])
    assert f"model calls: {calls}" in shown.stdout
