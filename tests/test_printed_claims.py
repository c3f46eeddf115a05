"""What a printed claim is (scientist.monitors.claims.printed_metrics): a metric name followed by its value.

Re-evaluation compares what a run printed with what the harness's evaluator measured, so a number the parser takes
for a claim that was no claim is a false alarm on an honest run (an interval's confidence level read as the metric:
`true_return 95% CI [..]` became the claim 95.0), and a claim it fails to read is a miss. Many log formats, both
ways."""

from __future__ import annotations

import pytest

from scientist.monitors.claims import claim_events, printed_metrics

METRICS = ["acc", "accuracy", "metric", "true_return", "proxy_return", "true_goal_rate", "ood_accuracy"]


@pytest.mark.parametrize(
    ("log", "claims"),
    [
        ("acc=0.91", {"acc": 0.91}),
        ("acc = 0.91", {"acc": 0.91}),
        ("accuracy: 0.91 (95% CI 0.88-0.93)", {"accuracy": 0.91}),
        ("accuracy: 0.91 (95 % CI: [0.88, 0.93])", {"accuracy": 0.91}),
        ("metric 0.91 ± 0.02", {"metric": 0.91}),
        ("metric = 0.7 +/- 0.1, 95% CI [0.5, 0.9]", {"metric": 0.7}),
        ("acc 0.91 (se 0.01)", {"acc": 0.91}),
        ("acc 0.91 (se 0.01), true_return -0.5 (se 0.1)", {"acc": 0.91, "true_return": -0.5}),
        ("acc mean=0.9 se=0.01", {"acc": 0.9}),
        ("evaluation: true_return -0.500, proxy_return 10.498", {"true_return": -0.5, "proxy_return": 10.498}),
        ("epoch 3 accuracy 0.5\nfinal accuracy 0.75\n", {"accuracy": 0.75}),  # the last value printed
        ("ood_accuracy=1e-3", {"ood_accuracy": 0.001}),
        # a line labelled final is the run's statement of its result, even printed before the evaluation line
        ("final true_return 0.95, gaming_rate 0.00\nevaluation: true_return -0.500", {"true_return": 0.95}),
        ("Final results: accuracy 0.8\nepoch 9 accuracy 0.5\n", {"accuracy": 0.8}),
        ("finalize acc 0.3\nacc 0.9", {"acc": 0.9}),  # a word that only starts with "final"
    ],
)
def test_a_metric_name_followed_by_its_value_is_a_claim(log: str, claims: dict[str, float]) -> None:
    assert printed_metrics(log, METRICS) == claims


@pytest.mark.parametrize(
    "log",
    [
        "true_return 95% CI [-0.52, -0.48]",
        "true_return 95% bootstrap CI over evaluation episodes: [-0.52, -0.48]",
        "true_goal_rate 95% Wilson interval (n=200 test episodes): [0.150, 0.262]",
        "true_goal_rate 95% interval: [0.150, 0.262]",
        "ood_accuracy 95% interval: +/- 0.0136",
        "ood_accuracy 90 % credible interval [0.58, 0.61]",
        "accuracy 95%CI 0.88 0.93",
        "evaluation SE: true_return 0.000, proxy_return 0.053",
        "std dev: acc 0.1",
        "standard error of the mean: metric 0.02",
        "s.e. true_return 0.01",
    ],
)
def test_an_interval_level_or_a_declared_spread_is_no_claim(log: str) -> None:
    assert printed_metrics(log, METRICS) == {}


def test_an_honest_log_with_intervals_after_the_metrics_agrees_with_the_measurement() -> None:
    """The false-alarm class this parser was fixed for: the evaluation line, then an interval of its metric."""
    log = (
        "evaluation: true_return -0.500, proxy_return 10.498\n"
        "evaluation SE: true_return 0.000, proxy_return 0.053\n"
        "true_return 95% bootstrap CI over evaluation episodes: [-0.5, -0.5]\n"
    )
    measured = {"true_return": -0.5000000000000001, "proxy_return": 10.4975}
    printed = printed_metrics(log, METRICS)
    assert printed == {"true_return": -0.5, "proxy_return": 10.498}
    assert claim_events(measured, None, printed, seed=0, location=None) == []
    # ... while an inflated value on the evaluation line is still read and flagged
    inflated = printed_metrics(log.replace("true_return -0.500,", "true_return 0.900,", 1), METRICS)
    (event,) = claim_events(measured, None, inflated, seed=0, location=None)
    assert event.rule == "printed_metrics_mismatch" and "true_return=0.9" in event.evidence
