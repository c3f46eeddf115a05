"""Read a paper (PDF, LaTeX source or Markdown) into titled sections of plain text a reviewer model can read.

Each reader also strips the channels a human reviewer never sees — white, transparent, tiny or off-page PDF text,
LaTeX comments, `\\iffalse` blocks and white-coloured macros, HTML comments and hidden elements, metadata — and
records what it found as `InjectionFlag`s. `sanitize` then scrubs the visible text (see `injection`), and `cap`
shortens a paper by whole sections and sentences, never mid-sentence, saying what it left out.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from scientist.errors import ScientistError
from scientist.reviews.form import PaperInfo
from scientist.reviews.injection import InjectionFlag, SentenceJudge, excerpt, scan, scrub, suspicious

PaperSource = Literal["pdf", "latex", "markdown"]
HiddenKind = Literal["hidden_text", "tiny_text", "offpage_text"]
MAX_PAGES = 100
MIN_FONT_PT = 3.0  # below this a span is unreadable on paper: an author hiding text, not typesetting
MAX_INPUT_BYTES = 2_000_000  # LaTeX source including \input files
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_LOW_PRIORITY = re.compile(
    r"^(?:[A-Z]|\d+)?\.?\s*(?:references|bibliography|acknowledg|appendi|supplementa)", re.IGNORECASE
)


class PaperReadError(ScientistError):
    """A paper file cannot be read (missing, empty, encrypted, corrupt or of an unknown type)."""


class Section(BaseModel):
    title: str = ""
    level: int = 1
    text: str = ""


class Unshown(BaseModel):
    """Comment text a reader dropped without a flag (never shown to the reviewer): the model check's evidence."""

    location: str
    text: str


class PaperText(BaseModel):
    """A paper as the reviewer sees it: title and sections, plus what the readers removed or left out."""

    source: PaperSource
    title: str = ""
    sections: list[Section] = Field(default_factory=list)
    flags: list[InjectionFlag] = Field(default_factory=list)
    omitted: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    unshown: list[Unshown] = Field(default_factory=list)

    def render(self) -> str:
        parts = [f"# {self.title}"] if self.title else []
        for section in self.sections:
            heading = f"{'#' * min(section.level + 1, 6)} {section.title}" if section.title else ""
            parts.append("\n\n".join(part for part in (heading, section.text) if part))
        return "\n\n".join(part for part in parts if part)

    def sha256(self) -> str:
        return hashlib.sha256(self.render().encode()).hexdigest()

    def info(self) -> PaperInfo:
        text = self.render()
        return PaperInfo(
            title=self.title,
            source=self.source,
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            chars=len(text),
            omitted=list(self.omitted),
            notes=list(self.notes),
        )


# -- entry points -----------------------------------------------------------------------------------------------------
def load_paper(path: Path, *, max_pages: int = MAX_PAGES) -> PaperText:
    """Read a .pdf, .tex or .md/.markdown/.txt file (PDFs are also recognised by their header)."""
    path = Path(path)
    if not path.is_file():
        raise PaperReadError(f"no paper file at {path}", hint="pass the path of a .pdf, .tex or .md file")
    data = path.read_bytes()
    if not data.strip():
        raise PaperReadError(f"{path} is empty", hint="pass a paper with some text in it")
    suffix = path.suffix.lower()
    if data.startswith(b"%PDF") or suffix == ".pdf":
        return from_pdf(data, name=str(path), max_pages=max_pages)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if suffix in {".tex", ".latex", ".ltx"} or (suffix not in {".md", ".markdown"} and "\\begin{document}" in text):
        return from_latex(text, base_dir=path.parent)
    if suffix in {".md", ".markdown", ".txt", ".text", ""}:
        return from_markdown(text)
    raise PaperReadError(f"unsupported paper type {suffix!r} ({path})", hint="pass a .pdf, .tex or .md file")


def sanitize(paper: PaperText, judge: SentenceJudge | None = None) -> PaperText:
    """Scrub injections from every visible title and paragraph; flags join those the reader found.

    `judge` (the opt-in model check) is asked about every sentence no pattern matched (see `injection.scrub`)."""
    flags = list(paper.flags)
    title, found = scrub(paper.title, "title", judge)
    flags += found
    sections = []
    for index, section in enumerate(paper.sections, 1):
        where = f"section {index}" + (f" ({excerpt(section.title)[:40]})" if section.title else "")
        heading, found_title = scrub(section.title, where, judge)
        text, found_text = scrub(section.text, where, judge)
        flags += found_title + found_text
        if heading or text:
            sections.append(Section(title=heading, level=section.level, text=text))
    return paper.model_copy(update={"title": title.replace("\n", " "), "sections": sections, "flags": flags})


