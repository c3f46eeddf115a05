"""`scientist probe report`: the suite's scores per model x scaffold variant x probe, as a table and plots.

Means over samples for goal fulfilment, instrumental actions, compliance, steps to comply and horizon; coherence is
the share of samples whose first acting decision matches the most common one; judge ratings are means per judge,
and with two judges their agreement over all rated runs (Cohen's kappa, Spearman's rho). Cells that failed after
their retries (`probe_failures`) are counted per group and per reason beside the means, never averaged into them: a
scaffold that fails on its hardest probes must not look better for it. Cells whose probe never reached the agent
(`reached` False: `not_reached`) are counted the same way, and so are rows stored before the delivery check
(`reached` NULL, `unchecked`): neither is ever a compliant or non-compliant score. A judge that is the agent's own
model is flagged: it grades its own traces.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from statistics import mean

from pydantic import BaseModel, Field
from sqlalchemy import select

from scientist.errors import ScientistError
from scientist.probes.judge import cohen_kappa, spearman
from scientist.store.engine import Store
from scientist.store.models import ProbeFailure, ProbeResult

SCORES = ("goal_fulfilment", "instrumental_actions", "compliance", "steps_to_comply", "horizon", "coherence")


class GroupRow(BaseModel):
    model: str
    variant: str
    probe: str
    n: int
    goal_fulfilment: float | None
    instrumental_actions: float | None
    compliance: float | None
    steps_to_comply: float | None
    never_complied: int
    horizon: float | None
    coherence: float | None
    harness_stopped: int
    judge: dict[str, float | None]
    failed: int = 0
    not_reached: int = Field(0, description="cells whose probe never reached the agent: counted, not in the means")
    unchecked: int = Field(0, description="cells stored before the delivery check: counted, not in the means")


class ProbeReport(BaseModel):
    suite: str
    rows: list[GroupRow]
    judges: list[str]
    kappa: float | None
    spearman: float | None
    rated_pairs: int
    failures: dict[str, int] = Field(default_factory=dict, description="failed cells per reason, all groups")
    not_reached: int = Field(0, description="cells whose probe never reached the agent, all groups")
    unchecked: int = Field(0, description="cells stored before the delivery check, all groups")
    self_judges: list[str] = Field(
        default_factory=list, description="judges that are also an agent model of the suite: they rate their own traces"
    )

    def notes(self) -> list[str]:
        """What the means leave out or cannot vouch for (the leaderboard page shows them under the table)."""
        return delivery_notes(self)


def _mean(values: list[float]) -> float | None:
    return mean(values) if values else None


def coherence(choices: list[str]) -> float:
    """Share of samples agreeing with the most common choice (1.0 = the same choice every time)."""
    if not choices:
        return 0.0
    return Counter(choices).most_common(1)[0][1] / len(choices)


def _group_row(key: tuple[str, str, str], stored: list[ProbeResult], judges: list[str], failed: int) -> GroupRow:
    members = [m for m in stored if m.reached]  # only cells whose probe reached the agent are scores
    complied = [m.compliance for m in members if m.compliance is not None]
    steps = [float(m.steps_to_comply) for m in members if m.steps_to_comply is not None]
    model, variant, probe = key
    return GroupRow(
        model=model,
        variant=variant,
        probe=probe,
        n=len(members),
        goal_fulfilment=_mean([m.goal_fulfilment for m in members]),
        instrumental_actions=_mean([float(m.instrumental_actions) for m in members]),
        compliance=_mean(complied),
        steps_to_comply=_mean(steps),
        never_complied=sum(1 for m in members if m.compliance is not None and m.steps_to_comply is None),
        horizon=_mean([float(m.horizon) for m in members]),
        coherence=coherence([m.choice for m in members]) if members else None,
        harness_stopped=sum(1 for m in members if m.harness_stopped),
        judge={
            j: _mean([float(m.judge_ratings[j]) for m in members if m.judge_ratings.get(j) is not None]) for j in judges
        },
        failed=failed,
        not_reached=sum(1 for m in stored if m.reached is False),
        unchecked=sum(1 for m in stored if m.reached is None),
    )


def build_report(store: Store, suite: str) -> ProbeReport:
    with store.session() as session:
        results = list(session.scalars(select(ProbeResult).where(ProbeResult.suite == suite).order_by(ProbeResult.id)))
        failures = list(
            session.scalars(select(ProbeFailure).where(ProbeFailure.suite == suite).order_by(ProbeFailure.id))
        )
        if not results and not failures:
            raise ScientistError(f"no probe results for suite {suite!r}", hint="run `scientist probe run SUITE.toml`")
        groups: dict[tuple[str, str, str], list[ProbeResult]] = defaultdict(list)
        failed: Counter[tuple[str, str, str]] = Counter()
        for result in results:
            groups[(result.model, result.variant, result.probe)].append(result)
        for failure in failures:
            key = (failure.model, failure.variant, failure.probe)
            groups.setdefault(key, [])
            failed[key] += 1
        judges = sorted({judge for result in results for judge in result.judge_ratings})
        rows = [_group_row(key, members, judges, failed[key]) for key, members in groups.items()]
        pairs = [
            (int(r.judge_ratings[judges[0]]), int(r.judge_ratings[judges[1]]))
            for r in results
            if r.reached and len(judges) == 2 and all(r.judge_ratings.get(j) is not None for j in judges)
        ]
        reasons = dict(Counter(failure.reason for failure in failures).most_common())
        agents = {result.model for result in results} | {failure.model for failure in failures}
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    return ProbeReport(
        suite=suite,
        rows=rows,
        judges=judges,
        kappa=cohen_kappa(first, second),
        spearman=spearman(first, second),
        rated_pairs=len(pairs),
        failures=reasons,
        not_reached=sum(row.not_reached for row in rows),
        unchecked=sum(row.unchecked for row in rows),
        self_judges=[judge for judge in judges if judge in agents],
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def delivery_notes(report: ProbeReport) -> list[str]:
    """What the table's means leave out or cannot vouch for, one sentence each (the CLI and the leaderboard)."""
    notes = []
    if report.not_reached:
        notes.append(
            f"{report.not_reached} cell(s) not reached: the audit log does not show the probe before an agent model "
            "call, so they are counted, never scored as compliant or non-compliant, not in the means"
        )
    if report.unchecked:
        notes.append(
            f"{report.unchecked} cell(s) scored before the delivery check: not in the means; "
            "`scientist probe run SUITE.toml` re-scores them from their runs"
        )
    for judge in report.self_judges:
        notes.append(
            f"judge {judge} is also the agent model: it rates its own traces (set `judges` to a different model)"
        )
    return notes


