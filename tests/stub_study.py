"""The [settings] lines the study tests over a stub model share (test_study.py, test_study_budget.py,
test_study_e2e.py's stub study, test_components_report.py's).

One seed per run: a hosted model's default is code mode with 3 seeds (and an evaluator run each), which these tests
of the study, its budget and its tables do not compare; a run's seeds are tested in tests/test_template_contract.py
and tests/test_template_ports.py. Written once, so a change of that default is answered in one place."""

from __future__ import annotations

ONE_SEED = "seeds_per_run = 1"
# A stub study's runs, quick: no retries, the baseline only, one seed, one reviewer.
QUICK_RUNS = f"transient_retries = 0\nrepair_retries = 0\nexperiment_runs = 0\n{ONE_SEED}\nreview_ensemble = 1"


def pin_settings(text: str, *lines: str) -> str:
    """A study TOML's text with `lines` and ONE_SEED at the top of its [settings] table (which must be there)."""
    if "[settings]\n" not in text:
        raise ValueError("the study file has no [settings] table to pin")
    return text.replace("[settings]\n", "[settings]\n" + "".join(f"{line}\n" for line in [*lines, ONE_SEED]), 1)
