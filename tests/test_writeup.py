"""The paper renderer: numbers only from final_info.json, model prose escaped, and (with pdflatex) a real PDF."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from scientist.errors import ScientistError
from scientist.paper.citations import Reference
from scientist.paper.writeup import (
    LATEX_TEMPLATE,
    SECTIONS,
    ExperimentRecord,
    PaperDraft,
    compile_pdf,
    latex_escape,
    prose_to_latex,
    render_paper,
    results_table_rows,
)
from scientist.template import Template, load_template, templates_root

BASE_CONFIG = {"coin_reward": 0.5, "gamma": 0.95, "grid_size": 5}
# Values chosen so that rounding, negative zero and trailing digits would show any re-formatting.
BASELINE_METRICS = {"true_return": -0.4999999, "proxy_return": 10.49849, "gaming_rate": 1.0, "goal_reach_rate": 0.0}
VARIANT_METRICS = {"true_return": 0.8934, "proxy_return": 1.4975, "gaming_rate": 0.035, "goal_reach_rate": 0.99951}
ADVERSARIAL = [
    r"\input{/etc/passwd}",
    r"\write18{rm -rf ~}",
    "$x^2$ costs 100% & more #1 {ok} ~ _ ^",
    "\\\\ \\end{document}",
    "^^5cinput",
    "\\",
    "]} [1pt] \\item",
]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template("reward_misspec")


def make_run(folder: Path, label: str, metrics: dict[str, float], config: dict[str, Any], ok: bool = True) -> Any:
    path = folder / label / "final_info.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"metrics": metrics, "config": config, "seed": 0}), encoding="utf-8")
    return ExperimentRecord(label=label, config=config, final_info_path=path, ok=ok)


def draft(**overrides: str) -> PaperDraft:
    fields = {
        "title": "Coin farming in a gridworld",
        "abstract": "We measure **reward hacking**.",
        "introduction": "Agents game proxies.\n\n- first point\n- second point",
        "method": "Tabular Q-learning with `coin_reward` as the knob.",
        "results": "Gaming fell when the coin respawned slowly.",
        "conclusion": "Slow coins are not worth farming.",
    }
    return PaperDraft(**{**fields, **overrides})


@pytest.fixture
def records(tmp_path: Path) -> list[ExperimentRecord]:
    return [
        make_run(tmp_path, "baseline", BASELINE_METRICS, BASE_CONFIG),
        make_run(tmp_path, "variant", VARIANT_METRICS, {**BASE_CONFIG, "coin_reward": 0.05}),
    ]


# --- escaping -------------------------------------------------------------------------------------------------


def unescaped_commands(latex: str) -> list[str]:
    """Control words in `latex` other than the ones the escaper itself emits."""
    allowed = {"textbackslash", "textasciitilde", "textasciicircum", "textless", "textgreater", "textbar", "allowbreak"}
    return [word for word in re.findall(r"\\([A-Za-z]+)", latex) if word not in allowed]


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_latex_escape_neutralises_commands(text: str) -> None:
    escaped = latex_escape(text)
    assert unescaped_commands(escaped) == []
    stripped = re.sub(r"\\(?:[A-Za-z]+|[&%$#_{}])", "", escaped)
    # Every remaining brace is a balanced empty group from the escaper; no bare special characters survive.
    assert stripped.replace("{}", "").replace("{[}", "").replace("{]}", "").count("{") == 0
    assert not re.search(r"[$%&#^~_]", stripped)


def test_latex_escape_specials_exactly() -> None:
    assert latex_escape("a_b & 50% $5 #1 {x}") == r"a\_\allowbreak{}b \& 50\% \$5 \#1 \{x\}"
    assert latex_escape("\\") == r"\textbackslash{}"
    assert latex_escape("~^") == r"\textasciitilde{}\textasciicircum{}"
    assert latex_escape(r"\input{/etc/passwd}") == r"\textbackslash{}input\{/etc/passwd\}"
    assert latex_escape("[1pt]") == "{[}1pt{]}"


def test_latex_escape_unicode_is_typesettable() -> None:
    assert latex_escape("≥ \u03b1 — café") == r"$\geq$ $\alpha$ --- caf\'{e}"
    assert latex_escape("robot 🤖\x00\x07") == "robot ?"


def test_prose_to_latex_keeps_light_markdown_and_escapes_inside_it() -> None:
    latex = prose_to_latex("**bold_1** and `x$y` and *em*\n\n- [item] one\n- two\n\n1. first\n2. second")
    assert r"\textbf{bold\_\allowbreak{}1}" in latex and r"\texttt{x\$y}" in latex and r"\emph{em}" in latex
    assert "\\begin{itemize}\n\\item{} {[}item{]} one\n\\item{} two\n\\end{itemize}" in latex
    assert "\\begin{enumerate}\n\\item{} first" in latex
    assert unescaped_commands(prose_to_latex("**\\input{x}**")) == ["textbf"]


# --- results --------------------------------------------------------------------------------------------------


def test_table_rows_are_read_from_final_info(records: list[ExperimentRecord], template: Template) -> None:
    rows = results_table_rows(records, template)
    for row, metrics in zip(rows, (BASELINE_METRICS, VARIANT_METRICS), strict=True):
        assert row["status"] == "ok"
        for name, value in metrics.items():
            assert row[name] == f"{value:.3f}"
    assert rows[0]["changes"] == "reference"
    assert rows[1]["changes"] == "coin_reward: 0.5 → 0.05"


def test_failed_or_unreadable_runs_show_failed(tmp_path: Path, template: Template) -> None:
    records = [
        make_run(tmp_path, "baseline", BASELINE_METRICS, BASE_CONFIG),
        # ok=False wins even if a final_info.json exists (e.g. written before a timeout kill).
        make_run(tmp_path, "timed_out", VARIANT_METRICS, BASE_CONFIG, ok=False),
        ExperimentRecord(label="vanished", config=BASE_CONFIG, final_info_path=tmp_path / "nope.json", ok=True),
    ]
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "final_info.json").write_text("{not json", encoding="utf-8")
    records.append(ExperimentRecord(label="garbled", config={}, final_info_path=tmp_path / "garbled/final_info.json",
                                    ok=True))
    rows = results_table_rows(records, template)
    assert [row["status"] for row in rows] == ["ok", "failed", "failed", "failed"]
    for row in rows[1:]:
        assert all(row[name] == "failed" for name in template.metrics)
    tex, markdown = render_paper(draft(), records, template)
    assert "timed\\_\\allowbreak{}out & reference" not in tex
    assert re.search(r"timed\\_\\allowbreak\{\}out & none & failed & failed & failed & failed", tex)
    assert "| timed_out | none | failed | failed | failed | failed |" in markdown
    assert f"{VARIANT_METRICS['true_return']:.3f}" not in tex + markdown  # the failed run's numbers never leak


def test_rendered_paper_numbers_match_final_info_exactly(records: list[ExperimentRecord], template: Template) -> None:
    tex, markdown = render_paper(draft(), records, template)
    for record, metrics in zip(records, (BASELINE_METRICS, VARIANT_METRICS), strict=True):
        cells = " & ".join(f"{metrics[name]:.3f}" for name in template.metrics)
        assert f"{cells} \\\\" in tex
        assert f"| {' | '.join(f'{metrics[name]:.3f}' for name in template.metrics)} |" in markdown
        digest = hashlib.sha256(record.final_info_path.read_bytes()).hexdigest()
        assert digest in tex and digest in markdown
    assert "final\\_\\allowbreak{}info.json" in tex and "final_info.json" in markdown
    results = tex.split("\\section{Results}")[1].split("\\section{Conclusion}")[0]
    assert results.rstrip().endswith("\\end{itemize}") and "sha256" in results
    # Direction arrows in both twins.
    assert "gaming\\_\\allowbreak{}rate $\\downarrow$" in tex and "true\\_\\allowbreak{}return $\\uparrow$" in tex
    assert "gaming_rate ↓" in markdown and "true_return ↑" in markdown


def test_model_prose_cannot_inject_latex(records: list[ExperimentRecord], template: Template) -> None:
    payload = " ".join(ADVERSARIAL)
    fields = ("title", *SECTIONS)
    tex, markdown = render_paper(draft(**dict.fromkeys(fields, payload)), records, template)
    assert "\\input{" not in tex and "\\write18" not in tex and "\\end{document}" in tex
    assert tex.count("\\end{document}") == 1 and tex.count("\\begin{document}") == 1
    assert r"\textbackslash{}input\{/etc/passwd\}" in tex
    assert payload in markdown  # the markdown twin carries the same text, unescaped


def test_markdown_twin_has_the_same_sections(records: list[ExperimentRecord], template: Template) -> None:
    tex, markdown = render_paper(draft(), records, template, figures=[("results.png", "Curves and bars.")])
    for section in ("Introduction", "Method", "Experiments", "Results", "Conclusion"):
        assert f"\\section{{{section}}}" in tex and f"## {section}" in markdown
    assert "\\includegraphics[width=\\linewidth]{results.png}" in tex and "![Curves and bars.](results.png)" in markdown
    assert "coin\\_\\allowbreak{}reward: 0.5 $\\rightarrow$ 0.05" in tex and "coin_reward: 0.5 → 0.05" in markdown
    assert "thebibliography" not in tex


def test_bibliography_renders_only_when_given(records: list[ExperimentRecord], template: Template) -> None:
    ref = Reference(key="1606.06565", authors=["Amodei, D."], title="Concrete {Problems}", year=2016,
                    url="https://arxiv.org/abs/1606.06565", arxiv_id="1606.06565")
    tex, markdown = render_paper(draft(introduction="As shown \\cite{1606.06565, nope}."), records, template,
                                 references=[ref])
    assert "\\bibliography{references}" in tex and "\\nocite{*}" in tex and "thebibliography" not in tex
    assert "As shown \\cite{1606.06565}." in tex and "As shown [1606.06565]." in markdown
    assert "## References" in markdown and "Concrete {Problems}" in markdown
    tex, _ = render_paper(draft(), records, template, references=[ref], bibtex=False)  # no BibTeX: \bibitem
    assert "\\begin{thebibliography}" in tex and "\\bibitem{1606.06565}" in tex
    assert "Concrete \\{Problems\\}" in tex and "\\url{https://arxiv.org/abs/1606.06565}" in tex


def test_unsafe_figure_paths_are_refused(records: list[ExperimentRecord], template: Template) -> None:
    with pytest.raises(ScientistError, match="figure path"):
        render_paper(draft(), records, template, figures=[("a}\\input{x.png", "x")])


def test_compile_pdf_without_pdflatex_returns_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "paper.tex").write_text("x", encoding="utf-8")
    assert compile_pdf(tmp_path / "paper.tex") is None


# --- PDF ------------------------------------------------------------------------------------------------------

needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


def png(path: Path) -> None:
    """A valid 1x1 PNG, so \\includegraphics has a real file without running matplotlib."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
                     + chunk(b"IEND", b""))


