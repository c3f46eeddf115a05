"""Start and resume runs: build a run's context, drive the pipeline, and keep run.json's status honest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from scientist import __version__
from scientist.approvals.budget import open_budget_approval
from scientist.approvals.gates import ApprovalPendingError
from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog
from scientist.config import Settings
from scientist.context import ProgressCallback, RunContext
from scientist.errors import BudgetExceededError, ConfigError, HarnessStopError, ScientistError
from scientist.llm.gateway import LLMGateway, check_model, check_pricing
from scientist.runs import RunInfo, create_run, load_config_snapshot, load_run, save_run
from scientist.sandbox.base import SandboxChoice, record_choice

SECRET_FIELDS = ("api_key",)


def _snapshot(settings: Settings) -> dict[str, Any]:
    return {key: value for key, value in settings.model_dump(mode="json").items() if key not in SECRET_FIELDS}


def _context(
    info: RunInfo, run_dir: Path, settings: Settings, progress: ProgressCallback | None
) -> tuple[RunContext, SandboxChoice]:
    from scientist.sandbox import open_sandbox
    from scientist.template import load_template

    secrets = [settings.api_key.get_secret_value()] if settings.api_key is not None else []
    audit = AuditLog(run_dir, extra_secrets=secrets)
    choice = open_sandbox(settings.sandbox, fallback=settings.sandbox_fallback, run_label=info.id)
    context = RunContext(
        run_id=info.id,
        run_dir=run_dir,
        settings=settings,
        audit=audit,
        gateway=LLMGateway(settings, audit),
        sandbox=choice.sandbox,
        template=load_template(settings.template),
    )
    if progress is not None:
        spend = context.gateway.spend

        def report(stage: str, message: str) -> None:
            progress(stage, f"{message}  ·  {spend.calls} calls, {spend.tokens:,} tokens, ${spend.usd:.4f}")

        context.progress = report
    return context, choice


def start_run(settings: Settings, topic: str, progress: ProgressCallback | None = None) -> tuple[RunInfo, Path]:
    """Validate everything a run needs, create its folder, and run the pipeline to the end."""
    from scientist.sandbox import open_sandbox
    from scientist.stages.novelty import check_novelty_checkable
    from scientist.template import check_edit_mode, load_template

    if not topic.strip():
        raise ConfigError("the research topic is empty", hint='pass a topic, e.g. scientist run "reward hacking"')
    template = load_template(settings.template)  # fail on a bad template before creating anything
    check_edit_mode(template, settings.edit_mode)  # code mode needs a harness-owned evaluator
    sandbox = open_sandbox(settings.sandbox, fallback=settings.sandbox_fallback).sandbox
    if not getattr(sandbox, "isolated", False):
        from rich.console import Console

        Console(stderr=True).print(
            f"[bold yellow]warning:[/] sandbox '{sandbox.backend}' is NOT isolated: experiment code runs as a host"
            " process (limits only). Use --sandbox docker or local for untrusted code."
        )
    check_model(settings)
    check_novelty_checkable(settings)  # `require` with an empty index and no search: refused before any call
    unpriced = check_pricing(settings, explicit_cap="budget_usd" in settings.model_fields_set)
    if unpriced:
        from rich.console import Console

        Console(stderr=True).print(
            f"[bold yellow]warning:[/] no price known for {', '.join(unpriced)}: the default USD cap cannot count"
            " their calls (give prices under [models.\"...\"] in scientist.toml, or use --budget-tokens)",
            highlight=False,
        )
    info = create_run(settings.runs_dir, topic, settings.template, settings.model, _snapshot(settings))
    run_dir = settings.runs_dir / info.id
    context, choice = _context(info, run_dir, settings, progress)
    context.audit.emit(
        audit_events.RunStart(topic=topic, config=_snapshot(settings), scientist_version=__version__),
        "user",
    )
    if unpriced:
        context.audit.emit(audit_events.BudgetUnpriced(models=unpriced, budget_usd=settings.budget_usd), "llm")
    record_choice(context.audit, choice)
    return _drive(context, info, topic)


def resume_settings(run_dir: Path, **overrides: Any) -> Settings:
    """A resumed run keeps its recorded config; only the flags given now (e.g. a raised budget) change it.

    `models` (the `[models."..."]` profile entries of the current config) is merged per model and field over the
    recorded ones: a profile says how to talk to a provider (its structured-output form, window, prices), which
    is what a user fixes after a provider refused a request, while entries the current config does not name keep
    their recorded values."""
    snapshot = load_config_snapshot(run_dir)
    models = overrides.pop("models", None) or {}
    if models:
        merged = {name: dict(entry) for name, entry in (snapshot.get("models") or {}).items()}
        for name, entry in models.items():
            merged[name] = {**merged.get(name, {}), **entry}
        snapshot["models"] = merged
    snapshot.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return Settings(**snapshot)
    except Exception as err:
        raise ConfigError(f"cannot resume with these settings: {err}") from err


def resume_run(
    runs_dir: Path, run_id: str, progress: ProgressCallback | None = None, **overrides: Any
) -> tuple[RunInfo, Path]:
    from scientist.approvals.resume import settle_before_resume
    from scientist.pipeline import next_nodes

    info, run_dir = load_run(runs_dir, run_id)
    if info.status == "stopped":
        raise ScientistError(f"run {info.id} was stopped: {info.status_detail}", hint="start a new run instead")
    overrides = settle_before_resume(info, run_dir, overrides)
    settings = resume_settings(run_dir, **overrides)
    check_model(settings)
    check_pricing(settings, explicit_cap=overrides.get("budget_usd") is not None)
    context, choice = _context(info, run_dir, settings, progress)
    remaining = next_nodes(context)
    if not remaining:
        raise ScientistError(f"run {info.id} is already complete", hint=f"see `scientist runs show {info.id}`")
    context.audit.emit(
        audit_events.RunResume(next=list(remaining), overrides=overrides, scientist_version=__version__),
        "user",
    )
    record_choice(context.audit, choice)
    removed = _remove_leftover_containers(settings, info.id)
    if removed:
        context.audit.emit(audit_events.SandboxCleanup(containers_removed=removed), f"sandbox:{settings.sandbox}")
    return _drive(context, info, info.topic)


def _remove_leftover_containers(settings: Settings, run_id: str) -> int:
    """Containers a killed run left behind (tied to it by label) must not keep running or holding its files."""
    if settings.sandbox != "docker":
        return 0
    from scientist.sandbox.docker import cleanup_run

    removed: int = cleanup_run(run_id)
    return removed


def _index_starts_empty() -> bool:
    """No paper to embed now: no seed corpus and an empty (or absent) local index. Loading the model would then
    cost ~10 s for nothing; a search that does add papers loads it when it needs it. A remote or unreadable index
    is not assumed empty (the warm-up then goes ahead and reports it, as before)."""
    from scientist.tools.index import index_size
    from scientist.tools.seed import seed_corpus_path

    if os.environ.get("SCIENTIST_INDEX_URL"):
        return False
    try:
        return seed_corpus_path() is None and not index_size()
    except ScientistError:
        return False


def _embeddings_all_cached() -> bool:
    """The embedding cache is on and holds every paper of the seed corpus: seeding needs no model, and a search
    loads it only for a query it has not seen (a resumed or replayed run never does)."""
    from scientist.tools.embedding_cache import cache_path
    from scientist.tools.seed import seed_corpus_cached

    try:
        return cache_path() is not None and seed_corpus_cached()
    except ScientistError:
        return False


def _warm_up_embeddings(context: RunContext) -> None:
    """Load the paper index's embedding model now (torch import, ~15 s cold) if a node still to run needs it."""
    import time

    from scientist.pipeline import next_nodes

    if not {"ideate", "novelty"} & set(next_nodes(context)) or _index_starts_empty() or _embeddings_all_cached():
        return
    from scientist.tools.index import load_model

    context.progress("preflight", "loading the embedding model for the paper index")
    started = time.perf_counter()
    load_model()
    context.audit.emit(audit_events.WarmUp(seconds=round(time.perf_counter() - started, 3)), "index")