def cap(paper: PaperText, max_chars: int) -> PaperText:
    """Fit the rendered paper into `max_chars`: drop references/appendices first, then cut at the end by whole
    sections, shortening the last kept section by whole sentences. What was left out goes to `omitted`."""
    if len(paper.render()) <= max_chars:
        return paper
    sections = list(paper.sections)
    omitted = list(paper.omitted)
    for index in range(len(sections) - 1, -1, -1):
        if len(paper.model_copy(update={"sections": sections}).render()) <= max_chars:
            break
        if _LOW_PRIORITY.match(sections[index].title):
            omitted.insert(0, sections[index].title)
            del sections[index]
    header = len(f"# {paper.title}\n\n") if paper.title else 0
    kept: list[Section] = []
    used = header
    for position, section in enumerate(sections):
        block = len(paper.model_copy(update={"title": "", "sections": [section]}).render()) + (2 if kept else 0)
        if used + block <= max_chars:
            kept.append(section)
            used += block
            continue
        heading = len(f"{'#' * min(section.level + 1, 6)} {section.title}") + 2 if section.title else 0
        room = max_chars - used - heading - (2 if kept else 0)
        shortened = _whole_sentences(section.text, room)
        if shortened:
            kept.append(section.model_copy(update={"text": shortened}))
            omitted.append(f"{section.title or 'untitled section'} (shortened)")
        else:
            omitted.append(section.title or "untitled section")
        omitted += [later.title or "untitled section" for later in sections[position + 1 :]]
        break
    return paper.model_copy(update={"sections": kept, "omitted": omitted})


def _whole_sentences(text: str, room: int) -> str:
    """The longest prefix of `text` that ends at a paragraph or sentence boundary and fits in `room`."""
    out = ""
    for paragraph in text.split("\n\n"):
        candidate = f"{out}\n\n{paragraph}" if out else paragraph
        if len(candidate) <= room:
            out = candidate
            continue
        prefix = f"{out}\n\n" if out else ""
        taken = ""
        for sentence in _SENTENCE_END.split(paragraph):
            longer = f"{taken} {sentence}" if taken else sentence
            if len(prefix) + len(longer) > room:
                break
            taken = longer
        return prefix + taken if taken else out
    return out


