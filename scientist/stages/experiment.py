"""Experiment: a baseline run, then the agent's edit→run→fix runs (linear or best-first tree), all in the sandbox.

`run_planned` runs ONE planned run from start to finish (workspace from the parent's code, the model's
search/replace edits, the sandbox run, up to F fixes fed with the error) and `sandbox_run` is the single place a
command enters the sandbox: approval gates belong before `run_planned`'s sandbox calls, monitors after
`sandbox_run`. Which runs are planned (K in a row, or a tree) is `scientist.stages.search`'s job.

Each planned run is finished work once its `result.json` exists, so a resumed run skips it instead of running it
twice; a half-done run (no `result.json`) is discarded and redone. When no edited run works (a weak model often
writes unusable edits), a config-only variant from a schema-constrained plan keeps the comparison alive.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from scientist.audit import events as audit_events
from scientist.context import RunContext
from scientist.prompts import render
from scientist.records import ExperimentResult
from scientist.runs import RunFolder, run_relative, run_relative_logs
from scientist.sandbox import Limits, RunResult
from scientist.sandbox.final_info import FINAL_INFO, load_final_info, record_metrics
from scientist.sandbox.reader import RunOutputError, copy_regular_files, remove_tree
from scientist.stages.search import PlannedRun
from scientist.template import Template
from scientist.tools.edit import apply_edits, feedback, unified_diff

OUT_DIR = "out"
CONFIG_FILE = "config.json"
CODE_DIR = "code"
ERROR_TAIL_CHARS = 1200


class VariantPlan(BaseModel):
    """What the agent wants to change, and why. `changes` is typed per template (see `variant_plan_schema`)."""

    rationale: str
    changes: list[Any]


def variant_plan_schema(template: Template) -> type[BaseModel]:
    """A schema whose parameter names are an enum of the template's params, so decoding cannot invent knobs."""
    names = tuple(template.params)
    change = create_model(
        "ParamChange",
        param=(Literal[names], Field(description="Which config parameter to change")),  # type: ignore[arg-type]
        value=(float, Field(description="Its new value")),
    )
    return create_model(
        "VariantPlan",
        rationale=(str, Field(min_length=5, max_length=400, description="Why this change tests the idea")),
        changes=(list[change], Field(min_length=1, max_length=4)),  # type: ignore[valid-type]
    )


def plan_variant(ctx: RunContext, idea: dict[str, Any]) -> dict[str, Any]:
    """Ask the model for a config change that tests the idea; keep only valid params, clamped to their ranges.

    With `plan_n` > 1 the plan is the winner of a best-of-n (see `_best_plan`)."""
    plan_path = ctx.folder.plan
    if plan_path.exists():
        saved: dict[str, Any] = json.loads(plan_path.read_text(encoding="utf-8"))
        return saved
    result = _best_plan(ctx, idea) if ctx.settings.plan_n > 1 else _applied(ctx, _ask_plan(ctx, idea, 0, None))
    RunFolder.write_json(plan_path, result, sort_keys=True, ensure_ascii=True)
    ctx.audit.emit(audit_events.VariantPlan(**result), "agent")
    return result


def _ask_plan(ctx: RunContext, idea: dict[str, Any], index: int, seed: int | None) -> Any:
    return ctx.gateway.structured(
        "plan_variant",
        {"idea": idea, "task_description": ctx.template.task_description, "params": ctx.template.params},
        variant_plan_schema(ctx.template),
        stage="experiment",
        sample_index=index,
        seed=seed,
    )


def _applied(ctx: RunContext, plan: Any) -> dict[str, Any]:
    proposed = {change.param: change.value for change in plan.changes}
    return {"rationale": plan.rationale, "proposed": proposed, "applied": ctx.template.clamp_variant(proposed)}


PLAN_STAGE = "plan"