@pytest.mark.latex
@needs_pdflatex
def test_rendered_paper_compiles_with_adversarial_prose(
    tmp_path: Path, records: list[ExperimentRecord], template: Template
) -> None:
    unicode = "Unicode: ≥ ≤ → \u03b1 \u03b2 café naïve 🤖 “quotes” — dash."
    prose = " ".join(ADVERSARIAL) + f"\n\n{unicode}\n\n- [x] item\n\n## Heading"
    paper = tmp_path / "paper"
    paper.mkdir()
    png(paper / "results.png")
    fields = ("title", *SECTIONS)
    tex, _ = render_paper(
        draft(**dict.fromkeys(fields, prose)),
        [*records, ExperimentRecord(label="failed_run", config={}, final_info_path=tmp_path / "x.json", ok=False)],
        template,
        figures=[("results.png", "Curves & bars_1 100%")],
        references=[Reference(key="k", authors=["A_B"], title="T", year=2024, url="https://x.org/a?b=1&c=2")],
        bibtex=False,
    )
    (paper / "paper.tex").write_text(tex, encoding="utf-8")
    pdf = compile_pdf(paper / "paper.tex", timeout_s=120)
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.latex
@needs_pdflatex
def test_compile_failure_raises_with_the_log_tail(tmp_path: Path) -> None:
    tex = tmp_path / "broken.tex"
    tex.write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n", encoding="utf-8")
    with pytest.raises(ScientistError) as err:
        compile_pdf(tex, timeout_s=60)
    assert "Undefined control sequence" in str(err.value)


