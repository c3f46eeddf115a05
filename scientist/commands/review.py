"""`scientist review FILE` and `scientist calibrate reviewer`: the automated reviewer from the command line.

Register in `scientist.cli` with `app.add_typer(review.app)` (no name): that adds the `review` command and the
`calibrate` group at the top level. Heavy imports (litellm, pymupdf, numpy, scipy) happen inside the commands.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scientist.audit import events as audit_events
from scientist.commands.options import (
    BudgetTokensOption,
    MaxFailuresOption,
    MaxTokensOption,
    ModelOption,
    RepairRetriesOption,
    ReseedOption,
    RetryFailedOption,
    TemperatureOption,
    batch_policy,
)

if TYPE_CHECKING:
    from rich.console import Console

    from scientist.batch import BatchPolicy
    from scientist.llm.gateway import LLMGateway
    from scientist.reviews.calibrate import CalibrationReport, RuleMetrics
    from scientist.reviews.form import EnsembleReview
    from scientist.reviews.metrics import Estimate
    from scientist.reviews.reviewer import ReviewOptions

app = typer.Typer(help="Review papers with the automated reviewer, and calibrate it.", no_args_is_help=True)
calibrate_app = typer.Typer(help="Measure automated judges against human decisions.", no_args_is_help=True)
app.add_typer(calibrate_app, name="calibrate")

EnsembleOption = Annotated[int, typer.Option("--ensemble", "-e", min=1, max=16, help="Independent reviewers")]
ReflectionsOption = Annotated[int, typer.Option("--reflections", "-r", min=0, max=5, help="Self-revision rounds")]
FewshotOption = Annotated[int, typer.Option("--fewshot", min=0, max=8, help="Human example reviews in the prompt")]
BudgetOption = Annotated[float | None, typer.Option("--budget-usd", help="Hard USD cap for this command")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "x"


def _gateway(
    out_dir: Path,
    model: str | None,
    budget_usd: float | None,
    repair_retries: int | None = None,
    budget_tokens: int | None = None,
) -> LLMGateway:
    from scientist.audit.log import AuditLog
    from scientist.config import load_settings
    from scientist.llm.gateway import LLMGateway, check_model

    settings = load_settings(
        model=model, budget_usd=budget_usd, budget_tokens=budget_tokens, repair_retries=repair_retries
    )
    check_model(settings)
    return LLMGateway(settings, AuditLog(out_dir))


def _options(**values: Any) -> ReviewOptions:
    from scientist.reviews.reviewer import ReviewOptions

    return ReviewOptions(**{key: value for key, value in values.items() if value is not None})


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


# -- scientist review FILE|DIR ----------------------------------------------------------------------------------------
PAPER_SUFFIXES = (".pdf", ".tex", ".md", ".markdown")


@app.command()
def review(
    file: Annotated[
        Path,
        typer.Argument(help="The paper (.pdf, LaTeX .tex or Markdown .md), or a folder of them to review each"),
    ],
    ensemble: EnsembleOption = 1,
    reflections: ReflectionsOption = 0,
    fewshot: FewshotOption = 2,
    model: ModelOption = None,
    temperature: TemperatureOption = None,
    repair_retries: RepairRetriesOption = None,
    max_tokens: MaxTokensOption = None,
    max_paper_chars: Annotated[
        int | None, typer.Option("--max-paper-chars", min=500, help="Cap on the paper text (whole sections)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the review(s) and the audit log (default: a new one; a folder of papers resumes in"
            " scientist-reviews/<folder>)",
        ),
    ] = None,
    budget_usd: BudgetOption = None,
    budget_tokens: BudgetTokensOption = None,
    max_failures: MaxFailuresOption = None,
    retry_failed: RetryFailedOption = False,
    reseed: ReseedOption = False,
    as_json: JsonOption = False,
) -> None:
    """Review a paper: M independent reviews with R reflection rounds each, aggregated, plus a meta-review.

    Given a folder, reviews every paper in it (resumable; a paper that fails is recorded and the rest go on)."""
    if file.is_dir():
        policy = batch_policy(max_failures, retry_failed, reseed)
        out_dir = out or Path("scientist-reviews") / _slug(file.resolve().name)
        gateway = _gateway(out_dir, model, budget_usd, repair_retries, budget_tokens)
        options = _options(
            ensemble=ensemble,
            reflections=reflections,
            fewshot=fewshot,
            temperature=temperature,
            max_paper_chars=max_paper_chars or gateway.limits_for("review").review_paper_chars,
            max_tokens=max_tokens or gateway.limits_for("review").review_max_tokens,
        )
        _review_folder(gateway, file, out_dir, options, policy, as_json)
        return
    from scientist.reviews.paper import load_paper
    from scientist.reviews.reviewer import review_ensemble

    paper = load_paper(file)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = out or Path("scientist-reviews") / f"{_slug(file.stem)}-{stamp}"
    gateway = _gateway(out_dir, model, budget_usd, repair_retries, budget_tokens)
    options = _options(
        ensemble=ensemble,
        reflections=reflections,
        fewshot=fewshot,
        temperature=temperature,
        max_paper_chars=max_paper_chars or gateway.limits_for("review").review_paper_chars,
        max_tokens=max_tokens or gateway.limits_for("review").review_max_tokens,
    )
    err = _console(stderr=True)
    calls = ensemble * (1 + reflections) + (1 if ensemble > 1 else 0)
    with err.status(f"[bold cyan]review[/] {file.name}: up to {calls} model calls with {gateway.settings.model}"):
        result = review_ensemble(gateway, paper, options)
    (out_dir / "review.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _print_review(_console(), result)
    err.print(f"saved {out_dir / 'review.json'} (audit log: {out_dir / 'audit.jsonl'})", soft_wrap=True)


def _check_batch_settings(out_dir: Path, settings: dict[str, Any]) -> None:
    """A folder's reviews are resumed only with the settings they were made with (else mixed results)."""
    import json

    from scientist.errors import ConfigError

    path = out_dir / "batch.json"
    if path.exists() and (out_dir / "results.jsonl").exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        changed = [key for key in settings if stored.get(key) != json.loads(json.dumps(settings[key]))]
        if changed:
            raise ConfigError(
                f"{out_dir} holds reviews made with other settings (changed: {', '.join(changed)})",
                hint="pass --out to use another folder, or the settings they were made with",
            )
    path.write_text(json.dumps(settings, indent=2, sort_keys=True), encoding="utf-8")


