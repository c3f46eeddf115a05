"""Render a paper (LaTeX and a Markdown twin) from model-written prose and the sandbox runs' results.

Two rules make the paper trustworthy: every number in the results table is read here from a run's
`final_info.json` (never from the model), and all model prose is escaped, so a draft cannot inject LaTeX
(`\\input{/etc/passwd}`, `\\write18`, ...). No model calls happen in this module.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from scientist.errors import ConfigError, ScientistError
from scientist.paper.citations import CITE, Reference
from scientist.sandbox import reader
from scientist.sandbox.final_info import parse_final_info
from scientist.template import Template

LATEX_TEMPLATE = Path("latex") / "template.tex"
FAILED = "failed"
MISSING = "missing"
REFERENCE = "reference"
UP, DOWN = "↑", "↓"


SECTIONS = ("abstract", "introduction", "related_work", "method", "experiments", "results", "conclusion")


class PaperDraft(BaseModel):
    """Prose written by the model, one field per section: plain text or light markdown, inline math `$...$`
    (whitelisted commands only) and `\\cite{key}` of indexed papers; never trusted as LaTeX."""

    title: str
    abstract: str
    introduction: str
    related_work: str = ""
    method: str
    experiments: str = ""
    results: str
    conclusion: str

    def sections(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SECTIONS}


class ExperimentRecord(BaseModel):
    """One sandbox run as the pipeline hands it over; `final_info_path` is the only source of result numbers."""

    label: str
    config: dict[str, Any]
    final_info_path: Path
    ok: bool


# --- escaping -------------------------------------------------------------------------------------------------

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_\allowbreak{}",  # long snake_case identifiers may wrap
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # Not special to TeX, but the default OT1 font prints < > | as other glyphs, and a [ right after \\ or
    # \item would be read as an optional argument.
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "[": "{[}",
    "]": "{]}",
    "\t": " ",
    "\r": "",
}
# Non-ASCII characters models like to write, as commands plain pdflatex (OT1, utf8 input) can typeset.
_UNICODE = {
    "\u00a0": "~", "\u2013": "--", "\u2014": "---", "\u2212": "-", "\u2018": "`", "\u2019": "'", "\u201c": "``",
    "\u201d": "''", "\u2026": r"\ldots{}", "\u2022": r"\textbullet{}", "\u00b7": r"$\cdot$",
    "\u2265": r"$\geq$", "\u2264": r"$\leq$", "\u2260": r"$\neq$", "\u2248": r"$\approx$", "\u00b1": r"$\pm$",
    "\u00d7": r"$\times$", "\u00f7": r"$\div$", "\u2192": r"$\rightarrow$", "\u2190": r"$\leftarrow$",
    "\u2191": r"$\uparrow$", "\u2193": r"$\downarrow$", "\u21d2": r"$\Rightarrow$", "\u221e": r"$\infty$",
    "\u00b0": r"$^\circ$", "\u00b5": r"$\mu$", "\u2208": r"$\in$", "\u2211": r"$\sum$", "\u221a": r"$\surd$",
    "\u00df": r"\ss{}", "\u00e6": r"\ae{}", "\u00c6": r"\AE{}", "\u00f8": r"\o{}", "\u00d8": r"\O{}",
    "\u0153": r"\oe{}", "\u0152": r"\OE{}", "\u0142": r"\l{}", "\u0141": r"\L{}", "\u0131": r"\i{}",
    "\u00a3": r"\pounds{}", "\u00a7": r"\S{}", "\u00b6": r"\P{}", "\u00a9": r"\copyright{}", "\u20ac": "EUR",
    "\u2122": "TM", "\u00ae": "(R)",
}
_GREEK = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon phi chi psi"
_GREEK += " omega"
_GREEK_CAPITALS = ("Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega")
for _letter in _GREEK.split():
    _name = _letter.upper().replace("LAMBDA", "LAMDA")  # Unicode's spelling
    _UNICODE[unicodedata.lookup(f"GREEK SMALL LETTER {_name}")] = f"$\\{_letter}$"
    if _letter.capitalize() in _GREEK_CAPITALS:
        _UNICODE[unicodedata.lookup(f"GREEK CAPITAL LETTER {_name}")] = f"$\\{_letter.capitalize()}$"
_ACCENTS = {
    "\u0300": "`", "\u0301": "'", "\u0302": "^", "\u0303": "~", "\u0304": "=", "\u0306": "u", "\u0307": ".",
    "\u0308": '"', "\u030a": "r", "\u030b": "H", "\u030c": "v", "\u0327": "c",
}


def _non_ascii(char: str) -> str:
    if char in _UNICODE:
        return _UNICODE[char]
    if unicodedata.category(char) in ("Cc", "Cf"):
        return ""
    decomposed = unicodedata.normalize("NFD", char)
    base, marks = decomposed[0], decomposed[1:]
    if base.isascii() and base.isalpha() and marks and all(mark in _ACCENTS for mark in marks):
        out = base
        for mark in marks:
            command = _ACCENTS[mark]
            out = f"\\{command}{{{out}}}"
        return out
    return "?"  # honest placeholder: pdflatex without extra fonts cannot typeset it, and must not fail on it


def latex_escape(text: str) -> str:
    """`text` as LaTeX that typesets literally: no command, group, math or comment can come out of it."""
    out = []
    for char in text:
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif char == "\n" or " " <= char <= "~":
            out.append(char)
        elif char.isascii():
            continue  # other control characters
        else:
            out.append(_non_ascii(char))
    return "".join(out)


def _inline(text: str) -> str:
    """Escaped, on one line: for arguments such as \\title and \\caption, where a blank line is an error."""
    return latex_escape(" ".join(text.split()))


_MARKUP = re.compile(
    r"(?<![\\$\w])\$(?P<math>[^$\s](?:[^$\n]{0,198}[^$\s\\])?)\$(?![\w$])"
    r"|\\cite[pt]?\*?(?:\[[^\]\n]{0,80}\])?\{(?P<cite>[^{}\n]{0,400})\}"
    r"|\*\*(?P<bold>[^*\n]+?)\*\*"
    r"|`(?P<code>[^`\n]+)`"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*\n]*?[^*\s])?)\*(?![\w*])"
)
# Inline math the writer may use: these control words and symbols only (no \input, \def, \csname, ^^ escapes...),
# ASCII, balanced braces. Anything else is typeset as literal text. Errors (e.g. `$x^$`) are still possible: the
# compile step feeds them back to the writer.
MATH_COMMANDS = frozenset(
    (_GREEK + " varepsilon vartheta varphi varrho varsigma Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega"
     " frac dfrac tfrac sqrt cdot cdots ldots dots times div pm mp leq geq le ge neq ne approx sim simeq propto"
     " equiv infty sum prod int log ln exp min max arg mathrm mathbf mathit mathcal text"
     " left right in notin subset subseteq cup cap to rightarrow leftarrow Rightarrow mid lvert rvert hat bar"
     " tilde vec overline partial nabla top quad qquad forall exists lfloor rfloor lceil rceil langle rangle"
     " ll gg circ star ast prime operatorname").split()
)
_MATH_TOKEN = re.compile(r"\\(?:[A-Za-z]+|[,;!{}|%])|[A-Za-z0-9\s+\-*/=<>()\[\],.;:!'|^_{}]")


def safe_math(math: str) -> bool:
    """True when `math` (between the dollars) may be typeset as LaTeX math."""
    if "^^" in math or len(math) > 200:
        return False
    depth = 0
    position = 0
    for match in _MATH_TOKEN.finditer(math):
        if match.start() != position:
            return False
        token = match.group(0)
        if token.startswith("\\") and token[1:].isalpha() and token[1:] not in MATH_COMMANDS:
            return False
        depth += (token == "{") - (token == "}")
        if depth < 0:
            return False
        position = match.end()
    return position == len(math) and depth == 0
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|(?P<number>\d+)[.)])\s+(?P<text>.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<text>.*)$")


def _inline_markup(text: str, cite_keys: Collection[str] = ()) -> str:
    """Light markdown (**bold**, *emphasis*, `code`), whitelisted `$math$` and \\cite of known keys to LaTeX;
    every other character of the content is escaped."""
    out = []
    position = 0
    for match in _MARKUP.finditer(text):
        out.append(latex_escape(text[position : match.start()]))
        if match["math"] is not None:
            out.append(f"${match['math']}$" if safe_math(match["math"]) else latex_escape(match.group(0)))
        elif match["cite"] is not None:
            keys = [key.strip() for key in match["cite"].split(",") if key.strip() in cite_keys]
            out.append(f"\\cite{{{','.join(keys)}}}" if keys else "")  # unknown keys never reach LaTeX
        elif match["bold"] is not None:
            out.append(f"\\textbf{{{latex_escape(match['bold'])}}}")
        elif match["code"] is not None:
            out.append(f"\\texttt{{{latex_escape(match['code'])}}}")
        else:
            out.append(f"\\emph{{{latex_escape(match['em'])}}}")
        position = match.end()
    out.append(latex_escape(text[position:]))
    return "".join(out)


def prose_to_latex(text: str, cite_keys: Collection[str] = ()) -> str:
    """Model prose to LaTeX: paragraphs, bullet/numbered lists, `#` headings, inline emphasis, whitelisted math and
    citations of `cite_keys` survive."""
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    numbered = False

    def flush() -> None:
        nonlocal numbered
        if paragraph:
            blocks.append(" ".join(_inline_markup(" ".join(line.split()), cite_keys) for line in paragraph))
            paragraph.clear()
        if items:
            env = "enumerate" if numbered else "itemize"
            # {}: a leading [ stays text
            body = "\n".join(f"\\item{{}} {_inline_markup(item, cite_keys)}" for item in items)
            blocks.append(f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}")
            items.clear()
            numbered = False

    for line in text.replace("\r\n", "\n").split("\n"):
        bullet, heading = _BULLET.match(line), _HEADING.match(line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            blocks.append(f"\\subsection*{{{_inline(heading['text'])}}}")
        elif bullet:
            if paragraph or (items and numbered != (bullet["number"] is not None)):
                flush()
            numbered = bullet["number"] is not None
            items.append(" ".join(bullet["text"].split()))
        elif items:
            items[-1] += " " + " ".join(line.split())  # a wrapped list item
        else:
            paragraph.append(line)
    flush()
    return "\n\n".join(blocks)


# --- results ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loaded:
    """A run's metrics and the sha256 of the bytes they were parsed from (both None for a failed run)."""

    record: ExperimentRecord
    metrics: dict[str, Any] | None
    sha256: str | None
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # per metric over seeds (contract v2)


