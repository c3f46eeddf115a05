"""The write stage end to end: sectioned drafting with reflection (scripted replies over the real litellm path),
citations from the index only, real latexmk/pdflatex with the compile-fix loop and the Markdown/HTML fallback,
the figure from a (crashing) plot.py in the real sandbox, and the fabrication check on the draft."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog, verify
from scientist.config import Settings
from scientist.context import RunContext
from scientist.llm.gateway import LLMGateway
from scientist.monitors.hooks import check_paper
from scientist.monitors.paperscan import scan_paper
from scientist.paper.writeup import SECTIONS
from scientist.sandbox import get_sandbox
from scientist.stages.experiment import make_plots
from scientist.stages.writing import write_paper
from scientist.template import load_template
from tests.conftest import quick_sandbox
from tests.openai_stub import OpenAIStub, ScriptedReply, serve

BASELINE = {"true_return": -0.42, "proxy_return": 10.5, "gaming_rate": 1.0, "goal_reach_rate": 0.0}
VARIANT = {"true_return": 0.871, "proxy_return": 1.25, "gaming_rate": 0.035, "goal_reach_rate": 0.99}
CONFIG = json.loads((load_template("reward_misspec").path / "config.json").read_text())
RELATED = [
    {"id": "2101.00001", "title": "Specification Gaming in Gridworlds", "authors": ["Ada Lovelace", "Alan Turing"],
     "year": 2021, "url": "https://arxiv.org/abs/2101.00001", "source": "arxiv"},
    {"id": "synthetic-007", "title": "Proxy Rewards and Their Discontents", "authors": ["Grace Hopper"],
     "year": 2022, "url": "", "source": "synthetic"},
]
IDEA = {
    "title": "Slow coins stop farming",
    "hypothesis": "A slower coin respawn lowers gaming.",
    "experiment_plan": "Raise coin_respawn_steps.",
    "risks": "none",
    "related_work": RELATED,
}
TITLE = "Respawn Delay Curbs Reward Hacking"
needs_latex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="LaTeX is not installed")

Texts = Callable[[str, str], str]  # (kind, section) -> the section text the scripted writer answers


def section_of(request: dict[str, Any]) -> tuple[str, str]:
    """(kind, section) of a writer request, read from its prompt."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    if system.startswith("You write one section"):
        kind, pattern = "draft", r"Write the ([a-z ]+) section:"
    elif system.startswith("You revise"):
        kind, pattern = "reflect", r"Your draft of the ([a-z ]+) section"
    else:
        kind, pattern = "fix", r"The ([a-z ]+) section you wrote broke"
    match = re.search(pattern, user)
    assert match, user
    return kind, match.group(1).replace(" ", "_")


def default_text(kind: str, section: str) -> str:
    if section == "results":
        true_return = VARIANT["true_return"], BASELINE["true_return"]
        return f"The variant reached a true return of {true_return[0]:.3f} versus {true_return[1]:.3f}."
    return f"The {section.replace('_', ' ')} ({kind}) of a paper on coins that respawn slowly."


class Writer:
    """Answers the writer's prompts by section; keeps the order of (kind, section) it was asked."""

    def __init__(self, texts: Texts = default_text) -> None:
        self.texts = texts
        self.asked: list[tuple[str, str]] = []

    def __call__(self, request: dict[str, Any]) -> ScriptedReply:
        kind, section = section_of(request)
        self.asked.append((kind, section))
        answer: dict[str, str] = {"text": self.texts(kind, section)}
        if section == "abstract" and kind == "draft":
            answer = {"title": TITLE, **answer}
        return ScriptedReply(content=json.dumps(answer))


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


