"""A `StudyReport` as Markdown (with PNG plots beside it) and as one self-contained HTML page (inline SVG plots)."""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scientist.study.report import StudyReport

PLOTS = ("quality_vs_k", "score_distribution", "cost_vs_quality")


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"


def _figures(report: StudyReport) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, Any] = {}
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for v in report.variants:
        ks = [p.k for p in v.curve]
        ax.plot(ks, [p.mean for p in v.curve], marker="o", label=v.variant)
        if all(p.ci_low is not None and p.ci_high is not None for p in v.curve):
            ax.fill_between(ks, [p.ci_low or 0.0 for p in v.curve], [p.ci_high or 0.0 for p in v.curve], alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (best of k runs)")
    ax.set_ylabel(f"E[max of k] {report.metric}")
    ax.set_title("quality vs k (95% bootstrap CI)", fontsize=9)
    ax.legend(fontsize=8)
    figures["quality_vs_k"] = fig

    fig, ax = plt.subplots(figsize=(6, 3.2))
    if report.variants:
        ax.boxplot([v.scores for v in report.variants], showmeans=True)
        for i, v in enumerate(report.variants, 1):
            ax.scatter([i] * len(v.scores), v.scores, s=12, alpha=0.6)
        ax.set_xticks(range(1, len(report.variants) + 1), [v.variant for v in report.variants])
    ax.set_ylabel(report.metric)
    ax.set_title("score distribution per variant (one point per run)", fontsize=9)
    figures["score_distribution"] = fig

    fig, ax = plt.subplots(figsize=(6, 3.6))
    dollars = any(v.mean_usd > 0 for v in report.variants)  # USD where the runs' prices are known, else tokens
    for v in report.variants:
        per_run = v.mean_usd if dollars else v.mean_tokens
        ax.plot([p.k * per_run for p in v.curve], [p.mean for p in v.curve], marker="o", label=v.variant)
    ax.set_xlabel("USD spent (k x mean cost per run)" if dollars else "tokens spent (k x mean tokens per run)")
    ax.set_ylabel(f"E[max of k] {report.metric}")
    ax.set_title("cost vs quality frontier", fontsize=9)
    ax.legend(fontsize=8)
    figures["cost_vs_quality"] = fig
    for figure in figures.values():
        figure.tight_layout()
    return figures


def _save_all(report: StudyReport, save: Callable[[str, Any], None]) -> None:
    import matplotlib.pyplot as plt

    for name, fig in _figures(report).items():
        save(name, fig)
        plt.close(fig)


def markdown(report: StudyReport, plots: dict[str, str] | None = None) -> str:
    """The report as Markdown; `plots` maps plot names to the image paths to reference."""
    lines = [f"# Study report: {report.name}", ""]
    status = ", ".join(f"{count} {name}" for name, count in sorted(report.cell_status.items()))
    judge = report.judge or "no judge recorded"
    kind = (f"the judge's `{report.metric}` score ({judge}; the same for every variant)" if report.score == "judge"
            else f"each run's own review's `{report.metric}` score (self-grading)")  # fmt: skip
    failed = "left out" if report.failed_score is None else f"counted as {report.failed_score:g}"
    lines += [f"Cells: {status}. Quality = {kind}. Failed or unscored runs are {failed} in the pools.", ""]
    if report.registered_at:
        lines += [f"Pre-registered {report.registered_at} (study file, judge, code version, hypotheses)"
                  + (f"; {len(report.amendments)} amendment(s) since:" if report.amendments else "; no amendments."),
                  ""]  # fmt: skip
        lines += [f"- amendment {when}: {what}" for when, what in report.amendments]
        if report.amendments:
            lines.append("")
    if report.hypotheses:
        lines += ["## Pre-registered hypotheses (variant minus baseline, paired by run)", "",
                  "| hypothesis | comparison | expected | pairs | estimate | 95% CI | p (permutation) | verdict |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for h in report.hypotheses:
            c = h.comparison
            numbers = (f"{c.mean_diff:.3f} | {_ci(c.ci_low, c.ci_high)} | {c.p_value:.3g}" if c is not None
                       else "- | - | -")  # fmt: skip
            lines.append(f"| {h.name} | {h.variant} - {h.baseline} | {h.direction} | {h.pairs} | {numbers} |"
                         f" {h.verdict} |")  # fmt: skip
        lines.append("")
    for key, error in report.failed_cells:
        lines.append(f"- failed cell `{key}`: {error}")
    lines += [f"- note: {note}" for note in report.notes]
    lines.append("")
    for name in PLOTS:
        if plots and name in plots:
            lines += [f"![{name}]({plots[name]})", ""]
    for v in report.variants:
        rate = "-" if v.success_rate is None else f"{v.success_rate:.0%}"
        lines += [f"## {v.variant}", "",
                  f"{v.successes} scored, {v.failures} failed or unscored, {v.pending} pending of {v.runs} runs"
                  f" (success rate {rate}); {len(v.scores)} in the pool; mean tokens per run {v.mean_tokens:,.0f}.",
                  "", "| k | E[max of k] | 95% CI | variance | skewness | over successes only |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        success = {p.k: p for p in v.success_curve}
        for point in v.curve:
            only = success.get(point.k)
            beside = (f"{only.mean:.3f} {_ci(only.ci_low, only.ci_high)}" if only is not None
                      else f"only {v.successes} scored runs")  # fmt: skip
            lines.append(f"| {point.k} | {point.mean:.3f} | {_ci(point.ci_low, point.ci_high)} |"
                         f" {point.variance:.3f} | {_num(point.skewness)} | {beside} |")  # fmt: skip
        lines += ["", f"Log-k fit: {v.fit_note}.", ""]
    if report.cells:
        lines += ["## Success rate per cell", "",
                  "| cell | runs | scored | failed | pending | success rate | best-of-n over successes |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for row in report.cells:
            rate = "-" if row.success_rate is None else f"{row.success_rate:.0%}"
            best = _num(row.best_of_n) if row.best_of_n is not None else row.note
            lines.append(f"| `{row.key}` | {row.runs} | {row.successes} | {row.failures} | {row.pending} | {rate} |"
                         f" {best} |")  # fmt: skip
        lines.append("")
    if report.gaps:
        lines += ["## Self-grading gap (own review minus the judge's, paired by run)", "",
                  "| model | variant | runs | mean self | mean judge | gap | 95% CI | p (permutation) |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for gap in report.gaps:
            if gap.comparison is None:
                lines.append(f"| {gap.model} | {gap.variant} | {gap.pairs} | {gap.note} | | | | |")
                continue
            g = gap.comparison
            lines.append(f"| {gap.model} | {gap.variant} | {gap.pairs} | {g.mean_a:.3f} | {g.mean_b:.3f} |"
                         f" {g.mean_diff:.3f} | {_ci(g.ci_low, g.ci_high)} | {g.p_value:.3g} |")  # fmt: skip
        lines.append("")
    axes = {"tokens": ("token", "tokens", "{:,.0f}"), "usd": ("dollar", "USD", "${:.4f}"),
            "wall_s": ("wall-time", "active wall time", "{:.1f} s")}  # fmt: skip
    for m in [*report.matched, *report.matched_usd, *report.matched_wall]:
        name, unit, fmt = axes[m.axis]
        lines += [f"## {m.variant} vs plain best-of-n at the same {name} budget", "",
                  f"Mean {unit} per run: {m.variant} {fmt.format(m.mean_tokens)}, plain"
                  f" {fmt.format(m.plain_mean_tokens)}.", "",
                  f"| {m.variant} k | {unit} | {m.variant} | plain k | plain | difference | note |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in m.rows:
            lines.append(
                f"| {r.k} | {fmt.format(r.budget_tokens)} | {r.quality:.3f} {_ci(r.ci_low, r.ci_high)} |"
                f" {r.plain_k if r.plain_k is not None else '-'} |"
                f" {_num(r.plain_quality)} {_ci(r.plain_ci_low, r.plain_ci_high)} | {_num(r.difference)} | {r.note} |"
            )
        lines.append("")
    if report.components:
        lines += ["## Components at matched compute (one run with the component vs best-of-k' without it)", "",
                  "Each component's effect on the quality of one run, against the variant without it given the same"
                  " mean tokens (best-of-k' from its own pool); add: `<base>+C` vs `<base>`, drop: `<base>` vs"
                  " `<base>-C`. CIs: 95% bootstrap (each side's best-of-k CI, and the difference over both pools).",
                  "", "| component | test | with | tokens | quality | without | tokens | k' | best-of-k' | effect |"
                  " 95% CI | note |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for comp in report.components:
            lines.append(
                f"| {comp.component} | {comp.test} | {comp.with_variant} | {comp.with_tokens:,.0f} | {comp.quality:.3f}"
                f" {_ci(comp.ci_low, comp.ci_high)} | {comp.without_variant} | {comp.without_tokens:,.0f} |"
                f" {comp.matched_k if comp.matched_k is not None else '-'} |"
                f" {_num(comp.matched_quality)} {_ci(comp.matched_ci_low, comp.matched_ci_high)} |"
                f" {_num(comp.effect)} | {_ci(comp.effect_ci_low, comp.effect_ci_high)} | {comp.note} |"
            )
        lines.append("")
    if report.paired:
        lines += ["## Paired comparisons with plain (same topic, template, model, seed and sample)", "",
                  "| variant | pairs | mean difference | 95% CI | p (permutation) | Cohen's dz | Cliff's delta |"
                  " wins/ties/losses |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for p in report.paired:
            c = p.comparison
            if c is None:
                lines.append(f"| {p.variant} | {p.pairs} | {p.note} | | | | | |")
                continue
            lines.append(
                f"| {p.variant} | {p.pairs} | {c.mean_diff:.3f} | {_ci(c.ci_low, c.ci_high)} | {c.p_value:.3g} |"
                f" {_num(c.cohens_dz)} | {c.cliffs_delta:.3f} | {c.wins}/{c.ties}/{c.losses} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(report: StudyReport, out_dir: Path) -> Path:
    """report.md plus one PNG per plot in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}

    def save(name: str, fig: Any) -> None:
        fig.savefig(out_dir / f"{name}.png", dpi=110, metadata={"Software": None})
        plots[name] = f"{name}.png"

    _save_all(report, save)
    path = out_dir / "report.md"
    path.write_text(markdown(report, plots), encoding="utf-8")
    return path


def write_html(report: StudyReport, out: Path) -> Path:
    """One self-contained page: the Markdown's tables as HTML, plots inline as SVG, nothing fetched."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page_html(report), encoding="utf-8")
    return out


def body_html(report: StudyReport) -> str:
    """The report's body: its heading, the plots inline as SVG, then the Markdown's tables and notes as HTML (the
    web app's study page shows the same)."""
    svgs: dict[str, str] = {}

    def save(name: str, fig: Any) -> None:
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
        text = buffer.getvalue()
        svgs[name] = text[text.index("<svg") :]

    _save_all(report, save)
    body = []
    for block in markdown(report).split("\n\n"):
        body.append(_block_html(block))
    figures = "\n".join(f'<figure id="{name}">{svgs[name]}</figure>' for name in PLOTS if name in svgs)
    return f"{body[0]}\n{figures}\n" + "\n".join(body[1:])


def page_html(report: StudyReport) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Study report: {html.escape(report.name)}</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}figure{margin:1em 0}</style></head><body>\n"
        f"{body_html(report)}\n</body></html>\n"
    )


def _inline(text: str) -> str:
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def _block_html(block: str) -> str:
    lines = [line for line in block.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("#"):
        level = len(lines[0]) - len(lines[0].lstrip("#"))
        head = f"<h{level}>{_inline(lines[0].lstrip('#').strip())}</h{level}>"
        return head + ("\n" + _block_html("\n".join(lines[1:])) if len(lines) > 1 else "")
    if lines[0].startswith("|"):
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not line.startswith("|---")]
        head = "".join(f"<th>{_inline(cell)}</th>" for cell in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if lines[0].startswith("- "):
        return "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines) + "</ul>"
    if lines[0].startswith("!["):
        return ""
    return "<p>" + _inline(" ".join(lines)) + "</p>"