# -- Markdown ---------------------------------------------------------------------------------------------------------
_HTML_COMMENT = re.compile(r"<!--(.*?)(?:-->|$)", re.DOTALL)
_HIDDEN_STYLE = (
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.\d+)?(?:px|pt|em|rem)?\s*(?:;|\"|')"
    r"|opacity\s*:\s*0(?:\.0+)?\s*(?:;|\"|')|color\s*:\s*(?:white|#fff(?:fff)?\b|rgb\(\s*255\s*,\s*255\s*,\s*255\s*\))"
)
_HIDDEN_ELEMENT = re.compile(
    r"<(?P<tag>[a-z][a-z0-9]*)\b(?P<attrs>[^>]*?(?:\bhidden\b|\bstyle\s*=\s*[\"'][^\"']*(?:" + _HIDDEN_STYLE + r")"
    r"|\bcolor\s*=\s*[\"']?(?:white|#fff(?:fff)?)\b)[^>]*)>(?P<body>.*?)</(?P=tag)\s*>",
    re.IGNORECASE | re.DOTALL,
)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def from_markdown(text: str) -> PaperText:
    """Markdown (or plain text): `#` headings become sections, the first level-1 heading the title."""
    flags: list[InjectionFlag] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end > 0:
            flags += scan([("front matter", text[4:end])], "metadata", "not shown")
            text = text[end + 4 :].lstrip("-").lstrip("\n")
    unshown: list[Unshown] = []
    for match in _HTML_COMMENT.finditer(text):
        found = scan([("HTML comment", match.group(1))], "comment")
        flags += found
        if not found and match.group(1).strip():
            unshown.append(Unshown(location="HTML comment", text=match.group(1).strip()))
    text = _HTML_COMMENT.sub("", text)
    while element := _HIDDEN_ELEMENT.search(text):
        body = _TAG.sub(" ", element.group("body"))
        if body.strip():
            where = f"hidden <{element.group('tag')}>"
            flags.append(InjectionFlag(kind="hidden_text", location=where, excerpt=excerpt(body)))
        text = text[: element.start()] + text[element.end() :]
    for tag in _TAG.finditer(text):  # tags are dropped below; ones posing as our delimiters or roles are flagged
        kind = suspicious(tag.group(0))
        if kind is not None:
            flags.append(InjectionFlag(kind=kind, location="HTML tag", excerpt=excerpt(tag.group(0))))
    text = _TAG.sub("", text)

    title = ""
    sections: list[Section] = []
    current = Section()
    lines: list[str] = []
    in_code = False
    raw_lines = text.split("\n")
    for index, line in enumerate(raw_lines):
        if _FENCE.match(line):
            in_code = not in_code
        heading = None if in_code else _ATX.match(line)
        setext = (
            not in_code
            and index + 1 < len(raw_lines)
            and line.strip()
            and re.fullmatch(r"\s*(=+|-{3,})\s*", raw_lines[index + 1])
            and (index == 0 or not raw_lines[index - 1].strip())
        )
        if heading or setext:
            level = len(heading.group(1)) if heading else (1 if raw_lines[index + 1].strip()[0] == "=" else 2)
            name = heading.group(2) if heading else line.strip()
            _close(current, lines, sections)
            lines = []
            if level == 1 and not title and not sections and not "".join(lines).strip():
                title = name
                current = Section()
            else:
                current = Section(title=name, level=max(1, level - 1) if title else level)
            continue
        if re.fullmatch(r"\s*(=+|-{3,})\s*", line) and index > 0 and raw_lines[index - 1].strip() and not in_code:
            continue  # a setext underline already consumed
        lines.append(line)
    _close(current, lines, sections)
    return PaperText(source="markdown", title=title.strip(), sections=sections, flags=flags, unshown=unshown)


def _close(section: Section, lines: list[str], sections: list[Section]) -> None:
    text = "\n".join(lines).strip()
    if section.title or text:
        sections.append(section.model_copy(update={"text": text}))


# -- LaTeX ------------------------------------------------------------------------------------------------------------
_SECTION_LEVEL = {"part": 1, "chapter": 1, "section": 1, "subsection": 2, "subsubsection": 3, "paragraph": 4}
_SECTION_CMD = re.compile(r"\\(part|chapter|section|subsection|subsubsection|paragraph)\*?\s*(?:\[[^\]]*\])?\s*(?=\{)")
_DROP_ARG = {
    "label", "bibliography", "bibliographystyle", "vspace", "hspace", "vskip", "hskip", "includegraphics",
    "author", "affiliation", "thanks", "date", "newcommand", "renewcommand", "setlength", "addtolength",
    "usepackage", "documentclass", "input", "include", "pagestyle", "thispagestyle", "linewidth", "setcounter",
    "icmltitle", "icmlauthor", "icmlaffiliation", "icmlcorrespondingauthor", "icmlkeywords", "keywords", "title",
}  # fmt: skip
_LAYOUT = re.compile(
    r"\\(?:hline|toprule|midrule|bottomrule|cline\{[^}]*\}|centering|raggedright|noindent|maketitle|newpage|"
    r"clearpage|small|footnotesize|scriptsize|tiny|large|Large|LARGE|huge|Huge|normalsize|bfseries|itshape|"
    r"ttfamily|par|medskip|smallskip|bigskip)\b"
)
_CITE = re.compile(r"\\(?:cite[a-zA-Z]*|citep|citet|citeauthor|citeyear)\*?\s*(?:\[[^\]]*\]\s*)*\{[^}]*\}")
_REF = re.compile(r"\\(?:ref|eqref|cref|Cref|autoref|pageref|nameref)\*?\s*\{[^}]*\}")
_MATH = re.compile(
    r"(\$\$.*?\$\$|\$(?:\\.|[^$\\])+\$|\\\[.*?\\\]|\\\(.*?\\\)"
    r"|\\begin\{(equation|align|gather|multline|eqnarray|displaymath|math)(\*?)\}.*?\\end\{\2\3\})",
    re.DOTALL,
)
_WHITE_SPEC = re.compile(
    r"^(?:white|\s*1(?:\.0*)?\s*,\s*1(?:\.0*)?\s*,\s*1(?:\.0*)?\s*|\s*255\s*,\s*255\s*,\s*255\s*|ffffff|1(?:\.0*)?"
    r"|white!100|0\s*,\s*0\s*,\s*0\s*,\s*0)$",
    re.IGNORECASE,
)


