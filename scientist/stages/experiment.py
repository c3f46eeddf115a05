"""Experiment: the agent proposes a variant of the template's config; baseline and variant run in the sandbox.

Each sandbox run is finished work once its `result.json` exists, so a resumed run skips it instead of running it
twice; a half-done run (no `result.json`) is discarded and redone.
"""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from scientist.context import RunContext
from scientist.sandbox import Limits, RunResult
from scientist.template import Template

EXPERIMENTS_DIR = "experiments"
OUT_DIR = "out"
CONFIG_FILE = "config.json"


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
    """Ask the model for a config change that tests the idea; keep only valid params, clamped to their ranges."""
    plan_path = ctx.run_dir / EXPERIMENTS_DIR / "plan.json"
    if plan_path.exists():
        saved: dict[str, Any] = json.loads(plan_path.read_text(encoding="utf-8"))
        return saved
    schema = variant_plan_schema(ctx.template)
    plan = ctx.gateway.structured(
        "plan_variant",
        {"idea": idea, "task_description": ctx.template.task_description, "params": ctx.template.params},
        schema,
        stage="experiment",
    )
    proposed = {change.param: change.value for change in plan.changes}  # type: ignore[attr-defined]
    applied = ctx.template.clamp_variant(proposed)
    result = {"rationale": plan.rationale, "proposed": proposed, "applied": applied}  # type: ignore[attr-defined]
    _write_json(plan_path, result)
    ctx.audit.append("variant_plan", "agent", result)
    return result


def run_experiments(ctx: RunContext, idea: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the baseline and the agent's variant; return one record per run (also written as result.json)."""
    plan = plan_variant(ctx, idea)
    records = []
    for label, overrides in (("baseline", {}), ("variant", plan["applied"])):
        records.append(_run_once(ctx, label, overrides))
    return records


def _run_once(ctx: RunContext, label: str, overrides: dict[str, Any]) -> dict[str, Any]:
    run_root = ctx.run_dir / EXPERIMENTS_DIR / label
    result_path = run_root / "result.json"
    if result_path.exists():
        done: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
        ctx.audit.append("sandbox_run_skipped", "pipeline", {"label": label, "reason": "finished before resume"})
        return done
    workspace = run_root / "workspace"
    if run_root.exists():  # a run killed mid-way: stop its leftovers, and never mix its outputs with the redo
        if workspace.exists():
            ctx.sandbox.cleanup(workspace)
        shutil.rmtree(run_root)
    template = ctx.template
    ctx.sandbox.prepare(template.path, workspace, template.protected)
    diff_blob = _apply_config(ctx, workspace, overrides)
    limits = Limits(wall_time_s=template.limits.wall_time_s, memory_mb=template.limits.memory_mb)
    command = ["python", "experiment.py", "--out_dir", OUT_DIR, "--config", CONFIG_FILE]
    command += ["--seed", str(ctx.settings.seed)]
    ctx.progress("experiment", f"{label} run in the {ctx.sandbox.backend} sandbox")
    ctx.audit.append("sandbox_run_start", f"sandbox:{ctx.sandbox.backend}", {"label": label, "command": command})
    result = ctx.sandbox.run(workspace, command, limits, out_dir=OUT_DIR, log_dir=run_root / "logs")
    record = _record(ctx, label, overrides, workspace, result, diff_blob)
    from scientist.monitors.hooks import check_sandbox_run  # before result.json: a stopped run is redone on resume

    check_sandbox_run(ctx, label, workspace, result)
    ctx.audit.append("sandbox_run", f"sandbox:{ctx.sandbox.backend}", {**result.audit_payload(), **record})
    _write_json(result_path, record)
    return record


def _apply_config(ctx: RunContext, workspace: Path, overrides: dict[str, Any]) -> str | None:
    """The agent's edit: new values in the editable config file. The diff is kept as a blob."""
    if not overrides:
        return None
    config_path = workspace / CONFIG_FILE
    before = config_path.read_text(encoding="utf-8")
    config = json.loads(before)
    config.update(overrides)
    after = json.dumps(config, indent=2, sort_keys=True) + "\n"
    config_path.write_text(after, encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{CONFIG_FILE}", f"b/{CONFIG_FILE}"
        )
    )
    return ctx.audit.put_blob(diff)


def _record(
    ctx: RunContext,
    label: str,
    overrides: dict[str, Any],
    workspace: Path,
    result: RunResult,
    diff_blob: str | None,
) -> dict[str, Any]:
    final_info = workspace / OUT_DIR / "final_info.json"
    ok = result.ok and final_info.exists()
    return {
        "label": label,
        "overrides": overrides,
        "config": json.loads((workspace / CONFIG_FILE).read_text(encoding="utf-8")),
        "config_diff_blob": diff_blob,
        "final_info_path": str(final_info.relative_to(ctx.run_dir)),
        "ok": ok,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "oom_killed": result.oom_killed,
        "wall_time_s": round(result.wall_time_s, 3),
        "peak_memory_mb": round(result.peak_memory_mb, 1),
        "outputs": [output.model_dump() for output in result.outputs],
        "protected_violations": result.protected_violations,
        "stderr_tail": result.stderr_tail[-2000:],
    }


def make_plots(ctx: RunContext, records: list[dict[str, Any]]) -> str | None:
    """Run the template's plot.py in the sandbox over the finished runs; returns the figure path or None."""
    finished = [record for record in records if record["ok"]]
    if not finished:
        return None
    plot_root = ctx.run_dir / EXPERIMENTS_DIR / "plots"
    figure = plot_root / "workspace" / OUT_DIR / "results.png"
    if figure.exists():
        return str(figure.relative_to(ctx.run_dir))
    workspace = plot_root / "workspace"
    if plot_root.exists():
        if workspace.exists():
            ctx.sandbox.cleanup(workspace)
        shutil.rmtree(plot_root)
    ctx.sandbox.prepare(ctx.template.path, workspace, ctx.template.protected)
    run_dirs = []
    for record in finished:
        source = (ctx.run_dir / record["final_info_path"]).parent
        target = workspace / "runs" / record["label"]
        shutil.copytree(source, target)
        run_dirs.append(f"runs/{record['label']}")
    command = ["python", "plot.py", "--run_dirs", *run_dirs, "--labels", *[r["label"] for r in finished]]
    command += ["--out", f"{OUT_DIR}/results.png"]
    ctx.audit.append("sandbox_run_start", f"sandbox:{ctx.sandbox.backend}", {"label": "plots", "command": command})
    result = ctx.sandbox.run(workspace, command, Limits(wall_time_s=120), out_dir=OUT_DIR, log_dir=plot_root / "logs")
    # Like every sandbox run's record: backend, image, limits, command, outcome, output and log hashes.
    ctx.audit.append(
        "sandbox_run", f"sandbox:{ctx.sandbox.backend}", {**result.audit_payload(), "label": "plots", "ok": result.ok}
    )
    return str(figure.relative_to(ctx.run_dir)) if result.ok and figure.exists() else None


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)