def _load(record: ExperimentRecord) -> _Loaded:
    """Read final_info.json once, so the numbers and the digest printed next to them come from the same bytes."""
    if not record.ok:
        return _Loaded(record, None, None)
    path = Path(record.final_info_path)
    rel = f"{path.parent.name}/{path.name}"  # out/ and the file are the run's; no link in them is followed
    try:
        raw = reader.read_bytes(path.parent.parent, rel, max_bytes=reader.DEFAULT_LIMITS.max_json_bytes)
        info = parse_final_info(reader.parse_json(raw, rel), rel)
    except reader.RunOutputError:
        return _Loaded(record, None, None)
    return _Loaded(record, dict(info.metrics), hashlib.sha256(raw).hexdigest(), _seed_stats(info.as_dict()))


def _seed_stats(info: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The harness's per-metric seed statistics in a final_info (only well-formed entries over 2+ seeds)."""
    stats = info.get("stats")
    if not isinstance(stats, dict):
        return {}
    keep = {}
    for name, entry in stats.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("n"), int) or entry["n"] < 2:
            continue
        values = [entry.get(key) for key in ("mean", "std", "ci_low", "ci_high")]
        if all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            keep[str(name)] = entry
    return keep


SEEDS_NOTE = (
    " Where a run has several seeds, a cell is the mean ± the half-width of its 95% confidence interval "
    "(Student t over the seeds), measured by the template's own evaluator."
)