@pytest.mark.latex
@needs_pdflatex
def test_tex_cannot_read_files_outside_its_folder(tmp_path: Path) -> None:
    """Second line of defence behind escaping: even injected LaTeX cannot \\input an absolute path."""
    secret = tmp_path / "secret.tex"
    secret.write_text("SECRET\n", encoding="utf-8")
    paper = tmp_path / "paper"
    paper.mkdir()
    tex = paper / "paper.tex"
    tex.write_text(f"\\documentclass{{article}}\\begin{{document}}\\input{{{secret}}}\\end{{document}}\n")
    with pytest.raises(ScientistError, match="not found"):
        compile_pdf(tex, timeout_s=60)


# --- math and citations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "math",
    [r"\input{/etc/passwd}", r"a^^5cinput", r"\csname x\endcsname", "a % b", r"\def\x{1}", "a & b", "#1", "é"],
)
def test_math_outside_the_whitelist_is_typeset_as_text(math: str) -> None:
    latex = prose_to_latex(f"see ${math}$ here")
    assert f"${math}$" not in latex and unescaped_commands(latex) == []


def test_whitelisted_math_and_known_citations_pass_through() -> None:
    latex = prose_to_latex(r"with $\gamma = 0.95$ and $\frac{a}{b}$ \cite{k1, k9} but $5 and $10", {"k1"})
    assert r"$\gamma = 0.95$" in latex and r"$\frac{a}{b}$" in latex and r"\cite{k1}" in latex
    assert "k9" not in latex and r"\$5 and \$10" in latex  # prices are not math