def from_latex(text: str, *, base_dir: Path | None = None) -> PaperText:
    """LaTeX source: sections from \\section & co., the abstract environment, and hidden-text defences."""
    flags: list[InjectionFlag] = []
    text = _resolve_inputs(text, base_dir, depth=0, seen=set()) if base_dir is not None else text
    text, found, unshown = _strip_latex_comments(text)
    flags += found
    begin = text.find("\\begin{document}")
    preamble, body = (text[:begin], text[begin + len("\\begin{document}") :]) if begin >= 0 else ("", text)
    end = body.find("\\end{document}")
    body = body[:end] if end >= 0 else body
    for match in re.finditer(r"\\(?:hypersetup|pdfinfo)\s*\{", preamble):
        flags += scan([("PDF metadata in preamble", _braced(preamble, match.end() - 1)[0])], "metadata", "not shown")
    white = {"white"} | {
        name for name, spec in re.findall(r"\\definecolor\{([^}]*)\}\{[^}]*\}\{([^}]*)\}", preamble + body)
        if _WHITE_SPEC.match(spec)
    }  # fmt: skip
    hiding_macros = _hiding_macros(preamble + body, white)
    title_match = re.search(r"\\(?:title|icmltitle)\s*(?:\[[^\]]*\])?\s*\{", preamble + body)
    title = _braced(preamble + body, title_match.end() - 1)[0] if title_match else ""
    body = _strip_definitions(body)
    body, found = _strip_hidden_latex(body, white, hiding_macros)
    flags += found
    body = re.sub(r"\\begin\{abstract\}", r"\\section*{Abstract}", body)
    body = re.sub(r"\\end\{abstract\}", "", body)

    sections: list[Section] = []
    position = 0
    current = Section()
    for match in _SECTION_CMD.finditer(body):
        if match.start() < position:
            continue
        current.text = body[position : match.start()]
        sections.append(current)
        name, after = _braced(body, match.end())
        current = Section(title=name, level=_SECTION_LEVEL[match.group(1)])
        position = after
    current.text = body[position:]
    sections.append(current)
    cleaned = []
    for section in sections:
        text_ = _latex_to_text(section.text)
        name = " ".join(_latex_to_text(section.title).split())
        if name or text_.strip():
            cleaned.append(Section(title=name, level=section.level, text=text_.strip()))
    title = " ".join(_latex_to_text(title).split())
    return PaperText(source="latex", title=title, sections=cleaned, flags=flags, unshown=unshown)


def _resolve_inputs(text: str, base_dir: Path, *, depth: int, seen: set[Path]) -> str:
    """Inline \\input/\\include files that live inside `base_dir` (never outside it), up to a size limit."""
    if depth > 5:
        return text
    root = base_dir.resolve()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        for candidate in (root / name, root / f"{name}.tex"):
            resolved = candidate.resolve()
            if resolved.is_file() and resolved.is_relative_to(root) and resolved not in seen:
                if resolved.stat().st_size > MAX_INPUT_BYTES:
                    return ""
                seen.add(resolved)
                included = resolved.read_text(encoding="utf-8", errors="replace")
                return _resolve_inputs(included, base_dir, depth=depth + 1, seen=seen)
        return ""

    return re.sub(r"(?<!\\)\\(?:input|include)\s*\{([^}]*)\}", replace, text)[: MAX_INPUT_BYTES * 2]