def format_stat(value: Any, stat: Mapping[str, Any] | None) -> str:
    """A metric cell: `mean ± half-width of the 95% CI (n seeds)` when the run has seed statistics, else the
    number alone. Both numbers are ones the paper-number check accepts (they are in final_info's stats)."""
    if not stat:
        return format_number(value)
    half = stat.get("ci_half")
    if isinstance(half, bool) or not isinstance(half, int | float):
        half = (float(stat["ci_high"]) - float(stat["ci_low"])) / 2
    return f"{format_number(stat['mean'])} ± {format_number(half)}"


def final_info_sha256(record: ExperimentRecord) -> str | None:
    """sha256 of the final_info.json a table row's numbers come from (None for a failed run)."""
    return _load(record).sha256


def format_number(value: Any) -> str:
    """How every result number is printed: three decimals, so the paper matches what the model was shown."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return MISSING
    return f"{value:.3f}" if math.isfinite(value) else str(value)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return format(value, "g")
    return json.dumps(value) if not isinstance(value, str) else value


def _baseline(records: Sequence[ExperimentRecord]) -> ExperimentRecord | None:
    for record in records:
        if record.label == "baseline":
            return record
    return records[0] if records else None


def config_changes(record: ExperimentRecord, baseline: ExperimentRecord | None) -> str:
    """`key: old → new` for every value of this run's config that differs from (or is absent in) the baseline's."""
    if baseline is None or record is baseline:
        return REFERENCE
    changes = []
    for key in sorted(record.config):
        new = record.config[key]
        if key not in baseline.config:
            changes.append(f"{key}: {_format_value(new)}")
        elif baseline.config[key] != new:
            changes.append(f"{key}: {_format_value(baseline.config[key])} → {_format_value(new)}")
    return "; ".join(changes) or "none"


def results_table_rows(records: Sequence[ExperimentRecord], template: Template) -> list[dict[str, str]]:
    """One row per run: `run`, `status`, `changes` and one cell per template metric, read from final_info.json."""
    return _rows([_load(record) for record in records], template)


def _rows(runs: Sequence[_Loaded], template: Template) -> list[dict[str, str]]:
    baseline = _baseline([run.record for run in runs])
    rows = []
    for run in runs:
        metrics = run.metrics
        row = {
            "run": run.record.label,
            "status": FAILED if metrics is None else "ok",
            "changes": config_changes(run.record, baseline),
        }
        for metric in template.metrics:
            row[metric] = FAILED if metrics is None else format_stat(metrics.get(metric), run.stats.get(metric))
        rows.append(row)
    return rows


def _metric_header(name: str, template: Template, latex: bool) -> str:
    up = template.metrics[name].direction == "higher"
    if latex:
        arrow = r"$\uparrow$" if up else r"$\downarrow$"
        return f"{latex_escape(name)} {arrow}"
    return f"{name} {UP if up else DOWN}"


def _table_caption(template: Template, seeded: bool = False) -> str:
    seeds = SEEDS_NOTE if seeded else ""
    return (
        f"Greedy-policy evaluation of each run (template {template.name}). "
        f"{UP}: higher is better, {DOWN}: lower is better; primary metric: {template.primary_metric}. "
        f"Changes are relative to the baseline run's config.{seeds}"
    )


def _latex_table(rows: Sequence[Mapping[str, str]], template: Template, seeded: bool = False) -> str:
    metrics = list(template.metrics)
    header = " & ".join(["Run", "Changes vs.\\ baseline", *(_metric_header(m, template, True) for m in metrics)])
    body = "\n".join(
        " & ".join([_inline(row["run"]), _inline(row["changes"]), *(_inline(row[m]) for m in metrics)]) + r" \\"
        for row in rows
    )
    return "\n".join(
        [
            r"\begin{table}[ht]",
            r"\centering",
            r"\small",
            r"\setlength{\tabcolsep}{4pt}",
            f"\\caption{{{_inline(_table_caption(template, seeded))}}}",
            r"\label{tab:results}",
            # Shrink (never enlarge) the table to the text width: metric names are long and cannot hyphenate.
            r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
            f"\\begin{{tabular}}{{lp{{3.4cm}}{'r' * len(metrics)}}}",
            r"\toprule",
            header + r" \\",
            r"\midrule",
            body,
            r"\bottomrule",
            r"\end{tabular}}",
            r"\end{table}",
        ]
    )


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _markdown_table(rows: Sequence[Mapping[str, str]], template: Template) -> str:
    metrics = list(template.metrics)
    header = ["Run", "Changes vs. baseline", *(_metric_header(m, template, False) for m in metrics)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|---|" + "---:|" * len(metrics),
    ]
    for row in rows:
        cells = [row["run"], row["changes"], *(row[m] for m in metrics)]
        lines.append("| " + " | ".join(_md_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


# --- paper -----------------------------------------------------------------------------------------------------

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")
_BIB_KEY = re.compile(r"[^A-Za-z0-9:._-]")
_SAFE_URL = re.compile(r"^https?://[A-Za-z0-9._~:/?=&+-]+$")


def _experiments_parts(runs: Sequence[_Loaded], template: Template) -> tuple[list[str], list[str]]:
    """(runs, metrics) description lines: inputs of the runs, not results, so nothing here comes from a model."""
    baseline = _baseline([run.record for run in runs])
    lines = []
    for run in runs:
        record = run.record
        status = " (the run failed)" if run.metrics is None else ""
        if record is baseline:
            config = ", ".join(f"{key}={_format_value(value)}" for key, value in sorted(record.config.items()))
            lines.append(f"{record.label}: the reference run ({config or 'no config recorded'}){status}")
        else:
            lines.append(f"{record.label}: {config_changes(record, baseline)}{status}")
    metrics = [
        f"{name} ({spec.direction} is better): {spec.description}" for name, spec in template.metrics.items()
    ]
    return lines, metrics


PROVENANCE = (
    "Every number in the results table was read by the renderer from the sandbox runs' final_info.json files, "
    "not written by the model; their sha256 digests are:"
)


def _digests(runs: Sequence[_Loaded]) -> list[tuple[str, str]]:
    return [(run.record.label, run.sha256 or "failed (no readable final_info.json)") for run in runs]


def _reference_text(ref: Reference) -> str:
    """A reference as one plain line (the Markdown twin's list, and the fallback bibliography)."""
    authors = ", ".join(ref.authors[:3]) + (" et al." if len(ref.authors) > 3 else "")
    venue = f"arXiv:{ref.arxiv_id}" if ref.arxiv_id else ""
    parts = [authors, ref.title, venue, str(ref.year or ""), ref.url]
    return ". ".join(" ".join(part.split()) for part in parts if part)


def _bibitem(ref: Reference) -> dict[str, str]:
    """An escaped \\bibitem for templates without BibTeX support (same content as references.bib)."""
    authors = ", ".join(ref.authors[:3]) + (" et al." if len(ref.authors) > 3 else "")
    parts = [_inline(authors), f"\\emph{{{_inline(ref.title)}}}"]
    parts += [_inline(f"arXiv:{ref.arxiv_id}") if ref.arxiv_id else "", _inline(str(ref.year or ""))]
    text = ". ".join(part for part in parts if part) + "."
    if ref.url and _SAFE_URL.match(ref.url):
        text += f" \\url{{{ref.url}}}"
    return {"key": _BIB_KEY.sub("-", ref.key), "text": text}


def _latex_environment(template: Template) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template.path),
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


