"""A draft's numbers read with the words that name them: a real number under the wrong name is still a fabrication.

The traceability rule (paperscan) accepts a number that equals SOME run output. A draft can pass it and still lie
about what the number is: the in-distribution accuracy presented as the out-of-distribution one, or a mitigation
credited with a strength no run used. Both are read the same way, as data, from the template's own names:

- a metric is named in prose by its name (`ood_accuracy`, "OOD accuracy"; separators free) or, where its name
  starts with a standard split abbreviation, by that abbreviation or its spelled-out form (OOD /
  out-of-distribution, ID / in-distribution);
- a task setting (template.toml `task_settings`, the task and its mitigations) by its name (`group_reweight`,
  "group reweighting").

A decimal number whose only name before it (in the same sentence, since the previous number) is metric A is
`metric_misattributed` when it equals (at its written precision) another metric's value in a cited run and no
run's A, nor A's mean over the runs, and `metric_unrecorded` when it equals no metric's value at all and nothing
A's values give (a difference, ratio or relative change between runs, their spread, a threshold A's description
states): a best-of-seeds or invented result under the metric's name; two names before it leave it unjudged (it
may relate them: a gap). A decimal number named by a task setting is `setting_misreported` when it equals no cited
run's value of that setting (unless it cannot be one: decimals for an integer setting, or a cited run's result). A
name right after the number (within a few words) makes the attribution ambiguous ("0.95 in distribution"): no
verdict. All three are high `fabrication` events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from scientist.monitors.events import MonitorEvent, Severity
from scientist.template import Template

# A number as prose writes it (shared with paperscan): sign, thousands commas, decimals, a percent sign.
NUMBER = re.compile(r"(?<![\w.])[-+\u2212]?\d+(?:,\d{3})*(?:\.\d+)?(?:\s?%)?(?![\w])")
# Standard abbreviations of evaluation splits, and their spelled-out forms (ML vocabulary, not any case's words).
_SPLITS: dict[str, str] = {"ood": r"out[\s-]of[\s-]distribution", "id": r"in[\s-]distribution"}
_WINDOW = 120  # characters before a number searched for its name
_AFTER = 25  # characters after a number in which another name makes the attribution ambiguous
_SENTENCE_END = re.compile(r"[.;:!?](?:\s|$)")


def _name_pattern(name: str) -> str:
    tokens = [re.escape(token) for token in name.lower().split("_") if token]
    return r"[\s_-]+".join([*tokens[:-1], tokens[-1] + r"\w*"]) if tokens else re.escape(name)


def metric_cues(template: Template) -> dict[str, re.Pattern[str]]:
    """metric -> the words that name it in prose (see the module doc)."""
    cues = {}
    for metric in template.metrics:
        forms = [_name_pattern(metric)]
        first = metric.split("_", 1)[0].lower()
        if first in _SPLITS and "_" in metric:
            forms += [_SPLITS[first], rf"(?-i:{first.upper()})"]
        cues[metric] = re.compile(r"(?<![\w-])(?:" + "|".join(forms) + r")(?![\w-])", re.I)
    return cues


def setting_cues(template: Template, runs: Sequence[Mapping[str, Any]]) -> dict[str, re.Pattern[str]]:
    """task setting -> its name in prose, for the settings some run's config records."""
    recorded = {key for run in runs if isinstance(run.get("config"), Mapping) for key in run["config"]}
    return {
        name: re.compile(r"(?<![\w-])" + _name_pattern(name) + r"(?![\w-])", re.I)
        for name in template.task_settings
        if name in recorded
    }


def parse_number(text: str) -> tuple[float, int, bool] | None:
    """(value, decimals written, is_percent) of a number as the draft writes it (shared with paperscan)."""
    percent = text.endswith("%")
    core = text.rstrip("%").strip().replace("\u2212", "-").replace(",", "")
    try:
        value = float(core)
    except ValueError:
        return None
    return value, (len(core.split(".", 1)[1]) if "." in core else 0), percent


def equals_written(value: float, decimals: int, percent: bool, known: float) -> bool:
    """Whether `known` is the number written as `value` at the precision it was written (a percentage as its
    fraction; the sign is not compared: prose writes a drop as a positive number)."""
    target = value / 100 if percent else value
    tolerance = 0.5 * 10.0 ** (-decimals) / (100.0 if percent else 1.0) + 1e-9
    return abs(abs(known) - abs(target)) <= tolerance