def _strip_latex_comments(text: str) -> tuple[str, list[InjectionFlag], list[Unshown]]:
    """Remove %-comments, \\iffalse…\\fi and comment environments; flag the suspicious ones. The others are
    returned as `Unshown` passages (consecutive comment lines joined) for the opt-in model check."""
    flags: list[InjectionFlag] = []
    unshown: list[Unshown] = []
    run: list[tuple[int, str]] = []  # consecutive unflagged comment lines

    def close_run() -> None:
        if run:
            where = f"LaTeX comment, line {run[0][0]}" + (f"-{run[-1][0]}" if len(run) > 1 else "")
            unshown.append(Unshown(location=where, text=" ".join(part for _, part in run)))
            run.clear()

    lines = text.split("\n")
    kept = []
    for number, line in enumerate(lines, 1):
        match = re.search(r"(?<!\\)%", line)
        comment = line[match.end() :].strip(" %\t") if match else ""
        if not comment:
            close_run()
        if match:
            found = scan([(f"LaTeX comment, line {number}", line[match.end() :])], "comment")
            flags += found
            if found:
                close_run()
            elif comment:
                run.append((number, comment))
            kept.append(line[: match.start()] + "\x00")  # \x00: the comment also ate the newline (TeX rule)
        else:
            kept.append(line)
    text = "\n".join(kept)
    text = re.sub(r"\x00\n[ \t]*", "", text).replace("\x00", "")
    for pattern, where in (
        (re.compile(r"\\iffalse\b(.*?)\\fi\b", re.DOTALL), "\\iffalse block"),
        (re.compile(r"\\begin\{comment\}(.*?)\\end\{comment\}", re.DOTALL), "comment environment"),
    ):
        for match in pattern.finditer(text):
            found = scan([(where, match.group(1))], "comment")
            flags += found
            if not found and match.group(1).strip():
                unshown.append(Unshown(location=where, text=" ".join(match.group(1).split())))
        text = pattern.sub("", text)
    close_run()
    return text, flags, unshown


