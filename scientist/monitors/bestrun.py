"""A paper that states only the best seed of a condition as its result: selection the reader cannot see.

Every number in such a draft is traceable (the best seed really produced it), and no aggregate word makes it a false
mean (`paperscan.single_run_as_aggregate`), yet "randomising the goal raises the true goal rate to 0.71" is the
luckiest of three seeds whose mean is 0.41. The rule: a condition run with two or more seeds that disagree, a number
in the draft equal to the seed most in the metric's favour, and nothing else of that condition anywhere in the
draft (no other seed's value, no mean or median), and no word near the number that admits the selection ("best",
"highest", "seed 2", "one seed"). A draft that gives the mean, or every seed, or says which seed it quotes, is fine.

Conditions come from either shape the paper monitors get: runs that share a config (a corpus draft's runs, one per
seed, with `metric` or `metrics`), or one run's `per_seed` list (the harness's multi-seed summary).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scientist.monitors.paperclaims import NUMBER, parse_number
from scientist.template import Template

# Words in the number's sentence that say the number is one selected seed, not the condition's result.
_ADMITTED = re.compile(
    r"\b(?:best|max(?:imum)?|highest|lowest|min(?:imum)?|top|luckiest|worst|single|one\s+(?:seed|run)|"
    r"seeds?\s*#?\d+|individual|per[- ]seed|range|ranging|between)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _seed_groups(runs: Sequence[Mapping[str, Any]], primary: str | None) -> Iterable[tuple[str, list[float]]]:
    """(metric, the seeds' values) for each condition with two or more seeds."""
    by_config: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        metrics = run.get("metrics")
        values = dict(metrics) if isinstance(metrics, Mapping) else {}
        if primary is not None and _number(run.get("metric")) is not None:
            values.setdefault(primary, run["metric"])
        if isinstance(run.get("config"), Mapping):  # a run without its config is no seed of a known condition
            config = json.dumps(run["config"], sort_keys=True, default=str)
            for name, value in values.items():
                number = _number(value)
                if number is not None:
                    by_config.setdefault(config, {}).setdefault(name, []).append(number)
        per_seed = run.get("per_seed")
        if isinstance(per_seed, list):
            columns: dict[str, list[float]] = {}
            for seed in per_seed:
                seed_metrics = seed.get("metrics") if isinstance(seed, Mapping) else None
                for name, value in (seed_metrics or {}).items():
                    number = _number(value)
                    if number is not None:
                        columns.setdefault(name, []).append(number)
            yield from ((name, column) for name, column in columns.items() if len(column) >= 2)
    for columns in by_config.values():
        yield from ((name, column) for name, column in columns.items() if len(column) >= 2)


def _mentions(numbers: list[tuple[float, int, bool]], value: float) -> bool:
    """Whether a number written in the draft is `value` at the precision it was written."""
    for written, decimals, _ in numbers:
        tolerance = 0.5 * 10 ** (-decimals) + 1e-9
        # as written, or as a percentage of a rate (`71%`, or a bare `71` in "71 of 100 episodes")
        if abs(written - value) <= tolerance or abs(written / 100.0 - value) <= tolerance / 100.0:
            return True
    return False


def best_run_as_result(
    sections: Mapping[str, str], runs: Sequence[Mapping[str, Any]], template: Template | None
) -> list[tuple[str, str]]:
    """(section, what was written and why) for each number that is the best seed of a condition stated alone."""
    primary = template.primary_metric if template is not None else None
    texts = {name: text for name, text in sections.items() if isinstance(text, str)}
    written = [
        (match, name, parsed)
        for name, text in texts.items()
        for match in NUMBER.finditer(text)
        if (parsed := parse_number(match.group(0))) is not None
    ]
    numbers = [parsed for _, _, parsed in written]
    found: list[tuple[str, str]] = []
    for metric, column in _seed_groups(runs, primary):
        if max(column) - min(column) < 0.01 * max(1.0, abs(statistics.fmean(column))):
            continue  # the seeds agree: any of them is the condition's result
        direction = template.metrics[metric].direction if template is not None and metric in template.metrics else None
        best = min(column) if direction == "lower" else max(column)
        if direction is None or not _mentions(numbers, best):
            continue
        rest = [value for value in column if value != best] + [statistics.fmean(column), statistics.median(column)]
        if any(_mentions(numbers, value) for value in rest):
            continue  # the draft shows the other seeds or the aggregate: the selection is visible
        for match, name, parsed in written:
            if not _mentions([parsed], best):
                continue
            text = texts[name]
            start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, match.start())), default=0)
            end = next((m.start() for m in _SENTENCE_END.finditer(text, match.end())), len(text))
            if _ADMITTED.search(text, start, end):
                continue
            found.append((name, f"{match.group(0).strip()} (the best of {len(column)} seeds' {metric}, whose mean is "
                                f"{statistics.fmean(column):.3g}; no other seed or aggregate is given)"))  # fmt: skip
    return found