def _best_plan(ctx: RunContext, idea: dict[str, Any]) -> dict[str, Any]:
    """`plan_n` plans drawn concurrently; `plan_selector = metric` runs each config-only in the sandbox (label
    `plan_<i>`, from the baseline's code) and keeps the best by the template's primary metric. Plans whose run
    monitors flag are excluded (or flagged, by `flagged_candidates`); every plan stays in candidates/plan.json."""
    from scientist.measure.sampling import Sampled
    from scientist.stages import bestofn
    from scientist.stages.search import score as metric_score
    from scientist.stages.tournament import plan_ranker

    def sample(index: int, seed: int) -> Sampled[dict[str, Any]]:
        ctx.progress("experiment", f"plan {index + 1}/{ctx.settings.plan_n}")
        return Sampled(value={"candidate": index, **_applied(ctx, _ask_plan(ctx, idea, index, seed))})

    pool = bestofn.draw(ctx, ctx.settings.plan_n, sample)
    direction = ctx.template.metrics[ctx.template.primary_metric].direction

    def by_metric(plan: dict[str, Any]) -> float:
        label = f"plan_{plan['candidate']}"
        run = PlannedRun(label=label, mode="config", parent="baseline", depth=1, overrides=plan["applied"])
        record = run_planned(ctx, run, idea)
        if not record["ok"]:
            raise RuntimeError(f"{label} failed: {record['failure']}")
        return metric_score(record, direction)

    def scan(plan: dict[str, Any]) -> list[Any]:
        return bestofn.audit_events(ctx, "experiment", f"plan_{plan['candidate']}")

    name = ctx.settings.plan_selector
    selector = bestofn.stage_selector(name, {"metric": by_metric})
    ranker = plan_ranker(ctx, PLAN_STAGE) if name == "tournament" else None
    scored = bestofn.select(ctx, PLAN_STAGE, pool, name, selector, scan=scan, ranker=ranker)
    winner: dict[str, Any] = dict(scored.winner.value or {})
    return {**winner, "selector": scored.selector, "score": scored.winner.score}


def run_experiments(ctx: RunContext, idea: dict[str, Any]) -> list[dict[str, Any]]:
    """Baseline, the searched runs, and the config-only fallback if none of them worked; notes.md throughout.

    Returns every run's record (failed ones too: the paper says what did not work)."""
    from scientist.stages.notes import write_notes
    from scientist.stages.search import search_runs

    baseline = run_planned(ctx, PlannedRun(label="baseline", mode="baseline"), idea)
    records = [baseline]
    search_runs(ctx, baseline, lambda plan: _planned_with_notes(ctx, plan, idea, records))
    if not any(record["ok"] for record in records[1:]):
        ctx.audit.emit(audit_events.ExperimentFallback(reason="no edited run succeeded"), "pipeline")
        overrides = plan_variant(ctx, idea)["applied"]
        fallback = PlannedRun(label="variant", mode="config", parent="baseline", depth=1, overrides=overrides)
        records.append(run_planned(ctx, fallback, idea))
    write_notes(ctx, idea, records)
    return records


def _planned_with_notes(
    ctx: RunContext, plan: PlannedRun, idea: dict[str, Any], records: list[dict[str, Any]]
) -> dict[str, Any]:
    from scientist.stages.notes import write_notes

    if plan.mode == "edit" and ctx.settings.edit_n > 1:
        from scientist.stages.edits import best_edit_run

        record = best_edit_run(ctx, plan, lambda run: run_planned(ctx, run, idea))
    else:
        record = run_planned(ctx, plan, idea)
    records.append(record)
    write_notes(ctx, idea, records)
    return record


# --- one planned run --------------------------------------------------------------------------------------------


def run_planned(ctx: RunContext, plan: PlannedRun, idea: dict[str, Any]) -> dict[str, Any]:
    """Run one planned run to its end and return its record (also written as `result.json`)."""
    run_root = ctx.folder.experiment(plan.label)
    result_path = run_root / RunFolder.RESULT
    if result_path.exists():  # the record as written (its typed view checks it; the stages pass on the dict)
        done = ExperimentResult.read_dict(result_path)
        ctx.audit.emit(audit_events.SandboxRunSkipped(label=plan.label, reason="finished before resume"), "pipeline")
        return done
    if run_root.exists():  # a run killed mid-way: stop its leftovers, and never mix its outputs with the redo
        # (per attempt: the first seed's workspace, further seeds' and the evaluator's, stages.evaluation)
        for pattern in ("attempt_*/workspace", "attempt_*/seed_*/workspace", "attempt_*/eval/seed_*/workspace"):
            for workspace in sorted(run_root.glob(pattern)):
                ctx.sandbox.cleanup(workspace)
        remove_tree(run_root)  # whatever the run left: deep, long-named, linked (never followed)
    start = parent_code(ctx, plan.parent)
    if plan.mode == "edit":
        record = _edit_loop(ctx, plan, idea, run_root, start)
    else:
        code = dict(start)
        if plan.mode == "config" and plan.overrides:
            code[CONFIG_FILE] = _with_overrides(code[CONFIG_FILE], plan.overrides)
        attempt = _attempt(ctx, plan, run_root, 0, code)
        record = _finish(ctx, plan, run_root, start, code, [attempt], failure=_failure(attempt))
    ExperimentResult.checked(record, result_path)  # the written record is one every reader takes
    RunFolder.write_json(result_path, record, sort_keys=True, ensure_ascii=True)
    return record


