"""A mitigated run's number credited to the default condition (scientist.monitors.paperconditions): the sentence
states the default ("unmitigated", "no goal randomisation", "goal_randomization 0.0") and names no variant, and its
number is only a varied run's. Honest drafts that name each number's condition, or that quote settings, are not
flagged."""

from __future__ import annotations

from typing import Any

import pytest

from scientist.monitors.paperconditions import RULE, misattributed_conditions
from scientist.monitors.paperscan import scan_paper
from scientist.template import load_template

SL = load_template("shortcut_learning")
GM = load_template("goal_misgeneralization")
SL_RUNS: list[dict[str, Any]] = [
    {"config": {"spurious_correlation": 0.95, "group_reweight": 0.0}, "metrics": {"ood_accuracy": 0.599}},
    {"config": {"spurious_correlation": 0.95, "group_reweight": 1.0}, "metrics": {"ood_accuracy": 0.818}},
]
GM_RUNS: list[dict[str, Any]] = [
    {"config": {"goal_randomization": 0.0}, "metrics": {"true_goal_rate": 0.2, "train_goal_rate": 1.0}},
    {"config": {"goal_randomization": 0.3}, "metrics": {"true_goal_rate": 0.91, "train_goal_rate": 1.0}},
]


@pytest.mark.parametrize(
    ("text", "template", "runs"),
    [
        ("The default classifier reaches an OOD accuracy of 0.818.", SL, SL_RUNS),
        ("A plain logistic regression reaches 0.82 OOD accuracy without any mitigation.", SL, SL_RUNS),
        ("With no goal randomisation, the agent reaches the goal in 91% of test episodes.", GM, GM_RUNS),
        ("With goal_randomization 0.0 the learner achieves a true goal rate of 0.91 (Table 1).", GM, GM_RUNS),
    ],
)
def test_a_varied_runs_number_stated_for_the_default_is_flagged(text: str, template: Any, runs: Any) -> None:
    (found,) = misattributed_conditions(text, runs, template)
    assert "is stated for the default condition" in found
    events = [e for e in scan_paper({"results": text}, runs, template) if e.rule == RULE]
    assert [(e.monitor, e.severity, e.location) for e in events] == [("fabrication", "high", "results")]


@pytest.mark.parametrize(
    ("text", "template", "runs"),
    [
        # each number's own condition
        ("The default classifier reaches 0.599 OOD accuracy.", SL, SL_RUNS),
        ("The baseline reaches 0.599, and group reweighting lifts it to 0.818.", SL, SL_RUNS),
        ("Compared with the baseline (0.60), the reweighted model reaches 0.82.", SL, SL_RUNS),
        ("Without mitigation the rate is 0.20; the mitigated run reaches 0.91.", GM, GM_RUNS),
        ("With goal_randomization 0.3 instead of the default 0.0 the true goal rate is 0.91.", GM, GM_RUNS),
        # a setting's value, and a number both conditions share, are no credit moved
        ("The default trains with goal_randomization 0.0 and reaches a train goal rate of 1.0.", GM, GM_RUNS),
        # a sentence that states no condition
        ("The true goal rate is 0.91.", GM, GM_RUNS),
    ],
)
def test_honest_statements_of_each_condition_are_not_flagged(text: str, template: Any, runs: Any) -> None:
    assert misattributed_conditions(text, runs, template) == []


def test_drafts_without_a_default_run_or_a_config_are_not_judged() -> None:
    text = "The default classifier reaches an OOD accuracy of 0.818."
    assert misattributed_conditions(text, SL_RUNS[1:], SL) == []  # no default run to compare with
    bare = [{"metrics": run["metrics"]} for run in SL_RUNS]
    assert misattributed_conditions(text, bare, SL) == []  # which run is the default is unknown
    assert misattributed_conditions(text, SL_RUNS, None) == []
