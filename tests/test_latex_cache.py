"""The LaTeX compile cache (paper/latex.py): the same inputs give the earlier PDF without running TeX; any input
changed, a failure, an oversized folder or the cache switched off compile for real."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scientist.paper import latex
from scientist.paper.latex import CompileResult, compile_tex

pytestmark = [
    pytest.mark.latex,
    pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed"),
]

TEX = r"""\documentclass{article}
\usepackage{graphicx}
\begin{document}
Cached or not \cite{k}.
\includegraphics[width=1cm]{fig.png}
\bibliographystyle{plain}
\bibliography{references}
\end{document}
"""
BIB = "@misc{k, title={A title}, author={A. Author}, year={2024}}\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "latex-cache"
    monkeypatch.setenv(latex.CACHE_ENV, str(folder))
    return folder


def paper(folder: Path, *, figure: bytes | None = None, bib: str = BIB) -> Path:
    from tests.test_writeup import png

    folder.mkdir(parents=True)
    (folder / "paper.tex").write_text(TEX, encoding="utf-8")
    (folder / "references.bib").write_text(bib, encoding="utf-8")
    png(folder / "fig.png")
    if figure is not None:
        (folder / "fig.png").write_bytes((folder / "fig.png").read_bytes() + figure)  # same image, other bytes
    return folder / "paper.tex"


def compiled(tex: Path) -> CompileResult:
    result = compile_tex(tex, timeout_s=120)
    assert result.ok and result.pdf is not None and result.pdf.read_bytes().startswith(b"%PDF"), result.errors
    return result


def test_the_same_inputs_elsewhere_get_the_earlier_pdf_without_tex(tmp_path: Path, cache: Path) -> None:
    first = compiled(paper(tmp_path / "a"))
    assert not first.cached and (tmp_path / "a" / "paper.aux").is_file()  # TeX ran
    again = compiled(paper(tmp_path / "b"))
    assert again.cached and again.engine == first.engine
    assert again.pdf is not None and first.pdf is not None and again.pdf.read_bytes() == first.pdf.read_bytes()
    assert not (tmp_path / "b" / "paper.aux").exists()  # TeX did not run: only the PDF and its log were copied
    assert (tmp_path / "b" / "paper.log").is_file()
    # a stale PDF in the folder is never the answer: it is removed before the lookup, then replaced
    stale = compiled(tmp_path / "b" / "paper.tex")
    assert stale.cached and stale.pdf is not None and stale.pdf.read_bytes() == first.pdf.read_bytes()


@pytest.mark.parametrize("change", ["figure", "bib", "tex"])
def test_any_input_changed_compiles_for_real(tmp_path: Path, cache: Path, change: str) -> None:
    compiled(paper(tmp_path / "a"))
    tex = paper(
        tmp_path / "b",
        figure=b"\0" if change == "figure" else None,
        bib=BIB.replace("A title", "Another title") if change == "bib" else BIB,
    )
    if change == "tex":
        tex.write_text(TEX.replace("Cached or not", "Changed"), encoding="utf-8")
    assert not compiled(tex).cached and (tmp_path / "b" / "paper.aux").is_file()


def test_a_symlinked_figure_counts_by_its_targets_bytes(tmp_path: Path, cache: Path) -> None:
    """`paper compile` on a folder whose figure is a link to a run's plot: a new plot behind the same link is a new
    paper, never the earlier PDF."""
    from tests.test_writeup import png

    plot = tmp_path / "run" / "fig.png"
    plot.parent.mkdir()
    png(plot)
    tex = paper(tmp_path / "a")
    (tex.parent / "fig.png").unlink()
    (tex.parent / "fig.png").symlink_to(plot)
    assert not compiled(tex).cached
    assert compiled(tex).cached  # the same target: the same paper
    plot.write_bytes(plot.read_bytes() + b"\0")
    assert not compiled(tex).cached


def test_a_failure_is_never_cached(tmp_path: Path, cache: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    tex = broken / "paper.tex"
    tex.write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n", encoding="utf-8")
    for _ in range(2):
        result = compile_tex(tex, timeout_s=60)
        assert not result.ok and not result.cached and "Undefined control sequence" in result.errors[0].message
    assert not cache.exists() or not [entry for entry in cache.iterdir() if not entry.name.startswith(".")]


def test_off_and_oversized_folders_compile_every_time(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled(paper(tmp_path / "a"))
    monkeypatch.setattr(latex, "_KEY_MAX_FILES", 2)  # the paper folder holds three inputs
    assert not compiled(paper(tmp_path / "b")).cached
    monkeypatch.undo()
    monkeypatch.setenv(latex.CACHE_ENV, "off")
    assert latex.latex_cache_dir() is None
    assert not compiled(paper(tmp_path / "c")).cached


def test_the_cache_keeps_only_the_newest_entries(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latex, "_CACHE_ENTRIES", 2)
    for index in range(3):
        tex = paper(tmp_path / str(index))
        tex.write_text(TEX.replace("Cached or not", f"Paper {index}"), encoding="utf-8")
        compiled(tex)
    assert len([entry for entry in cache.iterdir() if not entry.name.startswith(".")]) == 2
