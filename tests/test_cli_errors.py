"""Bad input: one line on stderr, exit code 2, no traceback, nothing created."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run_cli


def assert_clean_error(result: object, *needles: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, (result.returncode, stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in stderr and "Traceback" not in result.stdout  # type: ignore[attr-defined]
    assert stderr.strip().startswith("error:")
    assert len(stderr.strip().splitlines()) <= 3, stderr  # one message (rich may wrap it)
    for needle in needles:
        assert needle in " ".join(stderr.split()), stderr


def test_unknown_template(isolated_env: Path) -> None:
    assert_clean_error(run_cli("run", "topic", "--template", "nope"), "nope", "reward_misspec")
    assert not (isolated_env / "runs").exists()


def test_unknown_provider(isolated_env: Path) -> None:
    assert_clean_error(run_cli("run", "topic", "--model", "nosuchprovider/x"), "nosuchprovider/x")


def test_unknown_local_model(isolated_env: Path) -> None:
    assert_clean_error(run_cli("run", "topic", "--model", "local/gpt-17"), "local/gpt-17", "smollm2-135m")


def test_missing_api_key(isolated_env: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    result = run_cli("run", "topic", "--model", "openai/gpt-4o-mini", env=env)
    assert_clean_error(result, "OPENAI_API_KEY")
    assert not (isolated_env / "runs").exists()


def test_malformed_toml(isolated_env: Path) -> None:
    (isolated_env / "scientist.toml").write_text("model = [unclosed\n")
    assert_clean_error(run_cli("config", "show"), "scientist.toml", "not valid TOML")


def test_resume_nonexistent_run(isolated_env: Path) -> None:
    assert_clean_error(run_cli("resume", "20990101-nothing"), "no run", "runs list")


@pytest.mark.parametrize("damage", ["garbage run.json", "no run.json", "garbage state"])
def test_resume_corrupt_run(isolated_env: Path, damage: str) -> None:
    run_dir = isolated_env / "runs" / "broken"
    run_dir.mkdir(parents=True)
    if damage == "garbage run.json":
        (run_dir / "run.json").write_text("{not json")
    elif damage == "garbage state":
        (run_dir / "run.json").write_text(
            '{"id": "broken", "topic": "t", "template": "reward_misspec", "model": "local/smollm2-135m",'
            ' "created": "x", "updated": "x"}'
        )
        (run_dir / "config.json").write_text('{"model": "local/smollm2-135m"}')
        (run_dir / "state.sqlite").write_bytes(b"this is not a sqlite database" * 100)
    assert_clean_error(run_cli("resume", "broken"), "broken")


def test_config_show_masks_secrets(isolated_env: Path) -> None:
    result = run_cli("config", "show", "--json", env={"SCIENTIST_API_KEY": "sk-very-secret-value-1"})
    assert result.returncode == 0, result.stderr
    assert "sk-very-secret-value-1" not in result.stdout and "********" in result.stdout
