"""Write: the model drafts the prose; every number in the paper is filled in from the runs' final_info.json."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from scientist.context import RunContext
from scientist.errors import ScientistError
from scientist.writeup import ExperimentRecord, PaperDraft, compile_pdf, render_paper

PAPER_DIR = "paper"


def measured_results(ctx: RunContext, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The numbers the model may discuss, read from the sandbox outputs (never from the model)."""
    results = []
    for record in records:
        entry: dict[str, Any] = {"label": record["label"], "changes": record["overrides"], "ok": record["ok"]}
        if record["ok"]:
            final_info = json.loads((ctx.run_dir / record["final_info_path"]).read_text(encoding="utf-8"))
            entry["metrics"] = final_info.get("metrics", {})
        results.append(entry)
    return results


def related_references(idea: dict[str, Any]) -> list[dict[str, Any]]:
    """The papers the novelty check found closest to the idea, as references (from the index, never the model)."""
    references = []
    for paper in idea.get("related_work") or []:
        authors = list(paper.get("authors") or [])
        arxiv = paper.get("source", "arxiv") == "arxiv"
        references.append(
            {
                "key": paper["id"],
                "author": ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else ""),
                "title": paper["title"],
                "venue": f"arXiv:{paper['id']}" if arxiv else "",
                "year": paper.get("year") or "",
                "url": paper.get("url") or "",
            }
        )
    return references


def write_paper(
    ctx: RunContext, idea: dict[str, Any], records: list[dict[str, Any]], figure: str | None
) -> dict[str, Any]:
    """Draft, render and (when pdflatex is installed) compile the paper; returns paths relative to the run."""
    ctx.progress("write", "drafting the paper")
    draft = ctx.gateway.structured(
        "write_paper",
        {
            "idea": idea,
            "task_description": ctx.template.task_description,
            "results": measured_results(ctx, records),
            "metrics": ctx.template.metrics,
        },
        PaperDraft,
        stage="write",
        max_tokens=1200,
    )
    paper_dir = ctx.run_dir / PAPER_DIR
    paper_dir.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []
    if figure is not None:
        shutil.copyfile(ctx.run_dir / figure, paper_dir / "results.png")
        figures.append(("results.png", "Training curves and final metrics of the baseline and the variant."))
    experiment_records = [
        ExperimentRecord(
            label=record["label"],
            config=record["config"],
            final_info_path=ctx.run_dir / record["final_info_path"],
            ok=record["ok"],
        )
        for record in records
    ]
    tex, markdown = render_paper(draft, experiment_records, ctx.template, figures, related_references(idea))
    (paper_dir / "paper.tex").write_text(tex, encoding="utf-8")
    (paper_dir / "paper.md").write_text(markdown, encoding="utf-8")
    (paper_dir / "draft.json").write_text(draft.model_dump_json(indent=2), encoding="utf-8")
    paper: dict[str, Any] = {
        "tex": f"{PAPER_DIR}/paper.tex",
        "md": f"{PAPER_DIR}/paper.md",
        "pdf": None,
        "tex_blob": ctx.audit.put_blob(tex),
    }
    ctx.progress("write", "compiling the PDF")
    started = time.perf_counter()
    try:
        pdf = compile_pdf(paper_dir / "paper.tex")
    except ScientistError as err:
        ctx.audit.append("stage_failure", "pipeline", {"stage": "write", "error": f"LaTeX: {err}"})
        pdf = None
    seconds = round(time.perf_counter() - started, 3)
    ctx.audit.append("latex_compile", "pipeline", {"ok": pdf is not None, "wall_time_s": seconds})
    if pdf is not None:
        paper["pdf"] = str(Path(pdf).relative_to(ctx.run_dir))
    return paper