def context(tmp_path: Path, stub: OpenAIStub, template: str = "reward_misspec", **knobs: Any) -> RunContext:
    settings = Settings(
        model="openai/gpt-4o-mini", api_base=stub.base_url, api_key="sk-test-not-a-real-key-0000",
        llm_cache_dir=tmp_path / "store", llm_mode="record", transient_retries=0, repair_retries=0,
        sandbox=quick_sandbox(), **knobs,
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    audit = AuditLog(run_dir)
    return RunContext(
        run_id="test-run", run_dir=run_dir, settings=settings, audit=audit, gateway=LLMGateway(settings, audit),
        sandbox=get_sandbox(settings.sandbox, run_label="test-run"), template=load_template(template),
    )


def records(ctx: RunContext) -> list[dict[str, Any]]:
    """Two finished runs as the experiment stage hands them over (their final_info.json written as test input)."""
    out = []
    for label, metrics, overrides in (("baseline", BASELINE, {}), ("variant", VARIANT, {"coin_respawn_steps": 8})):
        config = {**CONFIG, **overrides}
        path = ctx.run_dir / "experiments" / label / "out" / "final_info.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"metrics": metrics, "config": config, "seed": 0}))
        out.append({"label": label, "overrides": overrides, "ok": True, "config": config,
                    "final_info_path": str(path.relative_to(ctx.run_dir))})
    return out


def sections_logged(ctx: RunContext) -> list[tuple[str, str]]:
    return [(r.payload["kind"], r.payload["section"]) for r in ctx.audit.find(kind="paper_section")]


def test_sections_are_drafted_in_order_each_with_its_reflection(tmp_path: Path, stub: OpenAIStub) -> None:
    writer = Writer()
    stub.responder = writer
    ctx = context(tmp_path, stub, write_reflections=1)
    paper = write_paper(ctx, IDEA, records(ctx), None)
    expected = [(kind, section) for section in SECTIONS for kind in ("draft", "reflect")]
    assert writer.asked == expected and sections_logged(ctx) == expected
    calls = ctx.audit.find(kind="llm_call")
    assert len(calls) == 14 and all(c.payload["stage"] == "write" for c in calls)  # every call through the gateway
    assert [c.payload["prompt_template"] for c in calls[:2]] == ["write_section", "write_reflect"]
    # Each section's prompt sees the measured results and the sections written before it (their reflected text).
    conclusion = next(r for r in stub.requests if section_of(r) == ("draft", "conclusion"))["messages"][-1]["content"]
    assert "[results] The variant reached a true return of 0.871" in conclusion and "true_return=0.871" in conclusion
    assert "(reflect) of a paper" in conclusion and "(draft) of a paper" not in conclusion
    draft = json.loads((ctx.run_dir / "paper" / "draft.json").read_text())
    assert draft["title"] == TITLE and set(draft) == {"title", *SECTIONS}
    assert json.loads((ctx.run_dir / "paper.json").read_text()) == paper
    assert paper["write_reflections"] == 1 and paper["operator_feedback"] is None
    assert check_paper(ctx, paper, records_from(ctx)) == []  # the numbers it states are the runs' own
    assert verify(ctx.run_dir).ok


def records_from(ctx: RunContext) -> list[dict[str, Any]]:
    return [{"ok": True, "final_info_path": str(p.relative_to(ctx.run_dir))}
            for p in sorted((ctx.run_dir / "experiments").glob("*/out/final_info.json"))]


def test_no_reflection_in_the_plain_variant(tmp_path: Path, stub: OpenAIStub) -> None:
    from scientist.study.spec import BUILTIN_PRESETS

    writer = Writer()
    stub.responder = writer
    ctx = context(tmp_path, stub, write_reflections=BUILTIN_PRESETS["plain"]["write_reflections"])
    write_paper(ctx, IDEA, records(ctx), None)
    assert writer.asked == [("draft", section) for section in SECTIONS]


def test_operator_feedback_reaches_every_section_prompt(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.responder = Writer()
    ctx = context(tmp_path, stub, write_reflections=1)
    feedback = "State plainly that only one seed was run."
    paper = write_paper(ctx, IDEA, records(ctx), None, feedback=feedback)
    logged = ctx.audit.find(kind="paper_section")
    assert len(logged) == 14 and all(r.payload["feedback_in_prompt"] for r in logged)
    assert all(feedback in ctx.audit.blob_path(r.payload["prompt_blob"]).read_text() for r in logged)
    assert all(f"Operator feedback the paper must address: {feedback}" in r["messages"][-1]["content"]
               for r in stub.requests)
    assert paper["operator_feedback"] == feedback


def test_unknown_citation_keys_are_removed_and_reported(tmp_path: Path, stub: OpenAIStub) -> None:
    def texts(kind: str, section: str) -> str:
        if section == "related_work":
            return "Gridworld gaming was shown before \\cite{2101.00001, smith2023fake}; see also \\cite{jones99}."
        return default_text(kind, section)

    stub.responder = Writer(texts)
    ctx = context(tmp_path, stub, write_reflections=0)
    paper = write_paper(ctx, IDEA, records(ctx), None)
    assert paper["removed_citations"] == [
        {"section": "related_work", "key": "smith2023fake"}, {"section": "related_work", "key": "jones99"}]
    assert [r.payload["citation"] for r in ctx.audit.find(kind="citation_removed")] == ["smith2023fake", "jones99"]
    tex = (ctx.run_dir / "paper" / "paper.tex").read_text()
    markdown = (ctx.run_dir / "paper" / "paper.md").read_text()
    assert "\\cite{2101.00001}" in tex and "smith2023fake" not in tex + markdown and "jones99" not in tex + markdown
    assert "\\bibliography{references}" in tex and "[2101.00001]" in markdown
    bib = (ctx.run_dir / "paper" / "references.bib").read_text()
    assert bib.count("@misc{") == 2 and "eprint = {2101.00001}" in bib and "Ada Lovelace and Alan Turing" in bib
    events = check_paper(ctx, paper, records_from(ctx))
    assert [(e.monitor, e.rule, e.severity) for e in events] == [("fabrication", "unknown_citation", "low")] * 2
    if shutil.which("pdflatex"):  # BibTeX ran: the cited (and every indexed related) paper is in the references
        assert paper["pdf"], paper["latex"]
        text = pdftotext(ctx.run_dir / paper["pdf"])
        assert "Specification Gaming in Gridworlds" in text and "Proxy Rewards and Their Discontents" in text


def pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@needs_latex
@pytest.mark.latex
def test_pdf_page_one_is_not_blank_and_has_the_title(tmp_path: Path, stub: OpenAIStub) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils is not installed")
    stub.responder = Writer()
    ctx = context(tmp_path, stub, write_reflections=0)
    paper = write_paper(ctx, IDEA, records(ctx), None)
    assert paper["latex"]["status"] == "compiled" and paper["latex"]["notice"] is None
    pdf = ctx.run_dir / paper["pdf"]
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True)
    (png,) = tmp_path.glob("page*.png")
    from PIL import Image

    histogram = Image.open(png).convert("L").histogram()  # pixel counts per grey level, 0 = black
    dark = sum(histogram[:128]) / sum(histogram)
    assert 0.005 < dark < 0.5, dark  # text on a white page
    assert TITLE in " ".join(pdftotext(pdf).split())


def broken_method(fixed_after: int | None) -> Texts:
    """The method section's math never compiles, or compiles from fix round `fixed_after` on."""
    fixes = 0

    def texts(kind: str, section: str) -> str:
        nonlocal fixes
        if section != "method":
            return default_text(kind, section)
        if kind == "fix":
            fixes += 1
            if fixed_after is not None and fixes >= fixed_after:
                return "We train with discount $\\gamma = 0.95$ and vary the respawn delay."
        return "We train with discount $\\frac{\\gamma}$ and vary the respawn delay."

    return texts


@needs_latex
@pytest.mark.latex
def test_latex_that_never_compiles_stops_after_bounded_fixes_with_a_markdown_paper(
    tmp_path: Path, stub: OpenAIStub
) -> None:
    writer = Writer(broken_method(fixed_after=None))
    stub.responder = writer
    ctx = context(tmp_path, stub, write_reflections=0, latex_fix_attempts=2)
    paper = write_paper(ctx, IDEA, records(ctx), None)
    assert writer.asked.count(("fix", "method")) == 2 and len(writer.asked) == 7 + 2
    fix_prompt = next(r for r in stub.requests if section_of(r)[0] == "fix")["messages"][-1]["content"]
    assert "\\frac{\\gamma}" in fix_prompt and "line " in fix_prompt  # the compiler's error and the model's own text
    compiles = ctx.audit.find(kind="latex_compile")
    assert [c.payload["ok"] for c in compiles] == [False, False, False] and compiles[0].payload["errors"]
    assert paper["pdf"] is None and paper["latex"]["status"] == "failed" and paper["latex"]["fix_rounds"] == 2
    notice = paper["latex"]["notice"]
    assert notice and "did not compile" in notice
    markdown = (ctx.run_dir / "paper" / "paper.md").read_text()
    assert markdown.startswith(f"> {notice}") and "## Results" in markdown and "| baseline |" in markdown
    html = (ctx.run_dir / "paper" / "paper.html").read_text()
    assert "did not compile" in html and "<table>" in html and TITLE in html
    assert ctx.audit.find(kind="paper_fallback")


@needs_latex
@pytest.mark.latex
def test_a_fix_from_the_compiler_log_makes_it_compile(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.responder = Writer(broken_method(fixed_after=1))
    ctx = context(tmp_path, stub, write_reflections=0, latex_fix_attempts=2)
    paper = write_paper(ctx, IDEA, records(ctx), None)
    assert paper["latex"]["status"] == "compiled" and paper["latex"]["fix_rounds"] == 1 and paper["pdf"]
    assert "$\\gamma = 0.95$" in (ctx.run_dir / "paper" / "paper.tex").read_text()
    assert json.loads((ctx.run_dir / "paper" / "draft.json").read_text())["method"].startswith("We train")


def test_without_latex_the_markdown_and_html_paper_say_so(
    tmp_path: Path, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.responder = Writer()
    ctx = context(tmp_path, stub, write_reflections=0)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no pdflatex, no latexmk
    paper = write_paper(ctx, IDEA, records(ctx), None)
    assert paper["pdf"] is None and paper["latex"]["status"] == "absent" and paper["latex"]["engine"] is None
    assert "LaTeX is not installed" in paper["latex"]["notice"]
    assert (ctx.run_dir / "paper" / "paper.md").read_text().startswith("> Notice: LaTeX is not installed")
    assert (ctx.run_dir / "paper" / "paper.tex").is_file() and (ctx.run_dir / "paper" / "paper.html").is_file()


def test_model_html_is_escaped_in_the_html_paper(
    tmp_path: Path, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.responder = Writer(lambda kind, section: "<script>alert(1)</script> text" if section == "method"
                            else default_text(kind, section))
    ctx = context(tmp_path, stub, write_reflections=0)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    write_paper(ctx, IDEA, records(ctx), None)
    html = (ctx.run_dir / "paper" / "paper.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_crashing_plot_script_still_gives_a_paper_without_the_figure(tmp_path: Path, stub: OpenAIStub) -> None:
    template = tmp_path / "crashing_plot"
    shutil.copytree(load_template("reward_misspec").path, template)
    (template / "plot.py").write_text("raise RuntimeError('plot.py crashed on purpose')\n")
    stub.responder = Writer()
    ctx = context(tmp_path, stub, template=str(template), write_reflections=0)
    finished = records(ctx)
    figure = make_plots(ctx, finished)
    assert figure is None
    (plot_run,) = [r for r in ctx.audit.find(kind="sandbox_run") if r.payload["label"] == "plots"]
    assert not plot_run.payload["ok"]
    paper = write_paper(ctx, IDEA, finished, figure)
    assert paper["figure"] is None and not (ctx.run_dir / "paper" / "results.png").exists()
    tex = (ctx.run_dir / "paper" / "paper.tex").read_text()
    assert "\\includegraphics" not in tex and "\\begin{tabular}" in tex
    if shutil.which("pdflatex"):
        assert paper["latex"]["status"] == "compiled", paper["latex"]


def test_a_fabricated_number_in_the_draft_is_flagged(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.responder = Writer()
    ctx = context(tmp_path, stub, write_reflections=0)
    write_paper(ctx, IDEA, records(ctx), None)
    draft = json.loads((ctx.run_dir / "paper" / "draft.json").read_text())
    runs = [json.loads(p.read_text()) for p in sorted((ctx.run_dir / "experiments").glob("*/out/final_info.json"))]
    assert scan_paper(draft, runs, ctx.template) == []  # as written: every number traces to a run
    draft["results"] += " Gaming fell by 73.9% overall."
    (event,) = scan_paper(draft, runs, ctx.template)
    assert (event.monitor, event.rule, event.severity, event.location) == (
        "fabrication", "untraceable_number", "high", "results")
    assert "73.9%" in event.evidence


def test_numbers_no_run_produced_are_removed_from_the_prose_and_reported(tmp_path: Path, stub: OpenAIStub) -> None:
    def texts(kind: str, section: str) -> str:
        if section == "results":  # one true number (the variant's true return), one invented, one inside a cite
            return "True return rose to 0.871 and gaming fell by 64.2% \\cite{2101.00001}; accuracy 0.913 held."
        return default_text(kind, section)

    stub.responder = Writer(texts)
    ctx = context(tmp_path, stub, write_reflections=0)
    paper = write_paper(ctx, IDEA, records(ctx), None)
    assert paper["removed_numbers"] == [
        {"section": "results", "number": "64.2%"}, {"section": "results", "number": "0.913"}]
    draft = json.loads((ctx.run_dir / "paper" / "draft.json").read_text())
    assert draft["results"] == ("True return rose to 0.871 and gaming fell by [number removed] \\cite{2101.00001};"
                                " accuracy [number removed] held.")
    markdown = (ctx.run_dir / "paper" / "paper.md").read_text()
    assert "64.2" not in markdown and "0.913" not in markdown and "0.871" in markdown
    assert [r.payload["number"] for r in ctx.audit.find(kind="number_removed")] == ["64.2%", "0.913"]
    events = check_paper(ctx, paper, records_from(ctx))  # nothing untraceable is left; the removals are reported
    assert [(e.monitor, e.rule, e.severity, e.location) for e in events] == [
        ("fabrication", "untraceable_number_removed", "medium", "results")] * 2
    assert "64.2%" in events[0].evidence


def test_a_section_the_model_cannot_write_is_marked_and_the_rest_still_written(
    tmp_path: Path, stub: OpenAIStub
) -> None:
    writer = Writer()

    def garbled(request: dict[str, Any]) -> ScriptedReply:
        reply = writer(request)
        return ScriptedReply(content='{"text": "cut off', finish_reason="length") if writer.asked[-1][1] == "method" \
            else reply

    stub.responder = garbled
    ctx = context(tmp_path, stub, write_reflections=1)
    paper = write_paper(ctx, IDEA, records(ctx), None)
    assert paper["failed_sections"] == ["method"]
    assert ("draft", "method") in writer.asked and ("reflect", "method") not in writer.asked  # nothing to revise
    assert writer.asked[-2:] == [("draft", "conclusion"), ("reflect", "conclusion")]
    (failed,) = ctx.audit.find(kind="paper_section_failed")
    assert failed.payload["section"] == "method" and "cut off at the token limit" in failed.payload["error"]
    draft = json.loads((ctx.run_dir / "paper" / "draft.json").read_text())
    assert draft["method"].startswith("[The writer gave no usable text")


def test_an_unchecked_novelty_is_said_in_the_related_work_prompt_and_paper(tmp_path: Path, stub: OpenAIStub) -> None:
    from scientist.stages.writing import UNCHECKED_GUIDANCE, UNCHECKED_NOTICE

    def related_prompt() -> str:
        request = next(r for r in stub.requests if section_of(r) == ("draft", "related_work"))
        return str(request["messages"][-1]["content"])

    stub.responder = Writer()
    ctx = context(tmp_path, stub, write_reflections=0)
    checked = {**IDEA, "related_work": [], "novelty": {"novel": True, "decided_by": "no_evidence"}}
    write_paper(ctx, checked, records(ctx), None)
    assert UNCHECKED_GUIDANCE not in related_prompt()  # a checked idea: the prompt is today's, byte for byte
    assert UNCHECKED_NOTICE not in (ctx.run_dir / "paper" / "paper.md").read_text()

    stub.requests.clear()
    ctx = context(tmp_path / "unchecked", stub, write_reflections=0)
    unchecked = {**IDEA, "related_work": [], "novelty": {"novel": False, "decided_by": "unchecked", "unchecked": True}}
    write_paper(ctx, unchecked, records(ctx), None)
    assert UNCHECKED_GUIDANCE in related_prompt()
    others = [r for r in stub.requests if section_of(r)[1] != "related_work"]
    assert others and all(UNCHECKED_GUIDANCE not in r["messages"][-1]["content"] for r in others)
    draft = json.loads((ctx.run_dir / "paper" / "draft.json").read_text())
    assert draft["related_work"].startswith(UNCHECKED_NOTICE)
    assert UNCHECKED_NOTICE in (ctx.run_dir / "paper" / "paper.md").read_text()


def test_a_related_paper_no_search_retrieved_is_dropped_and_audited(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.responder = Writer()
    ctx = context(tmp_path, stub, write_reflections=0)
    novelty = [{"index": 0, "novelty": "novel", "top_k": [{"id": "2101.00001", "title": "x", "score": 0.5}]}]
    paper = write_paper(ctx, IDEA, records(ctx), None, novelty=novelty)
    assert paper["references"] == ["2101.00001"] and "citation_checks" not in paper  # citation_check is off
    dropped = ctx.audit.find(kind="citation_dropped")
    assert [record.payload["citation"] for record in dropped] == ["synthetic-007"]
    bib = (ctx.run_dir / "paper" / "references.bib").read_text()
    assert "Proxy Rewards" not in bib and "Specification Gaming" in bib
    assert ctx.audit.find(kind="citation_check") == []


def test_citation_check_on_audits_each_reference_against_the_sources(
    tmp_path: Path, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scientist.tools.scholarly import reset_breakers
    from tests.arxiv_stub import closed_port_url
    from tests.scholarly_stubs import JsonStub, serve_json

    reset_breakers()
    crossref = serve_json(JsonStub("crossref"))
    server = next(crossref)
    try:
        monkeypatch.setenv("SCIENTIST_LITERATURE_SOURCES", "crossref,openalex")
        monkeypatch.setenv("SCIENTIST_CROSSREF_URL", server.base_url)
        monkeypatch.setenv("SCIENTIST_CROSSREF_MIN_INTERVAL_S", "0")
        monkeypatch.setenv("SCIENTIST_OPENALEX_URL", closed_port_url())  # unreachable: the next source answers
        related = [
            {"id": "doi:10.5555/fixture.0002", "title": "Constructed Fixture: Goal Misgeneralization Under"
             " Distribution Shift", "authors": ["Dora Sample"], "year": 2021, "doi": "10.5555/fixture.0002",
             "source": "crossref"},
            {"id": "doi:10.5555/fixture.0005", "title": "A Title Crossref Does Not Have For It", "authors": [],
             "year": 2022, "doi": "10.5555/fixture.0005", "source": "crossref"},
            RELATED[1],  # synthetic: no source knows it
        ]
        stub.responder = Writer()
        ctx = context(tmp_path, stub, write_reflections=0, citation_check="on")
        paper = write_paper(ctx, {**IDEA, "related_work": related}, records(ctx), None)
    finally:
        next(crossref, None)
        reset_breakers()
    statuses = {check["citation"]: check["status"] for check in paper["citation_checks"]}
    assert statuses == {
        "doi:10.5555-fixture.0002": "verified", "doi:10.5555-fixture.0005": "mismatch", "synthetic-007": "unverified",
    }
    audited = {record.payload["citation"]: record.payload for record in ctx.audit.find(kind="citation_check")}
    assert {key: payload["status"] for key, payload in audited.items()} == statuses
    assert audited["doi:10.5555-fixture.0005"]["mismatched"] == ["title"]
    assert "doi = {10.5555/fixture.0002}" in (ctx.run_dir / "paper" / "references.bib").read_text()


AUTO_RELATED = [
    {"id": "doi:10.5555/fixture.0002", "title": "Constructed Fixture: Goal Misgeneralization Under Distribution Shift",
     "authors": ["Dora Sample"], "year": 2021, "doi": "10.5555/fixture.0002", "source": "crossref"},
    RELATED[1],  # synthetic: no source knows it
]  # fmt: skip


@pytest.mark.usefixtures("fresh_breakers")
@pytest.mark.parametrize("case", ["reachable", "no route", "offline"])
def test_citation_check_auto_checks_when_a_source_is_reachable_and_else_marks_every_reference_unverified(
    case: str, tmp_path: Path, stub: OpenAIStub, crossref: Any, openalex: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto: one reachability decision per paper. Reachable: each reference checked. No route (nothing listens) or
    the offline setting: every reference audited unverified with the reason, said once, and no request sent (offline:
    not even a connection)."""
    import time

    from tests.arxiv_stub import closed_port_url

    monkeypatch.setenv("SCIENTIST_LITERATURE_SOURCES", "crossref,openalex")
    monkeypatch.setenv("SCIENTIST_CROSSREF_MIN_INTERVAL_S", "0")
    monkeypatch.setenv("SCIENTIST_OPENALEX_MIN_INTERVAL_S", "0")
    routed = case != "no route"
    monkeypatch.setenv("SCIENTIST_CROSSREF_URL", crossref.base_url if routed else closed_port_url())
    monkeypatch.setenv("SCIENTIST_OPENALEX_URL", openalex.base_url if routed else closed_port_url())
    if case == "offline":
        monkeypatch.setenv("SCIENTIST_ARXIV_OFFLINE", "1")
    said: list[str] = []
    stub.responder = Writer()
    ctx = context(tmp_path, stub, write_reflections=0, citation_check="auto")
    ctx.progress = lambda stage, message: said.append(message)
    paper = write_paper(ctx, {**IDEA, "related_work": AUTO_RELATED}, records(ctx), None)

    statuses = {check["citation"]: check["status"] for check in paper["citation_checks"]}
    audited = [record.payload for record in ctx.audit.find(kind="citation_check")]
    assert {payload["citation"]: payload["status"] for payload in audited} == statuses
    if case == "reachable":
        assert statuses == {"doi:10.5555-fixture.0002": "verified", "synthetic-007": "unverified"}
        assert crossref.requests and "no source returned this paper" in audited[1]["reason"]
        return
    assert statuses == {"doi:10.5555-fixture.0002": "unverified", "synthetic-007": "unverified"}
    expected = "the literature search is offline" if case == "offline" else "crossref: unreachable"
    assert all(p["reason"].startswith("not checked: no literature source is reachable") for p in audited)
    assert all(expected in p["reason"] for p in audited), audited
    notices = [message for message in said if "not checked" in message]
    assert len(notices) == 1 and notices[0].startswith("2 reference(s) not checked, each marked unverified")
    time.sleep(0.1)  # a connection would have been accepted by now
    assert crossref.requests == [] and openalex.requests == []  # no request per reference, nor any other
    if case == "offline":
        assert (crossref.connections, openalex.connections) == (0, 0)
