"""What the study pages show: the studies in the run store, and one study's grid (each cell's status and runs, each
run linked to its run page) with the report `scientist study report` writes, from the same code (its curves as
inline SVG, its matched comparisons and notes)."""

from __future__ import annotations

from typing import Any

from scientist.store import open_store
from scientist.study.render import body_html
from scientist.study.report import build_report, stored_runs, study_names


def studies(db: str | None) -> tuple[list[str], str]:
    """The names of the studies in the store, and where the store is (for the page)."""
    store = open_store(db)
    try:
        return study_names(store), store.where
    finally:
        store.close()


def study_context(db: str | None, name: str, metric: str, score: str) -> dict[str, Any]:
    """The study's cells (status, runs, best score) and its report's HTML; `ScientistError` when there is no such
    study or the score kind is unknown."""
    store = open_store(db)
    try:
        cells, runs = stored_runs(store, name, metric, score)  # type: ignore[arg-type]  # checked there
        report = build_report(store, name, metric, score)  # type: ignore[arg-type]
    finally:
        store.close()
    grid = []
    for cell in cells:
        mine = [run for run in runs if run.cell_key == cell.key]
        scores = [run.score for run in mine if run.score is not None]
        grid.append({
            "key": cell.key, "variant": cell.variant, "model": cell.model, "template": cell.template, "n": cell.n,
            "seed": cell.seed, "status": cell.status, "error": str(cell.params.get("error") or ""),
            "done": sum(run.status in ("completed", "stopped") for run in mine),
            "best": max(scores) if scores else None, "runs": mine,
        })  # fmt: skip
    return {"name": name, "metric": metric, "score": score, "grid": grid, "report_html": body_html(report)}
