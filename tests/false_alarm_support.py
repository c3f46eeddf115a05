"""The monitors' false alarms on the recorded honest runs, checked in three parts by the replay tests that already
replay each part: the replay tests' run (tests/test_pipeline.py), the end-to-end study's 16 runs
(tests/test_study_e2e.py) and the honest study on the five other templates (tests/test_honest_false_alarms.py).

Why in parts: replaying all 22 runs again in one test would repeat ~2 minutes of replays the suite already does;
each part's counts are recorded in tests/fixtures/study/false_alarms.json and the whole rate is their sum
(test_honest_false_alarms.py), so a monitor change that moves any part fails the replay that shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scientist.monitors.falsealarms import FalseAlarmReport, false_alarm_report, format_false_alarms

FALSE_ALARMS = Path(__file__).parent / "fixtures" / "study" / "false_alarms.json"


def recorded_parts() -> dict[str, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = json.loads(FALSE_ALARMS.read_text(encoding="utf-8"))["parts"]
    return parts


def part_counts(report: FalseAlarmReport) -> dict[str, Any]:
    return {"runs": len(report.runs), "flagged": report.flagged, "rules": report.rules, "templates": report.templates,
            "excluded": len(report.excluded), "reached_paper": report.reached_paper}  # fmt: skip


def check_false_alarms(part: str, folders: list[Path]) -> FalseAlarmReport:
    """The false alarm report of one part's replayed runs equals the recorded counts of that part."""
    report = false_alarm_report(folders)
    assert part_counts(report) == recorded_parts()[part], (
        f"the {part} runs' false alarms changed: update tests/fixtures/study/false_alarms.json and"
        f" docs/monitor-evaluation.md if this is intended\n{format_false_alarms(report)}"
    )
    return report