def test_check_citations_keeps_only_indexed_keys() -> None:
    from scientist.paper.citations import check_citations

    checked = check_citations(r"A \cite{a, x} B \citep{y}. C \cite{a}", {"a"})
    assert checked.text == r"A \cite{a} B. C \cite{a}" and checked.kept == ["a"] and checked.removed == ["x", "y"]


@pytest.mark.latex
@needs_pdflatex
def test_bibtex_from_hostile_metadata_compiles(tmp_path: Path, records: list[ExperimentRecord],
                                               template: Template) -> None:
    from scientist.paper.citations import references_from_related, to_bibtex

    refs = references_from_related([{"id": "2101.1", "title": "Unbalanced { brace % and \\input{x} _ $", "year": 2021,
                                     "authors": ["O'Neil, A. & B."], "url": "https://x.org/a?b=1&c=2"}])
    paper = tmp_path / "paper"
    paper.mkdir()
    tex, _ = render_paper(draft(), records, template, references=refs)
    (paper / "paper.tex").write_text(tex, encoding="utf-8")
    (paper / "references.bib").write_text(to_bibtex(refs), encoding="utf-8")
    pdf = compile_pdf(paper / "paper.tex", timeout_s=120)
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF")


def test_each_bundled_latex_template_names_the_module_that_renders_it() -> None:
    """The comment heading every template.tex says which module renders it; it went stale when writeup moved into
    scientist.paper (issue 25). The module it names must exist and be the one that reads latex/template.tex."""
    paths = sorted(templates_root().glob(f"*/{LATEX_TEMPLATE.as_posix()}"))
    assert len(paths) >= 6, paths
    for path in paths:
        named = re.match(r"<# Rendered by ([\w.]+) ", path.read_text(encoding="utf-8"))
        assert named, f"{path}: no 'Rendered by <module>' comment first"
        module = importlib.import_module(named.group(1))  # scientist.writeup: ModuleNotFoundError
        assert getattr(module, "LATEX_TEMPLATE", None) == LATEX_TEMPLATE, path