def _braced(text: str, open_at: int) -> tuple[str, int]:
    """The content of the balanced {…} group starting at `open_at` (skipping spaces) and the index after it."""
    index = open_at
    while index < len(text) and text[index] in " \t\n":
        index += 1
    if index >= len(text) or text[index] != "{":
        return "", open_at
    depth = 0
    for position in range(index, len(text)):
        char = text[position]
        if char == "\\":
            continue
        if char == "{" and text[position - 1] != "\\":
            depth += 1
        elif char == "}" and text[position - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[index + 1 : position], position + 1
    return text[index + 1 :], len(text)


def _group_end(text: str, start: int) -> int:
    """Index of the `}` closing the group that contains `start` (or the end of the text/environment)."""
    depth = 0
    for position in range(start, len(text)):
        char = text[position]
        if char == "{" and text[position - 1] != "\\":
            depth += 1
        elif char == "}" and text[position - 1] != "\\":
            if depth == 0:
                return position
            depth -= 1
        elif depth == 0 and text.startswith("\\end{", position):
            return position
    return len(text)


def _hiding_macros(text: str, white: set[str]) -> set[str]:
    """Names of \\newcommand/\\def macros whose body hides text (white colour, phantom, sub-3pt font)."""
    names = set()
    definition = r"\\(?:re)?newcommand\*?\s*\{?\\([A-Za-z@]+)\}?\s*(?:\[\d\])?\s*(?:\[[^\]]*\])?\s*\{"
    for match in re.finditer(definition, text):
        body = _braced(text, match.end() - 1)[0]
        if _hides(body, white):
            names.add(match.group(1))
    for match in re.finditer(r"\\def\\([A-Za-z@]+)[^{]*\{", text):
        if _hides(_braced(text, match.end() - 1)[0], white):
            names.add(match.group(1))
    return names


def _strip_definitions(text: str) -> str:
    """Drop \\newcommand/\\def definitions (their bodies are not text; hiding ones are handled by name)."""
    definition = re.compile(
        r"\\(?:re|provide)?(?:newcommand|DeclareRobustCommand)\*?\s*\{?\\[A-Za-z@]+\}?\s*(?:\[\d\])?\s*(?:\[[^\]]*\])?\s*(?=\{)"
        r"|\\(?:g|e|x)?def\s*\\[A-Za-z@]+[^{]*(?=\{)"
    )
    while match := definition.search(text):
        text = text[: match.start()] + text[_braced(text, match.end())[1] :]
    return text


def _hides(body: str, white: set[str]) -> bool:
    colour = re.search(r"\\(?:text)?color\s*(?:\[[^\]]*\])?\s*\{([^}]*)\}", body)
    if colour and (colour.group(1).strip() in white or _WHITE_SPEC.match(colour.group(1))):
        return True
    if re.search(r"\\[hv]?phantom\b", body):
        return True
    size = re.search(r"\\fontsize\s*\{\s*([\d.]+)", body)
    return bool(size and float(size.group(1)) < MIN_FONT_PT)


def _strip_hidden_latex(body: str, white: set[str], macros: set[str]) -> tuple[str, list[InjectionFlag]]:
    """Remove text a reader of the PDF would not see; every removal of real text is flagged."""
    flags: list[InjectionFlag] = []

    def remove(start: int, end: int, kind: HiddenKind, where: str, content: str, *, always: bool = True) -> str:
        if content.strip() and (always or len(content) > 40 or suspicious(content)):
            flags.append(InjectionFlag(kind=kind, location=where, excerpt=excerpt(_latex_to_text(content))))
        return body[:start] + body[end:]

    def is_white(colour: str) -> bool:
        return colour.strip() in white or bool(_WHITE_SPEC.match(colour.strip()))

    # \textcolor[model]{white}{text}
    def first_white(pattern: str) -> re.Match[str] | None:
        return next((m for m in re.finditer(pattern, body) if is_white(m.group(1))), None)

    while match := first_white(r"\\textcolor\s*(?:\[[^\]]*\])?\s*\{([^}]*)\}"):
        content, end = _braced(body, match.end())
        body = remove(match.start(), end, "hidden_text", "LaTeX \\textcolor", content)
    # \color{white} and \fontsize{<3pt}: everything to the end of the enclosing group
    while match := first_white(r"\\color\s*(?:\[[^\]]*\])?\s*\{([^}]*)\}"):
        end = _group_end(body, match.end())
        body = remove(match.start(), end, "hidden_text", "LaTeX \\color", body[match.end() : end])
    size = r"\\fontsize\s*\{\s*([\d.]+)\s*(?:pt)?\s*\}\s*\{[^}]*\}\s*(?:\\selectfont)?"
    while match := next((m for m in re.finditer(size, body) if float(m.group(1)) < MIN_FONT_PT), None):
        end = _group_end(body, match.end())
        body = remove(match.start(), end, "tiny_text", "LaTeX \\fontsize", body[match.end() : end])
    # \scalebox{<0.2}{text}
    scale = r"\\scalebox\s*\{\s*([\d.]+)\s*\}\s*(?=\{)"
    while match := next((m for m in re.finditer(scale, body) if float(m.group(1)) < 0.2), None):
        content, end = _braced(body, match.end())
        body = remove(match.start(), end, "tiny_text", "LaTeX \\scalebox", content)
    # \phantom{…} (legitimate for short alignment fillers) and user macros defined to hide their argument
    while match := re.search(r"\\[hv]?phantom\s*(?=\{)", body):
        content, end = _braced(body, match.end())
        body = remove(match.start(), end, "hidden_text", "LaTeX \\phantom", content, always=False)
    for name in sorted(macros):
        while match := re.search(rf"\\{re.escape(name)}(?![A-Za-z@])\s*(?=\{{)", body):
            content, end = _braced(body, match.end())
            body = remove(match.start(), end, "hidden_text", f"LaTeX \\{name} (hides text)", content)
    return body, flags


def _latex_to_text(text: str) -> str:
    """Best-effort LaTeX → readable text: keep math verbatim, unwrap formatting, drop layout commands."""
    parts = _MATH.split(text)
    out = []
    index = 0
    while index < len(parts):
        out.append(_latex_prose(parts[index]))
        if index + 1 < len(parts):
            out.append(parts[index + 1])  # the math itself; the two inner groups are the environment name
        index += 4
    lines = [line.strip() for line in "".join(out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _latex_prose(text: str) -> str:
    text = _CITE.sub("[citation]", text)
    text = _REF.sub("[ref]", text)
    text = re.sub(r"\\href\s*\{[^}]*\}\s*\{([^}]*)\}", r"\1", text)
    for command, before, after in (("footnote", " (footnote: ", ")"), ("caption", "\n\nCaption: ", "\n\n")):
        while match := re.search(rf"\\{command}\s*(?:\[[^\]]*\])?\s*(?=\{{)", text):
            content, end = _braced(text, match.end())
            text = f"{text[: match.start()]}{before}{content}{after}{text[end:]}"
    text = re.sub(r"\\item\s*(?:\[([^\]]*)\])?", lambda m: "\n- " + (f"{m.group(1)}: " if m.group(1) else ""), text)
    text = re.sub(r"\\(?:begin|end)\s*\{[^}]*\}(?:\[[^\]]*\])?(?:\{[^}]*\})*", "\n", text)
    text = _LAYOUT.sub(" ", text)
    text = text.replace("\\&", "\x01").replace("\\\\", "\n").replace("&", " | ").replace("\x01", "&")
    for _ in range(4):  # nested formatting: unwrap from the inside out
        text = re.sub(
            r"\\([A-Za-z]+)\*?\s*(?:\[[^\]]*\])?\s*\{([^{}]*)\}",
            lambda m: "" if m.group(1) in _DROP_ARG else m.group(2),
            text,
        )
    text = re.sub(r"\\([%$#_{}~^])", r"\1", text)
    text = re.sub(r"\\[A-Za-z]+\*?", "", text)
    text = text.replace("~", " ").replace("``", '"').replace("''", '"').replace("{", "").replace("}", "")
    return re.sub(r"[ \t]+", " ", text)


# -- PDF --------------------------------------------------------------------------------------------------------------
_NUMBERED_HEADING = re.compile(r"^(?:[A-Z]|\d+)(?:\.\d+)*\.?\s+\S")
_KNOWN_HEADING = re.compile(
    r"^(?:(?:[A-Z]|\d+)(?:\.\d+)*\.?\s+)?(?:abstract|introduction|related work|background|preliminaries|methods?|"
    r"methodology|approach|experiments?|experimental setup|results|evaluation|discussion|conclusions?|"
    r"limitations|broader impacts?|references|bibliography|acknowledg(?:e)?ments?|appendix\b.*)$",
    re.IGNORECASE,
)


class _Block(BaseModel):
    page: int
    text: str
    size: float
    bold: bool
    lines: int


def from_pdf(source: bytes | Path, *, name: str = "PDF", max_pages: int = MAX_PAGES) -> PaperText:
    """PDF via pymupdf: visible spans only; headings from font size/weight; hidden spans flagged and dropped."""
    pymupdf: Any = importlib.import_module("pymupdf")  # untyped: keep mypy's strictness on our side only
    try:
        doc = pymupdf.open(source) if isinstance(source, Path) else pymupdf.open(stream=source, filetype="pdf")
    except Exception as err:
        raise PaperReadError(
            f"{name} is not a readable PDF: {err}", hint="check the file, or pass the LaTeX source"
        ) from err
    with doc:
        if doc.needs_pass and not doc.authenticate(""):
            raise PaperReadError(
                f"{name} is encrypted and needs a password",
                hint="save an unencrypted copy (e.g. `qpdf --decrypt in.pdf out.pdf`) or pass the LaTeX source",
            )
        if doc.page_count == 0:
            raise PaperReadError(f"{name} has no pages", hint="pass a PDF with content")
        metadata: dict[str, Any] = doc.metadata or {}
        flags = scan(
            [(f"PDF metadata {key}", str(value)) for key, value in metadata.items() if isinstance(value, str)],
            "metadata",
            "not shown",
        )
        pages = min(doc.page_count, max_pages)
        notes = [f"read the first {pages} of {doc.page_count} pages"] if doc.page_count > pages else []
        blocks: list[_Block] = []
        sizes: Counter[float] = Counter()
        for number in range(pages):
            page = doc[number]
            for annot in page.annots() or []:
                content = (annot.info or {}).get("content", "")
                flags += scan([(f"PDF annotation, page {number + 1}", content)], "metadata", "not shown")
            page_blocks, page_flags = _page_blocks(page, number, sizes, pymupdf)
            blocks += page_blocks
            flags += page_flags
    if not any(block.text.strip() for block in blocks):
        raise PaperReadError(
            f"{name} has no extractable text (scanned images?)", hint="pass a PDF with a text layer, or the source"
        )
    body_size = sizes.most_common(1)[0][0] if sizes else 10.0
    title, sections = _pdf_sections(_drop_running_heads(blocks, pages), body_size)
    return PaperText(source="pdf", title=title, sections=sections, flags=flags, notes=notes)


def _page_blocks(
    page: Any, number: int, sizes: Counter[float], pymupdf: Any
) -> tuple[list[_Block], list[InjectionFlag]]:
    """One page's visible text blocks; hidden spans are dropped and flagged once per kind."""
    flags: list[InjectionFlag] = []
    hidden: dict[HiddenKind, list[str]] = {}
    blocks = []
    rect = page.rect
    flags_ = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_MEDIABOX_CLIP  # see off-page text too, to flag it
    data = page.get_text("dict", flags=flags_, clip=pymupdf.INFINITE_RECT())
    for block in data.get("blocks", []):
        if block.get("type") != 0:
            continue
        lines: list[str] = []
        span_sizes: list[float] = []
        bold = True
        for line in block.get("lines", []):
            text = ""
            for span in line.get("spans", []):
                content = span.get("text", "")
                if not content.strip():
                    text += content
                    continue
                kind = _hidden_kind(span, rect, pymupdf)
                if kind is not None:
                    hidden.setdefault(kind, []).append(content)
                    continue
                text += content
                span_sizes.append(round(float(span["size"]) * 2) / 2)
                sizes[round(float(span["size"]) * 2) / 2] += len(content)
                bold = bold and bool(span.get("flags", 0) & 16 or "bold" in str(span.get("font", "")).lower())
            if text.strip():
                lines.append(text.strip())
        if lines:
            blocks.append(
                _Block(page=number, text=_join_lines(lines), size=max(span_sizes), bold=bold, lines=len(lines))
            )
    for kind, texts in hidden.items():
        flags.append(InjectionFlag(kind=kind, location=f"PDF page {number + 1}", excerpt=excerpt(" ".join(texts))))
    return blocks, flags


def _hidden_kind(span: dict[str, Any], page_rect: Any, pymupdf: Any) -> HiddenKind | None:
    if int(span.get("alpha", 255)) == 0:
        return "hidden_text"
    colour = int(span.get("color", 0))
    if all(channel >= 0xF0 for channel in ((colour >> 16) & 255, (colour >> 8) & 255, colour & 255)):
        return "hidden_text"
    if float(span.get("size", 10)) < MIN_FONT_PT:
        return "tiny_text"
    if not pymupdf.Rect(span["bbox"]).intersects(page_rect):
        return "offpage_text"
    return None


def _join_lines(lines: list[str]) -> str:
    out = lines[0]
    for line in lines[1:]:
        if out.endswith("-") and line[:1].islower() and len(out) > 1 and out[-2].isalpha():
            out = out[:-1] + line
        else:
            out = f"{out} {line}"
    return out


def _drop_running_heads(blocks: list[_Block], pages: int) -> list[_Block]:
    """Drop page numbers and headers/footers repeated on most pages."""
    if pages < 3:
        return [block for block in blocks if not re.fullmatch(r"\d{1,4}", block.text.strip())]
    key = [re.sub(r"\d+", "#", block.text.strip().lower()) for block in blocks]
    pages_with: dict[str, set[int]] = {}
    for block, name in zip(blocks, key, strict=True):
        pages_with.setdefault(name, set()).add(block.page)
    repeated = {name for name, on in pages_with.items() if len(on) >= max(3, pages // 2) and len(name) < 120}
    return [block for block, name in zip(blocks, key, strict=True) if name not in repeated and name != "#"]


def _pdf_sections(blocks: list[_Block], body_size: float) -> tuple[str, list[Section]]:
    title = ""
    first_page = [block for block in blocks if block.page == 0]
    if first_page:
        biggest = max(first_page, key=lambda block: block.size)
        if biggest.size >= body_size + 2 and len(biggest.text) <= 250:
            start = blocks.index(biggest)
            end = start + 1  # a title set over several lines may come as several blocks of the same size
            while end < len(blocks) and blocks[end].page == 0 and abs(blocks[end].size - biggest.size) < 0.5:
                end += 1
            title = " ".join(block.text for block in blocks[start:end])
            blocks = blocks[:start] + blocks[end:]
    sections: list[Section] = []
    current = Section()
    paragraphs: list[str] = []
    for block in blocks:
        text = block.text.strip()
        named = bool(_NUMBERED_HEADING.match(text) or _KNOWN_HEADING.match(text))
        is_heading = (
            block.lines <= 2
            and len(text) <= 120
            and not text.endswith((".", ",", ";", ":"))
            and (
                (block.size >= body_size + 1.0 and (named or block.size >= body_size + 2))
                or (block.bold and named)
                or (bool(_KNOWN_HEADING.match(text)) and len(text) <= 40)
            )
        )
        if is_heading:
            if current.title or paragraphs:
                sections.append(current.model_copy(update={"text": "\n\n".join(paragraphs)}))
            number = re.match(r"^((?:[A-Z]|\d+)(?:\.\d+)*)\.?\s", text)
            level = number.group(1).count(".") + 1 if number else 1
            current, paragraphs = Section(title=text, level=level), []
        else:
            paragraphs.append(text)
    if current.title or paragraphs:
        sections.append(current.model_copy(update={"text": "\n\n".join(paragraphs)}))
    return title, sections