def _edit_loop(
    ctx: RunContext, plan: PlannedRun, idea: dict[str, Any], run_root: Path, start: dict[str, str]
) -> dict[str, Any]:
    """Ask for edits, apply, run; on unusable edits or a failed run feed the problem back, F times at most."""
    from scientist.stages.evaluation import edit_mode

    template = ctx.template
    mode = edit_mode(ctx)
    editable, protected = template.editable_for(mode), template.protected_for(mode)
    prompt = render("experiment_edit", _prompt_variables(ctx, plan, idea, start, editable, protected))
    code = dict(start)
    extra: list[dict[str, str]] = []
    attempts: list[dict[str, Any]] = []
    for number in range(ctx.settings.fix_attempts + 1):
        ctx.progress("experiment", f"{plan.label}: asking for edits (attempt {number + 1})")
        completion = ctx.gateway.complete(
            prompt,
            extra_messages=extra,
            max_tokens=ctx.gateway.limits_for("experiment").edit_max_tokens,
            sample_index=plan.ordinal,
            seed=plan.seed,
            stage="experiment",
        )
        scratch = run_root / f"attempt_{number}" / "edits"
        _write_code(scratch, code)
        edit = apply_edits(
            scratch,
            completion.text,
            editable=editable,
            protected=[*protected, *template.vendor],  # vendored files: refused as protected, never listed
            audit=ctx.audit,
            context={"label": plan.label, "attempt": number},
        )
        if not edit.applied:
            attempts.append({"attempt": number, "edit": edit.model_dump(mode="json"), "ran": False, "ok": False})
            extra = [
                {"role": "assistant", "content": completion.text[:3000]},
                {"role": "user", "content": feedback(edit) + "\nReply with corrected SEARCH/REPLACE blocks only."},
            ]
            continue
        code = _read_code(scratch, template.editable)
        attempt = _attempt(ctx, plan, run_root, number, code)
        attempt["edit"] = edit.model_dump(mode="json")
        attempts.append(attempt)
        if attempt["ok"]:
            return _finish(ctx, plan, run_root, start, code, attempts, failure=None)
        extra = [
            {"role": "assistant", "content": completion.text[:3000]},
            {"role": "user", "content": _run_feedback(attempt, {p: t for p, t in code.items() if p in editable})},
        ]
    last = attempts[-1]
    failure = (
        _failure(last)
        or "no usable edits: " + "; ".join(problem["message"] for problem in last["edit"]["problems"])[:500]
    )
    failure = f"gave up after {len(attempts)} attempts: {failure}"
    ctx.audit.emit(audit_events.ExperimentRunFailed(label=plan.label, attempts=len(attempts)), "pipeline")
    return _finish(ctx, plan, run_root, start, code, attempts, failure=failure)


def _attempt(ctx: RunContext, plan: PlannedRun, run_root: Path, number: int, code: dict[str, str]) -> dict[str, Any]:
    """A fresh workspace from the template with `code` written over its editable files, run once per seed; with a
    harness-owned evaluator (contract v2) it then grades each seed's artifacts (scientist.stages.evaluation)."""
    from scientist.stages import evaluation

    attempt_root = run_root / f"attempt_{number}"
    seeds = evaluation.run_seeds(ctx)

    def agent_run(workspace: Path, log_dir: Path, seed: int) -> dict[str, Any]:
        return _agent_run(ctx, plan.label, workspace, log_dir, number, code, seed)

    first = agent_run(attempt_root / "workspace", attempt_root / "logs", seeds[0])
    if not evaluation.needs_evaluation(ctx):
        return first
    attempt = evaluation.evaluate_attempt(ctx, plan.label, attempt_root, code, first, agent_run)
    if attempt["ok"] and ctx.template.evaluator is not None:  # the template's own learner on this config as witness
        from scientist.stages.referencerun import check_reference_learner

        check_reference_learner(ctx, plan.label, code, attempt["seeds"], experiment_command)
    return attempt


