"""The leaderboard as one static, self-contained HTML page: sortable tables, an inline SVG plot, relative links.

Links are relative to the page's folder (run folders are referenced by path), so the page plus the runs it
points at can be copied together and still work; nothing is fetched from the network.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import quote

from scientist.leaderboard.board import Leaderboard
from scientist.probes.report import ProbeReport
from scientist.store.queries import RunScore


def _link(target: Path, page_dir: Path) -> str:
    return quote(Path(os.path.relpath(target, page_dir)).as_posix())


def _run_links(run: RunScore, page_dir: Path) -> dict[str, str]:
    folder = Path(run.run_dir)
    links = {"run": _link(folder / "run.json", page_dir)}
    if run.paper_path:
        links["paper"] = _link(folder / run.paper_path, page_dir)
    if run.review_path:
        links["review"] = _link(folder / run.review_path, page_dir)
    return links


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
    ax.set_ylabel(board.metric)
    ax.set_title(f"{board.metric} by {board.by} (mean, 95% CI; red = monitor flags)", fontsize=9)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def render(
    board: Leaderboard,
    out: Path,
    *,
    title: str = "scientist leaderboard",
    where: str = "",
    probes: list[ProbeReport] | None = None,
) -> Path:
    """Write the page to `out` (its folder is created); returns the path. `probes` fill the goal-directedness tab."""
    from datetime import UTC, datetime

    from jinja2 import Environment, PackageLoader, select_autoescape

    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    env = Environment(loader=PackageLoader("scientist.leaderboard", "templates"), autoescape=select_autoescape())
    page = env.get_template("leaderboard.html.j2").render(
        title=title,
        board=board,
        where=where,
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        plot=plot_svg(board) if board.entries else "",
        links={run.run_id: _run_links(run, out.parent) for e in board.entries for run in e.runs},
        probes=probes or [],
    )
    out.write_text(page, encoding="utf-8")
    return out
