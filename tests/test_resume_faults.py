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

from scientist.audit.log import AuditLog
from tests.conftest import FIXTURE_TOPIC, LLM_FIXTURES, SCIENTIST, chosen_sandbox, quick_sandbox, replay_env, run_cli

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
    env = {**replay_env(store, SCIENTIST_SANDBOX=chosen_sandbox()), "XDG_CACHE_HOME": str(root / "cache")}
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
    env = replay_env(replay_store, SCIENTIST_SANDBOX=chosen_sandbox())  # the reference's backend: Docker
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
    env = replay_env(replay_store, SCIENTIST_SANDBOX=chosen_sandbox())  # the reference's backend: Docker
    runs = isolated_env / "runs"
    _kill_mid_sandbox(env, runs)
    run_dir = only_run(runs)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # died without a word

    resumed = run_cli("resume", run_dir.name, env=env)
    assert resumed.returncode == 0, resumed.stderr
    check_equals_the_reference(run_dir, reference, experiment_starts=2)
    if chosen_sandbox() == "docker":
        assert _run_containers(run_dir.name) == []  # a killed run's container was removed on resume


def test_a_run_stopped_by_novelty_policy_require_resumes_from_its_last_step_once_the_index_has_papers(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`novelty_policy = "require"` with an empty index and no route to arXiv: the run stops at its novelty node.
    The index is then built (`scientist index import`) and the run resumed: the novelty node judges again (and a
    kill -9 right after it, before `select`, loses nothing), and the ideas, drawn once, are neither lost nor drawn
    again. Loopback model (every schema answered), the real runner, index and sandbox."""
    from tests.arxiv_stub import closed_port_url
    from tests.conftest import SYNTHETIC_CORPUS
    from tests.openai_stub import OpenAIStub
    from tests.openai_stub import serve as serve_openai
    from tests.schema_answers import SchemaResponder

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    index_dir = tmp_path / "index"
    for stub in serve_openai(OpenAIStub(responder=SchemaResponder())):
        env = {
            "SCIENTIST_MODEL": "openai/gpt-4o-mini", "SCIENTIST_API_BASE": stub.base_url,
            "SCIENTIST_LLM_CACHE_DIR": str(tmp_path / "llm-cache"), "SCIENTIST_SANDBOX": quick_sandbox(),
            "SCIENTIST_NOVELTY_POLICY": "require", "SCIENTIST_SEED_CORPUS": "", "SCIENTIST_INDEX_DIR": str(index_dir),
            "SCIENTIST_ARXIV_URL": closed_port_url(), "SCIENTIST_ARXIV_MIN_INTERVAL_S": "0",  # no route: offline
            "SCIENTIST_NUM_IDEAS": "2", "SCIENTIST_TRANSIENT_RETRIES": "0", "SCIENTIST_REPAIR_RETRIES": "0",
            "SCIENTIST_EXPERIMENT_RUNS": "0", "SCIENTIST_REVIEW_ENSEMBLE": "1", "SCIENTIST_REVIEW_REFLECTIONS": "0",
        }  # fmt: skip
        stopped = run_cli("run", FIXTURE_TOPIC, env=env)
        assert stopped.returncode != 0 and "Traceback" not in stopped.stderr
        assert 'novelty_policy = "require"' in " ".join(stopped.stderr.split()), stopped.stderr
        run_dir = only_run(isolated_env / "runs")
        assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
        ideas = (run_dir / "ideas.json").read_bytes()
        audit = AuditLog(run_dir)
        assert audit.find(kind="novelty_unchecked_stop") and not audit.find(kind="node_end", node="novelty")
        drawn = [c.payload["prompt_template"] for c in audit.find(kind="llm_call")]
        assert drawn.count("ideate") == 2 and "novelty_decide" not in drawn  # nothing to judge against

        built = run_cli("index", "import", str(SYNTHETIC_CORPUS), "--index-dir", str(index_dir))
        assert built.returncode == 0, built.stderr
        killed = run_cli("resume", run_dir.name, env={**env, "SCIENTIST_FAULT_KILL_AT": "before:select"})
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert len(AuditLog(run_dir).find(kind="node_end", node="novelty")) == 1  # judged, then the kill
        resumed = run_cli("resume", run_dir.name, env=env)
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout

    audit = AuditLog(run_dir)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert (run_dir / "ideas.json").read_bytes() == ideas  # drawn once, kept through the stop and the kill
    starts = {node: len(audit.find(kind="node_start", node=node)) for node in NODES}
    assert starts == {"ideate": 1, "novelty": 2, "select": 1, "experiment": 1, "write": 1, "review": 1}
    assert all(len(audit.find(kind="node_end", node=node)) == 1 for node in NODES)
    verdicts = json.loads((run_dir / "novelty.json").read_text())
    assert verdicts and not any(verdict.get("unchecked") for verdict in verdicts)
    assert all(verdict["top_k"] for verdict in verdicts)  # judged against the papers the index now holds
    calls = [c.payload["prompt_template"] for c in audit.find(kind="llm_call")]
    assert calls.count("ideate") == 2 and calls.count("novelty_decide") == 2  # not drawn again, judged once
    assert calls.count("novelty_queries") == 4  # the stopped attempt's two, and the judging attempt's two
    resumes = [record.seq for record in audit.find(kind="run_resume")]
    after_kill = [c.payload["prompt_template"] for c in audit.find(kind="llm_call") if c.seq > resumes[-1]]
    assert after_kill and not {"ideate", "novelty_queries", "novelty_decide"} & set(after_kill)
    assert run_cli("audit", "verify", run_dir.name).returncode == 0
