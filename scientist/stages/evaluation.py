"""Template contract v2 in the experiment stage: the harness, not the agent's code, measures the results.

For a template with an `[evaluator]`, each attempt runs the agent's code once per seed (it trains and saves the
declared artifacts), then, per seed, the protected evaluator in a second, fresh sandbox workspace that holds only
the template's own files, the run's config.json and copies of those artifacts. The seeds' evaluator metrics are
summarised (mean, std, 95% t interval) in a harness-written `evaluation/final_info.json`, and that file is the
record's `final_info_path`: the only numbers the notes, the plots and the paper see. Whatever the agent's code
wrote or printed about its own metrics is compared with the measurement (scientist.monitors.claims). A template
with `one_seed_report = "evaluator"` reports a one-seed run by the evaluator's own final_info.json instead, byte
for byte (a template ported from contract v1 keeps the file, numbers and sha256 its recorded papers show).

A template without an evaluator (contract v1) keeps its single run per attempt unless `seeds_per_run` > 1; then
its own final_info.json per seed is summarised the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scientist.audit import events as audit_events
from scientist.context import RunContext
from scientist.llm.profiles import default_edit_mode
from scientist.measure.stats import seed_summary
from scientist.runs import run_relative_logs
from scientist.sandbox import Limits, RunResult, Sandbox, copy_in, reader
from scientist.sandbox.final_info import FINAL_INFO, FinalInfo, load_final_info, parse_final_info, try_load_final_info
from scientist.template import CONFIG_FILE, EditMode, EvaluatorSpec, Template, check_edit_mode

OUT_DIR = "out"
ARTIFACTS_DIR = "artifacts"
EVAL_DIR = "eval"
SUMMARY_DIR = "evaluation"
CODE_MODE_SEEDS = 3
ARTIFACT_MAX_BYTES = 64 * 1024 * 1024  # one artifact, read into the harness's memory on its way to the evaluator

AgentRun = Callable[[Path, Path, int], dict[str, Any]]  # (workspace, log dir, seed) -> attempt fields


def edit_mode(ctx: RunContext) -> EditMode:
    """config or code for this run: the setting, else the agent model's profile default (config for a template
    without an evaluator: code mode would let the agent grade itself)."""
    requested = ctx.settings.edit_mode
    has_evaluator = ctx.template.evaluator is not None
    check_edit_mode(ctx.template, requested)  # (run start checks it too, before the first model call)
    if requested is not None:
        return requested
    return default_edit_mode(ctx.gateway.profile(ctx.settings.model_for("experiment"))) if has_evaluator else "config"


def run_seeds(ctx: RunContext) -> list[int]:
    """The seeds each run is trained and evaluated with (consecutive from the run's base seed)."""
    count = ctx.settings.seeds_per_run or (CODE_MODE_SEEDS if edit_mode(ctx) == "code" else 1)
    return [ctx.settings.seed + index for index in range(count)]


def needs_evaluation(ctx: RunContext) -> bool:
    return ctx.template.evaluator is not None or len(run_seeds(ctx)) > 1


def evaluate_attempt(
    ctx: RunContext, label: str, attempt_root: Path, code: dict[str, str], first: dict[str, Any], agent_run: AgentRun
) -> dict[str, Any]:
    """Every seed's agent run (the first one is `first`, already run) and evaluator run; the summary file.

    Stops at the first seed that fails (its reason is the attempt's), so a broken edit costs one run, not n."""
    seeds = run_seeds(ctx)
    per_seed: list[dict[str, Any]] = []
    workspaces: list[Path] = []  # each seed's agent workspace, where its graded artifacts are
    measured_bytes = b""  # the last seed's evaluator final_info.json, as the evaluator wrote it
    for index, seed in enumerate(seeds):
        if index == 0:
            run = first
        else:
            root = attempt_root / f"seed_{seed}"
            run = agent_run(root / "workspace", root / "logs", seed)
        workspace = ctx.run_dir / Path(run["final_info_path"]).parent.parent
        if not run["ok"]:
            return {**run, "seeds": per_seed, "failed_seed": seed}
        workspaces.append(workspace)
        if ctx.template.evaluator is None:
            info = load_final_info(workspace, f"{OUT_DIR}/{FINAL_INFO}")  # checked readable by the agent run
            per_seed.append({"seed": seed, "metrics": dict(info.metrics), "claimed": None})
            continue
        evaluated = _evaluate_seed(ctx, label, attempt_root / EVAL_DIR / f"seed_{seed}", workspace, code, seed)
        if isinstance(evaluated, str):
            return {**first, "ok": False, "output_error": evaluated, "seeds": per_seed, "failed_seed": seed}
        measured, measured_bytes = evaluated
        claimed = try_load_final_info(workspace, f"{OUT_DIR}/{FINAL_INFO}")
        printed = _printed(ctx.run_dir, run, list(ctx.template.metrics))
        from scientist.monitors.artifactsettings import KEY as ARTIFACT_SETTINGS
        from scientist.monitors.artifactsettings import artifact_setting_events, artifact_settings
        from scientist.monitors.claims import claim_events, reported_metric_events
        from scientist.monitors.hooks import check_claims

        claimed_metrics = dict(claimed.metrics) if claimed else None
        location = f"experiments/{label}/seed_{seed}"
        events = claim_events(measured.metrics, claimed_metrics, printed, seed=seed, location=location)
        events += reported_metric_events(
            measured.metrics, claimed_metrics, printed, ctx.template.primary_metric, seed=seed, location=location
        )
        readings = artifact_settings(measured.as_dict(), ctx.template)  # the artifact against the stated config
        events += artifact_setting_events(readings, seed=seed, location=location)
        check_claims(ctx, label, events)
        # What else the evaluator reported (curves, protocol), for plots and the summary; its setting readings are the
        # harness's evidence (judged above), not results a paper reports
        skipped = ("metrics", "config", "seed", ARTIFACT_SETTINGS)
        details = {key: value for key, value in measured.as_dict().items() if key not in skipped}
        per_seed.append(
            {
                "seed": seed,
                "metrics": dict(measured.metrics),
                "details": details,
                "claimed": dict(claimed.metrics) if claimed else None,
                "printed": printed,
                "claim_events": [event.rule for event in events],
            }
        )
    spec = ctx.template.evaluator
    if spec is not None and spec.seeded_artifacts and len(workspaces) > 1:
        _check_artifacts_fitted(ctx, label, workspaces[:2], (seeds[0], seeds[1]))
    if spec is not None and spec.one_seed_report == "evaluator" and len(per_seed) == 1:
        summary_path = attempt_root / SUMMARY_DIR / FINAL_INFO  # nothing to summarise: the measurement as it is
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_bytes(_reported_bytes(measured, measured_bytes))
    else:
        summary_path = _write_summary(ctx, attempt_root, code, per_seed)
    return {
        **first,
        "final_info_path": str(summary_path.relative_to(ctx.run_dir)),
        "agent_out": str(Path(first["final_info_path"]).parent),
        "seeds": per_seed,
    }


def _reported_bytes(measured: FinalInfo, raw: bytes) -> bytes:
    """The evaluator's final_info.json as a one-seed run reports it: byte for byte, except that the evaluator's
    setting readings (harness evidence, judged above in `evaluate_attempt`, never a result) are left out, the rest
    in its order and written as the evaluators write it."""
    from scientist.monitors.artifactsettings import KEY as ARTIFACT_SETTINGS

    if ARTIFACT_SETTINGS not in measured.as_dict():
        return raw
    report = json.loads(raw)  # parsed once already (parse_final_info): valid JSON, an object
    return json.dumps({key: value for key, value in report.items() if key != ARTIFACT_SETTINGS}, indent=2).encode()


def _check_artifacts_fitted(ctx: RunContext, label: str, workspaces: list[Path], seeds: tuple[int, int]) -> None:
    """Two training seeds of the same code saved the same graded artifacts, or the same values in part of them, for
    a template whose artifacts are weights fitted to data drawn from the seed (`seeded_artifacts`): a hand-written
    or closed-form answer, or a hand-set part (a clipped or pinned weight). The seeds code mode runs anyway, so a
    real run gets this check at no cost (`monitors eval --reeval` runs a second seed)."""
    from scientist.monitors.freshdraws import pinned_part_events, seed_blind_artifact_events
    from scientist.monitors.hooks import check_claims

    spec = ctx.template.evaluator
    assert spec is not None
    compared = compare_artifacts(spec.artifacts, workspaces[0], workspaces[1])
    location = f"experiments/{label}"
    events = seed_blind_artifact_events(compared.same, spec.artifacts, seeds, location=location)
    events += pinned_part_events(compared.pinned, spec.artifacts, seeds, location=location)
    if events:
        check_claims(ctx, label, events)


@dataclass(frozen=True)
class ArtifactComparison:
    """Two training seeds' graded artifacts compared: the same parsed content (None: either unreadable, no
    verdict), and the array entries they share while the rest differs (scientist.monitors.freshdraws)."""

    same: bool | None
    pinned: dict[str, float]


def compare_artifacts(artifacts: list[str], first: Path, second: Path) -> ArtifactComparison:
    """Two agent workspaces' artifacts, parsed (formatting does not count): the same or not, and the entries they
    share; `same` None when either cannot be read (no verdict, never a catch)."""
    from scientist.monitors.freshdraws import pinned_entries

    same = True
    pinned: dict[str, float] = {}
    try:
        for artifact in artifacts:
            rel = f"{OUT_DIR}/{artifact}"
            one, two = (
                reader.parse_json(reader.read_bytes(where, rel, max_bytes=ARTIFACT_MAX_BYTES), rel)
                for where in (first, second)
            )
            if one != two:
                same = False
                pinned |= {f"{artifact}:{path}": value for path, value in pinned_entries(one, two).items()}
    except (reader.RunOutputError, OSError):
        return ArtifactComparison(same=None, pinned={})
    return ArtifactComparison(same=same, pinned=pinned)


def _printed(run_dir: Path, run: dict[str, Any], metrics: list[str]) -> dict[str, float]:
    log = run.get("stdout_path")  # relative to the run folder (an absolute one joins as itself)
    return printed_in_log(run_dir / log if log else None, run.get("stdout_tail", ""), metrics)


def printed_in_log(stdout_path: Path | None, stdout_tail: str, metrics: list[str]) -> dict[str, float]:
    """The metrics an agent run printed: read from the last MiB of its stdout log (else from the tail its result
    kept), as re-evaluation compares them (the experiment stage and the corpus re-evaluation alike)."""
    from scientist.monitors.claims import printed_metrics

    text = reader.log_tail(stdout_path, 1024 * 1024) if stdout_path else ""
    return printed_metrics(text or stdout_tail, metrics)


def _evaluate_seed(
    ctx: RunContext, label: str, root: Path, agent_workspace: Path, code: dict[str, str], seed: int
) -> tuple[FinalInfo, bytes] | str:
    """The protected evaluator over one seed's artifacts, in a fresh workspace: (the measurement, the bytes it was
    read from), or why the run fails."""
    where = f"{label}/eval_{seed}"
    actor = f"sandbox:{ctx.sandbox.backend}"

    def started(command: list[str]) -> None:
        ctx.progress("experiment", f"{label}: evaluator, seed {seed}")
        ctx.audit.emit(audit_events.SandboxRunStart(label=where, command=command, role="evaluator"), actor)

    evaluated = run_evaluator(ctx.sandbox, ctx.template, root, agent_workspace, code.get(CONFIG_FILE), seed, started)
    if evaluated.result is not None:
        record = run_relative_logs(ctx.run_dir, evaluated.result.audit_payload())  # no host path in the log
        ctx.audit.emit(audit_events.SandboxRun(**record, label=where, role="evaluator"), actor)
        from scientist.monitors.hooks import check_sandbox_run  # the template's own code over copied-in artifacts

        check_sandbox_run(ctx, where, evaluated.workspace, evaluated.result, agent_files=False, final_info_claims=False)
    if evaluated.measured is None:
        return evaluated.error or "the evaluator gave no measurement"
    return evaluated.measured, evaluated.raw


@dataclass(frozen=True)
class EvaluatorRun:
    """One run of a template's protected evaluator: the sandbox result (None when no artifact reached it), and
    either the measurement with the bytes it was parsed from, or why there is none."""

    workspace: Path
    result: RunResult | None
    measured: FinalInfo | None = None
    raw: bytes = b""
    error: str | None = None


def _evaluator_inputs(
    spec: EvaluatorSpec, agent_workspace: Path, config_text: str | None
) -> dict[str, Path | bytes] | tuple[str, str]:
    """The files an evaluator workspace gets beside the template's own: the run's config.json, a copy of each
    declared artifact and of each evidence file the run left; or, when an artifact cannot be read, (its path in
    out/, why)."""
    files: dict[str, Path | bytes] = {}
    if config_text is not None:
        files[CONFIG_FILE] = config_text.encode("utf-8")
    for name in [*spec.artifacts, *spec.evidence]:
        try:  # the agent's run wrote it: no link, FIFO or flood is followed or read whole
            files[f"{ARTIFACTS_DIR}/{name}"] = reader.read_bytes(
                agent_workspace, f"{OUT_DIR}/{name}", max_bytes=ARTIFACT_MAX_BYTES
            )
        except reader.RunOutputError as err:
            if name in spec.artifacts:
                return f"{OUT_DIR}/{name}", str(err)[:200]
            # evidence is optional: a run that left none is graded the same, its evaluator just reads nothing
    return files


def run_evaluator(
    sandbox: Sandbox,
    template: Template,
    root: Path,
    agent_workspace: Path,
    config_text: str | None,
    seed: int,
    started: Callable[[list[str]], None] | None = None,
) -> EvaluatorRun:
    """The protected evaluator over the artifacts one agent run saved (its `out/`), in a fresh workspace under
    `root` that holds only the template's own files, the run's config.json and copies of the artifacts.

    Needs no run context, so the experiment stage (through `_evaluate_seed`, which audits and monitors it) and the
    monitors' corpus re-evaluation (scientist.stages.reeval) measure a run the same way. `started` is told the
    command just before it enters the sandbox."""
    spec = template.evaluator
    if spec is None:  # only called for a template that has one
        raise ValueError(f"template {template.name!r} has no evaluator")
    workspace = root / "workspace"
    files = _evaluator_inputs(spec, agent_workspace, config_text)
    if isinstance(files, tuple):
        rel, why = files
        error = f"the run saved no usable artifact {rel} (template.toml declares it; the evaluator grades it): {why}"
        return EvaluatorRun(workspace=workspace, result=None, error=error)
    sandbox.prepare(template.path, workspace, template.protected, template.vendored())
    copy_in(workspace, files)
    command = ["python", spec.script, "--artifacts_dir", ARTIFACTS_DIR, "--config", CONFIG_FILE]
    command += ["--out_dir", OUT_DIR, "--seed", str(seed)]
    if started is not None:
        started(command)
    result = sandbox.run(workspace, command, Limits.for_template(template), out_dir=OUT_DIR, log_dir=root / "logs")
    if not result.ok:
        lines = [line for line in result.stderr_tail.splitlines() if line.strip()]
        last = lines[-1][:300] if lines else f"exit code {result.exit_code}"
        error = f"the evaluator rejected the run's artifacts (seed {seed}): {last}"
        return EvaluatorRun(workspace=workspace, result=result, error=error)
    rel = f"{OUT_DIR}/{FINAL_INFO}"
    try:  # parsed from the bytes read once, so a report of them verbatim is what was measured
        raw = reader.read_bytes(workspace, rel, max_bytes=reader.DEFAULT_LIMITS.max_json_bytes)
        measured = parse_final_info(reader.parse_json(raw, rel), rel)
    except reader.RunOutputError as err:
        error = f"the evaluator's final_info.json is unusable (seed {seed}): {str(err)[:300]}"
        return EvaluatorRun(workspace=workspace, result=result, error=error)
    return EvaluatorRun(workspace=workspace, result=result, measured=measured, raw=raw)


# The harness's driver for the fresh-draws pass (scientist.monitors.freshdraws): the template's evaluator, run as
# its own command line once per seed inside ONE sandbox process, each seed's final_info.json under its own folder;
# the metrics of every seed in one file. It is written into the evaluator's fresh workspace, never the agent's.
FRESH_DRIVER = "_harness_fresh_draws.py"
FRESH_RESULTS = "fresh_draws.json"
_FRESH_DRIVER_SOURCE = f"""\
import json
import runpy
import sys

script, out = sys.argv[1], sys.argv[2]
results = {{}}
for seed in sys.argv[3:]:
    target = out + "/draw_" + seed
    sys.argv = [script, "--artifacts_dir", "{ARTIFACTS_DIR}", "--config", "{CONFIG_FILE}", "--out_dir", target,
                "--seed", seed]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise
    with open(target + "/{FINAL_INFO}", encoding="utf-8") as handle:
        results[seed] = json.load(handle).get("metrics", {{}})
with open(out + "/{FRESH_RESULTS}", "w", encoding="utf-8") as handle:
    json.dump(results, handle)
"""


@dataclass(frozen=True)
class FreshRun:
    """The evaluator over the same artifacts on harness-chosen seeds: each seed's metrics, or why there are none."""

    metrics: dict[int, dict[str, Any]]
    error: str | None = None
    wall_time_s: float = 0.0


def run_fresh_evaluator(
    sandbox: Sandbox,
    template: Template,
    root: Path,
    agent_workspace: Path,
    config_text: str | None,
    seeds: list[int],
) -> FreshRun:
    """The protected evaluator over the artifacts one agent run saved, once per seed in `seeds` (secret seeds the
    harness drew: scientist.monitors.freshdraws), all in ONE sandbox process in a fresh workspace under `root`
    prepared exactly as `run_evaluator`'s. Only for a template whose `--seed` moves nothing but the evaluation
    draws (`[evaluator] fresh_draws = true`)."""
    import time

    spec = template.evaluator
    if spec is None or not spec.fresh_draws:
        raise ValueError(f"template {template.name!r} does not declare fresh_draws")
    started = time.monotonic()
    workspace = root / "workspace"
    files = _evaluator_inputs(spec, agent_workspace, config_text)
    if isinstance(files, tuple):
        return FreshRun(metrics={}, error="no usable artifact {}: {}".format(*files))
    files[FRESH_DRIVER] = _FRESH_DRIVER_SOURCE.encode("utf-8")
    sandbox.prepare(template.path, workspace, template.protected, template.vendored())
    copy_in(workspace, files)
    command = ["python", FRESH_DRIVER, spec.script, OUT_DIR, *(str(seed) for seed in seeds)]
    limits = Limits.for_template(template)
    try:
        result = sandbox.run(workspace, command, limits, out_dir=OUT_DIR, log_dir=root / "logs")
        if not result.ok:
            lines = [line for line in result.stderr_tail.splitlines() if line.strip()]
            return FreshRun(metrics={}, error=f"the fresh-draws pass failed: {lines[-1][:300] if lines else ''}")
        rel = f"{OUT_DIR}/{FRESH_RESULTS}"
        raw = reader.parse_json(reader.read_bytes(workspace, rel, max_bytes=reader.DEFAULT_LIMITS.max_json_bytes), rel)
    except reader.RunOutputError as err:
        return FreshRun(metrics={}, error=f"the fresh-draws pass left no usable {FRESH_RESULTS}: {str(err)[:300]}")
    finally:
        if workspace.exists():
            sandbox.cleanup(workspace)
    metrics = {int(seed): dict(values) for seed, values in raw.items() if isinstance(values, dict)}
    if sorted(metrics) != sorted(seeds):
        return FreshRun(metrics={}, error="the fresh-draws pass did not grade every seed")
    return FreshRun(metrics=metrics, wall_time_s=round(time.monotonic() - started, 2))


def _write_summary(ctx: RunContext, attempt_root: Path, code: dict[str, str], per_seed: list[dict[str, Any]]) -> Path:
    """`evaluation/final_info.json`: per metric the seeds' mean (as `metrics`, what tables rank by) and its stats."""
    stats: dict[str, dict[str, float | int]] = {}
    for name in ctx.template.metrics:
        values = [entry["metrics"][name] for entry in per_seed if isinstance(entry["metrics"].get(name), int | float)]
        if len(values) == len(per_seed):
            stats[name] = seed_summary(values)
    try:
        config = json.loads(code.get(CONFIG_FILE, "{}"))
    except json.JSONDecodeError:
        config = {}
    summary = {
        "metrics": {name: entry["mean"] for name, entry in stats.items()},
        "stats": stats,
        "config": config if isinstance(config, dict) else {},
        "seed": per_seed[0]["seed"],
        "seeds": [entry["seed"] for entry in per_seed],
        "per_seed": [
            {"seed": entry["seed"], "metrics": entry["metrics"], "details": entry.get("details") or {}}
            for entry in per_seed
        ],
        "measured_by": "evaluator" if ctx.template.evaluator is not None else "experiment",
    }
    path = attempt_root / SUMMARY_DIR / FINAL_INFO
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
