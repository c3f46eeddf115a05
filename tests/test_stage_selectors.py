"""The stage selector settings (`ideas_selector`, `plan_selector`, `draft_selector`) are checked against the
selector registry when the settings load: the stage's own scorers, the registry's selectors (a plugin's too) and
the pool rankers the stage has a ranker for; anything else is a ConfigError listing the valid names, before any
model call. (A plugin selector installed as a package: tests/test_registry.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from scientist.config import OWN_SELECTORS, POOL_SELECTORS, Settings, load_settings
from scientist.errors import ConfigError
from scientist.measure.sampling import SELECTORS, register_selector
from scientist.selector_registry import UnknownSelectorError, check_selector, valid_names
from scientist.stages.bestofn import stage_selector


def test_every_name_the_stages_used_to_accept_still_loads(isolated_env: Path) -> None:
    for setting, names in {
        "ideas_selector": ("self_rating", "novelty", "first", "tournament", "reviewer"),
        "plan_selector": ("metric", "first", "tournament"),
        "draft_selector": ("review", "first", "tournament", "reviewer"),
    }.items():
        for name in names:
            extra = {"novelty_policy": "filter"} if name == "novelty" else {}
            assert getattr(load_settings(**{setting: name}, **extra), setting) == name


@pytest.mark.parametrize(
    ("setting", "value", "listed", "not_listed"),
    [
        ("ideas_selector", "best", "self_rating, novelty, first, max_field:<name>, min_field:<name>, reviewer, "
                                   "tournament", "metric"),
        ("plan_selector", "reviewer", "metric, first, max_field:<name>, min_field:<name>, tournament", "reviewer"),
        ("draft_selector", "self_rating", "review, first", "self_rating"),
    ],
)  # fmt: skip
def test_an_unknown_selector_is_a_config_error_listing_the_valid_names(
    isolated_env: Path, setting: str, value: str, listed: str, not_listed: str
) -> None:
    (isolated_env / "scientist.toml").write_text(f'{setting} = "{value}"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert f"invalid setting {setting!r}" in message and f"unknown {setting} (selector) {value!r}" in message
    # The names offered, as a set: a plugin's selector is offered too once a test in this process installed one.
    offered = {name.strip() for name in message.split("choose one of:")[1].split(")")[0].split(",")}
    assert set(listed.split(", ")) <= offered and not_listed not in offered, offered


def test_a_selector_argument_is_checked_when_the_settings_load() -> None:
    assert Settings(draft_selector="max_field:latex.fix_rounds").draft_selector == "max_field:latex.fix_rounds"
    with pytest.raises(ValueError, match="needs a field name"):
        Settings(plan_selector="max_field")
    with pytest.raises(ValueError, match="takes no argument"):
        Settings(ideas_selector="first:3")
    with pytest.raises(ValueError, match="unknown ideas_selector"):
        Settings(ideas_selector="self_rating:3")  # a stage's own scorer takes no argument either


def test_a_registered_selector_is_accepted_and_used_by_the_stage() -> None:
    """A selector registered after the config module loaded (as a plugin's is, through its entry point) is valid
    for every stage, and the stage scores with it."""
    name = "longest_title_for_test"
    register_selector(name, lambda arg: lambda value: float(len(value["title"])))
    try:
        settings = Settings(ideas_selector=name, plan_selector=name, draft_selector=name)
        assert (settings.ideas_selector, settings.plan_selector, settings.draft_selector) == (name, name, name)
        scorer = stage_selector(name, {"self_rating": lambda value: 0.0})
        assert max([{"title": "ab"}, {"title": "abcd"}], key=scorer) == {"title": "abcd"}
    finally:
        SELECTORS._entries.pop(name)  # the registry has no removal: a test's entry must not leak into others
    with pytest.raises(ValueError, match="unknown plan_selector"):
        Settings(plan_selector=name)


def test_a_pool_ranker_a_stage_has_no_ranker_for_is_refused() -> None:
    assert "reviewer" not in POOL_SELECTORS["plan_selector"] and "reviewer" not in valid_names(
        own=OWN_SELECTORS["plan_selector"], pools=POOL_SELECTORS["plan_selector"]
    )
    with pytest.raises(UnknownSelectorError, match="unknown selector 'reviewer'") as raised:
        check_selector("reviewer", own=("metric",), pools=("tournament",))
    assert raised.value.hint is not None and "tournament" in raised.value.hint


def test_the_config_module_imports_no_layer_above_it() -> None:
    """The check goes through scientist.selector_registry (below config), not measure.sampling (above it)."""
    import subprocess
    import sys

    code = "import sys, scientist.config\nprint(sorted(m for m in sys.modules if m.startswith('scientist.measure')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
