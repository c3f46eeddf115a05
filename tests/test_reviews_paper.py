"""Reading papers: section structure from PDF, LaTeX and Markdown; length caps by whole sections; bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pymupdf
import pytest

from scientist.reviews.paper import (
    PaperReadError,
    PaperText,
    Section,
    cap,
    from_latex,
    from_markdown,
    load_paper,
    sanitize,
)
from tests.reviews_support import CLEAN_MARKDOWN

LATEX = r"""\documentclass{article}
\usepackage{xcolor}
\title{Reward Hacking in a \emph{Respawning-Coin} Gridworld}
\author{Anonymous}
\begin{document}
\maketitle
\begin{abstract}
We study reward hacking in a small gridworld.
\end{abstract}
\section{Introduction}
Reward misspecification is common~\cite{amodei2016}. See Section~\ref{sec:method} and $r_t = \alpha c_t$.
\subsection{Contributions}
\begin{itemize}
\item A \textbf{measured} gap.
\item A fix.\footnote{Penalise revisits.}
\end{itemize}
\section{Method}\label{sec:method}
We train agents. % internal note: rerun with 10 seeds
\end{document}
"""


def pdf_bytes(sections: list[tuple[str, str]], title: str = "Reward Hacking in Gridworlds") -> bytes:
    doc = pymupdf.open()
    page = doc.new_page()
    for number, line in enumerate(title.split("\n")):
        page.insert_text((72, 72 + 22 * number), line, fontsize=18, fontname="hebo")
    y = 130.0
    for heading, body in sections:
        page.insert_text((72, y), heading, fontsize=12, fontname="hebo")
        page.insert_textbox(pymupdf.Rect(72, y + 8, 520, y + 70), body, fontsize=10)
        y += 90
    return bytes(doc.tobytes())


def test_markdown_keeps_title_and_sections() -> None:
    paper = from_markdown(CLEAN_MARKDOWN)
    assert paper.title == "Reward Hacking in a Respawning-Coin Gridworld"
    assert [s.title for s in paper.sections] == ["Abstract", "1 Introduction", "2 Method", "3 Results", "4 Conclusion"]
    assert "| variant | 2.1 | 0.5 |" in sanitize(paper).render()  # table rows keep their lines


def test_latex_sections_abstract_title_and_markup() -> None:
    paper = from_latex(LATEX)
    assert paper.title == "Reward Hacking in a Respawning-Coin Gridworld"
    assert [(s.title, s.level) for s in paper.sections] == [
        ("Abstract", 1),
        ("Introduction", 1),
        ("Contributions", 2),
        ("Method", 1),
    ]
    text = sanitize(paper).render()
    assert "[citation]" in text and "$r_t = \\alpha c_t$" in text  # math kept verbatim
    assert "- A measured gap." in text and "(footnote: Penalise revisits.)" in text
    assert "internal note" not in text and "\\" not in text.replace("\\alpha", "")
    assert not paper.flags  # an ordinary comment is removed silently


def test_latex_inputs_stay_inside_the_paper_folder(tmp_path: Path) -> None:
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "intro.tex").write_text("\\section{Intro}\nIncluded text.", encoding="utf-8")
    (tmp_path / "secret.tex").write_text("\\section{Secret}\nOutside text.", encoding="utf-8")
    main = tmp_path / "paper" / "main.tex"
    main.write_text("\\begin{document}\n\\input{intro}\n\\input{../secret}\n\\end{document}", encoding="utf-8")
    text = load_paper(main).render()
    assert "Included text." in text and "Outside text." not in text


def test_pdf_headings_title_and_dehyphenation(tmp_path: Path) -> None:
    path = tmp_path / "paper.pdf"
    path.write_bytes(
        pdf_bytes(
            [("Abstract", "We study reward hacking."), ("1 Introduction", "Reward mis-\nspecification is common.")],
            title="Reward Hacking in\nGridworlds",  # a title set over two lines
        )
    )
    paper = load_paper(path)
    assert paper.source == "pdf" and paper.title == "Reward Hacking in Gridworlds"
    assert [s.title for s in paper.sections] == ["Abstract", "1 Introduction"]
    assert "Reward misspecification is common." in paper.render()


def test_cap_drops_references_first_then_cuts_by_whole_sentences() -> None:
    body = " ".join(f"Sentence number {i} ends here." for i in range(40))
    paper = PaperText(
        source="markdown",
        title="T",
        sections=[
            Section(title="1 Intro", text=body),
            Section(title="2 Results", text=body),
            Section(title="References", text="x" * 3000),
        ],
    )
    capped = cap(paper, 1500)
    rendered = capped.render()
    assert len(rendered) <= 1500
    assert capped.omitted[0] == "References" and "2 Results (shortened)" in capped.omitted
    # never mid-sentence: every paragraph ends with a full stop
    assert all(part.endswith(".") for part in rendered.split("\n\n") if not part.startswith("#"))
    assert re.search(r"Sentence number 39 ends here\.\n\n## 2 Results", rendered)
    assert cap(paper, 100_000) is paper


def test_cap_result_always_fits() -> None:
    paper = from_markdown(CLEAN_MARKDOWN)
    for limit in (200, 400, 700, 1000):
        assert len(cap(sanitize(paper), limit).render()) <= limit


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"%PDF-1.4 not really a pdf", "not a readable PDF"),
    ],
)
def test_bad_files_are_user_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "paper.pdf"
    path.write_bytes(content)
    with pytest.raises(PaperReadError, match=message):
        load_paper(path)


def test_missing_unsupported_and_encrypted_files(tmp_path: Path) -> None:
    with pytest.raises(PaperReadError, match="no paper file"):
        load_paper(tmp_path / "nope.pdf")
    (tmp_path / "paper.docx").write_bytes(b"PK\x03\x04 binary")
    with pytest.raises(PaperReadError, match="unsupported paper type"):
        load_paper(tmp_path / "paper.docx")
    doc = pymupdf.open(stream=pdf_bytes([("Abstract", "Secret.")]), filetype="pdf")
    doc.save(tmp_path / "locked.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")
    with pytest.raises(PaperReadError, match="encrypted and needs a password") as info:
        load_paper(tmp_path / "locked.pdf")
    assert "qpdf --decrypt" in str(info.value)


def test_scanned_pdf_without_text_is_an_error(tmp_path: Path) -> None:
    doc = pymupdf.open()
    doc.new_page().draw_rect(pymupdf.Rect(10, 10, 100, 100), fill=(0, 0, 0))
    doc.save(tmp_path / "scan.pdf")
    with pytest.raises(PaperReadError, match="no extractable text"):
        load_paper(tmp_path / "scan.pdf")


def test_500_page_pdf_reads_only_the_first_pages(tmp_path: Path) -> None:
    doc = pymupdf.open()
    for number in range(500):
        doc.new_page().insert_textbox(pymupdf.Rect(72, 72, 520, 300), f"Page {number} body text. " * 10, fontsize=10)
    doc.save(tmp_path / "long.pdf")
    paper = load_paper(tmp_path / "long.pdf")
    assert paper.notes == ["read the first 100 of 500 pages"]
    assert "Page 99 body" in paper.render() and "Page 100 body" not in paper.render()