def _review_folder(
    gateway: LLMGateway, folder: Path, out_dir: Path, options: ReviewOptions, policy: BatchPolicy, as_json: bool
) -> None:
    """`review DIR`: one review per paper file (scientist.batch policy), a results.jsonl line per paper."""
    from scientist.batch import ItemFailure, ResultsFile, run_batch
    from scientist.reviews.form import FolderReview
    from scientist.reviews.paper import PaperReadError, load_paper
    from scientist.reviews.reviewer import review_ensemble

    papers = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in PAPER_SUFFIXES)
    if not papers:
        raise PaperReadError(
            f"no paper files ({', '.join(PAPER_SUFFIXES)}) in {folder}", hint="pass a folder of papers or one file"
        )
    (out_dir / "reviews").mkdir(parents=True, exist_ok=True)
    results = ResultsFile(out_dir / "results.jsonl", FolderReview)
    _check_batch_settings(out_dir, {"model": gateway.settings.model, "options": options.model_dump()})
    done, failed = results.load()

    def review_one(path: Path, seed_offset: int) -> FolderReview:
        saved = gateway.settings
        if seed_offset:
            gateway.settings = saved.model_copy(update={"seed": saved.seed + seed_offset})
        try:
            result = review_ensemble(gateway, load_paper(path), options)
        finally:
            gateway.settings = saved
        target = out_dir / "reviews" / f"{_slug(path.stem)}.json"
        target.write_text(result.model_dump_json(indent=2), encoding="utf-8")
        return FolderReview(
            id=path.name,
            decision=result.form.decision,
            overall=result.form.overall,
            reviewers=len(result.reviews),
            failures=result.failures,
            review_file=str(target.relative_to(out_dir)),
            seed_offset=seed_offset,
        )

    def failed_one(path: Path, failure: ItemFailure) -> None:
        results.append(failure)
        if gateway.audit is not None:
            gateway.audit.emit(audit_events.BatchItemFailed(batch="review", **failure.model_dump()), "review")

    err = _console(stderr=True)
    with err.status(f"[bold cyan]review[/] {folder}") as status:

        def progress(index: int, total: int, path: Path) -> None:
            status.update(f"[bold cyan]review[/] paper {index}/{total}: {path.name}")

        summary = run_batch(
            papers,
            key=lambda path: path.name,
            work=review_one,
            done=done,
            failed=failed,
            policy=policy,
            label="review",
            on_done=lambda path, result: results.append(result),
            on_failed=failed_one,
            on_start=progress,
        )
    done, _ = results.load()
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    from rich.table import Table

    from scientist.display import safe

    table = Table("paper", "decision", "overall", "reviewers", title=f"{len(done)} review(s), {gateway.settings.model}")
    for path in papers:
        if path.name in done:
            row = done[path.name]
            table.add_row(safe(row.id), row.decision, str(row.overall), str(row.reviewers))
    _console().print(table)
    for line in summary.lines():
        err.print(line, highlight=False, markup=False, soft_wrap=True)
    err.print(f"saved {out_dir / 'results.jsonl'} (audit log: {out_dir / 'audit.jsonl'})", soft_wrap=True)