def _agent_run(
    ctx: RunContext, label: str, workspace: Path, log_dir: Path, number: int, code: dict[str, str], seed: int
) -> dict[str, Any]:
    """One run of the agent's code with one seed. Under contract v1 its final_info.json is the result and must be
    readable; under v2 it is only a claim (the evaluator measures), so the run needs only to exit cleanly."""
    ctx.sandbox.prepare(ctx.template.path, workspace, ctx.template.protected, ctx.template.vendored())
    _write_code(workspace, code)
    result = sandbox_run(ctx, workspace, label, log_dir, attempt=number, seed=seed, config_text=code.get(CONFIG_FILE))
    final_info = workspace / OUT_DIR / FINAL_INFO
    output_error = None
    if result.ok and ctx.template.evaluator is None:
        try:
            load_final_info(workspace, f"{OUT_DIR}/{FINAL_INFO}")
        except RunOutputError as err:  # missing, a FIFO, a link, too big, hostile JSON, wrong types: a failed run
            output_error = str(err)
    return {
        "attempt": number,
        "ran": True,
        "ok": result.ok and output_error is None,
        "output_error": output_error,
        "final_info_path": str(final_info.relative_to(ctx.run_dir)),
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "oom_killed": result.oom_killed,
        "wall_time_s": round(result.wall_time_s, 3),
        "peak_memory_mb": round(result.peak_memory_mb, 1),
        "outputs": [output.model_dump() for output in result.outputs],
        "protected_violations": result.protected_violations,
        "stderr_tail": result.stderr_tail[-2000:],
        "stdout_path": run_relative(ctx.run_dir, result.stdout_path),  # relative: the folder may move
    }


def experiment_command(seed: int) -> list[str]:
    """The agent's experiment command line for one seed (the experiment stage's and the corpus re-evaluation's)."""
    return ["python", "experiment.py", "--out_dir", OUT_DIR, "--config", CONFIG_FILE, "--seed", str(seed)]


def sandbox_run(
    ctx: RunContext,
    workspace: Path,
    label: str,
    log_dir: Path,
    *,
    attempt: int = 0,
    seed: int | None = None,
    config_text: str | None = None,
) -> RunResult:
    """The one place the agent's experiment command runs in the sandbox (and is audited before and after).
    `config_text`: the config.json written into the workspace, kept here as the record of what the run ran with."""
    limits = Limits.for_template(ctx.template)
    command = experiment_command(ctx.settings.seed if seed is None else seed)
    ctx.progress("experiment", f"{label} run in the {ctx.sandbox.backend} sandbox")
    actor = f"sandbox:{ctx.sandbox.backend}"
    ctx.audit.emit(audit_events.SandboxRunStart(label=label, attempt=attempt, command=command), actor)
    result = ctx.sandbox.run(workspace, command, limits, out_dir=OUT_DIR, log_dir=log_dir)
    record = run_relative_logs(ctx.run_dir, result.audit_payload())  # no host path in the log
    ctx.audit.emit(audit_events.SandboxRun(**record, label=label, attempt=attempt), actor)
    from scientist.monitors.hooks import check_sandbox_run  # before result.json: a stopped run is redone on resume

    check_sandbox_run(ctx, f"{label}#{attempt}" if attempt else label, workspace, result, config_text=config_text)
    return result


