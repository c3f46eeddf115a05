"""Executors without a cluster: the local executor's contract, the names, and the errors around Ray."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from scientist.errors import ConfigError
from scientist.executors import ExecutorError, LocalExecutor, get_executor, settings_env
from scientist.executors.ray import RayExecutor
from scientist.store import open_store
from scientist.study.execute import check_store_for
from tests.conftest import run_cli


def square(x: int) -> int:
    if x == 3:
        raise ValueError("three is refused")
    return x * x


@pytest.mark.parametrize("concurrency", [1, 3])
def test_local_executor_returns_every_result_and_turns_errors_into_done_errors(concurrency: int) -> None:
    done = list(LocalExecutor(concurrency).map_unordered(square, list(range(6))))
    assert sorted(d.index for d in done) == list(range(6))
    values = {d.index: d.value for d in done if d.error is None}
    assert values == {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}
    (failed,) = [d for d in done if d.error is not None]
    assert failed.index == 3 and failed.error == "ValueError: three is refused"


def test_local_executor_runs_at_most_concurrency_tasks_at_once() -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def task(_: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    assert len(list(LocalExecutor(2).map_unordered(task, list(range(8))))) == 8
    assert peak[0] == 2


def test_ctrl_c_inside_a_task_stops_the_map_and_drops_queued_tasks() -> None:
    started: list[int] = []

    def task(x: int) -> int:
        started.append(x)
        if x == 1:
            raise KeyboardInterrupt
        time.sleep(0.05)
        return x

    executor = LocalExecutor(2)
    with pytest.raises(KeyboardInterrupt):
        list(executor.map_unordered(task, list(range(20))))
    assert executor.stopping.is_set() and len(started) < 20


def test_bad_names_and_flags_are_one_clear_error() -> None:
    with pytest.raises(ExecutorError, match="unknown executor 'dask'") as raised:
        get_executor("dask")
    assert "local, ray" in str(raised.value)
    with pytest.raises(ExecutorError, match="--ray-address needs --executor ray"):
        get_executor("local", address="auto")
    with pytest.raises(ExecutorError, match="at least 1"):
        LocalExecutor(0)


def test_only_scientist_settings_travel_to_tasks() -> None:
    env = {
        "SCIENTIST_LLM_MODE": "replay",
        "OPENAI_API_KEY": "sk-secret",
        "HOME": "/root",
        "SCIENTIST_API_KEY": "sk-secret",  # issue 21: these travelled in every Ray task's arguments
        "SCIENTIST_SERVE_TOKEN": "web-token",
        "SCIENTIST_MAX_TOKENS": "512",
        "SCIENTIST_DB": "postgresql://study:hunter2@db.lab:5432/studies",  # a password in a value, not a name
        "SCIENTIST_API_BASE": "http://proxy-user:pw@127.0.0.1:8000/v1",
    }
    assert settings_env(env) == {"SCIENTIST_LLM_MODE": "replay", "SCIENTIST_MAX_TOKENS": "512"}
    unsecret = {"SCIENTIST_DB": "postgresql://study@db.lab:5432/studies", "SCIENTIST_API_BASE": "http://h:8000/v1"}
    assert settings_env(unsecret) == unsecret  # a URL without a password (or with a port) still travels


def test_ray_executor_without_ray_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ExecutorError) as raised:
        get_executor("ray")
    assert "needs Ray" in raised.value.message and "scientist[ray]" in str(raised.value.hint)


def test_cli_without_ray_exits_2_naming_the_extra(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    study = tmp_path / "study.toml"
    study.write_text('name = "s"\ntopics = ["t"]\ntemplates = ["reward_misspec"]\nmodels = ["local/smollm2-135m"]\n'
                     'variants = ["plain"]\nn = 1\nseeds = [0]\n')  # fmt: skip
    result = run_cli(  # a process of its own: the shadow package must be on its import path from the start
        "study", "run", str(study), "--executor", "ray", env={"PYTHONPATH": str(tmp_path / "shadow")}, isolated=True
    )
    assert result.returncode == 2, result.stderr
    assert "needs Ray" in result.stderr and "scientist[ray]" in result.stderr and "Traceback" not in result.stderr


def test_cli_refuses_a_sqlite_store_for_a_remote_cluster_before_connecting(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text('name = "s"\ntopics = ["t"]\ntemplates = ["reward_misspec"]\nmodels = ["local/smollm2-135m"]\n'
                     'variants = ["plain"]\nn = 1\nseeds = [0]\n')  # fmt: skip
    db = tmp_path / "store.sqlite"
    result = run_cli("study", "run", str(study), "--executor", "ray", "--ray-address", "ray://10.20.30.40:10001",
                     "--db", str(db), "--runs-dir", str(tmp_path / "runs"))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "SQLite" in result.stderr and "postgresql://" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_sqlite_store_is_refused_for_a_cluster_on_other_machines(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store.sqlite"))
    try:
        with pytest.raises(ConfigError) as raised:  # decided from the address, before any connection
            check_store_for(RayExecutor(address="ray://10.20.30.40:10001"), store)
        assert "SQLite" in raised.value.message and "postgresql://" in str(raised.value.hint)
        check_store_for(LocalExecutor(), store)  # one machine: the SQLite file is fine
    finally:
        store.close()


def draw(index: int, seed: int) -> int:
    if index == 2:
        raise RuntimeError("draw 2 broke")
    return (seed * 7) % 5


def test_best_of_n_through_an_executor_gives_the_same_pool_as_its_own_threads() -> None:
    from scientist.measure.sampling import BestOfN

    own = BestOfN(n=6, seed=3, selector=float, concurrency=2).run(draw)
    through = BestOfN(n=6, seed=3, selector=float, executor=LocalExecutor(3)).run(draw)
    fields = ("index", "seed", "value", "score", "error", "winner")
    assert [c.model_dump(include=set(fields)) for c in through.candidates] == [
        c.model_dump(include=set(fields)) for c in own.candidates
    ]
    assert through.winner_index == own.winner_index and through.candidates[2].error == "RuntimeError: draw 2 broke"


def test_a_spent_budget_stops_best_of_n_on_an_executor_too() -> None:
    from scientist.errors import BudgetExceededError
    from scientist.measure.sampling import BestOfN

    def broke(index: int, seed: int) -> int:
        if index == 1:
            raise BudgetExceededError("budget spent")
        return index

    with pytest.raises(BudgetExceededError):
        BestOfN(n=4, selector=float, executor=LocalExecutor(2)).run(broke)


def test_the_ray_executor_never_puts_a_secret_in_task_arguments() -> None:
    pytest.importorskip("ray")
    from scientist.executors.ray import RayExecutor

    executor = RayExecutor(env={"SCIENTIST_API_KEY": "sk-secret", "SCIENTIST_SERVE_TOKEN": "t", "SCIENTIST_SEED": "1",
                                "SCIENTIST_DB": "postgresql://u:pw@h/d"})
    assert executor.env == {"SCIENTIST_SEED": "1"}  # what every task's arguments carry