def _print_review(console: Console, result: EnsembleReview) -> None:
    from rich.panel import Panel
    from rich.table import Table

    from scientist.display import safe

    form = result.form
    colour = "green" if form.decision == "accept" else "red"
    heading = f"[bold]{safe(result.paper.title or 'untitled')}[/]  decision: [{colour}]{safe(form.decision)}[/]"
    if len(result.reviews) > 1:
        heading += f" ({result.decision_source}; {result.accept_votes}/{len(result.reviews)} reviewers accept)"
    console.print(heading)
    table = Table("score", "mean", "median", "std", "range", title=f"{len(result.reviews)} review(s), {result.model}")
    for name, stats in result.scores.items():
        table.add_row(name, f"{stats.mean:.2f}", f"{stats.median:g}", f"{stats.std:.2f}", f"{stats.min}-{stats.max}")
    console.print(table)
    console.print(Panel(safe(form.summary), title="summary"))
    for label, items in (("strengths", form.strengths), ("weaknesses", form.weaknesses), ("questions", form.questions)):
        if items:
            console.print(f"[bold]{label}[/]")
            for item in items:
                console.print(f"  • {safe(item)}")
    console.print(f"[bold]limitations[/] {safe(form.limitations)}")
    if result.meta is not None and result.meta.form.disagreements:
        console.print("[bold]disagreements[/]")
        for item in result.meta.form.disagreements:
            console.print(f"  • {safe(item)}")
    if result.injection_flags:
        flags = Table("kind", "where", "excerpt", "action", title="[yellow]text aimed at the reviewer[/]")
        for flag in result.injection_flags:
            flags.add_row(flag.kind, safe(flag.location), safe(flag.excerpt), flag.action)
        console.print(flags)
    if result.paper.omitted:
        console.print(f"[dim]left out to fit the model: {safe('; '.join(result.paper.omitted))}[/]")
    for failure in result.failures:
        console.print(f"[yellow]failed:[/] {safe(failure)}")


