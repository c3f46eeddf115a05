"""Component presets: `plain+C` and `full-C` generated from one table, each switching exactly its component's
settings, usable in study files (checked before anything runs), and clear errors for unknown components or
contradictory settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from scientist.config import Settings, load_settings
from scientist.errors import ConfigError
from scientist.study.check import check_study, run_settings
from scientist.study.spec import (
    BUILTIN_PRESETS,
    COMPONENT_PRESETS,
    COMPONENTS,
    PLAIN,
    PLAIN_COMPONENTS,
    CellSpec,
    parse_study,
)

REPO = Path(__file__).resolve().parents[1]
CELL = CellSpec(topic="reward hacking", template="reward_misspec", model="local/smollm2-135m", variant="full", n=1,
                seed=0)  # fmt: skip


def study(variants: list[str], settings: str = "") -> str:
    return f"""
name = "components"
topics = ["reward hacking"]
models = ["local/smollm2-135m"]
variants = {variants!r}
n = 1
[settings]
{settings}
"""


def differing(a: Settings, b: Settings) -> set[str]:
    left, right = a.model_dump(exclude={"variant"}), b.model_dump(exclude={"variant"})
    return {key for key in left if left[key] != right[key]}


def resolved(spec_text: str, variant: str) -> Settings:
    spec = parse_study(spec_text)
    return run_settings(spec, CELL.model_copy(update={"variant": variant}), 0, Path("runs"))


def test_plain_is_still_exactly_the_preset_the_recorded_studies_ran() -> None:
    assert PLAIN == {
        "num_ideas": 1, "novelty_policy": "off", "review_reflections": 0, "write_reflections": 0,
        "experiment_runs": 0, "fix_attempts": 0, "search": "linear",
    }  # fmt: skip
    assert BUILTIN_PRESETS["plain"] is PLAIN and BUILTIN_PRESETS["novelty-off"] == COMPONENT_PRESETS["full-novelty"]


def test_the_table_generates_one_add_and_one_drop_preset_per_component_all_documented() -> None:
    expected = [f"plain+{name}" for name in PLAIN_COMPONENTS] + [f"full-{name}" for name in COMPONENTS]
    assert list(COMPONENT_PRESETS) == expected and "plain+retrieval" not in COMPONENT_PRESETS
    docs = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in docs for name in COMPONENTS), "every component is named in docs/architecture.md"


@pytest.mark.parametrize("component", PLAIN_COMPONENTS)
def test_plain_plus_a_component_switches_exactly_that_component_on(component: str) -> None:
    text = study([f"plain+{component}", "plain", "full"])
    plain, added, full = (resolved(text, variant) for variant in ("plain", f"plain+{component}", "full"))
    changed = differing(plain, added)
    assert changed and changed <= set(COMPONENTS[component])  # only its own keys (some equal in both)
    assert all(getattr(added, key) == getattr(full, key) for key in COMPONENTS[component])


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_full_minus_a_component_switches_exactly_that_component_off(component: str) -> None:
    text = study([f"full-{component}", "full"])
    full, dropped = resolved(text, "full"), resolved(text, f"full-{component}")
    assert differing(full, dropped) == {key for key, value in COMPONENTS[component].items()
                                        if getattr(full, key) != value}  # fmt: skip
    assert all(getattr(dropped, key) == value for key, value in COMPONENTS[component].items())


def test_a_component_added_to_plain_takes_the_study_settings_value_as_full_does() -> None:
    text = study(["plain+novelty", "full"], settings='novelty_policy = "keep"\nreview_reflections = 3')
    added, full = resolved(text, "plain+novelty"), resolved(text, "full")
    assert added.novelty_policy == full.novelty_policy == "keep"
    assert added.review_reflections == 0 and full.review_reflections == 3  # the other components stay plain


def test_component_variants_pass_the_study_check() -> None:
    check_study(parse_study(study(list(COMPONENT_PRESETS))))


@pytest.mark.parametrize(
    ("variant", "named", "hint"),
    [
        ("plain+vibes", "'vibes'", "C = ideas, novelty, review-reflection, write-reflection, experiment-loop"),
        ("plain+retrieval", "'retrieval'", "plain+C takes"),  # plain already retrieves
        ("full-tournament", "'tournament'", "retrieval"),
        ("fancy", "'fancy'", "full-C (C = ideas, novelty"),
    ],
)
def test_an_unknown_component_is_one_clear_error_before_any_run(variant: str, named: str, hint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_study(parse_study(study(["plain", variant])))
    assert named in raised.value.message and hint in (raised.value.hint or "")


def test_contradictory_settings_are_refused_before_any_call() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(ideas_selector="novelty", novelty_policy="off")
    assert "ideas_selector = novelty needs the novelty check" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        check_study(parse_study(study(["full", "full-novelty"], settings='ideas_selector = "novelty"')))
    assert "full-novelty" in str(raised.value)
