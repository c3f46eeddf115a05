"""The run store on real SQLite and PostgreSQL: the runner's hook, import (idempotent, corrupt folders reported),
migrations from an older schema, and a store failure that must not lose the run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from scientist.audit.log import AuditLog
from scientist.store import import_runs, open_store
from scientist.store.engine import (
    current_revision,
    export_password,
    make_engine,
    migrate,
    resolve_url,
    shareable_url,
    with_local_password,
)
from scientist.store.models import Candidate, Experiment, MonitorFlag, Review, Run, Score
from tests.conftest import run_cli
from tests.store_support import clone_run, make_real_run, plant_gaming, store_url

pytestmark = pytest.mark.slow

ALL_TABLES = (Run, Candidate, Review, Score, Experiment, MonitorFlag)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from store_url(request.param, tmp_path)


def counts(url: str) -> dict[str, int]:
    store = open_store(url)
    with store.session() as session:
        found = {t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0 for t in ALL_TABLES}
    store.close()
    return found


def test_the_runner_records_its_run_in_the_default_store(real_run: Path) -> None:
    store = open_store(str(real_run.parent.parent / "data" / "scientist" / "store.sqlite"))
    with store.session() as session:
        run = session.get(Run, real_run.name)
        assert run is not None and run.status == "completed"
        calls = AuditLog(real_run).find(kind="llm_call")
        assert run.calls == len(calls) and run.total_tokens == sum(c.payload["total_tokens"] for c in calls)
        assert run.model == "local/smollm2-135m" and run.template == "reward_misspec" and run.variant == "default"
        assert run.paper_path and (real_run / run.paper_path).exists()
        ideas = json.loads((real_run / "ideas.json").read_text())
        candidates = session.scalars(select(Candidate).where(Candidate.run_id == run.id)).all()
        assert len(candidates) == len(ideas) and sum(c.winner for c in candidates) == 1
        assert all(c.tokens for c in candidates)  # each idea's own llm_call tokens
        overall = session.scalar(select(Score.value).where(Score.run_id == run.id, Score.metric == "overall"))
        assert overall == json.loads((real_run / "review.json").read_text())["form"]["overall"]
        results = [json.loads(path.read_text()) for path in (real_run / "experiments").glob("*/result.json")]
        assert {e.label for e in session.scalars(select(Experiment))} == {r["label"] for r in results}
        assert {"baseline"} < {r["label"] for r in results}
        checked = {record.payload["where"] for record in AuditLog(real_run).find(kind="checked_by_monitors")}
        assert "experiments/plots" in checked  # the plot run is monitored too (its events would be flags here)
        # Nothing a human must look at: only notes for what the writer removed (numbers and citations the tiny
        # model invented), one per removal, none high or critical.
        paper = json.loads((real_run / "paper.json").read_text())
        notes = [(f.monitor, f.severity) for f in session.scalars(select(MonitorFlag))]
        removed = [("fabrication", "medium")] * len(paper["removed_numbers"])
        removed += [("fabrication", "low")] * len(paper["removed_citations"])
        assert sorted(notes) == sorted(removed)
    store.close()


def test_import_is_idempotent_and_updates(db: str, real_run: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for i, overall in enumerate((3, 5, 7)):
        clone_run(real_run, runs, f"run-{i}", overall=overall)
    result = run_cli("store", "import", str(runs), "--db", db)
    assert result.returncode == 0, result.stderr
    assert "imported 3 run(s)" in result.stdout
    first = counts(db)
    review = json.loads((real_run / "review.json").read_text())
    reviews_per_run = 1 + len(review.get("reviews", []))  # the consensus form and each ensemble member
    ideas_per_run = len(json.loads((real_run / "ideas.json").read_text()))
    assert first == {**first, "runs": 3, "reviews": 3 * reviews_per_run, "candidates": 3 * ideas_per_run}
    assert run_cli("store", "import", str(runs), "--db", db).returncode == 0
    assert counts(db) == first  # no duplicates

    clone_run(runs / "run-1", runs, "run-1b")  # a new run appears next to the others...
    review = json.loads((runs / "run-0" / "review.json").read_text())
    review["form"]["overall"] = 9  # ...and one review changed since the last import
    (runs / "run-0" / "review.json").write_text(json.dumps(review))
    plant_gaming(runs / "run-2")
    config = json.loads((runs / "run-1b" / "config.json").read_text())  # this run was reviewed by another model
    (runs / "run-1b" / "config.json").write_text(json.dumps({**config, "role_models": {"review": "openai/grader"}}))
    assert run_cli("store", "import", str(runs), "--db", db).returncode == 0
    assert counts(db)["runs"] == 4
    store = open_store(db)
    with store.session() as session:
        assert session.scalar(select(Score.value).where(Score.run_id == "run-0", Score.metric == "overall")) == 9
        roles = {run.id: (run.agent_model, run.review_model) for run in session.scalars(select(Run))}
        agent = config["model"]
        assert roles == {"run-0": (agent, agent), "run-1": (agent, agent), "run-1b": (agent, "openai/grader"),
                         "run-2": (agent, agent)}  # fmt: skip
        flags = session.scalars(select(MonitorFlag).where(MonitorFlag.run_id == "run-2")).all()
        planted = [f for f in flags if f.severity not in ("low", "medium")]  # the rest: the writer's notes, as above
        assert {f.monitor for f in planted} == {"protected_file", "hardcoded_metric"}
        assert all(f.severity == "critical" for f in planted)
    store.close()


def test_corrupt_run_folders_are_reported_and_the_rest_imported(db: str, real_run: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    clone_run(real_run, runs, "good")
    (runs / "no-run-file").mkdir()
    (runs / "no-run-file" / "notes.txt").write_text("not a run")
    clone_run(real_run, runs, "garbled-run-json")
    (runs / "garbled-run-json" / "run.json").write_text("{not json")
    clone_run(real_run, runs, "garbled-review")
    (runs / "garbled-review" / "review.json").write_bytes(b"\xff\xfe broken")
    clone_run(real_run, runs, "edited-audit")
    log = runs / "edited-audit" / "audit.jsonl"
    log.write_text(log.read_text().replace('"stage":"ideate"', '"stage":"ideatE"', 1))

    result = run_cli("store", "import", str(runs), "--db", db)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for bad in ("no-run-file", "garbled-run-json", "garbled-review"):
        assert bad in result.stderr
    assert "imported 2 run(s)" in result.stdout and "3 skipped (" in result.stdout  # counted per reason
    # --max-failures (issue 29): the import stops at the second unreadable folder, after reporting it
    stopped = run_cli("store", "import", str(runs), "--db", db, "--max-failures", "1")
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert "store import stopped: 2 of 3 item(s) failed" in stopped.stderr and "--retry-failed" not in stopped.stderr
    store = open_store(db)
    with store.session() as session:
        assert set(session.scalars(select(Run.id))) == {"good", "edited-audit"}
        flags = session.scalars(select(MonitorFlag).where(MonitorFlag.run_id == "edited-audit")).all()
        serious = [f.monitor for f in flags if f.severity not in ("low", "medium")]  # beside the writer's notes
        assert serious == ["audit_chain"]  # an edited record of what happened is itself a flag
    store.close()


def test_an_older_schema_is_upgraded_on_open(db: str) -> None:
    engine = make_engine(resolve_url(db))
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    with engine.begin() as conn:
        conn.execute(text(
            "insert into runs (id, topic, template, model, variant, status, status_detail, created_at, updated_at,"
            " imported_at, run_dir, scaffold, calls, prompt_tokens, completion_tokens, total_tokens, cost_usd,"
            " audit_records) values ('old-run', 't', 'reward_misspec', 'm/x', 'default', 'completed', '',"
            " '2026-01-01', '2026-01-01', '2026-01-01', '/nowhere', '{}', 1, 2, 3, 5, 0.5, 7)"
        ))  # fmt: skip
        conn.execute(text("insert into scores (run_id, metric, source, value) values ('old-run', 'overall', 'review', 6)"))  # noqa: E501
        assert "cell_id" not in {c["name"] for c in inspect(conn).get_columns("runs")}
    engine.dispose()

    store = open_store(db)
    assert current_revision(store.engine) == "0008"
    assert {"studies", "study_cells", "probe_results", "judgements", "probe_failures"} <= set(store.tables())
    with store.session() as session:
        run = session.get(Run, "old-run")
        assert run is not None and run.total_tokens == 5 and run.cell_id is None and run.review_model is None
    store.close()
    open_store(db).close()  # opening a current store again is a no-op


def test_processes_opening_a_new_store_at_once_all_get_the_schema(db: str) -> None:
    """A study's cells on Ray open the default store together: the first migrates, the others wait for it."""
    opener = "import sys; from scientist.store import open_store; open_store(sys.argv[1]).close()"
    starts = [subprocess.Popen([sys.executable, "-c", opener, db], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [process.communicate(timeout=120)[1] for process in starts]
    assert [process.returncode for process in starts] == [0] * 4, errors
    store = open_store(db)
    assert current_revision(store.engine) == "0008"
    store.close()


def test_unreachable_or_unsupported_database_is_one_clear_error(tmp_path: Path) -> None:
    result = run_cli("store", "import", str(tmp_path), "--db", "postgresql://someone:hunter22@127.0.0.1:1/none")
    assert result.returncode == 2
    assert "cannot open the run store" in result.stderr and "Traceback" not in result.stderr
    assert "hunter22" not in result.stderr  # the password is never printed
    result = run_cli("leaderboard", "--db", "mysql://x/y")
    assert result.returncode == 2 and "unsupported database 'mysql'" in result.stderr
    assert "postgresql://" in result.stderr


def test_a_store_failure_warns_and_the_run_survives(tmp_path: Path) -> None:
    run_dir, result = make_real_run(tmp_path, SCIENTIST_DB="postgresql://someone:pw@127.0.0.1:1/none")
    assert "could not record run" in result.stderr and "scientist store import" in result.stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    errors = AuditLog(run_dir).find(kind="store_error")
    assert errors and "cannot open the run store" in errors[-1].payload["error"]
    assert run_cli("audit", "verify", str(run_dir)).returncode == 0
    # the folder is intact, so a later import puts the run in the store
    assert run_cli("store", "import", str(run_dir.parent), "--db", str(tmp_path / "later.sqlite")).returncode == 0
    assert counts(str(tmp_path / "later.sqlite"))["runs"] == 1


def test_a_study_and_its_cells_fit_the_schema(db: str, real_run: Path, tmp_path: Path) -> None:
    """What the study slice will write: a study, a cell (variant, n, seed, template, model), runs pointing at it."""
    from scientist.store.models import Cell, Study

    runs = tmp_path / "runs"
    runs.mkdir()
    for i in range(2):
        clone_run(real_run, runs, f"cell-run-{i}", variant="plain")
    store = open_store(db)
    import_runs(store, runs)
    with store.session() as session:
        study = Study(name="plain-vs-full", spec={"variants": ["plain", "full"]}, created_at="2026-11-23")
        cell = Cell(key="plain/n=2/seed=0", template="reward_misspec", model="local/smollm2-135m", variant="plain",
                    n=2, seed=0, topic="t", params={}, status="done")  # fmt: skip
        study.cells.append(cell)
        session.add(study)
        session.flush()
        for i in range(2):
            run = session.get(Run, f"cell-run-{i}")
            assert run is not None
            run.cell_id, run.sample_index = cell.id, i
    import_runs(store, runs)  # a re-import keeps the runs' cell membership
    with store.session() as session:
        members = session.scalars(select(Run).where(Run.cell_id.is_not(None)).order_by(Run.sample_index)).all()
        assert [(r.id, r.variant, r.sample_index) for r in members] == [("cell-run-0", "plain", 0),
                                                                          ("cell-run-1", "plain", 1)]
    store.close()


def test_the_store_url_a_worker_gets_has_no_password_and_its_own_environment_completes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 21: the study store's URL travelled, password included, in every Ray task's arguments."""
    for name in ("SCIENTIST_DB", "SCIENTIST_STORE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    url = resolve_url("postgresql://study:hunter2@db.lab:5432/studies?options=-csearch_path%3Dt_1")
    shared = shareable_url(url)
    assert "hunter2" not in shared and shared.startswith("postgresql+psycopg://study@db.lab:5432/studies?")
    assert with_local_password(shared) == shared  # nothing on this machine: left to libpq (PGPASSWORD, .pgpass)
    monkeypatch.setenv("SCIENTIST_DB", "postgresql://study:from-db-env@db.lab:5432/studies?options=-csearch_path%3Dt_1")
    assert ":from-db-env@" in with_local_password(shared)  # SCIENTIST_DB names the same database: its password
    monkeypatch.setenv("SCIENTIST_DB", "postgresql://other:nope@elsewhere:5432/x")
    export_password(url)  # what the driver does before it starts local workers
    completed = with_local_password(shared)
    assert ":hunter2@db.lab" in completed and resolve_url(completed) == url
    assert with_local_password("sqlite:////tmp/s.sqlite") == "sqlite:////tmp/s.sqlite"


def test_audit_verify_compares_the_log_with_the_stores_copy_of_its_head(recorded_run: Path, tmp_path: Path) -> None:
    """The copied run has no anchor at its new path (as after a move): the store's row is what still catches a log
    cut back with a matching audit.head."""
    db = str(tmp_path / "witness.sqlite")
    assert run_cli("audit", "verify", recorded_run.name, "--db", db).returncode == 0
    assert not Path(db).exists()  # reading never creates a store
    assert run_cli("store", "import", str(recorded_run.parent), "--db", db).returncode == 0
    intact = run_cli("audit", "verify", recorded_run.name, "--db", db)
    assert intact.returncode == 0 and "matches the run store's copy" in intact.stdout, intact.stdout
    log = recorded_run / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-3]))
    last = json.loads(lines[-4])
    (recorded_run / "audit.head").write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}))
    cut = run_cli("audit", "verify", recorded_run.name, "--db", db)
    assert cut.returncode == 1 and "truncated: the run store" in cut.stdout and "Traceback" not in cut.stderr
    down = run_cli("audit", "verify", recorded_run.name, "--db", "postgresql://u:secret-pw@127.0.0.1:1/none")
    assert down.returncode == 0 and "run store not compared (cannot open the run store" in down.stdout
    assert "secret-pw" not in down.stdout  # the log's own check still holds; the store was not there to compare
