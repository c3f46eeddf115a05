"""Shared helpers for the run-store and leaderboard tests: a real run (recorded pipeline), copies of it with other
models/variants/scores, and a store per test on SQLite or on the CI's PostgreSQL server (a schema per test)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog
from tests.audit_support import filled
from tests.conftest import FIXTURE_TOPIC, LLM_FIXTURES, replay_env, run_cli

# Printed by scripts/ci_postgres.sh; read at import, before the autouse fixture clears SCIENTIST_* variables.
POSTGRES_URL = os.environ.get(
    "SCIENTIST_TEST_POSTGRES_URL", "postgresql://scientist:scientist@127.0.0.1:5432/scientist_test"
)
IN_CI = os.environ.get("CI") == "true"


def postgres_problem() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as err:
        return f"{type(err).__name__}: {err}".splitlines()[0]


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    message = f"no PostgreSQL server at {POSTGRES_URL.split('@')[-1]} ({problem}); start one: scripts/ci_postgres.sh"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def postgres_schema_url() -> Iterator[str]:
    """A fresh schema on the test server for one test (dropped after), as a URL whose search_path selects it."""
    import psycopg

    require_postgres()
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"create schema {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"drop schema {schema} cascade")


def store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:
        yield from postgres_schema_url()


def make_real_run(base: Path, **env: str) -> tuple[Path, Any]:
    """One real run of the whole pipeline on recorded responses; its default store lives under base/data."""
    replay = base / "llm"
    shutil.copytree(LLM_FIXTURES, replay)
    full_env = replay_env(
        replay, SCIENTIST_RUNS_DIR=str(base / "runs"), XDG_DATA_HOME=str(base / "data"),
        XDG_CACHE_HOME=str(base / "cache"), **env,
    )  # fmt: skip
    result = run_cli("run", FIXTURE_TOPIC, env=full_env)
    assert result.returncode == 0, result.stderr + result.stdout
    (run_dir,) = (base / "runs").iterdir()
    return run_dir, result


def clone_run(
    source: Path,
    runs_dir: Path,
    run_id: str,
    *,
    model: str | None = None,
    variant: str | None = None,
    template: str | None = None,
    overall: int | None = None,
) -> Path:
    """A copy of a real run under another id, with its model/variant/template and review score changed."""
    target = runs_dir / run_id
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("state.sqlite"))
    info = json.loads((target / "run.json").read_text())
    info["id"] = run_id
    info["model"] = model or info["model"]
    info["template"] = template or info["template"]
    (target / "run.json").write_text(json.dumps(info))
    config = json.loads((target / "config.json").read_text())
    if variant is not None:
        config["variant"] = variant
    (target / "config.json").write_text(json.dumps(config))
    if overall is not None:
        review = json.loads((target / "review.json").read_text())
        review["form"]["overall"] = overall
        (target / "review.json").write_text(json.dumps(review))
    return target


def plant_gaming(run_dir: Path) -> None:
    """Record, through the audit API, a sandbox run that overwrote the protected evaluator and a monitor event."""
    audit = AuditLog(run_dir)
    audit.append("sandbox_run", "sandbox:docker", filled("sandbox_run", label="variant", ok=False,
                 protected_violations=["evaluate.py"], escaping_symlinks=[]))  # fmt: skip
    audit.append("monitor_event", "monitor", filled("monitor_event", monitor="hardcoded_metric", severity="critical",
                 evidence="final_info.json written before training", node="experiment"))  # fmt: skip
