"""Write: the model drafts the paper section by section (each revised in `write_reflections` rounds), the harness
renders it around numbers read from final_info.json, cites only indexed papers, and compiles it, feeding LaTeX
errors in the model's own sections back for `latex_fix_attempts` rounds. The Markdown/HTML paper always exists.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model

from scientist.audit import events as audit_events
from scientist.context import RunContext
from scientist.errors import StructuredOutputError
from scientist.llm.profiles import TITLE_CHARS
from scientist.monitors.paperscan import redact_untraceable, traceable_values
from scientist.paper.citations import Reference, check_citations, references_from_related, to_bibtex
from scientist.paper.latex import CompileResult, LatexError, compile_tex
from scientist.paper.writeup import SECTIONS, ExperimentRecord, PaperDraft, render_paper, section_lines, to_html
from scientist.prompts import render
from scientist.records import Paper
from scientist.runs import RunFolder
from scientist.sandbox.final_info import ok_final_infos, record_metrics
from scientist.stages.citing import checked_references, retrieved_ids

# A section is at most `limits.section_chars` characters (from the model's profile: 600 for the embedded model) and
# the completion cap leaves room for all of them plus the JSON around, so the embedded model's grammar always closes
# the object: a rambling answer is cut by the schema, never by the token limit (which would make it invalid JSON).
FAILED_SECTION = "[The writer gave no usable text for this section.]"
SECTION_TITLES = {name: name.replace("_", " ") for name in SECTIONS}
GUIDANCE = {
    "abstract": "the paper's title and its abstract: the question, what was run, the main measured result and what "
    "it means (3-5 sentences).",
    "introduction": "why the problem matters for AI safety, the hypothesis, and the contribution (one paragraph).",
    "related_work": "how this work relates to the papers listed, citing them as \\cite{key} with the listed keys "
    "only (one paragraph; with no papers listed, name the research area without citing).",
    "method": "the agent, the environment and what was changed between runs (one paragraph).",
    "experiments": "the experimental setup: which runs were made, what each changed, and the metrics (one "
    "paragraph; no results yet).",
    "results": "what the measured results show, comparing the runs with the exact numbers given; say whether the "
    "evidence supports the hypothesis (one paragraph).",
    "conclusion": "the conclusion and the limitations of this small study (one paragraph).",
}
# Only for an idea whose novelty was unchecked (empty index, no source answered): the recorded prompts never see it.
UNCHECKED_GUIDANCE = (
    "the novelty of this work could not be checked: no paper index or literature search was available, so no "
    "papers are listed. Say plainly that related work was not searched, name the research area without citing "
    "(one paragraph)."
)
UNCHECKED_NOTICE = (
    "Note from the harness: the novelty of this idea was not checked against published work (the paper index was "
    "empty and no literature source answered), so this paper cites no related work."
)


def _unchecked(idea: dict[str, Any]) -> bool:
    novelty = idea.get("novelty")
    return isinstance(novelty, dict) and novelty.get("unchecked") is True


@cache
def section_schema(section_chars: int, titled: bool = False) -> type[BaseModel]:
    """`SectionText` / `TitledSection` with the profile's length cap (names and shape unchanged: the request, and so
    the embedded model's recorded replies, stay the same at 600 characters)."""
    text = (str, Field(min_length=1, max_length=section_chars))
    if titled:
        return create_model("TitledSection", title=(str, Field(min_length=1, max_length=TITLE_CHARS)), text=text)
    return create_model("SectionText", text=text)


