"""Studies on a local Ray instance: the same rows as the local executor, and a worker killed mid-cell.

One Ray start for the module (2 CPUs, no dashboard, a small object store). The study is two cells that replay the
recorded run (tests/fixtures/llm) through the whole pipeline with the real sandbox, so local and ray must agree
row for row. The Ray runs write to the CI's PostgreSQL server (the store a cluster uses); the local baseline to SQLite.
The kill uses scientist.faults: the first worker to reach the write node SIGKILLs itself (a marker file makes it
once), Ray retries the cell on a fresh worker, and the cell resumes its run from the checkpoint.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from scientist.executors import get_executor
from scientist.store import open_store
from scientist.store.models import Candidate, Cell, Run, Score
from scientist.study.execute import link_run, run_study
from scientist.study.spec import StudySpec, parse_study
from tests.conftest import FIXTURE_TOPIC, LLM_FIXTURES, SYNTHETIC_CORPUS, chosen_sandbox
from tests.store_support import POSTGRES_URL, clone_run, postgres_schema_url

if os.environ.get("CI") == "true":
    import ray  # CI installs requirements/lock.txt, which has Ray: missing, it is a failure
else:
    ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.slow, pytest.mark.docker]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    # As on a cluster's nodes (docs/ray.md): the store password is in the workers' environment, never in a task.
    password = make_url(POSTGRES_URL).password  # the test server's (SCIENTIST_TEST_POSTGRES_URL or the default)
    if password:
        os.environ["SCIENTIST_STORE_PASSWORD"] = password
    # Ray starts its workers at nice 15: beside the other xdist worker (nice 0) a cell then gets a sliver of a core
    # and its run's wall-clock limits (a sandbox run, LaTeX) can expire. The workers get the tests' priority here.
    os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 (Ray reads its config names as spelled)
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024**2, logging_level="WARNING",
             configure_logging=False)  # fmt: skip
    yield
    ray.shutdown()
    os.environ.pop("SCIENTIST_STORE_PASSWORD", None)
    os.environ.pop("RAY_worker_niceness", None)


def study(replay: Path) -> StudySpec:
    return parse_study(f"""
name = "ray-replay"
topics = ["{FIXTURE_TOPIC}"]
templates = ["reward_misspec"]
models = ["local/smollm2-135m"]
variants = ["full", "twin"]  # two cells with the recorded run's settings: both replay it
n = 1
seeds = [0]
[settings]
temperature = 0.7
num_ideas = 2
repair_retries = 1
experiment_runs = 1
fix_attempts = 1
llm_mode = "replay"
llm_cache_dir = "{replay}"
sandbox = "{chosen_sandbox()}"
[presets.twin]
num_ideas = 2
""")


def task_env(**extra: str) -> dict[str, str]:
    """What the driver's environment gives a cell: its SCIENTIST_* settings, and (tests only) the isolated homes."""
    names = ("XDG_CACHE_HOME", "XDG_DATA_HOME", "LITELLM_LOCAL_MODEL_COST_MAP")
    env = {k: v for k, v in os.environ.items() if k.startswith("SCIENTIST_") or k in names}
    return {**env, "SCIENTIST_ARXIV_OFFLINE": "1", "SCIENTIST_SEED_CORPUS": str(SYNTHETIC_CORPUS), **extra}


def rows(db: str) -> dict[str, Any]:
    """The study's rows without ids, paths or clocks: what must not depend on where a cell ran."""
    store = open_store(db)
    try:
        with store.session() as session:
            key_of = {c.id: c.key for c in session.scalars(select(Cell))}
            cells = sorted((c.key, c.variant, c.status, c.n, c.seed) for c in session.scalars(select(Cell)))
            runs = {r.id: (key_of.get(r.cell_id or -1), r.sample_index) for r in session.scalars(select(Run))}
            run_rows = sorted((*runs[r.id], r.status, r.variant, r.seed, r.total_tokens, r.calls, r.audit_records > 0)
                              for r in session.scalars(select(Run)))  # fmt: skip
            scores = sorted((*runs[s.run_id], s.metric, s.value) for s in session.scalars(select(Score)))
            candidates = sorted(
                (*runs[c.run_id], c.stage, c.index, c.seed, c.title, c.score, c.winner, c.tokens)
                for c in session.scalars(select(Candidate))
            )
    finally:
        store.close()
    return {"cells": cells, "runs": run_rows, "scores": scores, "candidates": candidates}


class TaskArguments:
    """Records every Ray task's arguments as Ray serialises them, then submits the task unchanged."""

    def __init__(self, remote: Any) -> None:
        self.remote_function, self.sent = remote, []

    def remote(self, fn_ref: Any, item: Any, env: dict[str, str]) -> Any:
        self.sent.append(ray.cloudpickle.dumps((item, env)))
        return self.remote_function.remote(fn_ref, item, env)


