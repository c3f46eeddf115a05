"""Render a paper (LaTeX and a Markdown twin) from model-written prose and the sandbox runs' results.

Two rules make the paper trustworthy: every number in the results table is read here from a run's
`final_info.json` (never from the model), and all model prose is escaped, so a draft cannot inject LaTeX
(`\\input{/etc/passwd}`, `\\write18`, ...). No model calls happen in this module.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from scientist.errors import ConfigError, ScientistError
from scientist.template import Template

LATEX_TEMPLATE = Path("latex") / "template.tex"
FAILED = "failed"
MISSING = "missing"
REFERENCE = "reference"
UP, DOWN = "↑", "↓"


class PaperDraft(BaseModel):
    """Prose written by the model: plain text or light markdown, never trusted as LaTeX."""

    title: str
    abstract: str
    introduction: str
    method: str
    results_discussion: str
    conclusion: str


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
    r"\*\*(?P<bold>[^*\n]+?)\*\*"
    r"|`(?P<code>[^`\n]+)`"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*\n]*?[^*\s])?)\*(?![\w*])"
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|(?P<number>\d+)[.)])\s+(?P<text>.*)$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<text>.*)$")


def _inline_markup(text: str) -> str:
    """Light markdown (**bold**, *emphasis*, `code`) to LaTeX; every character of the content is escaped."""
    out = []
    position = 0
    for match in _MARKUP.finditer(text):
        out.append(latex_escape(text[position : match.start()]))
        if match["bold"] is not None:
            out.append(f"\\textbf{{{latex_escape(match['bold'])}}}")
        elif match["code"] is not None:
            out.append(f"\\texttt{{{latex_escape(match['code'])}}}")
        else:
            out.append(f"\\emph{{{latex_escape(match['em'])}}}")
        position = match.end()
    out.append(latex_escape(text[position:]))
    return "".join(out)


def prose_to_latex(text: str) -> str:
    """Model prose to LaTeX: paragraphs, bullet/numbered lists, `#` headings and inline emphasis survive."""
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    numbered = False

    def flush() -> None:
        nonlocal numbered
        if paragraph:
            blocks.append(" ".join(_inline_markup(" ".join(line.split())) for line in paragraph))
            paragraph.clear()
        if items:
            env = "enumerate" if numbered else "itemize"
            body = "\n".join(f"\\item{{}} {_inline_markup(item)}" for item in items)  # {}: a leading [ stays text
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


def _load(record: ExperimentRecord) -> _Loaded:
    """Read final_info.json once, so the numbers and the digest printed next to them come from the same bytes."""
    if not record.ok:
        return _Loaded(record, None, None)
    try:
        raw = record.final_info_path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return _Loaded(record, None, None)
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        return _Loaded(record, None, None)
    return _Loaded(record, data["metrics"], hashlib.sha256(raw).hexdigest())


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
            row[metric] = FAILED if metrics is None else format_number(metrics.get(metric))
        rows.append(row)
    return rows


def _metric_header(name: str, template: Template, latex: bool) -> str:
    up = template.metrics[name].direction == "higher"
    if latex:
        arrow = r"$\uparrow$" if up else r"$\downarrow$"
        return f"{latex_escape(name)} {arrow}"
    return f"{name} {UP if up else DOWN}"


def _table_caption(template: Template) -> str:
    return (
        f"Greedy-policy evaluation of each run (template {template.name}). "
        f"{UP}: higher is better, {DOWN}: lower is better; primary metric: {template.primary_metric}. "
        "Changes are relative to the baseline run's config."
    )


def _latex_table(rows: Sequence[Mapping[str, str]], template: Template) -> str:
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
            f"\\caption{{{_inline(_table_caption(template))}}}",
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


def _bibliography(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """BibTeX-like dicts (key, author, title, year, journal/booktitle/venue, url) as escaped fields."""
    out = []
    for index, entry in enumerate(entries):
        key = _BIB_KEY.sub("-", str(entry.get("key") or entry.get("ID") or f"ref{index + 1}"))
        venue = entry.get("venue") or entry.get("journal") or entry.get("booktitle") or ""
        url = str(entry.get("url") or "")
        out.append(
            {
                "key": key,
                "author": _inline(str(entry.get("author", ""))),
                "title": _inline(str(entry.get("title", ""))),
                "venue": _inline(str(venue)),
                "year": _inline(str(entry.get("year", ""))),
                "url": f"\\url{{{url}}}" if _SAFE_URL.match(url) else _inline(url),
            }
        )
    return out


def _bib_text(entry: Mapping[str, str]) -> str:
    parts = [entry["author"], f"\\emph{{{entry['title']}}}" if entry["title"] else "", entry["venue"], entry["year"]]
    text = ". ".join(part for part in parts if part)
    return f"{text}. {entry['url']}".strip() if entry["url"] else f"{text}."


def _plain_reference(entry: Mapping[str, Any]) -> str:
    venue = entry.get("venue") or entry.get("journal") or entry.get("booktitle") or ""
    parts = [entry.get("author", ""), entry.get("title", ""), venue, entry.get("year", ""), entry.get("url", "")]
    return ". ".join(" ".join(str(part).split()) for part in parts if part)


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


def render_paper(
    draft: PaperDraft,
    records: Sequence[ExperimentRecord],
    template: Template,
    figures: Sequence[tuple[str, str]] = (),
    bibliography: Sequence[Mapping[str, Any]] = (),
) -> tuple[str, str]:
    """(paper.tex, paper.md): the model's escaped prose around a results table read from final_info.json.

    `figures` are (path, caption) pairs; a path is used verbatim by \\includegraphics, so it must be a plain
    relative or absolute file name (letters, digits, `_ . / -`).
    """
    for path, _ in figures:
        if not _SAFE_PATH.match(path):
            raise ScientistError(
                f"figure path {path!r} has characters LaTeX cannot take verbatim",
                hint="name figures with letters, digits, '_', '.', '-' and '/' only",
            )
    loaded = [_load(record) for record in records]
    rows = _rows(loaded, template)
    runs, metrics = _experiments_parts(loaded, template)
    sentence, digests = PROVENANCE, _digests(loaded)
    bib = _bibliography(bibliography)
    task = " ".join(template.task_description.split())

    experiments_tex = "\n\n".join(
        [
            f"We use the experiment template \\emph{{{_inline(template.title)}}}. {latex_escape(task)}",
            "Runs (config changes relative to the baseline):\n\\begin{itemize}\n"
            + "\n".join(f"\\item{{}} {_inline(line)}" for line in runs)
            + "\n\\end{itemize}",
            "Metrics:\n\\begin{itemize}\n"
            + "\n".join(f"\\item{{}} {_inline(line)}" for line in metrics)
            + "\n\\end{itemize}",
        ]
    )
    results_tex = (
        f"{prose_to_latex(draft.results_discussion)}\n\n{_inline(sentence)}\n\\begin{{itemize}}\n"
        + "\n".join(
            f"\\item{{}} {_inline(label)}: {{\\scriptsize\\texttt{{{_inline(digest)}}}}}" for label, digest in digests
        )
        + "\n\\end{itemize}"
    )
    try:
        latex = _latex_environment(template).get_template(LATEX_TEMPLATE.as_posix())
        tex = latex.render(
            title=_inline(draft.title),
            abstract=prose_to_latex(draft.abstract),
            introduction=prose_to_latex(draft.introduction),
            related_work="",
            method=prose_to_latex(draft.method),
            experiments=experiments_tex,
            results=results_tex,
            conclusion=prose_to_latex(draft.conclusion),
            results_table=_latex_table(rows, template),
            figures=[{"path": path, "caption": _inline(caption)} for path, caption in figures],
            bibliography=[{**entry, "text": _bib_text(entry)} for entry in bib],
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

    markdown = "\n\n".join(
        [
            f"# {' '.join(draft.title.split())}",
            f"**Abstract.** {draft.abstract.strip()}",
            f"## Introduction\n\n{draft.introduction.strip()}",
            f"## Method\n\n{draft.method.strip()}",
            f"## Experiments\n\nWe use the experiment template *{template.title}*. {task}\n\n"
            "Runs (config changes relative to the baseline):\n\n"
            + "\n".join(f"- {line}" for line in runs)
            + "\n\nMetrics:\n\n"
            + "\n".join(f"- {line}" for line in metrics),
            f"## Results\n\n{_markdown_table(rows, template)}\n\n*Table 1: {_table_caption(template)}*",
            *(f"![{' '.join(caption.split())}]({path})" for path, caption in figures),
            draft.results_discussion.strip(),
            sentence + "\n\n" + "\n".join(f"- {label}: `{digest}`" for label, digest in digests),
            f"## Conclusion\n\n{draft.conclusion.strip()}",
        ]
    )
    if bib:
        pairs = zip(bib, bibliography, strict=True)
        references = (f"- [{entry['key']}] {_plain_reference(raw)}" for entry, raw in pairs)
        markdown += "\n\n## References\n\n" + "\n".join(references)
    return tex, markdown + "\n"


# --- PDF -------------------------------------------------------------------------------------------------------


def _log_tail(tex_path: Path, output: str, lines: int = 20) -> str:
    """The first TeX error (the `!` line and its context) if there is one, else the end of the log."""
    log = tex_path.with_suffix(".log")
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else output
    log_lines = text.rstrip().splitlines()
    for index, line in enumerate(log_lines):
        if line.startswith("!"):
            return "\n".join(log_lines[index : index + 8])
    return "\n".join(log_lines[-lines:])


def compile_pdf(tex_path: Path, timeout_s: float = 120) -> Path | None:
    """Compile with pdflatex (two passes for references); None when pdflatex is not installed.

    Shell escape is off and `openin_any/openout_any=p` keep TeX from reading or writing outside the paper's
    folder, as a second line of defence behind the escaping.
    """
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        return None
    tex_path = Path(tex_path)
    if not tex_path.is_file():
        raise ScientistError(f"no LaTeX file at {tex_path}", hint="render the paper before compiling it")
    command = [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", tex_path.name]
    env = {**os.environ, "openin_any": "p", "openout_any": "p"}
    deadline = time.monotonic() + timeout_s
    for _ in range(2):
        try:
            proc = subprocess.run(
                command,
                cwd=tex_path.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=max(deadline - time.monotonic(), 1.0),
            )
        except subprocess.TimeoutExpired:
            raise ScientistError(
                f"pdflatex did not finish {tex_path} within {timeout_s:g} s",
                hint="the .tex is kept; compile it by hand or raise the timeout",
            ) from None
        if proc.returncode != 0:
            raise ScientistError(
                f"pdflatex failed on {tex_path}:\n{_log_tail(tex_path, proc.stdout)}",
                hint=f"see {tex_path.with_suffix('.log')}",
            )
    pdf = tex_path.with_suffix(".pdf")
    if not pdf.is_file():
        raise ScientistError(f"pdflatex wrote no PDF for {tex_path}", hint=f"see {tex_path.with_suffix('.log')}")
    return pdf