BIB_STEM = "references"


def _cite_md(text: str, cite_keys: Collection[str]) -> str:
    """The Markdown twin's citations: `\\cite{a,b}` of known keys as `[a; b]`; other keys vanish."""

    def replace(match: re.Match[str]) -> str:
        keys = [key.strip() for key in match["keys"].split(",") if key.strip() in cite_keys]
        return f"[{'; '.join(keys)}]" if keys else ""

    return CITE.sub(replace, text).strip()


def _render_parts(draft: PaperDraft, cite_keys: Collection[str]) -> dict[str, str]:
    """Each model section as the LaTeX it becomes (before the harness-owned parts are added around it)."""
    parts = {"title": _inline(draft.title)}
    for name in SECTIONS:
        parts[name] = prose_to_latex(getattr(draft, name), cite_keys)
    return parts


def render_paper(
    draft: PaperDraft,
    records: Sequence[ExperimentRecord],
    template: Template,
    figures: Sequence[tuple[str, str]] = (),
    references: Sequence[Reference] = (),
    bibtex: bool = True,
) -> tuple[str, str]:
    """(paper.tex, paper.md): the model's escaped sections around harness-owned parts (run list, results table read
    from final_info.json, provenance digests, figures, bibliography).

    `figures` are (path, caption) pairs; a path is used verbatim by \\includegraphics, so it must be a plain
    relative or absolute file name (letters, digits, `_ . / -`). With `bibtex` the LaTeX cites
    `references.bib` (write it with `scientist.paper.citations.to_bibtex`); otherwise it carries a thebibliography.
    """
    for path, _ in figures:
        if not _SAFE_PATH.match(path):
            raise ScientistError(
                f"figure path {path!r} has characters LaTeX cannot take verbatim",
                hint="name figures with letters, digits, '_', '.', '-' and '/' only",
            )
    loaded = [_load(record) for record in records]
    rows = _rows(loaded, template)
    seeded = any(run.stats for run in loaded)
    runs, metrics = _experiments_parts(loaded, template)
    sentence, digests = PROVENANCE, _digests(loaded)
    cite_keys = {ref.key for ref in references}
    parts = _render_parts(draft, cite_keys)
    task = " ".join(template.task_description.split())

    experiments_tex = "\n\n".join(
        part
        for part in [
            parts["experiments"],
            f"We use the experiment template \\emph{{{_inline(template.title)}}}. {latex_escape(task)}",
            "Runs (config changes relative to the baseline):\n\\begin{itemize}\n"
            + "\n".join(f"\\item{{}} {_inline(line)}" for line in runs)
            + "\n\\end{itemize}",
            "Metrics:\n\\begin{itemize}\n"
            + "\n".join(f"\\item{{}} {_inline(line)}" for line in metrics)
            + "\n\\end{itemize}",
        ]
        if part
    )
    results_tex = (
        f"{parts['results']}\n\n{_inline(sentence)}\n\\begin{{itemize}}\n"
        + "\n".join(
            f"\\item{{}} {_inline(label)}: {{\\scriptsize\\texttt{{{_inline(digest)}}}}}" for label, digest in digests
        )
        + "\n\\end{itemize}"
    )
    try:
        latex = _latex_environment(template).get_template(LATEX_TEMPLATE.as_posix())
        tex = latex.render(
            title=parts["title"],
            abstract=parts["abstract"],
            introduction=parts["introduction"],
            related_work=parts["related_work"],
            method=parts["method"],
            experiments=experiments_tex,
            results=results_tex,
            conclusion=parts["conclusion"],
            results_table=_latex_table(rows, template, seeded),
            figures=[{"path": path, "caption": _inline(caption)} for path, caption in figures],
            bibtex=BIB_STEM if bibtex and references else "",
            bibliography=[_bibitem(ref) for ref in references],
        )
    except jinja2.TemplateNotFound:
        raise ConfigError(
            f"template {template.name!r} has no {LATEX_TEMPLATE.as_posix()}", hint=f"add it under {template.path}"
        ) from None
    except jinja2.TemplateError as err:
        raise ConfigError(
            f"cannot render {template.path / LATEX_TEMPLATE}: {err}",
            hint="fix the template (delimiters are << var >>, <% block %>, <# comment #>)",
        ) from None

    def md(name: str) -> str:
        return _cite_md(getattr(draft, name), cite_keys)

    experiments_md = "\n\n".join(
        part
        for part in [
            md("experiments"),
            f"We use the experiment template *{template.title}*. {task}\n\n"
            "Runs (config changes relative to the baseline):\n\n"
            + "\n".join(f"- {line}" for line in runs)
            + "\n\nMetrics:\n\n"
            + "\n".join(f"- {line}" for line in metrics),
        ]
        if part
    )
    markdown = "\n\n".join(
        part
        for part in [
            f"# {' '.join(draft.title.split())}",
            f"**Abstract.** {md('abstract')}",
            f"## Introduction\n\n{md('introduction')}",
            f"## Related Work\n\n{md('related_work')}" if md("related_work") else "",
            f"## Method\n\n{md('method')}",
            f"## Experiments\n\n{experiments_md}",
            f"## Results\n\n{_markdown_table(rows, template)}\n\n*Table 1: {_table_caption(template, seeded)}*",
            *(f"![{' '.join(caption.split())}]({path})" for path, caption in figures),
            md("results"),
            sentence + "\n\n" + "\n".join(f"- {label}: `{digest}`" for label, digest in digests),
            f"## Conclusion\n\n{md('conclusion')}",
        ]
        if part
    )
    if references:
        markdown += "\n\n## References\n\n" + "\n".join(f"- [{ref.key}] {_reference_text(ref)}" for ref in references)
    return tex, markdown + "\n"


