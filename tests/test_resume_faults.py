"""kill -9 at every node boundary and mid sandbox run, then resume: the result equals a run never killed.

Replay mode makes runs deterministic, so "equal" is byte-equal artifacts and the same multiset of model requests
(each recorded response used exactly as often as in an uninterrupted run: no duplicated LLM calls).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from scientist.audit import AuditLog
from tests.conftest import FIXTURE_TOPIC, LLM_FIXTURES, SCIENTIST, chosen_sandbox, replay_env, run_cli

pytestmark = pytest.mark.slow

NODES = ("ideate", "novelty", "select", "experiment", "write", "review")
TEXT_ARTIFACTS = ("ideas.json", "novelty.json", "selected_idea.json", "experiments/plan.json", "paper/paper.tex")


def only_run(runs: Path) -> Path:
    (run_dir,) = runs.iterdir()
    return run_dir


def metrics(run_dir: Path) -> dict[str, dict[str, float]]:
    found = {}
    for label in ("baseline", "variant"):
        record = json.loads((run_dir / "experiments" / label / "result.json").read_text())
        found[label] = json.loads((run_dir / record["final_info_path"]).read_text())["metrics"]
    return found


def model_requests(run_dir: Path) -> Counter[str]:
    return Counter(str(c.payload.get("request_hash")) for c in AuditLog(run_dir).find(kind="llm_call"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run never killed."""
    root = tmp_path_factory.mktemp("reference")
    store = root / "llm"
    shutil.copytree(LLM_FIXTURES, store)
    env = {**replay_env(store), "XDG_CACHE_HOME": str(root / "cache")}
    result = run_cli("run", FIXTURE_TOPIC, "--runs-dir", str(root / "runs"), env=env)
    assert result.returncode == 0, result.stderr
    return only_run(root / "runs")


def _kill_mid_sandbox(env: dict[str, str], runs: Path) -> None:
    process = subprocess.Popen(
        [*SCIENTIST, "run", FIXTURE_TOPIC], env={**os.environ, **env}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        logs = list(runs.glob("*/audit.jsonl")) if runs.exists() else []
        if logs and '"sandbox_run_start"' in logs[0].read_text():
            time.sleep(0.5)  # inside the sandbox run, not at its first instruction
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the run ended before its sandbox run started"


def _run_containers(run_id: str) -> list[str]:
    from scientist.sandbox.docker import RUN_LABEL

    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}"], capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def check_equals_the_reference(run_dir: Path, reference: Path, experiment_starts: int) -> None:
    """Byte-equal artifacts, the same model requests (none lost or made twice), each node ended once."""
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    for name in TEXT_ARTIFACTS:
        assert (run_dir / name).read_text() == (reference / name).read_text(), name
    assert json.loads((run_dir / "review.json").read_text()) == json.loads((reference / "review.json").read_text())
    assert metrics(run_dir) == metrics(reference)
    assert model_requests(run_dir) == model_requests(reference)  # no LLM call lost or made twice
    replayed = [c.payload["replayed"] for c in AuditLog(run_dir).find(kind="llm_call")]
    assert replayed and all(replayed)
    for node in NODES:
        starts = len(AuditLog(run_dir).find(kind="node_start", node=node))
        assert starts == (experiment_starts if node == "experiment" else 1), (node, starts)
        assert len(AuditLog(run_dir).find(kind="node_end", node=node)) == 1, node
    assert run_cli("audit", "verify", run_dir.name).returncode == 0


def test_kill_9_at_every_node_boundary_then_resume_equals_an_uninterrupted_run(
    isolated_env: Path, replay_store: Path, reference: Path
) -> None:
    """One run killed before each node in turn: killed before `ideate`, then each resume dies before the next node.

    Every boundary is a kill -9 that a resume must recover from (the state a resume finds there does not depend on
    how the process got there: the checkpoint after the previous node), at one run's cost instead of six.
    """
    env = replay_env(replay_store)
    killed = run_cli("run", FIXTURE_TOPIC, env={**env, "SCIENTIST_FAULT_KILL_AT": f"before:{NODES[0]}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_dir = only_run(isolated_env / "runs")
    for node in NODES[1:]:
        assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # died without a word
        killed = run_cli("resume", run_dir.name, env={**env, "SCIENTIST_FAULT_KILL_AT": f"before:{node}"})
        assert killed.returncode == -signal.SIGKILL, (node, killed.stderr)
        started = {event.payload.get("node") for event in AuditLog(run_dir).find(kind="node_start")}
        assert node not in started and NODES[NODES.index(node) - 1] in started, (node, started)

    resumed = run_cli("resume", run_dir.name, env=env)
    assert resumed.returncode == 0, resumed.stderr
    check_equals_the_reference(run_dir, reference, experiment_starts=1)


def test_kill_9_mid_sandbox_then_resume_equals_an_uninterrupted_run(
    isolated_env: Path, replay_store: Path, reference: Path
) -> None:
    env = replay_env(replay_store)
    runs = isolated_env / "runs"
    _kill_mid_sandbox(env, runs)
    run_dir = only_run(runs)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # died without a word

    resumed = run_cli("resume", run_dir.name, env=env)
    assert resumed.returncode == 0, resumed.stderr
    check_equals_the_reference(run_dir, reference, experiment_starts=2)
    if chosen_sandbox() == "docker":
        assert _run_containers(run_dir.name) == []  # a killed run's container was removed on resume
