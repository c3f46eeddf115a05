"""`scan_run(run_dir)`: re-scan a finished (or stopped) run folder with every monitor.

Static: each sandbox workspace is compared with the template it was prepared from (so an edit made by any route,
not only through the recorded diff, is seen). Dynamic: each run's result.json and logs. Paper: the draft's prose.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from scientist.errors import ScientistError
from scientist.monitors.diffscan import scan_file_change
from scientist.monitors.dynamic import scan_result_fields
from scientist.monitors.events import MonitorEvent
from scientist.monitors.paperscan import removed_number_events, scan_paper, unknown_citation_events
from scientist.records import ExperimentResult, Paper
from scientist.runs import RunFolder
from scientist.sandbox import reader
from scientist.sandbox.final_info import ok_final_infos
from scientist.template import Template

_SKIP_PARTS = {"out", ".sandbox", "__pycache__", "runs", "logs"}
_MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_UNREADABLE_EVENTS = 20  # binary files reported one by one; past this the rest only count


class MonitorInputError(ScientistError):
    """A monitor was pointed at something it cannot read (no run folder, unreadable patch)."""


def _tag(events: list[MonitorEvent], **fields: Any) -> list[MonitorEvent]:
    return [event.model_copy(update={k: v for k, v in fields.items() if getattr(event, k) is None}) for event in events]


def scan_workspace(workspace: Path, template: Template) -> list[MonitorEvent]:
    """Static events for every file in `workspace` that differs from the template (added, changed or removed)."""
    events: list[MonitorEvent] = []
    seen: set[str] = set()
    tree = reader.walk(workspace)  # iterative, no link followed, within the reader's depth/entry budget
    if tree.over_budget:
        events.append(
            MonitorEvent(
                monitor="input_integrity",
                severity="high",
                rule="workspace_over_budget",
                evidence=f"the workspace could not be scanned whole: {tree.over_budget}",
            )
        )
    unreadable = 0
    for entry in sorted(tree.entries, key=lambda entry: entry.rel):
        rel = PurePosixPath(entry.rel)
        if (rel.parts and rel.parts[0] in _SKIP_PARTS) or any(part == "__pycache__" for part in rel.parts):
            continue
        name = reader.display_name(entry.rel)
        path = workspace / entry.rel
        if stat.S_ISLNK(entry.mode):
            target = reader.display_name(os.readlink(path))
            events.append(
                MonitorEvent(
                    monitor="protected_files",
                    severity="high",
                    rule="symlink",
                    evidence=f"{name} -> {target}",
                    location=name,
                    source="dynamic",
                )
            )
            continue
        if not stat.S_ISREG(entry.mode):
            continue
        seen.add(name)
        original = template.source_of(entry.rel)
        before = _text(original) if original.is_file() else None
        after = _text_in(workspace, entry.rel)
        if after is None:
            unreadable += 1
            if unreadable > MAX_UNREADABLE_EVENTS:
                continue
            events.append(
                MonitorEvent(
                    monitor="input_integrity",
                    severity="high",
                    rule="unreadable_file",
                    evidence=f"{name} is binary or too large to analyse",
                    location=name,
                )
            )
            continue
        if before != after:
            events.extend(scan_file_change(name, before, after, template))
    for name in template.harness_owned():
        if name not in seen:
            events.append(
                MonitorEvent(
                    monitor="protected_files",
                    severity="critical",
                    rule="protected_missing",
                    evidence=f"protected file {name} is gone from the workspace",
                    location=name,
                )
            )
    return events


def _text_in(workspace: Path, rel: str) -> str | None:
    """A run's file as text, through the bounded reader (no link, FIFO or oversized file is read)."""
    try:
        data = reader.read_bytes(workspace, rel, max_bytes=_MAX_FILE_BYTES)
        return None if b"\x00" in data else data.decode("utf-8")
    except (reader.RunOutputError, UnicodeDecodeError):
        return None


def _text(path: Path) -> str | None:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
        return None if b"\x00" in data else data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _sandbox_attempts(run_root: Path, record: Mapping[str, Any]) -> list[tuple[Path, Path, Mapping[str, Any], str]]:
    """(workspace, logs, result fields, location) per sandbox execution of one experiment run.

    The edit loop gives each try its own `attempt_N/` (workspace + logs; fields in result.json's `attempts`); the
    plot run and older run folders keep one `workspace/` and `logs/` directly under the run.
    """
    attempts = sorted(run_root.glob("attempt_*"), key=lambda path: int(path.name.partition("_")[2] or 0))
    if not attempts:
        if not record and not (run_root / "workspace").is_dir():
            return []
        return [(run_root / "workspace", run_root / "logs", record, run_root.name)]
    by_number = {item.get("attempt"): item for item in record.get("attempts") or [] if isinstance(item, Mapping)}
    found = []
    for attempt_root in attempts:
        number = int(attempt_root.name.partition("_")[2] or 0)
        fields = by_number.get(number, {})
        where = f"{run_root.name}/{attempt_root.name}"
        found.append((attempt_root / "workspace", attempt_root / "logs", fields, where))
    return found


def scan_run(run_dir: Path, template: Template) -> list[MonitorEvent]:
    """Every monitor over one run folder; events carry the run id, node and candidate (sandbox run label)."""
    folder = RunFolder(run_dir)
    if not folder.audit_log.is_file() and not folder.experiments.is_dir():
        raise MonitorInputError(
            f"{run_dir} is not a run folder (no audit.jsonl or experiments/)",
            hint="pass runs/<id> of a run started with `scientist run`",
        )
    run_id = run_dir.name
    events: list[MonitorEvent] = []
    ok_runs: list[Mapping[str, Any]] = []
    experiments = folder.experiments
    run_roots = sorted(path for path in experiments.iterdir() if path.is_dir()) if experiments.is_dir() else []
    for run_root in run_roots:
        # A run stopped by a monitor (or killed) has a workspace but no result.json: scan it all the same.
        label = run_root.name
        result_path = run_root / RunFolder.RESULT
        record: dict[str, Any] = ExperimentResult.read_dict(result_path) if result_path.is_file() else {}
        found: list[MonitorEvent] = []
        for workspace, logs, fields, where in _sandbox_attempts(run_root, record):
            if workspace.is_dir():
                found.extend(scan_workspace(workspace, template))
            found.extend(
                scan_result_fields(
                    protected_violations=list(fields.get("protected_violations") or []),
                    escaping_symlinks=list(fields.get("escaping_symlinks") or []),
                    exit_code=fields.get("exit_code"),
                    output_limit_exceeded=bool(fields.get("output_limit_exceeded")),
                    stdout=_text(logs / "stdout.log") or "",
                    stderr=_text(logs / "stderr.log") or fields.get("stderr_tail", ""),
                    out_dir=workspace / "out" if workspace.is_dir() else None,
                    template=template,
                    location=f"{RunFolder.EXPERIMENTS}/{where}",
                )
            )
        events.extend(_tag(found, run_id=run_id, node="experiment", candidate=label))
        ok_runs.extend(ok_final_infos(run_dir, [record]))
    draft = folder.draft
    if draft.is_file():
        sections = json.loads(draft.read_text(encoding="utf-8"))
        found = scan_paper(sections, ok_runs, template)
        paper_json = folder.paper_json  # what the writer removed before rendering (numbers, citations)
        paper = Paper.read(paper_json) if paper_json.is_file() else Paper()
        found += removed_number_events(paper.removed_numbers)
        found += unknown_citation_events(paper.removed_citations)
        events.extend(_tag(found, run_id=run_id, node="write"))
    return events