def _final_infos(ctx: RunContext, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ok runs' final_info.json contents: what a number in the prose may be traced to."""
    return ok_final_infos(ctx.run_dir, records)


def measured_results(ctx: RunContext, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The numbers the model may discuss, read from the sandbox outputs (never from the model)."""
    results = []
    for record in records:
        entry: dict[str, Any] = {"label": record["label"], "changes": record["overrides"], "ok": record["ok"]}
        if record["ok"]:
            entry["metrics"] = record_metrics(ctx.run_dir, record)
        results.append(entry)
    return results


class _Writer:
    """One paper's model calls; every call goes through the gateway (audited) and is logged as a `paper_section`."""

    def __init__(
        self, ctx: RunContext, idea: dict[str, Any], records: list[dict[str, Any]], references: list[Reference],
        feedback: str | None,
    ) -> None:
        self.ctx = ctx
        self.unchecked = _unchecked(idea)
        self.feedback = (feedback or "").strip() or None
        self.failed: list[str] = []
        self.removed_numbers: list[dict[str, str]] = []
        self.limits = ctx.gateway.limits_for("writeup")
        self.traceable = traceable_values(_final_infos(ctx, records), ctx.template)
        self.base = {
            "idea": idea,
            "task_description": " ".join(ctx.template.task_description.split()),
            "metrics": ctx.template.metrics,
            "results": measured_results(ctx, records),
            "references": [ref.model_dump() for ref in references],
            "feedback": self.feedback,
        }

    def _call(
        self, prompt: str, variables: dict[str, Any], schema: type[BaseModel], section: str, kind: str
    ) -> Any | None:
        """The model's answer, or None (audited) when it gave no valid one within the repair retries."""
        rendered = render(prompt, variables)
        titled = "title" in schema.model_fields
        max_tokens = self.limits.section_max_tokens + (TITLE_CHARS if titled else 0)
        try:
            answer = self.ctx.gateway.structured(prompt, variables, schema, stage="write", max_tokens=max_tokens)
        except StructuredOutputError as err:
            self.ctx.audit.emit(
                audit_events.PaperSectionFailed(section=section, kind=kind, error=str(err)),
                "pipeline",
            )
            return None
        self.ctx.audit.emit(
            audit_events.PaperSection(
                section=section,
                kind=kind,
                prompt_template=prompt,
                prompt_blob=self.ctx.audit.put_blob(rendered.user),
                operator_feedback=self.feedback is not None,
                feedback_in_prompt=self.feedback is not None and self.feedback in rendered.user,
                text_blob=self.ctx.audit.put_blob(answer.model_dump_json()),
            ),
            "pipeline",
        )
        return answer

    def draft(self, section: str, previous: dict[str, str]) -> tuple[str | None, str]:
        """(title or None, text) of `section`: one drafting call, then the reflection rounds."""
        variables = {
            **self.base,
            "section": section,
            "section_title": SECTION_TITLES[section],
            "guidance": UNCHECKED_GUIDANCE if self.unchecked and section == "related_work" else GUIDANCE[section],
            "previous": {name: _short(text, self.limits.previous_chars) for name, text in previous.items()},
        }
        schema = section_schema(self.limits.section_chars, titled=section == "abstract")
        answer = self._call("write_section", variables, schema, section, "draft")
        if answer is None:  # the paper says so instead of the run failing; the other sections still get written
            self.failed.append(section)
            return None, FAILED_SECTION
        title, text = getattr(answer, "title", None), str(answer.text)
        for round_ in range(self.ctx.settings.write_reflections):
            self.ctx.progress("write", f"revising the {SECTION_TITLES[section]} ({round_ + 1})")
            revised = self._call(
                "write_reflect", {**variables, "draft": text}, section_schema(self.limits.section_chars), section,
                "reflect",
            )
            text = revised.text if revised is not None else text  # a failed revision keeps the draft
        return title, text

    def redact(self, section: str, text: str) -> str:
        """The section without the numbers no run output backs (each audited; the paper says a number was removed)."""
        text, numbers = redact_untraceable(text, self.traceable)
        for number in numbers:
            self.removed_numbers.append({"section": section, "number": number})
            self.ctx.audit.emit(audit_events.NumberRemoved(section=section, number=number), "pipeline")
        return text

    def fix(self, section: str, text: str, errors: list[LatexError]) -> str:
        variables = {
            "section": section,
            "section_title": SECTION_TITLES[section],
            "text": text,
            "errors": [error.model_dump() for error in errors[:3]],
        }
        answer = self._call("write_fix", variables, section_schema(self.limits.section_chars), section, "fix")
        return self.redact(section, str(answer.text)) if answer is not None else text


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def draft_sections(
    ctx: RunContext, idea: dict[str, Any], records: list[dict[str, Any]], references: list[Reference],
    feedback: str | None = None,
) -> tuple[PaperDraft, list[dict[str, str]], _Writer]:
    """Each section in order, seeing the ones before it; unknown \\cite keys removed and returned."""
    writer = _Writer(ctx, idea, records, references, feedback)
    known = {ref.key for ref in references}
    sections: dict[str, str] = {}
    title = str(idea.get("title") or "Untitled")
    removed: list[dict[str, str]] = []
    for section in SECTIONS:
        ctx.progress("write", f"drafting the {SECTION_TITLES[section]}")
        drafted_title, text = writer.draft(section, sections)
        if drafted_title:
            title = drafted_title
        checked = check_citations(text, known)
        removed += [{"section": section, "key": key} for key in checked.removed]
        sections[section] = writer.redact(section, checked.text)
        if section == "related_work" and writer.unchecked:  # harness-owned: the paper says so whatever the model wrote
            sections[section] = f"{UNCHECKED_NOTICE} {sections[section]}".strip()
    for item in removed:  # (a field named "key" would be redacted)
        ctx.audit.emit(audit_events.CitationRemoved(section=item["section"], citation=item["key"]), "pipeline")
    return PaperDraft(title=title, **sections), removed, writer


def _notice(result: CompileResult, fix_rounds: int) -> str | None:
    if result.ok:
        return None
    if result.engine is None:
        return (
            "Notice: LaTeX is not installed here, so this paper has no PDF; this Markdown (and paper.html) is the "
            "paper. Install latexmk and texlive-latex-base, then `scientist write RUN` compiles it."
        )
    first = result.errors[0].message if result.errors else "unknown error"
    return (
        f"Notice: the LaTeX paper did not compile with {result.engine} after {fix_rounds} fix round(s) (first error: "
        f"{first}); this Markdown (and paper.html) is the paper. paper.tex and paper.log are kept."
    )


class _Paper:
    """Renders and writes the paper's files for a draft (re-run after every fix)."""

    def __init__(
        self, ctx: RunContext, records: list[dict[str, Any]], figure: str | None, references: list[Reference]
    ) -> None:
        self.ctx = ctx
        self.dir = ctx.folder.paper_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.references = references
        self.figures: list[tuple[str, str]] = []
        stale = self.dir / "results.png"
        stale.unlink(missing_ok=True)
        if figure is not None and (ctx.run_dir / figure).is_file():
            shutil.copyfile(ctx.run_dir / figure, stale)
            self.figures.append(("results.png", "Training curves and final metrics of the baseline and the variant."))
        self.records = [
            ExperimentRecord(
                label=record["label"],
                config=record["config"],
                final_info_path=ctx.run_dir / record["final_info_path"],
                ok=record["ok"],
            )
            for record in records
        ]
        if references:
            (self.dir / "references.bib").write_text(to_bibtex(references), encoding="utf-8")
        else:
            (self.dir / "references.bib").unlink(missing_ok=True)

    def write(self, draft: PaperDraft) -> tuple[str, str]:
        tex, markdown = render_paper(draft, self.records, self.ctx.template, self.figures, self.references)
        (self.dir / "paper.tex").write_text(tex, encoding="utf-8")
        (self.dir / "paper.md").write_text(markdown, encoding="utf-8")
        RunFolder.write_json(self.ctx.folder.draft, {"title": draft.title, **draft.sections()})
        return tex, markdown


def _compile(ctx: RunContext, paper: _Paper, draft: PaperDraft, writer: _Writer) -> tuple[CompileResult, int]:
    """Compile; on errors in the model's sections ask for fixes (bounded), re-render and compile again."""
    tex, _ = paper.write(draft)
    fix_rounds = 0
    while True:
        ctx.progress("write", "compiling the PDF" if not fix_rounds else f"compiling after fix {fix_rounds}")
        result = compile_tex(paper.dir / "paper.tex")
        ctx.audit.emit(
            audit_events.LatexCompile(
                ok=result.ok,
                engine=result.engine,
                attempt=fix_rounds + 1,
                wall_time_s=result.wall_time_s,
                errors=[error.model_dump() for error in result.errors[:5]],
                cached=result.cached,
            ),
            "pipeline",
        )
        if result.ok or result.engine is None or fix_rounds >= ctx.settings.latex_fix_attempts:
            return result, fix_rounds
        spans = section_lines(tex, draft, paper.references)
        owners: dict[str, list[LatexError]] = {}
        for error in result.errors:
            owner = next((n for n, (a, b) in spans.items() if error.line is not None and a <= error.line <= b), None)
            if owner is not None and owner != "title":
                owners.setdefault(owner, []).append(error)
        if not owners:  # the preamble, tables or bibliography: harness-owned, never the model's to edit
            ctx.audit.emit(audit_events.LatexFixSkipped(reason="errors outside the model's sections"), "pipeline")
            return result, fix_rounds
        fix_rounds += 1
        known = {ref.key for ref in paper.references}
        for section, errors in owners.items():
            fixed = check_citations(writer.fix(section, getattr(draft, section), errors), known)
            draft = draft.model_copy(update={section: fixed.text})
            ctx.audit.emit(audit_events.LatexFix(section=section, round=fix_rounds), "pipeline")
        tex, _ = paper.write(draft)


def write_paper(
    ctx: RunContext,
    idea: dict[str, Any],
    records: list[dict[str, Any]],
    figure: str | None,
    feedback: str | None = None,
    novelty: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Draft, render and compile the paper; returns (and saves as paper.json) paths relative to the run.

    `novelty` (the novelty node's records): a related paper none of its searches retrieved is dropped and audited;
    None (a paper written outside a pipeline run) takes the idea's related work as it is."""
    references, checks = checked_references(
        ctx, references_from_related(idea.get("related_work") or []), retrieved_ids(novelty)
    )
    draft, removed, writer = draft_sections(ctx, idea, records, references, feedback)
    paper = _Paper(ctx, records, figure, references)
    result, fix_rounds = _compile(ctx, paper, draft, writer)
    notice = _notice(result, fix_rounds)
    markdown = (paper.dir / "paper.md").read_text(encoding="utf-8")
    if notice:
        markdown = f"> {notice}\n\n{markdown}"
        (paper.dir / "paper.md").write_text(markdown, encoding="utf-8")
        ctx.audit.emit(audit_events.PaperFallback(notice=notice), "pipeline")
    final = json.loads((paper.dir / "draft.json").read_text(encoding="utf-8"))
    (paper.dir / "paper.html").write_text(to_html(markdown, final["title"]), encoding="utf-8")
    tex = (paper.dir / "paper.tex").read_text(encoding="utf-8")
    info: dict[str, Any] = {
        "title": final["title"],
        "tex": f"{RunFolder.PAPER_DIR}/paper.tex",
        "md": f"{RunFolder.PAPER_DIR}/paper.md",
        "html": f"{RunFolder.PAPER_DIR}/paper.html",
        "bib": f"{RunFolder.PAPER_DIR}/references.bib" if references else None,
        "pdf": str(Path(result.pdf).relative_to(ctx.run_dir)) if result.ok and result.pdf else None,
        "tex_blob": ctx.audit.put_blob(tex),
        "figure": "results.png" if paper.figures else None,
        "references": [ref.key for ref in references],
        "removed_citations": removed,
        **({"citation_checks": checks} if checks is not None else {}),
        "removed_numbers": writer.removed_numbers,
        "failed_sections": writer.failed,
        "operator_feedback": writer.feedback,
        "write_reflections": ctx.settings.write_reflections,
        "latex": {
            "status": "compiled" if result.ok else ("absent" if result.engine is None else "failed"),
            "engine": result.engine,
            "fix_rounds": fix_rounds,
            "errors": [error.message for error in result.errors[:5]],
            "notice": notice,
        },
    }
    Paper.checked(info, ctx.folder.paper_json)  # the written record is one every reader takes
    RunFolder.write_json(ctx.folder.paper_json, info)
    return info
