"""Compile a paper's .tex to PDF: latexmk when installed (it runs BibTeX and the passes itself), else pdflatex
(+ bibtex when the paper has a .bib). Failures come back as data (the error lines, with their .tex line numbers),
so the writer can be asked to fix the text it wrote.

Shell escape is off, latexmk reads no rc files (`-norc`: a latexmkrc is Perl), and `openin_any/openout_any=p` keep
TeX from reading or writing outside the paper's folder, as a second line of defence behind the escaping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel

_FILE_LINE = re.compile(r"^(?:\./)?(?P<file>[^:\s]+\.tex):(?P<line>\d+): (?P<message>.*)$")
_LINE_REF = re.compile(r"^l\.(?P<line>\d+)\b")


class LatexError(BaseModel):
    """One error from the log: the .tex line it points at (None: unknown), the message and a few context lines."""

    line: int | None
    message: str
    context: str


class CompileResult(BaseModel):
    ok: bool
    engine: str | None  # "latexmk" | "pdflatex" | None (no LaTeX installed)
    pdf: Path | None = None
    errors: list[LatexError] = []
    log_tail: str = ""
    wall_time_s: float = 0.0


def engine() -> str | None:
    """Which LaTeX driver this machine has: latexmk (with pdflatex), pdflatex alone, or None."""
    if shutil.which("pdflatex") is None:
        return None
    return "latexmk" if shutil.which("latexmk") else "pdflatex"


def parse_errors(log_text: str, tex_name: str) -> list[LatexError]:
    """Errors in a TeX log: `file:line: message` lines (-file-line-error) and `! message` ... `l.N` blocks."""
    lines = log_text.splitlines()
    errors: list[LatexError] = []
    for index, line in enumerate(lines):
        match = _FILE_LINE.match(line)
        if match and Path(match["file"]).name == tex_name:
            number: int | None = int(match["line"])
            message = match["message"].strip()
        elif line.startswith("! "):
            message, number = line[2:].strip(), None
            for follow in lines[index + 1 : index + 12]:
                ref = _LINE_REF.match(follow)
                if ref:
                    number = int(ref["line"])
                    break
        else:
            continue
        context = "\n".join(lines[index : index + 6])
        if not any(e.message == message and e.line == number for e in errors):
            errors.append(LatexError(line=number, message=message, context=context))
    return errors


def _tail(text: str, count: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-count:])


def _commands(kind: str, tex: Path, has_bib: bool) -> list[list[str]]:
    flags = ["-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "-no-shell-escape"]
    if kind == "latexmk":
        return [["latexmk", "-norc", "-pdf", "-bibtex" if has_bib else "-bibtex-", *flags, tex.name]]
    first = ["pdflatex", *flags, tex.name]
    if not has_bib:
        return [first, first]
    return [first, ["bibtex", tex.stem], first, first]


def compile_tex(tex_path: Path, timeout_s: float = 180) -> CompileResult:
    """Compile `tex_path` in its folder; never raises for a LaTeX failure (see `errors`), only for a missing file."""
    tex_path = Path(tex_path)
    kind = engine()
    if kind is None:
        return CompileResult(ok=False, engine=None)
    if not tex_path.is_file():
        raise FileNotFoundError(tex_path)
    folder = tex_path.parent
    for stale in (".pdf", ".aux", ".bbl", ".fdb_latexmk", ".fls"):  # a PDF from an earlier attempt is no result
        tex_path.with_suffix(stale).unlink(missing_ok=True)
    has_bib = "\\bibliography{" in tex_path.read_text(encoding="utf-8", errors="replace")
    env = {**os.environ, "openin_any": "p", "openout_any": "p"}
    started = time.monotonic()
    output = ""
    for command in _commands(kind, tex_path, has_bib):
        try:
            proc = subprocess.run(
                command, cwd=folder, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                errors="replace", timeout=max(timeout_s - (time.monotonic() - started), 1.0),
            )
        except subprocess.TimeoutExpired:
            message = f"{command[0]} did not finish within {timeout_s:g} s"
            return CompileResult(ok=False, engine=kind, errors=[LatexError(line=None, message=message, context="")],
                                 wall_time_s=round(time.monotonic() - started, 3))
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            break
    log = tex_path.with_suffix(".log")
    log_text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else output
    pdf = tex_path.with_suffix(".pdf")
    seconds = round(time.monotonic() - started, 3)
    if proc.returncode == 0 and pdf.is_file():
        return CompileResult(ok=True, engine=kind, pdf=pdf, wall_time_s=seconds)
    errors = parse_errors(log_text, tex_path.name)
    if not errors:
        blg = tex_path.with_suffix(".blg")
        detail = _tail(blg.read_text(errors="replace"), 6) if blg.is_file() else _tail(output, 6)
        errors = [LatexError(line=None, message=f"{command[0]} failed (exit {proc.returncode})", context=detail)]
    return CompileResult(ok=False, engine=kind, errors=errors, log_tail=_tail(log_text), wall_time_s=seconds)
