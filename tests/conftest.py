"""Shared fixtures. Every test runs isolated from the user's config, caches and API keys (after simonw/llm)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
LLM_FIXTURES = FIXTURES / "llm"
SCIENTIST = [sys.executable, "-m", "scientist.cli"]
from scientist.sandbox.images import ROOTFS_ENV, rootfs_dir  # noqa: E402

REAL_ROOTFS = rootfs_dir()  # read once, from the developer's/CI's real environment
SECRET_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
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
    yield work


@pytest.fixture
def replay_store(tmp_path: Path) -> Path:
    """A private copy of the recorded model responses (tests may not alter the shared fixtures)."""
    target = tmp_path / "llm-replay"
    shutil.copytree(LLM_FIXTURES, target)
    return target


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run(
        [*SCIENTIST, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def docker_ready() -> bool:
    from scientist.sandbox.images import status

    current = status()
    return current.docker_error is None and current.image_id is not None


def pipeline_sandbox() -> str:
    """The default backend (docker) where it works, and always in CI; elsewhere `local` (bwrap), said aloud."""
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
    return {**env, "SCIENTIST_SANDBOX": chosen_sandbox(), **extra}


@functools.cache
def chosen_sandbox() -> str:
    return pipeline_sandbox()
