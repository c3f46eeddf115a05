"""The leaderboard as one static, self-contained HTML page: sortable tables, an inline SVG plot, relative links.

Links are relative to the page's folder (run folders are referenced by path), so the page plus the runs it
points at can be copied together and still work; nothing is fetched from the network.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from scientist.leaderboard.board import Leaderboard
from scientist.probes.report import ProbeReport
from scientist.reviews.form import score_scale
from scientist.runs import RunFolder
from scientist.store.queries import RunScore


def _link(target: Path, page_dir: Path) -> str:
    return quote(Path(os.path.relpath(target, page_dir)).as_posix())


def run_links(run: RunScore, href: Callable[[Path], str | None]) -> dict[str, str]:
    """name -> href of a run's run.json, paper and review; `href` maps a file to its link (None: not linkable)."""
    folder = Path(run.run_dir)
    files = {"run": RunFolder(folder).run_file}
    if run.paper_path:
        files["paper"] = folder / run.paper_path
    if run.review_path:
        files["review"] = folder / run.review_path
    return {name: link for name, path in files.items() if (link := href(path)) is not None}


def plot_svg(board: Leaderboard) -> str:
    """Mean with its 95 % CI per entry; flagged entries drawn red and hatched. Returns an inline <svg> element."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = board.entries
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(entries) + 2), 3.2))
    xs = range(len(entries))
    lows = [e.mean - e.ci_low if e.ci_low is not None else 0.0 for e in entries]
    highs = [e.ci_high - e.mean if e.ci_high is not None else 0.0 for e in entries]
    colours = ["#c0392b" if e.flagged_runs else "#2c7fb8" for e in entries]
    bars = ax.bar(xs, [e.mean for e in entries], yerr=[lows, highs], capsize=4, color=colours)
    for bar, e in zip(bars, entries, strict=True):
        if e.flagged_runs:
            bar.set_hatch("//")
    ax.set_xticks(list(xs), [e.key for e in entries], rotation=20, ha="right", fontsize=8)
    scale = score_scale(board.metric)
    if scale is not None:  # a form score: the form's whole scale (1-10 for overall), never matplotlib's from-0 axis
        ax.set_ylim(scale[0] - 0.5, scale[1] + 0.5)
        ax.set_yticks(list(range(scale[0], scale[1] + 1)))
        ax.set_ylabel(f"{board.metric} ({scale[0]}-{scale[1]})")
    else:
        ax.set_ylabel(board.metric)
    ax.set_title(f"{board.metric} by {board.by} (mean, 95% CI; red = monitor flags)", fontsize=9)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def page_html(
    board: Leaderboard,
    href: Callable[[Path], str | None],
    *,
    title: str = "scientist leaderboard",
    where: str = "",
    home: str | None = None,
    probes: list[ProbeReport] | None = None,
) -> str:
    """The page as a string (autoescaped); `href` links run files, `home` adds a link back (the web app's),
    `probes` fill the goal-directedness tab."""
    from datetime import UTC, datetime

    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("scientist.leaderboard", "templates"), autoescape=select_autoescape(default=True)
    )
    return env.get_template("leaderboard.html.j2").render(
        title=title,
        board=board,
        where=where,
        home=home,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        plot=plot_svg(board) if board.entries else "",
        links={run.run_id: run_links(run, href) for e in board.entries for run in e.runs},
        probes=probes or [],
    )


def render(
    board: Leaderboard,
    out: Path,
    *,
    title: str = "scientist leaderboard",
    where: str = "",
    probes: list[ProbeReport] | None = None,
) -> Path:
    """Write the page to `out` (its folder is created); returns the path."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    page = page_html(board, lambda path: _link(path, out.parent), title=title, where=where, probes=probes)
    out.write_text(page, encoding="utf-8")
    return out
