"""Config precedence (flags > env > scientist.toml > defaults), masking, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from scientist.config import DEFAULT_MODEL, load_settings
from scientist.errors import ConfigError


def test_defaults_then_file_then_env_then_flags(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().model == DEFAULT_MODEL
    (isolated_env / "scientist.toml").write_text('model = "openai/from-file"\nnum_ideas = 5\nseed = 3\n')
    settings = load_settings()
    assert (settings.model, settings.num_ideas, settings.seed) == ("openai/from-file", 5, 3)
    monkeypatch.setenv("SCIENTIST_MODEL", "openai/from-env")
    monkeypatch.setenv("SCIENTIST_SEED", "4")
    settings = load_settings()
    assert (settings.model, settings.num_ideas, settings.seed) == ("openai/from-env", 5, 4)
    settings = load_settings(model="openai/from-flag", seed=None)
    assert (settings.model, settings.seed) == ("openai/from-flag", 4)


def test_scientist_config_env_names_another_file(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = isolated_env / "elsewhere.toml"
    other.write_text("num_ideas = 7\n")
    monkeypatch.setenv("SCIENTIST_CONFIG", str(other))
    assert load_settings().num_ideas == 7
    monkeypatch.setenv("SCIENTIST_CONFIG", str(isolated_env / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("model = \n", "not valid TOML"),
        ('modle = "openai/x"\n', "modle"),
        ("num_ideas = 0\n", "num_ideas"),
        ('model = "no-provider"\n', "provider/name"),
        ('llm_mode = "sometimes"\n', "llm_mode"),
    ],
)
def test_bad_config_is_a_config_error(isolated_env: Path, content: str, message: str) -> None:
    (isolated_env / "scientist.toml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_masked_hides_secrets() -> None:
    shown = load_settings(api_key="sk-live-very-secret-123").masked()
    assert shown["api_key"] == "********"
    assert "sk-live-very-secret-123" not in str(shown)


def test_references_are_checked_by_default_whenever_a_source_is_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The product default is `auto` (issue 24 item 4); the suite's own `off` (tests/conftest.py) is test isolation."""
    from scientist.config import Settings

    monkeypatch.delenv("SCIENTIST_CITATION_CHECK")
    assert Settings().citation_check == "auto"