def _finish(
    ctx: RunContext,
    plan: PlannedRun,
    run_root: Path,
    start: dict[str, str],
    code: dict[str, str],
    attempts: list[dict[str, Any]],
    failure: str | None,
) -> dict[str, Any]:
    """The run's record: the last attempt that ran is the one its numbers (or its failure) come from."""
    _write_code(run_root / CODE_DIR, code)
    template_code = _read_code(ctx.template.path, ctx.template.editable)
    diff = "".join(unified_diff(template_code[path], code[path], path) for path in sorted(code))
    ran = [attempt for attempt in attempts if attempt["ran"]]
    last = ran[-1] if ran else None
    config = _parse_config(code.get(CONFIG_FILE))
    defaults = ctx.template.default_config()
    record: dict[str, Any] = {
        "label": plan.label,
        "mode": plan.mode,
        "parent": plan.parent,
        "depth": plan.depth,
        "ok": bool(last and last["ok"]),
        "failure": failure,
        "config": config,
        "overrides": {key: value for key, value in config.items() if defaults.get(key) != value},
        "code_diff_blob": ctx.audit.put_blob(diff) if diff else None,
        "files_changed": sorted(path for path in code if code[path] != start.get(path)),
        "attempts": attempts,
        # A run whose edits never applied has no outputs; it still names where they would be (ok is False).
        "final_info_path": last["final_info_path"]
        if last
        else str((run_root / "attempt_0" / "workspace" / OUT_DIR / "final_info.json").relative_to(ctx.run_dir)),
        "metric": None,
    }
    if last is not None:
        for key in ("exit_code", "timed_out", "oom_killed", "wall_time_s", "peak_memory_mb", "outputs"):
            record[key] = last[key]
        record["protected_violations"] = last["protected_violations"]
        record["stderr_tail"] = last["stderr_tail"]
        for key in ("seeds", "agent_out", "failed_seed"):  # contract v2 / several seeds (stages.evaluation)
            if key in last:
                record[key] = last[key]
    if record["ok"]:
        record["metric"] = record_metrics(ctx.run_dir, record).get(ctx.template.primary_metric)
    summary = {key: record[key] for key in ("label", "mode", "parent", "ok", "failure", "metric", "files_changed")}
    ctx.audit.emit(
        audit_events.ExperimentRun(**summary, attempts=len(attempts), code_diff_blob=record["code_diff_blob"]),
        "pipeline",
    )
    return record


# --- code state ---------------------------------------------------------------------------------------------


def parent_code(ctx: RunContext, parent: str | None) -> dict[str, str]:
    """The editable files a run starts from: its parent's final code, or the template's."""
    if parent is None:
        return _read_code(ctx.template.path, ctx.template.editable)
    return _read_code(ctx.folder.experiment(parent) / CODE_DIR, ctx.template.editable)


def _read_code(folder: Path, files: list[str]) -> dict[str, str]:
    return {path: (folder / path).read_text(encoding="utf-8") for path in files if (folder / path).is_file()}