def run_with(executor_name: str, db: str, root: Path, replay: Path, spy: list[bytes] | None = None,
             **env: str) -> Any:
    executor = get_executor(executor_name, env=task_env(**env)) if executor_name == "ray" else get_executor("local")
    if spy is not None:
        executor.start()
        recorder = TaskArguments(executor._remote)
        executor._remote = recorder
        recorder.sent = spy
    store = open_store(db)
    try:
        # judge=False: the recorded responses hold no judge calls (the judge is tested in tests/test_judge.py)
        return run_study(study(replay), store, root / "runs", executor=executor, judge=False)
    finally:
        store.close()
        executor.close()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The study on the local executor, once per module (module fixtures run before the per-test isolation)."""
    root = tmp_path_factory.mktemp("local-baseline")
    replay = root / "llm"
    shutil.copytree(LLM_FIXTURES, replay)
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("SCIENTIST_")]:
            patch.delenv(name)
        for name, value in task_env(XDG_CACHE_HOME=str(root / "cache"), XDG_DATA_HOME=str(root / "data")).items():
            patch.setenv(name, value)
        patch.setenv("XDG_CACHE_HOME", str(root / "cache"))
        patch.setenv("XDG_DATA_HOME", str(root / "data"))
        db = str(root / "local.sqlite")
        result = run_with("local", db, root, replay)
    assert [cell.status for cell in result.cells] == ["completed", "completed"], result
    found = rows(db)
    assert len(found["runs"]) == 2 and found["scores"] and found["candidates"]
    return found


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[str]:
    yield from postgres_schema_url()


def test_ray_gives_the_local_executors_rows(
    ray_instance: None, baseline: dict[str, Any], postgres: str, tmp_path: Path, replay_store: Path
) -> None:
    sent: list[bytes] = []
    result = run_with("ray", postgres, tmp_path, replay_store, spy=sent)
    assert [cell.status for cell in result.cells] == ["completed", "completed"], [c.error for c in result.cells]
    assert rows(postgres) == baseline
    password = make_url(postgres).password
    assert len(sent) == 2 and password and not [args for args in sent if f":{password}@".encode() in args]
    audits = list((tmp_path / "runs").glob("studies/*/*/sample-0/*/audit.jsonl"))
    assert len(audits) == 2  # each cell's run folder, with its audit log, where the local executor puts it

    # A retry on a node with its own runs folder starts the sample again under a new run id: linking that run
    # replaces the earlier attempt's row, so the sample is still recorded once.
    first = audits[0].parent
    store = open_store(postgres)
    try:
        with store.session() as session:
            earlier = session.get(Run, first.name)
            assert earlier is not None and earlier.cell_id is not None
            cell_id = earlier.cell_id
        again = clone_run(first, tmp_path / "other-node", "20990101-000000-retried")
        assert link_run(store, again, cell_id, 0) == again.name
        with store.session() as session:
            linked = list(session.scalars(select(Run.id).where(Run.cell_id == cell_id)))
            assert linked == [again.name] and session.get(Run, first.name) is None
    finally:
        store.close()


def test_a_worker_killed_mid_cell_is_retried_and_recorded_once(
    ray_instance: None, baseline: dict[str, Any], postgres: str, tmp_path: Path, replay_store: Path
) -> None:
    marker = tmp_path / "killed.pid"
    result = run_with("ray", postgres, tmp_path, replay_store,
                      SCIENTIST_FAULT_KILL_AT="before:write", SCIENTIST_FAULT_ONCE=str(marker))  # fmt: skip
    assert marker.is_file(), f"no worker reached the kill point: {[cell.error for cell in result.cells]}"
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker really died
    assert [cell.status for cell in result.cells] == ["completed", "completed"], [cell.error for cell in result.cells]
    assert rows(postgres) == baseline  # same rows, none twice
    audits = sorted((tmp_path / "runs").glob("studies/*/*/sample-0/*/audit.jsonl"))
    assert len(audits) == 2  # the retried cell resumed its run: no second run folder
    assert sum('"run_resume"' in path.read_text() for path in audits) == 1

    again = run_with("ray", postgres, tmp_path, replay_store)  # the driver runs the study again: nothing to do
    assert [cell.status for cell in again.cells] == ["completed", "completed"]
    assert rows(postgres) == baseline
    assert sorted((tmp_path / "runs").glob("studies/*/*/sample-0/*/audit.jsonl")) == audits
    assert sum('"run_resume"' in path.read_text() for path in audits) == 1  # finished cells were not touched
