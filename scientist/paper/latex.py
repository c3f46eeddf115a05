"""Compile a paper's .tex to PDF: latexmk when installed (it runs BibTeX and the passes itself), else pdflatex
(+ bibtex when the paper has a .bib). Failures come back as data (the error lines, with their .tex line numbers),
so the writer can be asked to fix the text it wrote.

Shell escape is off, latexmk reads no rc files (`-norc`: a latexmkrc is Perl), and `openin_any/openout_any=p` keep
TeX from reading or writing outside the paper's folder, as a second line of defence behind the escaping.

A successful compile is kept in a cache keyed by everything TeX could read (see `inputs_key`): compiling the same
paper again (a resumed or replayed run, `paper compile` on an unchanged folder) copies the PDF instead of running
three TeX passes and BibTeX (~2 s). Failed compiles are never cached: their errors are always fresh.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from scientist.config import default_cache_dir

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
    cached: bool = False  # the PDF of an earlier compile of the very same inputs (see `inputs_key`)


CACHE_ENV = "SCIENTIST_LATEX_CACHE_DIR"  # where compiled PDFs are kept; "off" keeps none
_CACHE_ENTRIES = 256  # newest kept; a paper's PDF and log are ~0.1-0.5 MB
_KEY_MAX_FILES, _KEY_MAX_BYTES = 500, 64 * 2**20  # a run's paper folder holds ~15 files and a few MB
# What TeX writes next to the paper (its stem's files): outputs, never inputs of the key.
_OUTPUT_SUFFIXES = (".pdf", ".aux", ".bbl", ".blg", ".log", ".fls", ".fdb_latexmk", ".out", ".toc", ".synctex.gz")


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


def latex_cache_dir() -> Path | None:
    """The compile cache's folder: $SCIENTIST_LATEX_CACHE_DIR, else the user cache; None when set to "off"."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured.lower() == "off":
        return None
    return Path(configured) if configured else default_cache_dir() / "latex"


@functools.cache
def _toolchain(kind: str) -> str:
    """The TeX programs' version lines (a TeX Live update may change the PDF): part of every cache key."""
    lines = []
    for program in (["latexmk", "pdflatex", "bibtex"] if kind == "latexmk" else ["pdflatex", "bibtex"]):
        try:
            proc = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30, check=False)
            lines.append((proc.stdout.strip().splitlines() or [""])[0])
        except (OSError, subprocess.TimeoutExpired):
            lines.append(f"{program}: unknown")
    return "\n".join(lines)


def inputs_key(tex_path: Path, kind: str, commands: list[list[str]]) -> str | None:
    """sha256 of the toolchain, the commands, and every file in the paper's folder (recursively) except what TeX
    writes for this paper: a figure, the .bib or any other file changed means a new compile. None (not cached) for
    a folder too big to hash cheaply: a .tex compiled in place in a large folder is simply compiled."""
    folder = tex_path.parent
    outputs = {tex_path.stem + suffix for suffix in _OUTPUT_SUFFIXES}
    digest = hashlib.sha256()
    digest.update(_toolchain(kind).encode() + b"\0" + repr(commands).encode() + b"\0")
    budget_files, budget_bytes = _KEY_MAX_FILES, _KEY_MAX_BYTES
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel in outputs or not path.is_file():  # a symlinked file counts by its target's bytes: TeX reads those
            continue
        budget_files -= 1
        budget_bytes -= path.stat().st_size
        if budget_files < 0 or budget_bytes < 0:
            return None
        digest.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _from_cache(entry: Path, tex_path: Path) -> Path | None:
    pdf = tex_path.with_suffix(".pdf")
    try:
        shutil.copyfile(entry / "paper.pdf", pdf)
        if (entry / "paper.log").is_file():
            shutil.copyfile(entry / "paper.log", tex_path.with_suffix(".log"))
        os.utime(entry)  # recently used: kept when the cache is pruned
    except OSError:
        return None
    return pdf


def _to_cache(cache: Path, key: str, pdf: Path, log: Path) -> None:
    """Store atomically (a folder renamed into place: a reader sees a whole entry or none), then prune the oldest.
    A cache that cannot be written is no error: the paper is compiled, only not kept."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=cache))
        shutil.copyfile(pdf, staging / "paper.pdf")
        if log.is_file():
            shutil.copyfile(log, staging / "paper.log")
        try:
            staging.rename(cache / key)
        except OSError:  # another process stored the same key first
            shutil.rmtree(staging, ignore_errors=True)
        entries = sorted(
            (entry for entry in cache.iterdir() if not entry.name.startswith(".")), key=lambda e: e.stat().st_mtime
        )
        for old in entries[:-_CACHE_ENTRIES]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        return


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
    commands = _commands(kind, tex_path, has_bib)
    cache = latex_cache_dir()
    key = inputs_key(tex_path, kind, commands) if cache is not None else None
    if cache is not None and key is not None and (cache / key / "paper.pdf").is_file():
        started = time.monotonic()
        pdf = _from_cache(cache / key, tex_path)
        if pdf is not None:
            return CompileResult(
                ok=True, engine=kind, pdf=pdf, wall_time_s=round(time.monotonic() - started, 3), cached=True
            )
    env = {**os.environ, "openin_any": "p", "openout_any": "p"}
    started = time.monotonic()
    output = ""
    for command in commands:
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
        if cache is not None and key is not None:
            _to_cache(cache, key, pdf, log)
        return CompileResult(ok=True, engine=kind, pdf=pdf, wall_time_s=seconds)
    errors = parse_errors(log_text, tex_path.name)
    if not errors:
        blg = tex_path.with_suffix(".blg")
        detail = _tail(blg.read_text(errors="replace"), 6) if blg.is_file() else _tail(output, 6)
        errors = [LatexError(line=None, message=f"{command[0]} failed (exit {proc.returncode})", context=detail)]
    return CompileResult(ok=False, engine=kind, errors=errors, log_tail=_tail(log_text), wall_time_s=seconds)
