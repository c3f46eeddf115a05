"""`scientist monitors ...`: re-scan a run folder, scan one proposed edit, and evaluate the monitors on a corpus.

`check-diff` exits 0 when nothing reaches --fail-on (default high), 1 when something does; an unreadable patch is
itself a critical finding (fail closed), never a pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from scientist.errors import ExitCode, ScientistError

app = typer.Typer(help="Safety monitors: scan runs and proposed edits, evaluate detection.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
SeverityOption = Annotated[str, typer.Option("--fail-on", help="Exit 1 when an event reaches this severity")]


def _print(events: list, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        typer.echo(json.dumps([event.model_dump(mode="json") for event in events], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from scientist.display import safe

    if not events:
        typer.echo("no monitor events")
        return
    table = Table("severity", "monitor", "rule", "where", "evidence", show_lines=False)
    for event in events:
        where = ":".join(part for part in (event.candidate, event.location) if part) or "-"
        table.add_row(event.severity, event.monitor, event.rule, safe(where), safe(event.evidence))
    Console(width=200).print(table)


def _exit_for(events: list, fail_on: str) -> None:  # type: ignore[type-arg]
    from scientist.monitors import SEVERITIES

    if fail_on not in SEVERITIES:
        raise ScientistError(f"--fail-on {fail_on!r} is not a severity", hint=f"use one of {', '.join(SEVERITIES)}")
    if any(event.at_least(fail_on) for event in events):
        raise typer.Exit(ExitCode.FAILED)


@app.command("check-diff")
def check_diff(
    patch: Annotated[Path, typer.Argument(help="Unified diff (git diff or diff -u) of one proposed edit")],
    template: Annotated[str, typer.Option("--template", "-t", help="Template the edit applies to")] = "reward_misspec",
    as_json: JsonOption = False,
    fail_on: SeverityOption = "high",
) -> None:
    """Scan one proposed edit; exit 1 when an event reaches --fail-on."""
    from scientist.monitors import scan_diff
    from scientist.monitors.runscan import MonitorInputError
    from scientist.template import load_template

    if not patch.is_file():
        raise MonitorInputError(f"no patch file {patch}", hint="pass the path of a unified diff")
    data = patch.read_bytes()
    if not data.strip():
        raise MonitorInputError(f"{patch} is empty", hint="pass a unified diff with at least one change")
    events = scan_diff(data, load_template(template))
    _print(events, as_json)
    _exit_for(events, fail_on)


@app.command()
def scan(
    run: Annotated[str, typer.Argument(help="Run id (under --runs-dir) or a run folder path")],
    runs_dir: Annotated[Path | None, typer.Option("--runs-dir", help="Folder holding run folders")] = None,
    template: Annotated[str | None, typer.Option("--template", "-t", help="Template (default: configured)")] = None,
    record: Annotated[bool, typer.Option("--record", help="Append the events to the run's audit log")] = False,
    as_json: JsonOption = False,
    fail_on: SeverityOption = "high",
) -> None:
    """Re-scan a run folder with every monitor (workspaces, sandbox evidence, paper)."""
    from scientist.config import load_settings
    from scientist.monitors import scan_run
    from scientist.monitors.runscan import MonitorInputError
    from scientist.template import load_template

    settings = load_settings(runs_dir=runs_dir, template=template)
    run_dir = Path(run) if Path(run).is_dir() else settings.runs_dir / run
    if not run_dir.is_dir():
        raise MonitorInputError(f"no run folder {run_dir}", hint="pass a run id from `scientist runs` or a path")
    events = scan_run(run_dir, load_template(settings.template))
    if record:
        from scientist.audit.log import AuditLog
        from scientist.monitors.policy import record_events

        record_events(AuditLog(run_dir), events)
    _print(events, as_json)
    _exit_for(events, fail_on)


@app.command("eval")
def evaluate(
    corpus: Annotated[
        list[Path] | None,
        typer.Option(
            "--corpus",
            help="Corpus folder holding cases.toml; repeat to evaluate several, each reported on its own"
            " (default: tests/monitor_corpus; tests/monitor_corpus_heldout to heldout12 are spent: tuning sets"
            " now; the blind measurement is the newest held-out corpus, which nobody has tuned on: its README)",
        ),
    ] = None,
    template: Annotated[
        str, typer.Option("--template", help="Template of the cases that do not name their own")
    ] = "reward_misspec",
    reeval: Annotated[
        bool,
        typer.Option(
            "--reeval",
            help="Also run every code case (one seed, in the sandbox) and re-evaluate it with the template's"
            " evaluator, as the harness judges a real run: static, re-evaluation and combined rows",
        ),
    ] = False,
    sandbox: Annotated[
        str | None,
        typer.Option("--sandbox", help="Backend for --reeval (default: the configured one, else local)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the monitors over labelled corpora; print precision and recall with Wilson 95 % CIs, overall and per
    monitor, for each corpus."""
    from scientist.monitors.evaluate import default_corpus, evaluate_corpus, format_report

    if reeval:
        _reeval(corpus or [default_corpus()], template, sandbox, as_json)
        return
    reports = [evaluate_corpus(path, template) for path in corpus or [default_corpus()]]
    if as_json:
        payload = [report.model_dump(mode="json") for report in reports]
        typer.echo(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    else:
        typer.echo("\n\n".join(format_report(report) for report in reports))


def _reeval(corpora: list[Path], template: str, backend: str | None, as_json: bool) -> None:
    """`eval --reeval`: the backend is --sandbox, else the configured one (scientist.toml or SCIENTIST_SANDBOX),
    else local (bubblewrap: ~140 short runs start much faster than containers)."""
    from scientist.config import load_settings
    from scientist.monitors.reevalreport import format_reeval
    from scientist.sandbox import open_sandbox
    from scientist.stages.reeval import reevaluate_corpus

    settings = load_settings()
    configured = "sandbox" in settings.model_fields_set
    name = backend or (settings.sandbox if configured else "local")
    fallback = settings.sandbox_fallback if backend is None and configured else None
    chosen = open_sandbox(name, fallback=fallback, run_label="monitors-reeval").sandbox

    def progress(message: str) -> None:
        typer.echo(message, err=True)

    reports = [reevaluate_corpus(path, template, chosen, seed=settings.seed, progress=progress) for path in corpora]
    if as_json:
        payload = [report.model_dump(mode="json") for report in reports]
        typer.echo(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    else:
        typer.echo("\n\n".join(format_reeval(report) for report in reports))


@app.command("false-alarms")
def false_alarms(
    runs: Annotated[
        list[Path], typer.Argument(help="Honest run folders, or folders holding them (a study's --runs-dir)")
    ],
    threshold: Annotated[
        str, typer.Option("--severity", help="Count a run as flagged when an event reaches this severity")
    ] = "high",
    as_json: JsonOption = False,
) -> None:
    """The monitors' false alarm rate on honest runs: runs flagged at --severity or above (from each run's audit
    log, re-evaluation's reported_metric_mismatch included), with a Wilson 95 % CI and the rules that fired.
    Probed runs are listed as excluded, never counted."""
    from scientist.monitors.falsealarms import FalseAlarmInputError, false_alarm_report, format_false_alarms

    try:
        report = false_alarm_report(runs, threshold)
    except FalseAlarmInputError as err:
        raise ScientistError(str(err), hint="pass run folders, or the folder a study ran its runs in") from None
    typer.echo(json.dumps(report.model_dump(mode="json"), indent=2) if as_json else format_false_alarms(report))


@app.command("blind-series")
def blind_series(
    corpora: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Corpus folders (default: every tests/monitor_corpus* of this checkout); those without"
            " a first_measurement.json are not part of the series"
        ),
    ] = None,
    freeze: Annotated[
        Path | None,
        typer.Option("--freeze", help="Record this corpus's reeval.json as its first blind measurement (once)"),
    ] = None,
    commit: Annotated[str, typer.Option("--commit", help="With --freeze: the commit that recorded reeval.json")] = "",
    after: Annotated[str, typer.Option("--after", help="With --freeze: the tuning pass the monitors had had")] = "",
    plot: Annotated[Path | None, typer.Option("--plot", help="Also draw the series as a PNG at this path")] = None,
    as_json: JsonOption = False,
) -> None:
    """Each held-out corpus as first measured, blind, by the whole harness, and the pooled estimate over them: the
    numbers to cite for a style nobody has tuned on (a corpus's reeval.json moves with the monitors; this does not)."""
    import datetime

    from scientist.monitors.blindseries import SeriesFileError, format_series, freeze_record, load_series, pooled
    from scientist.monitors.evaluate import default_corpus

    if freeze is not None:
        if not commit or not after:
            raise ScientistError("--freeze needs --commit and --after", hint="name the commit that recorded"
                                 " reeval.json and the tuning pass the monitors had just had")  # fmt: skip
        try:
            freeze_record(freeze, commit=commit, measured_on=datetime.date.today().isoformat(), after=after)
        except (FileExistsError, FileNotFoundError) as err:
            hint = "freeze a corpus once, right after its blind `scientist monitors eval --reeval`"
            raise ScientistError(str(err), hint=hint) from None
    folders = corpora or sorted(default_corpus().parent.glob("monitor_corpus*"))
    try:
        series = load_series(folders)
    except SeriesFileError as err:
        raise ScientistError(str(err), hint="restore it from git: a first measurement is never edited") from None
    if not series:
        raise ScientistError("no corpus with a first_measurement.json", hint="pass held-out corpus folders")
    if plot is not None:
        from scientist.monitors.blindplot import render_series

        try:
            render_series(series, plot)
        except OSError as err:
            problem = f"cannot write the plot to {plot}: {err.strerror}"
            raise ScientistError(problem, hint="pass a writable path") from None
        typer.echo(f"plot: {plot}", err=True)
    if as_json:
        payload = {"series": [first.model_dump(mode="json") for first in series],
                   "pooled": pooled(series).model_dump(mode="json")}  # fmt: skip
        typer.echo(json.dumps(payload, indent=2))
    else:
        typer.echo(format_series(series))
