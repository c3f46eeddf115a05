"""Shared fixtures. Every test runs isolated from the user's config, caches and API keys (after simonw/llm)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

# rich fixes a console's width when COLUMNS is set as it is built (the CLI builds its consoles at import): a value
# leaking in from a terminal or a test worker would freeze every in-process CLI call at that width.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

REPO = Path(__file__).resolve().parents[1]


class _SysWithRetriedSettrace(types.ModuleType):
    """`sys` for the threading module, whose `settrace` retries CPython 3.11's spurious RuntimeError.

    Why: under coverage every new thread installs the tracer in `Thread._bootstrap_inner` (`_sys.settrace(hook)`), and
    CPython 3.11 raises "Cannot install a trace function while another trace function is being installed" when two
    threads do that at once (python/cpython#98257). The thread then dies before its `run()`: in CI a sandbox's log
    reader died so, its run looked silent and a monitor test failed. Nothing was installed when it raises, so a retry
    is safe; outside coverage no hook is set and this is never called."""

    def __getattr__(self, name: str) -> object:
        return getattr(sys, name)

    @staticmethod
    def settrace(function: object) -> None:
        for _ in range(200):
            try:
                sys.settrace(function)  # type: ignore[arg-type]
                return
            except RuntimeError:
                time.sleep(0.001)
        sys.settrace(function)  # type: ignore[arg-type]


threading._sys = _SysWithRetriedSettrace("sys")  # type: ignore[attr-defined]
FIXTURES = REPO / "tests" / "fixtures"
LLM_FIXTURES = FIXTURES / "llm"
from scientist.errors import SandboxError  # noqa: E402
from scientist.sandbox import get_sandbox  # noqa: E402
from scientist.sandbox.images import ROOTFS_ENV, rootfs_dir  # noqa: E402
from tests.cli_runner import SCIENTIST, run_cli  # noqa: E402,F401  (re-exported: tests import them from here)
from tests.reviews_support import ReviewStub, review_stub  # noqa: E402

# Fixtures shared by several test modules, defined in their support module (loopback scholarly-source stubs).
pytest_plugins = ("tests.scholarly_stubs",)

REAL_ROOTFS = rootfs_dir()  # read once, from the developer's/CI's real environment
SECRET_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY")


# Modules whose module-scoped fixture is expensive (real runs, sandbox runs, a Ray cluster): under pytest-xdist all
# their tests go to one worker (--dist loadgroup), so the fixture is built once, not once per worker.
ONE_WORKER_MODULES = frozenset({
    "test_ray_study", "test_resume_faults", "test_templates_safety", "test_template_reward_misspec",
    "test_calibration_replay", "test_leaderboard", "test_packaging", "test_docs", "test_docs_tutorials",
    "test_xdist_grouping",
})  # fmt: skip


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test that runs the embedded model live runs in the serial phase (scripts/test.sh), alone on the cores; a
    module in ONE_WORKER_MODULES goes to one pytest-xdist worker (--dist loadgroup; see group_for_xdist)."""
    if item.get_closest_marker("live") or item.get_closest_marker("live_full"):
        item.add_marker(pytest.mark.serial)
    module = getattr(getattr(item, "module", None), "__name__", "").rpartition(".")[2]
    if module in ONE_WORKER_MODULES:
        item.add_marker(pytest.mark.xdist_group(module))


_TIMELINE = os.environ.get("SCIENTIST_TEST_TIMELINE")
_started: dict[str, tuple[float, float]] = {}


def _cpu_seconds() -> float:
    """This worker's CPU and its waited-for children's (CLI subprocesses, the local sandbox; not Docker's containers,
    which dockerd runs): a test whose wall is far above it waited (sleeps, timeouts, a container) with a core idle."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    if _TIMELINE:
        _started[nodeid] = (time.time(), _cpu_seconds())


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """One line per test (worker, start, end, CPU seconds) when SCIENTIST_TEST_TIMELINE names a file: scripts/test.sh
    prints where the parallel phase's wall went (scripts/test_timeline.py). Workers only: the controller sees the
    same reports relayed."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if _TIMELINE and worker and nodeid in _started:
        start, cpu = _started.pop(nodeid)
        line = json.dumps(
            {"worker": worker, "id": nodeid, "start": start, "end": time.time(), "cpu": round(_cpu_seconds() - cpu, 3)}
        )
        with open(_TIMELINE, "a", encoding="utf-8") as out:  # one short append per test: lines never interleave
            out.write(line + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with a `slow` test are collected first: pytest-xdist hands out work in collection order (after the
    grouped modules), so a two-minute test collected last (test_study_e2e sorts late) would run alone on one worker
    while the other sits idle at the end of the parallel phase. Whole modules move, so a module's tests stay together
    and its module-scoped fixtures are built once per worker as before."""
    write_serial_files(items)  # (tryfirst: before `-m` deselects them, the serial tests are still here)
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: the order within each part is kept
    if getattr(config.option, "loadgroup", False):  # set on pytest-xdist workers under --dist loadgroup
        group_for_xdist(items)


def write_serial_files(items: list[pytest.Item]) -> None:
    """With SCIENTIST_TEST_SERIAL_FILES naming a file, the first collector writes there the test files that hold
    serial tests: scripts/test.sh's serial phase then collects those few files, not the whole suite (5.7 -> 0.9 s)."""
    target = os.environ.get("SCIENTIST_TEST_SERIAL_FILES")
    if target and os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0":
        files = sorted({item.nodeid.split("::")[0] for item in items if item.get_closest_marker("serial")})
        Path(target).write_text("".join(f"{name}\n" for name in files), encoding="utf-8")


def group_for_xdist(items: list[pytest.Item]) -> None:
    """--dist loadgroup's grouping, restored for pytest 9.2: pytest-xdist (3.8) groups tests by a `@group` suffix it
    writes to `item._nodeid`, but pytest 9.2 derives `nodeid` from `item._id`, so the suffix was silently lost and
    every ONE_WORKER_MODULES module was spread over both workers, each building its module fixtures (a Ray
    instance, reference runs, the docs site, a wheel): in CI the Ray module's ~26 s set-up ran twice.
    tests/test_xdist_grouping.py fails if the grouping is lost again (e.g. after an upgrade)."""
    from _pytest.nodeid import NodeId  # pytest's own type for node ids (9.2+)

    for item in items:
        groups = sorted({str(mark.args[0]) for mark in item.iter_markers("xdist_group") if mark.args})
        if groups and "@" not in item.nodeid.rpartition("]")[2]:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama_cpp.server serving the embedded model on loopback (its `/v1` URL), once per session: the live smoke
    run and the server tests (all in the serial phase, one process) share it."""
    from tests.llama_server import serve_embedded_model

    with serve_embedded_model(tmp_path_factory.mktemp("llama-server")) as base:
        yield base


@pytest.fixture(scope="session")
def shared_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the whole session, shared by the xdist workers and every CLI subprocess: the
    synthetic corpus and the replayed queries are embedded once, and later runs never load torch (~10 CPU-s each).
    The tests of the cache itself point SCIENTIST_EMBEDDING_CACHE elsewhere."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "embeddings.sqlite3"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_embedding_cache: Path) -> Iterator[Path]:
    """cwd, cache and config in a temp dir; no SCIENTIST_* or provider keys leak in from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("SCIENTIST_") or name in SECRET_ENV:
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # The sandbox's unpacked root filesystem is per machine (built once by set-up), not per test: pin it before the
    # data home moves to the temp dir for the run store.
    monkeypatch.setenv(ROOTFS_ENV, str(REAL_ROOTFS))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default run store
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("SCIENTIST_AUDIT_KEY_FILE", str(tmp_path / "config" / "audit.key"))  # none unless made
    # Tests talk only to loopback: the default `auto` citation check would probe the real scholarly hosts from any
    # test that writes a paper with references. The tests of the check set it themselves (loopback stubs).
    monkeypatch.setenv("SCIENTIST_CITATION_CHECK", "off")
    monkeypatch.setenv("SCIENTIST_EMBEDDING_CACHE", str(shared_embedding_cache))
    # One LaTeX compile cache for the session (paper/latex.py): the many replays of the same recorded run compile
    # one paper; the first compile of each distinct paper is real. Its own tests point it elsewhere.
    monkeypatch.setenv("SCIENTIST_LATEX_CACHE_DIR", str(shared_embedding_cache.parent / "latex-cache"))
    yield work


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of the whole pipeline on the recorded responses, its default store beside it (`data/`), made
    once per test process. Shared: read it, or copy it first (tests.store_support.clone_run)."""
    from tests.store_support import make_real_run

    run_dir, _ = make_real_run(tmp_path_factory.mktemp("real-run"))
    return run_dir


@pytest.fixture
def recorded_run(real_run: Path, isolated_env: Path) -> Path:
    """This test's own copy of the shared real run, in the default runs folder (`runs/` in the test's cwd)."""
    target = isolated_env / "runs" / real_run.name
    shutil.copytree(real_run, target)
    return target


@pytest.fixture
def replay_store(tmp_path: Path) -> Path:
    """A private copy of the recorded model responses (tests may not alter the shared fixtures)."""
    target = tmp_path / "llm-replay"
    shutil.copytree(LLM_FIXTURES, target)
    return target


def docker_ready() -> bool:
    from scientist.sandbox.images import status

    current = status()
    return current.docker_error is None and current.image_id is not None


# `make test-fast` asks for the bubblewrap backend (no Docker); read before the fixtures clear SCIENTIST_* variables.
TEST_SANDBOX = os.environ.get("SCIENTIST_TEST_SANDBOX")


def pipeline_sandbox() -> str:
    """The default backend (docker) where it works, and always in CI; elsewhere `local` (bwrap), said aloud."""
    if TEST_SANDBOX in ("docker", "local"):
        return TEST_SANDBOX
    if os.environ.get("CI") == "true" or docker_ready():
        return "docker"
    sys.stderr.write("note: Docker sandbox not ready, pipeline tests use --sandbox local (bubblewrap)\n")
    return "local"


# The recorded run the replay tests repeat: tests/record_fixtures.py records it with the embedded model.
FIXTURE_TOPIC = "reward hacking in a gridworld with a respawning coin"
# Novelty is judged offline (no arXiv) against the synthetic test corpus, so the recorded prompts never change with
# the network or the shipped seed corpus.
SYNTHETIC_CORPUS = FIXTURES / "corpus" / "synthetic_ai_safety.jsonl"
FIXTURE_ENV = {
    "SCIENTIST_MODEL": "local/smollm2-135m",
    "SCIENTIST_NUM_IDEAS": "2",
    "SCIENTIST_SEED": "0",
    "SCIENTIST_TEMPERATURE": "0.7",
    "SCIENTIST_ARXIV_OFFLINE": "1",
    "SCIENTIST_SEED_CORPUS": str(SYNTHETIC_CORPUS),
    # The review stage at its defaults (2 reviewers, 1 reflection, meta-review): the replayed run covers the ensemble
    # path a real run takes. One repair retry keeps a recording short when the model's JSON needs fixing.
    "SCIENTIST_REPAIR_RETRIES": "1",
    # One edit run with one fix: the loop's every path (edit, fix, fallback) in few calls of the slow embedded model.
    "SCIENTIST_EXPERIMENT_RUNS": "1",
    "SCIENTIST_FIX_ATTEMPTS": "1",
}


def replay_env(store: Path, **extra: str) -> dict[str, str]:
    env = {**FIXTURE_ENV, "SCIENTIST_LLM_MODE": "replay", "SCIENTIST_LLM_CACHE_DIR": str(store)}
    # The machine's sandbox root filesystem, pinned: callers move XDG_DATA_HOME (where it lives) to a temp dir, and a
    # module-scoped fixture runs before isolated_env pins it (`make test-fast` on bubblewrap then found no rootfs).
    # Replayed runs test the pipeline, not the backend: the quick one (tests where Docker is the point pass
    # SCIENTIST_SANDBOX=chosen_sandbox() in `extra`).
    return {**env, "SCIENTIST_SANDBOX": quick_sandbox(), ROOTFS_ENV: str(REAL_ROOTFS), **extra}


@functools.cache
def chosen_sandbox() -> str:
    return pipeline_sandbox()


def quick_sandbox() -> str:
    """The backend of tests where the sandbox is not the point (replayed runs, studies, probe suites): `local`
    (bubblewrap) when this process is root and has it, else the pipeline's; `SCIENTIST_TEST_QUICK_SANDBOX=local|docker`
    overrides.

    Why local: a Docker container costs ~1 s to start and remove (farm-bench, `scientist sandbox run` median 2.71 s on
    docker vs 1.66 s on local), a replayed run makes ~5 sandbox runs and a study ~50 (tests/test_approvals_pipeline.py,
    loaded machine: 115 s and 100 s on docker, 80 s and 62 s on local). Why only as root: local sandboxes used to share
    uid 65534 and with it one RLIMIT_NPROC budget, so a study's runs on one xdist worker and the escape tests on the
    other raced for it (EAGAIN creating the namespace; seen in CI on cf407d0). Each local run now has a uid of its own
    (sandbox/uids.py), which needs root; without it the shared budget (and the race) remains, so Docker it is.
    Measured on the shared, loaded 2-core machine (2026-12-06), the 31 tests of the six files that call this: 1246 s
    on docker; 1125 s and 756 s in two rounds on local, each beside a looping test_sandbox_escapes.py. Docker stays
    covered where it is the point (`chosen_sandbox()`): the whole replayed pipeline (test_pipeline's full graph),
    kill -9 mid-sandbox and its container cleanup (test_resume_faults), the dynamic monitors, planted gaming, the
    templates' safety checks, the tutorials, and the escape tests, which run every backend."""
    override = os.environ.get("SCIENTIST_TEST_QUICK_SANDBOX")
    if override in ("docker", "local"):
        return override
    return "local" if _local_sandbox_usable() else chosen_sandbox()


@functools.cache
def _local_sandbox_usable() -> bool:
    """Root (a uid per run, above) and a working bubblewrap with the sandbox root filesystem."""
    if os.geteuid() != 0 or TEST_SANDBOX == "docker":
        return False
    try:
        sandbox = get_sandbox("local")
    except SandboxError:
        return False
    return getattr(sandbox, "image", None) != "host:/usr"  # "host:/usr": no sandbox root filesystem (numpy, ...)


@pytest.fixture(scope="module")
def review_server() -> Iterator[ReviewStub]:
    """One loopback review stub per test module (tests/reviews_support.py); a test takes it through `fresh_stub`."""
    yield from review_stub()