# -- scientist calibrate reviewer -------------------------------------------------------------------------------------
@calibrate_app.command("reviewer")
def calibrate_reviewer(
    dataset: Annotated[
        Path | None,
        typer.Option("--dataset", help="JSONL: id, title, abstract, text, accepted[, human_recommendations]"),
    ] = None,
    model: ModelOption = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Use the first N valid papers")] = None,
    ensemble: EnsembleOption = 2,
    reflections: ReflectionsOption = 0,
    fewshot: FewshotOption = 2,
    temperature: TemperatureOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Results folder (resumed if it exists; default from dataset+model)")
    ] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Discard results already in --out")] = False,
    resamples: Annotated[int, typer.Option("--resamples", min=0, help="Bootstrap resamples for the CIs")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed")] = 0,
    budget_usd: BudgetOption = None,
    budget_tokens: BudgetTokensOption = None,
    repair_retries: RepairRetriesOption = None,
    max_tokens: MaxTokensOption = None,
    max_failures: MaxFailuresOption = None,
    retry_failed: RetryFailedOption = False,
    reseed: ReseedOption = False,
    as_json: JsonOption = False,
) -> None:
    """Review every paper of a labelled set and report how well decisions and scores track acceptance.

    Reports both decision rules (the form's Decision field, and mean Overall >= a fixed threshold), a ranking ROC AUC
    on the continuous mean Overall, Spearman with the mean human score, Krippendorff's alpha inside the ensemble and
    a one-human baseline, with bootstrap CIs. A killed calibration resumes from its --out folder. A paper the model
    cannot review is recorded as failed and the rest go on; the report shows metrics on the reviewed papers and
    with failures counted as rejections.
    """
    from scientist.reviews.calibrate import (
        SHIPPED_DATASET,
        build_report,
        calibrate_batch,
        load_dataset,
    )

    policy = batch_policy(max_failures, retry_failed, reseed)

    path = dataset or SHIPPED_DATASET
    papers, bad_lines = load_dataset(path)
    err = _console(stderr=True)
    for bad in bad_lines:
        err.print(f"[yellow]skipped[/] {path}:{bad.line}: {bad.error}", highlight=False, soft_wrap=True)
    papers = papers[:limit] if limit else papers
    from scientist.config import load_settings

    model_name = load_settings(model=model).model
    out_dir = out or Path("scientist-calibration") / f"{_slug(path.stem)}-{_slug(model_name)}"
    gateway = _gateway(out_dir, model, budget_usd, repair_retries, budget_tokens)
    options = _options(
        ensemble=ensemble, reflections=reflections, fewshot=fewshot, temperature=temperature, max_tokens=max_tokens
    )
    with err.status("[bold cyan]calibrate[/] starting") as status:

        def progress(index: int, total: int, paper: Any) -> None:
            status.update(f"[bold cyan]calibrate[/] paper {index}/{total}: {paper.title[:60]}")

        run = calibrate_batch(
            gateway, path, papers, options, out_dir, restart=restart, progress=progress, policy=policy
        )
    if not run.results:
        from scientist.batch import BatchStoppedError

        raise BatchStoppedError(
            f"no paper could be reviewed: {run.summary.lines()[0]}",
            hint=f"see {out_dir / 'results.jsonl'}; try a stronger --model, more --max-tokens or --repair-retries,"
            " then run again with --retry-failed",
        )
    results = run.results
    threshold = float(gateway.settings.review_accept_threshold)
    report = build_report(
        results,
        dataset=str(path),
        model=gateway.settings.model,
        options=options,
        threshold=threshold,
        resamples=resamples,
        seed=seed,
        skipped_lines=bad_lines,
        failed=run.failed,
    )
    (out_dir / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    _print_report(_console(), report)
    for line in run.summary.lines()[:1]:
        err.print(line, highlight=False, markup=False, soft_wrap=True)
    err.print(f"saved {out_dir / 'report.json'}", soft_wrap=True)


def _fmt(estimate: Estimate | None) -> str:
    if estimate is None or estimate.value is None:
        return "n/a"
    if estimate.ci_low is None or estimate.ci_high is None:
        return f"{estimate.value:.3f}"
    return f"{estimate.value:.3f} [{estimate.ci_low:.3f}, {estimate.ci_high:.3f}]"


def _print_leniency(console: Console, report: CalibrationReport) -> None:
    """Is the reviewer harsher or kinder than the humans, and on which papers does it disagree most."""
    from rich.markup import escape
    from rich.table import Table

    lenient = report.leniency
    if lenient is None:
        return
    console.print(
        f"Leniency on {lenient.n} papers with human scores: reviewer mean Overall {_fmt(lenient.reviewer_mean)},"
        f" human mean {_fmt(lenient.human_mean)}, gap {_fmt(lenient.gap)} (> 0: kinder than the humans)"
    )
    console.print(
        f"Accept rate at >= {report.threshold:g}: reviewer {_fmt(lenient.reviewer_accept_rate)}, humans"
        f" {_fmt(lenient.human_accept_rate)}, actually accepted {lenient.true_accept_rate:.3f}"
    )
    if report.disagreements:
        table = Table("paper", "accepted", "reviewer", "human mean", "gap", title="largest disagreements with humans")
        for paper in report.disagreements:
            table.add_row(escape(paper.id), "yes" if paper.accepted else "no", f"{paper.reviewer_overall:.2f}",
                          f"{paper.human_mean:.2f}", f"{paper.gap:+.2f}")  # fmt: skip
        console.print(table)


def _print_report(console: Console, report: CalibrationReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    console.print(
        f"[bold]{report.model}[/] on {report.n_papers} papers ({report.n_accepted} accepted, {report.n_rejected}"
        f" rejected): {report.n_reviewed} reviewed, {report.n_failed} failed; ensemble {report.ensemble},"
        f" reflections {report.reflections}; 95% bootstrap CIs ({report.resamples} resamples)"
    )
    if report.n_failed:
        reasons = ", ".join(f"{reason} {count}" for reason, count in report.failures_by_reason.items())
        console.print(f"[yellow]could not review {report.n_failed} paper(s):[/] {reasons}", highlight=False)
    table = Table("rule", "n", "accuracy", "balanced acc.", "F1", "FPR", "FNR")
    rows: list[RuleMetrics] = [
        *report.rules,
        *report.rules_failures_as_reject,
        *([report.human_baseline] if report.human_baseline else []),
    ]
    for rule in rows:
        table.add_row(
            rule.rule,
            str(rule.n),
            *(_fmt(getattr(rule, name)) for name in ("accuracy", "balanced_accuracy", "f1", "fpr", "fnr")),
        )
    console.print(table)
    console.print(f"ROC AUC of mean Overall (continuous): {_fmt(report.roc_auc)}")
    if report.roc_auc_failures_as_reject is not None:
        console.print(f"ROC AUC with failures scored lowest: {_fmt(report.roc_auc_failures_as_reject)}")
    console.print(f"Spearman with mean human recommendation (n={report.n_with_humans}): {_fmt(report.spearman_human)}")
    console.print(f"Krippendorff's alpha (interval) inside the ensemble: {_fmt(report.krippendorff_alpha)}")
    _print_leniency(console, report)
    for bad in report.skipped_lines:
        console.print(f"[yellow]skipped line {bad.line}:[/] {bad.error}")
    for failure in report.failures:
        console.print(f"[yellow]failed:[/] {failure}")
    for paper in report.failed_papers:
        console.print(f"[yellow]not reviewed:[/] {escape(f'{paper.id}: [{paper.reason}] {paper.error}')}")


# -- scientist calibrate injection ------------------------------------------------------------------------------------
@calibrate_app.command("injection")
def calibrate_injection(
    cases: Annotated[
        Path, typer.Option("--cases", help="Case folder: cases.toml ([[case]] id, file, injected, style) + papers")
    ],
    model: ModelOption = None,
    check_role: Annotated[
        str,
        typer.Option(
            "--check-role",
            help="Whose model runs the check: review (the review role's) or judge (the judge role's)",
        ),
    ] = "review",
    max_passages: Annotated[
        int | None,
        typer.Option(
            "--max-passages", min=1, help="Passages classified per paper (default: review_injection_check_max)"
        ),
    ] = None,
    patterns_only: Annotated[bool, typer.Option("--patterns-only", help="Measure the pattern filter alone")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for report.json and the audit log (default: from cases+model)")
    ] = None,
    budget_usd: BudgetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure the reviewer's injection defence on labelled papers: detection and false alarm rates with Wilson 95 %
    CIs, for the pattern filter alone and for patterns + the model check (review_injection_check)."""
    from scientist.audit.log import AuditLog
    from scientist.config import load_settings
    from scientist.errors import ConfigError
    from scientist.llm.gateway import LLMGateway, check_model
    from scientist.reviews.injection_eval import evaluate_cases, format_report

    if check_role not in ("review", "judge"):
        raise ConfigError(f"--check-role {check_role!r} is not a role the check can use", hint="pass review or judge")
    gateway = None
    if not patterns_only:
        settings = load_settings(
            model=model,
            budget_usd=budget_usd,
            review_injection_check=check_role,
            review_injection_check_max=max_passages,
        )
        check_model(settings)
        name = settings.model_for("judge" if check_role == "judge" else "review")
        out_dir = out or Path("scientist-calibration") / f"injection-{_slug(cases.resolve().name)}-{_slug(name)}"
        gateway = LLMGateway(settings, AuditLog(out_dir))
    else:
        out_dir = out or Path("scientist-calibration") / f"injection-{_slug(cases.resolve().name)}-patterns"
    err = _console(stderr=True)
    with err.status(f"[bold cyan]calibrate injection[/] {cases}"):
        report = evaluate_cases(cases, gateway)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    typer.echo(format_report(report))
    err.print(f"saved {out_dir / 'report.json'}", soft_wrap=True)