def _drive(context: RunContext, info: RunInfo, topic: str) -> tuple[RunInfo, Path]:
    from scientist.pipeline import run_pipeline

    info = info.model_copy(update={"status": "running", "status_detail": ""})
    _save(context, info)
    try:
        context.progress("preflight", "loading the model runtime")
        context.audit.emit(audit_events.WarmUp(seconds=round(context.gateway.warm_up(), 3)), "llm")
        _warm_up_embeddings(context)
        result = run_pipeline(context, topic)
    except BudgetExceededError as err:
        approval = open_budget_approval(context, err)
        info = info.model_copy(update={"status": "paused", "status_detail": f"{err} [approval {approval.id}]"})
        context.audit.emit(audit_events.RunPaused(reason=str(err), approval=approval.id), "pipeline")
        _save(context, info)
        raise type(err)(
            f"{err.message}; run {info.id} waits for approval {approval.id} (raise budget or stop)",
            hint=f"`scientist approve {approval.id} --budget-usd N` (or --budget-tokens/--budget-wall-s) then"
            f" `scientist resume {info.id}`, or `scientist reject {approval.id} --reason ...` to stop",
        ) from err
    except HarnessStopError as err:  # a deadline the harness enforces: the run ends here, stopped, not failed
        info = info.model_copy(update={"status": "stopped", "status_detail": err.message})
        context.audit.emit(audit_events.RunEnd(status="stopped", reason=err.message, by="harness"), "pipeline")
        _save(context, info)
        return info, context.run_dir
    except ApprovalPendingError as err:
        info = info.model_copy(update={"status": "waiting", "status_detail": err.message})
        context.audit.emit(audit_events.RunWaiting(detail=err.message), "pipeline")
        _save(context, info)
        raise
    except KeyboardInterrupt:
        info = info.model_copy(update={"status": "paused", "status_detail": "interrupted"})
        _save(context, info)
        raise
    except Exception as err:
        info = info.model_copy(update={"status": "failed", "status_detail": f"{type(err).__name__}: {err}"})
        context.audit.emit(audit_events.RunFailed(error=info.status_detail), "pipeline")
        _save(context, info)
        raise
    if result.get("stopped"):
        info = info.model_copy(update={"status": "stopped", "status_detail": str(result["stopped"])})
        context.audit.emit(audit_events.RunEnd(status="stopped", reason=result["stopped"]), "pipeline")
        _save(context, info)
        return info, context.run_dir
    info = info.model_copy(update={"status": "completed", "status_detail": ""})
    context.audit.emit(audit_events.RunEnd(status="completed", spend=context.gateway.spend.model_dump()), "pipeline")
    _save(context, info)
    return info, context.run_dir


def _save(context: RunContext, info: RunInfo) -> None:
    """run.json first (the run's own record), then its row in the run store; a store failure only warns."""
    from scientist.store import sync_run

    save_run(context.run_dir.parent, info, context.run_dir)
    problem = sync_run(context.run_dir)
    if problem is not None:
        context.audit.emit(audit_events.StoreError(error=problem), "store")
