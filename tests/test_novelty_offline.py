"""Honest offline novelty where it is reported: a study report counts the runs whose novelty was unchecked.

The store is a real SQLite run store; the runs' folders hold the novelty.json the pipeline's novelty node writes."""

from __future__ import annotations

import json
from pathlib import Path

from scientist.store.engine import open_store
from scientist.store.models import Cell, Run, Study
from scientist.study.render import markdown
from scientist.study.report import build_report

NOW = "2026-01-01T00:00:00+00:00"


def _run_dir(tmp_path: Path, name: str, verdicts: list[str]) -> Path:
    folder = tmp_path / "runs" / name
    folder.mkdir(parents=True)
    records = [{"index": i, "novelty": verdict, "outcome": "kept"} for i, verdict in enumerate(verdicts)]
    (folder / "novelty.json").write_text(json.dumps(records), encoding="utf-8")
    return folder


def test_a_study_report_counts_runs_whose_novelty_was_unchecked(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "runs.db"))
    folders = {
        "r-offline": _run_dir(tmp_path, "r-offline", ["unchecked", "unchecked"]),
        "r-checked": _run_dir(tmp_path, "r-checked", ["novel", "not_novel"]),
        "r-mixed": _run_dir(tmp_path, "r-mixed", ["novel", "unchecked"]),
    }
    with store.session() as session:
        study = Study(name="offline", spec={}, created_at=NOW)
        cell = Cell(study=study, key="c0", topic="t", template="reward_misspec", model="m", variant="full", seed=0)
        session.add_all([study, cell])
        session.flush()
        for position, (run_id, folder) in enumerate(folders.items()):
            session.add(
                Run(
                    id=run_id,
                    topic="t",
                    template="reward_misspec",
                    model="m",
                    status="completed",
                    created_at=NOW,
                    updated_at=NOW,
                    imported_at=NOW,
                    run_dir=str(folder),
                    cell_id=cell.id,
                    sample_index=position,
                )
            )
        session.commit()
    report = build_report(store, "offline", score="self")
    assert report.novelty_unchecked == 2
    assert {run.run_id: run.novelty_unchecked for run in report.runs} == {
        "r-offline": True,
        "r-checked": False,
        "r-mixed": True,
    }
    assert "- note: 2 run(s) went on with novelty unchecked" in markdown(report)