def section_lines(tex: str, draft: PaperDraft, references: Sequence[Reference] = ()) -> dict[str, tuple[int, int]]:
    """Which .tex lines (1-based, inclusive) hold each model-written section: a compiler error on one of them is the
    writer's to fix; any other line is harness-owned."""
    cite_keys = {ref.key for ref in references}
    parts = _render_parts(draft, cite_keys)
    spans: dict[str, tuple[int, int]] = {}
    position = tex.find("\\begin{document}")
    for name in ("title", *SECTIONS):
        text = parts[name]
        if not text:
            continue
        found = tex.find(text, max(position, 0)) if name != "title" else tex.find(f"\\title{{{text}}}")
        if found < 0:
            continue
        first = tex.count("\n", 0, found) + 1
        spans[name] = (first, first + text.count("\n") + (1 if name != "title" else 0))
        if name != "title":
            position = found + len(text)
    return spans


def to_html(markdown: str, title: str) -> str:
    """The Markdown paper as one HTML page (markdown-it, raw HTML in the text escaped, not passed through)."""
    from html import escape

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(' '.join(title.split()))}</title>"
        "<style>body{max-width:46em;margin:2em auto;font-family:serif;line-height:1.45}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
        ".notice{border:2px solid #b60;padding:.5em}</style></head>\n<body>\n"
        f"{body}</body></html>\n"
    )


# --- PDF -------------------------------------------------------------------------------------------------------


def compile_pdf(tex_path: Path, timeout_s: float = 120) -> Path | None:
    """Compile with latexmk or pdflatex (see `paper.latex`); None when LaTeX is not installed, a ScientistError
    with the first errors when it fails."""
    from scientist.paper.latex import compile_tex

    tex_path = Path(tex_path)
    if not tex_path.is_file():
        raise ScientistError(f"no LaTeX file at {tex_path}", hint="render the paper before compiling it")
    result = compile_tex(tex_path, timeout_s=timeout_s)
    if result.engine is None:
        return None
    if not result.ok:
        detail = "\n".join(error.context or error.message for error in result.errors[:2])
        raise ScientistError(
            f"{result.engine} failed on {tex_path}:\n{detail}", hint=f"see {tex_path.with_suffix('.log')}"
        )
    return result.pdf