def _write_code(folder: Path, code: dict[str, str]) -> None:
    for path, text in code.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _with_overrides(config_text: str, overrides: dict[str, Any]) -> str:
    config = json.loads(config_text)
    config.update(overrides)
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def _parse_config(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return config if isinstance(config, dict) else {}


# --- what the model is shown --------------------------------------------------------------------------------


def _prompt_variables(
    ctx: RunContext,
    plan: PlannedRun,
    idea: dict[str, Any],
    code: dict[str, str],
    editable: list[str],
    protected: list[str],
) -> dict[str, Any]:
    template = ctx.template
    code = {path: text for path, text in code.items() if path in editable}  # what this mode lets it change
    example = _example_edit(template, code)
    return {
        "idea": idea,
        "task_description": template.task_description.strip(),
        "primary_metric": template.primary_metric,
        "metrics": template.metrics,
        "editable": editable,
        "protected": protected,
        "history": plan.history,
        "run_index": plan.ordinal,
        "total_runs": plan.total_runs,
        "files": code,
        "example_path": example[0],
        "example_search": example[1],
        "example_replace": example[2],
    }


def _example_edit(template: Template, code: dict[str, str]) -> tuple[str, str, str]:
    """A format example built from a real line of the config (a param moved halfway to its maximum)."""
    text = code.get(CONFIG_FILE, "")
    for name, spec in template.params.items():
        for line in text.splitlines():
            if line.strip().startswith(f'"{name}"'):
                current = _parse_config(text).get(name, spec.default)
                value: float | int = (float(current) + float(spec.max)) / 2
                value = round(value) if spec.type == "int" else round(value, 3)
                return CONFIG_FILE, line, line.replace(json.dumps(current), json.dumps(value), 1)
    path = template.editable[0]
    first = next((line for line in code.get(path, "").splitlines() if line.strip()), "old line")
    return path, first, first


def _run_feedback(attempt: dict[str, Any], code: dict[str, str]) -> str:
    """The failed run's error (its stderr tail), and the files as they now are, for the next fix (the files this
    edit mode may change: config mode never shows agent-owned code it may not edit)."""
    if attempt["timed_out"]:
        what = "was killed at the time limit"
    elif attempt["protected_violations"]:
        what = f"changed protected files {attempt['protected_violations']}"
    elif attempt.get("output_error"):
        what = f"left unusable outputs ({attempt['output_error'][:400]})"
    else:
        what = f"exited with code {attempt['exit_code']}"
    files = "\n".join(f"{path}\n```\n{text}\n```" for path, text in code.items())
    tail = attempt["stderr_tail"][-ERROR_TAIL_CHARS:] or "(no error output)"
    return (
        f"The run {what}. End of its error output:\n```\n{tail}\n```\nThe files now:\n{files}\n"
        "Fix them with SEARCH/REPLACE blocks only."
    )


def _failure(attempt: dict[str, Any]) -> str | None:
    if not attempt.get("ran"):
        return None
    if attempt["ok"]:
        return None
    if attempt["timed_out"]:
        return "timed out"
    if attempt["protected_violations"]:
        return f"touched protected files {attempt['protected_violations']}"
    if attempt.get("output_error"):
        return f"unusable outputs: {attempt['output_error'][:300]}"
    lines = [line for line in attempt["stderr_tail"].splitlines() if line.strip()]
    return f"exit code {attempt['exit_code']}: {lines[-1][:300] if lines else 'no error output'}"


# --- plots ----------------------------------------------------------------------------------------------------


def make_plots(ctx: RunContext, records: list[dict[str, Any]]) -> str | None:
    """Run the template's plot.py in the sandbox over the finished runs; returns the figure path or None."""
    finished = [record for record in records if record["ok"]]
    if not finished:
        return None
    plot_root = ctx.folder.plots
    figure = plot_root / "workspace" / OUT_DIR / "results.png"
    if figure.exists():
        return str(figure.relative_to(ctx.run_dir))
    workspace = plot_root / "workspace"
    if plot_root.exists():
        if workspace.exists():
            ctx.sandbox.cleanup(workspace)
        remove_tree(plot_root)
    ctx.sandbox.prepare(ctx.template.path, workspace, ctx.template.protected, ctx.template.vendored())
    run_dirs, labels = [], []
    for record in finished:
        source = PurePosixPath(record["final_info_path"]).parent
        target = workspace / "runs" / record["label"]
        try:  # regular files only, within the reader's budgets: no link loop, FIFO or flood is copied
            if record.get("agent_out"):  # curves from the agent's run, then the harness's numbers over its claims
                copy_regular_files(ctx.run_dir, record["agent_out"], target, max_total=Limits().max_output_bytes)
            copy_regular_files(ctx.run_dir, source, target, max_total=Limits().max_output_bytes)
        except RunOutputError as err:
            ctx.audit.emit(audit_events.PlotsSkipped(label=record["label"], reason=str(err)), "pipeline")
            remove_tree(target)
            continue
        run_dirs.append(f"runs/{record['label']}")
        labels.append(record["label"])
    if not run_dirs:
        return None
    command = ["python", "plot.py", "--run_dirs", *run_dirs, "--labels", *labels]
    command += ["--out", f"{OUT_DIR}/results.png"]
    ctx.audit.emit(audit_events.SandboxRunStart(label="plots", command=command), f"sandbox:{ctx.sandbox.backend}")
    result = ctx.sandbox.run(workspace, command, Limits(wall_time_s=120), out_dir=OUT_DIR, log_dir=plot_root / "logs")
    # Like every sandbox run's record: backend, image, limits, command, outcome, output and log hashes.
    audited = run_relative_logs(ctx.run_dir, result.audit_payload())  # log paths relative to the run folder
    ctx.audit.emit(audit_events.SandboxRun(**audited, label="plots", ok=result.ok), f"sandbox:{ctx.sandbox.backend}")
    from scientist.monitors.hooks import check_sandbox_run  # every sandbox run is monitored, template code too

    check_sandbox_run(ctx, "plots", workspace, result, agent_files=False)
    return str(figure.relative_to(ctx.run_dir)) if result.ok and figure.exists() else None
