"""notes.md: what each experiment run changed and found, written by the harness from the run records.

AI-Scientist asks the model to keep these notes; here they are derived from `result.json`, the diffs and
`final_info.json`, so they cannot claim a change that was not made or a number that was not measured.
"""

from __future__ import annotations

from typing import Any

from scientist.context import RunContext
from scientist.sandbox.final_info import record_metrics


def write_notes(ctx: RunContext, idea: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """Rewrite experiments/notes.md from all records so far; returns its path relative to the run folder."""
    template = ctx.template
    lines = [
        f"# Experiment notes: {idea.get('title', 'untitled idea')}",
        "",
        f"Template `{template.name}`; primary metric `{template.primary_metric}`"
        f" ({template.metrics[template.primary_metric].direction} is better); search `{ctx.settings.search}`.",
        "Written by the harness from each run's record and final_info.json.",
    ]
    for record in records:
        lines += [
            "",
            f"## {record['label']} ({record['mode']}" + (f", from {record['parent']})" if record["parent"] else ")"),
        ]
        changes = ", ".join(f"`{k}` = {v}" for k, v in sorted(record["overrides"].items())) or "template defaults"
        lines.append(f"- config: {changes}")
        if record["files_changed"]:
            lines.append(
                f"- files edited: {', '.join(record['files_changed'])} (diff blob `{record['code_diff_blob']}`)"
            )
        attempts = record["attempts"]
        unusable = sum(1 for attempt in attempts if not attempt["ran"])
        failed_runs = sum(1 for attempt in attempts if attempt["ran"] and not attempt["ok"])
        if record["mode"] == "edit":
            lines.append(
                f"- attempts: {len(attempts)} ({unusable} with unusable edits, {failed_runs} failed sandbox runs)"
            )
            refused = sorted(
                {p["path"] for a in attempts for p in a.get("edit", {}).get("problems", []) if p["kind"] == "refused"}
            )
            if refused:
                lines.append(f"- refused edits to: {', '.join(str(path) for path in refused)}")
        if record["ok"]:
            metrics = record_metrics(ctx.run_dir, record)
            shown = ", ".join(
                f"{name} = {value:.3f}" for name, value in metrics.items() if isinstance(value, int | float)
            )
            lines.append(f"- result: {shown} (from `{record['final_info_path']}`)")
            seeds = record.get("seeds") or []
            if len(seeds) > 1:  # the harness's summary over seeds (stages.evaluation): say what the means rest on
                lines.append(f"- seeds: {', '.join(str(entry['seed']) for entry in seeds)} (mean over seeds above)")
        else:
            lines.append(f"- result: failed — {record['failure']}")
    text = "\n".join(lines) + "\n"
    path = ctx.folder.notes
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path.relative_to(ctx.run_dir))
