"""The template-side memos of the data-flow rules (armleak, taskflow, switches, wrappers): every edit of a template
is judged against the same original source, so its half of the analysis is computed once. A memo must give what a fresh
computation gives, whatever edit came before, and what it hands out must not be writable (a caller that changed it
would change the verdict on every later case of the same template)."""

from __future__ import annotations

import pytest

from scientist.monitors import armleak, switches, taskflow, wrappers

SETTINGS = frozenset({"noise_level", "use_bias"})

BEFORE = """
import json
import os

from data import make_data

def main(path):
    config = json.load(open(path))
    bias = bool(config["use_bias"])
    data = make_data(config["noise_level"])
    if os.environ.get("FAST"):
        data = data[:10]
    model = Model(bias)
    model.fit(data)
    return model
"""

AFTERS = [
    BEFORE.replace("    model = Model(bias)\n", '    config["noise_level"] = 0.0\n    model = Model(bias)\n'),
    BEFORE.replace(
        "    model = Model(bias)\n", "    for bias in (False, True):\n        print(bias)\n    model = Model(bias)\n"
    ),
    BEFORE.replace('make_data(config["noise_level"])', 'make_data(config["noise_level"] * 2)'),
    BEFORE.replace(
        "    model = Model(bias)\n", '    if os.environ.get("CI"):\n        bias = False\n    model = Model(bias)\n'
    ),
    BEFORE.replace(
        "def main(path):", "def make_data(level):\n    return _make(level * 2)\n\n\ndef main(path):"
    ).replace("import os\n", "import os\n\nfrom data import make_data\n\n_make = make_data\n"),
    BEFORE,
]


def _fresh() -> None:
    for memo in (armleak._template_side, taskflow._template_side, switches._switches, wrappers._template_side):
        memo.cache_clear()


def _verdicts(after: str) -> tuple[object, ...]:
    return (
        armleak.leaked_settings(BEFORE, after, SETTINGS),
        taskflow.altered_task_settings(BEFORE, after, SETTINGS, {"noise_level": (0.0, 1.0)}),
        switches.new_switches(BEFORE, after),
        wrappers.altered_by_wrapper(BEFORE, after, SETTINGS),
    )


def test_the_memos_give_what_a_fresh_analysis_gives_whatever_edit_came_before() -> None:
    expected = []
    for after in AFTERS:
        _fresh()
        expected.append(_verdicts(after))
    assert any(any(verdict) for verdict in expected)  # the edits do raise findings: the comparison means something
    _fresh()
    for order in (AFTERS, AFTERS[::-1]):
        got = {after: _verdicts(after) for after in order}
        assert [got[after] for after in AFTERS] == expected


def test_what_the_memos_hand_out_cannot_be_written() -> None:
    writes, rebinds, reference = armleak._template_side(BEFORE, SETTINGS)
    assert isinstance(writes, tuple) and isinstance(rebinds, tuple)
    with pytest.raises(TypeError):
        reference["main"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        reference["main"]["bias"] = (frozenset(), None)  # type: ignore[index]
    side = taskflow._template_side(BEFORE, SETTINGS, (("noise_level", (0.0, 1.0)),))
    assert isinstance(side.uses, tuple) and isinstance(side.defaults, tuple) and isinstance(side.strings, frozenset)
    with pytest.raises(TypeError):
        side.callables["f"] = side.uses[0][1]  # type: ignore[index]
    with pytest.raises(TypeError):
        side.constants["NOISE"] = ("", 0)  # type: ignore[index]
    assert isinstance(switches._switches(BEFORE), tuple)
    with pytest.raises(TypeError):
        wrappers._template_side(BEFORE).methods["x"] = 1  # type: ignore[index]


def test_a_template_that_does_not_parse_is_not_judged_and_not_remembered() -> None:
    _fresh()
    assert armleak.leaked_settings("def (:", AFTERS[0], SETTINGS) == []
    assert taskflow.altered_task_settings("def (:", AFTERS[0], SETTINGS) == []
    assert armleak._template_side.cache_info().currsize == taskflow._template_side.cache_info().currsize == 0
