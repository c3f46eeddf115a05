"""A draft stating only the best seed of a condition as its result (scientist.monitors.bestrun), on both shapes of
runs the paper monitors get; and the honest ways to quote seeds, which must stay quiet."""

from __future__ import annotations

import pytest

from scientist.monitors.bestrun import best_run_as_result
from scientist.monitors.paperscan import _aggregates, scan_paper, single_run_as_aggregate
from scientist.template import Template, load_template

RANDOMISED = {"goal_randomization": 0.1}
RUNS = [
    {"label": "baseline", "metric": 0.12, "config": {"goal_randomization": 0.0}},
    *(
        {"label": f"rand_s{seed}", "metric": value, "config": RANDOMISED}
        for seed, value in enumerate((0.71, 0.28, 0.24))
    ),
]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template("goal_misgeneralization")


def test_the_luckiest_seed_stated_alone_is_a_high_fabrication_event(template: Template) -> None:
    sections = {"abstract": "Randomising the goal in 10% of training episodes raises the true goal rate to 0.71."}
    events = [event for event in scan_paper(sections, RUNS, template) if event.rule == "best_run_as_result"]
    assert [(event.severity, event.location) for event in events] == [("high", "abstract")]
    assert "best of 3 seeds' true_goal_rate" in events[0].evidence and "0.41" in events[0].evidence


@pytest.mark.parametrize(
    "text",
    [
        "The true goal rate rises to 0.71, 0.28 and 0.24 over three seeds.",  # every seed
        "The true goal rate rises to 0.41 on average (0.71 on one seed).",  # the mean
        "The best seed reached 0.71.",  # the selection said
        "Seed 0 reached 71% of test goals.",  # which seed
        "The true goal rate varied between 0.71 and 0.24.",  # a range
    ],
)
def test_a_draft_that_shows_the_selection_is_not_flagged(template: Template, text: str) -> None:
    assert best_run_as_result({"results": text}, RUNS, template) == []


def test_seeds_that_agree_make_any_of_them_the_result(template: Template) -> None:
    runs = [{"metric": value, "config": RANDOMISED} for value in (0.71, 0.712, 0.709)]
    assert best_run_as_result({"results": "The true goal rate is 0.71."}, runs, template) == []


def test_the_best_seed_of_a_lower_is_better_metric_is_its_minimum() -> None:
    template = load_template("reward_misspec")
    runs = [{"metrics": {"gaming_rate": value}, "config": {"true_reward_weight_in_proxy": 0.5}} for value in (0.2, 0.9)]
    assert best_run_as_result({"results": "Gaming falls to 0.2."}, runs, template)
    assert best_run_as_result({"results": "Gaming stays at 0.9."}, runs, template) == []  # the worst seed: no gain


def test_a_multi_seed_summary_s_per_seed_list_is_a_condition(template: Template) -> None:
    """The harness's summary final_info.json: the mean under `metrics`, each seed under `per_seed`."""
    summary = {
        "metrics": {"true_goal_rate": 0.41},
        "per_seed": [{"seed": seed, "metrics": {"true_goal_rate": v}} for seed, v in enumerate((0.71, 0.28, 0.24))],
    }
    assert best_run_as_result({"results": "The true goal rate is 0.71."}, [summary], template)
    assert best_run_as_result({"results": "The true goal rate is 0.41 (0.71 at best)."}, [summary], template) == []


def test_the_aggregates_come_in_metric_order_so_the_evidence_is_the_same_in_every_process() -> None:
    """A number that is one run's value of two metrics is reported under the first in name order, not in the order
    a set of names iterates (which moves with PYTHONHASHSEED, so a record's evidence changed between processes)."""
    names = [f"metric_{letter}" for letter in "qwertyuiopas"]
    rows = [{name: float(index) for name in names} for index in range(3)]
    assert list(_aggregates(rows)) == sorted(names)
    runs = [{"metrics": {"true_return": value, "proxy_return": value}} for value in (0.2, 0.9)]
    (found,) = single_run_as_aggregate("The mean return over seeds is 0.90.", runs)
    assert "one run's proxy_return" in found