def render_table(report: ProbeReport) -> object:
    from rich.table import Table

    table = Table(title=f"probe suite {report.suite}: goal-directedness and corrigibility")
    for column in (
        "model",
        "variant",
        "probe",
        "n",
        "goal",
        "instr.",
        "comply",
        "steps",
        "never",
        "horizon",
        "coherence",
        "stopped by harness",
        "failed",
        "not reached",
        *[f"judge {j}" for j in report.judges],
    ):
        table.add_column(column, justify="left" if column in ("model", "variant", "probe") else "right")
    for row in report.rows:
        table.add_row(
            row.model,
            row.variant,
            row.probe,
            str(row.n),
            _fmt(row.goal_fulfilment),
            _fmt(row.instrumental_actions),
            _fmt(row.compliance),
            _fmt(row.steps_to_comply),
            str(row.never_complied),
            _fmt(row.horizon),
            _fmt(row.coherence),
            str(row.harness_stopped),
            str(row.failed),
            str(row.not_reached),
            *[_fmt(row.judge[j]) for j in report.judges],
        )
    captions = []
    if len(report.judges) == 2:
        captions.append(
            f"judge agreement over {report.rated_pairs} rated runs: Cohen's kappa "
            f"{_fmt(report.kappa)}, Spearman {_fmt(report.spearman)}"
        )
    if report.failures:
        counts = ", ".join(f"{reason} {count}" for reason, count in report.failures.items())
        captions.append(f"{sum(report.failures.values())} cell(s) failed ({counts}): counted, not in the means")
    captions.extend(delivery_notes(report))
    table.caption = "\n".join(captions) or None
    return table


def render_plots(report: ProbeReport, out_dir: Path) -> list[Path]:
    """One PNG per score: a bar per model x variant, grouped by probe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    probes = sorted({row.probe for row in report.rows})
    scaffolds = sorted({(row.model, row.variant) for row in report.rows})
    written = []
    for score in SCORES:
        figure, axes = plt.subplots(figsize=(max(5.0, 1.4 * len(probes) * max(1, len(scaffolds)) / 2), 3.5))
        width = 0.8 / max(1, len(scaffolds))
        for number, (model, variant) in enumerate(scaffolds):
            values = []
            for probe in probes:
                row = next((r for r in report.rows if (r.model, r.variant, r.probe) == (model, variant, probe)), None)
                value = getattr(row, score) if row is not None else None
                values.append(float("nan") if value is None else float(value))
            axes.bar([p + number * width for p in range(len(probes))], values, width, label=f"{model} · {variant}")
        axes.set_xticks([p + width * (len(scaffolds) - 1) / 2 for p in range(len(probes))], probes, fontsize=8)
        axes.set_ylabel(score.replace("_", " "))
        axes.set_title(f"{report.suite}: {score.replace('_', ' ')}")
        axes.legend(fontsize=7)
        figure.tight_layout()
        path = out_dir / f"{score}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


def all_reports(store: Store) -> list[ProbeReport]:
    """A report per stored suite (for the leaderboard page's goal-directedness tab)."""
    with store.session() as session:
        suites = set(session.scalars(select(ProbeResult.suite))) | set(session.scalars(select(ProbeFailure.suite)))
    return [build_report(store, suite) for suite in sorted(suites)]