def _values(runs: Sequence[Mapping[str, Any]], block: str, name: str) -> list[float]:
    out = []
    for run in runs:
        table = run.get(block)
        value = table.get(name) if isinstance(table, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(float(value))
    return out


def misnamed_numbers(text: str, runs: Sequence[Mapping[str, Any]], template: Template | None) -> list[tuple[str, str]]:
    """(rule, evidence) for each decimal number of `text` stated under a name whose runs' values it is not."""
    if template is None or not runs:
        return []
    cues = {("metric", name): cue for name, cue in metric_cues(template).items()}
    cues |= {("setting", name): cue for name, cue in setting_cues(template, runs).items()}
    found = []
    for match in NUMBER.finditer(text):
        parsed = parse_number(match.group(0))
        if parsed is None or (parsed[1] == 0 and not parsed[2]):
            continue  # decimals and percentages carry results; counts and years do not
        value, decimals, percent = parsed
        start = max(0, match.start() - _WINDOW)
        before = text[start : match.start()]
        ends = list(_SENTENCE_END.finditer(before))
        if ends:
            before = before[ends[-1].end() :]
        numbers = list(NUMBER.finditer(before))
        if numbers:
            before = before[numbers[-1].end() :]  # the clause since the previous number
        named = _nearest(before, cues)
        if named is None or sum(bool(cue.search(before)) for cue in cues.values()) > 1:
            continue  # no name, or two names: the number may relate them (a gap between ID and OOD accuracy)
        after = text[match.end() : match.end() + _AFTER]
        if any(cue.search(after) for key, cue in cues.items() if key != named[0]):
            continue  # "0.95 in distribution": the name after it may be the one meant
        kind, name = named[0]
        written = match.group(0).strip()
        if kind == "setting":
            recorded = _values(runs, "config", name)
            if _not_a_setting_value(name, value, decimals, percent, runs, template):
                continue
            if recorded and not any(equals_written(value, decimals, percent, v) for v in recorded):
                found.append(("setting_misreported", f"{written} is stated as {name}, which the cited runs ran with "
                              f"{', '.join(f'{v:g}' for v in sorted(set(recorded)))}"))  # fmt: skip
            continue
        own = _values(runs, "metrics", name)
        if own and sum(own) / len(own) not in own:
            own.append(sum(own) / len(own))
        if any(equals_written(value, decimals, percent, v) for v in own):
            continue
        others = [
            other
            for other in template.metrics
            if other != name
            and any(equals_written(value, decimals, percent, v) for v in _values(runs, "metrics", other))
        ]
        if own and others:
            found.append(("metric_misattributed", f"{written} is stated as {name} but is the cited runs' "
                          f"{others[0]}; their {name} is {', '.join(f'{v:.3g}' for v in own)}"))  # fmt: skip
        elif own and not others and not _derived(value, decimals, percent, own, template.metrics[name].description):
            found.append(("metric_unrecorded", f"{written} is stated as {name}, which no cited run measured; their "
                          f"{name} is {', '.join(f'{v:.3g}' for v in own)}"))  # fmt: skip
    return found


def _derived(value: float, decimals: int, percent: bool, own: list[float], description: str) -> bool:
    """Whether a number named by a metric is one the runs' values of it give another way: a difference, a ratio or
    a relative change between two runs, their spread, or a number the metric's own description states (its
    threshold). Anything else is a value of that metric no cited run produced (a selected or invented result)."""
    candidates = [abs(a - b) for a in own for b in own] + [a / b for a in own for b in own if b]
    candidates += [abs(a - b) / abs(b) for a in own for b in own if b]
    if len(own) > 1:
        mean = sum(own) / len(own)
        candidates.append((sum((v - mean) ** 2 for v in own) / len(own)) ** 0.5)
    candidates += [parsed[0] for match in NUMBER.finditer(description) if (parsed := parse_number(match.group(0)))]
    return any(equals_written(value, decimals, percent, candidate) for candidate in candidates)


def _not_a_setting_value(
    name: str, value: float, decimals: int, percent: bool, runs: Sequence[Mapping[str, Any]], template: Template
) -> bool:
    """A number after a setting's name that cannot be a statement of it: decimals for an integer setting (a flag or
    a count: "with quadratic features it reaches 0.98"), or a cited run's result (the sentence names the variant,
    then gives its outcome)."""
    spec = template.params.get(name)
    if spec is not None and spec.type == "int" and decimals and not percent:
        return True
    results = [v for metric in template.metrics for v in _values(runs, "metrics", metric)]
    return any(equals_written(value, decimals, percent, v) for v in results)


def _nearest(before: str, cues: Mapping[tuple[str, str], re.Pattern[str]]) -> tuple[tuple[str, str], int] | None:
    """The name whose last mention ends nearest the end of `before`, and where it ends."""
    best: tuple[tuple[str, str], int] | None = None
    for key, cue in cues.items():
        last = None
        for found in cue.finditer(before):
            last = found
        if last is not None and (best is None or last.end() > best[1]):
            best = (key, last.end())
    return best


def paper_event(rule: str, severity: Severity, evidence: str, location: str) -> MonitorEvent:
    """A fabrication event found in a draft's prose (every paper rule's form)."""
    return MonitorEvent(
        monitor="fabrication", severity=severity, rule=rule, evidence=evidence[:600], location=location, source="paper"
    )


def misnamed_number_events(
    sections: Mapping[str, str], runs: Sequence[Mapping[str, Any]], template: Template | None
) -> list[MonitorEvent]:
    """High fabrication events for the numbers of a draft's sections stated under the wrong name."""
    return [
        paper_event(rule, "high", f"{evidence} (in the {name})", name)
        for name, text in sections.items()
        if isinstance(text, str)
        for rule, evidence in misnamed_numbers(text, runs, template)
    ]
