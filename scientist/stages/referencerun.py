"""The harness's reference learner: the template's OWN agent-owned code, run on a run's config.json and graded by
the protected evaluator, for a few training seeds (scientist.monitors.referencelearner says why and judges it).

Used by the experiment stage (a code-mode attempt that changed the learner, on a template that declares
`[evaluator] reference_learner = true`) and by the corpus re-evaluation (`monitors eval --reeval`), so a real run
and a corpus case meet the same witness. The reference never sees the agent's code: its workspace is the
template's files as shipped, with only the run's config.json written over them.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from scientist.audit import events as audit_events
from scientist.context import RunContext
from scientist.files import write_text_atomic
from scientist.monitors.events import MonitorEvent
from scientist.sandbox import Limits, Sandbox
from scientist.sandbox.reader import remove_tree
from scientist.stages.evaluation import OUT_DIR, run_evaluator
from scientist.template import CONFIG_FILE, Template

REFERENCE_SEEDS = 3  # training seeds of the reference learner: its spread is the rule's noise estimate
REFERENCE_VERSION = 1
REFERENCE_DIR = "reference"  # under a run folder: the reference runs' metrics, by config (a resumed run reuses them)
Command = Callable[[int], list[str]]  # seed -> the experiment command line (scientist.stages.experiment's)


class ReferenceRun(BaseModel):
    """The reference learner's evaluator metrics per training seed, or why it gave none (no verdict)."""

    version: int = REFERENCE_VERSION
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict, description="seed -> the evaluator's metrics")
    error: str | None = None


def applies(template: Template, code: dict[str, str]) -> bool:
    """The template declares a reference learner and the run changed some agent-owned file other than its config
    (a config-only run IS the reference: nothing to compare)."""
    spec = template.evaluator
    return spec is not None and spec.reference_learner and changes_code(template, code)


def changes_code(template: Template, code: dict[str, str]) -> bool:
    """The run changed some agent-owned file other than its config."""
    for rel, text in code.items():
        if rel == CONFIG_FILE:
            continue
        source = template.path / rel
        if not source.is_file() or source.read_text(encoding="utf-8") != text:
            return True
    return False


def run_reference_learner(
    sandbox: Sandbox,
    template: Template,
    config_text: str | None,
    seeds: Sequence[int],
    command: Command,
    started: Callable[[int], None] | None = None,
) -> ReferenceRun:
    """The template's own learner on `config_text`, once per seed, each graded on the same seed by the evaluator,
    in temporary workspaces; stops at the first seed that fails (a config the template's learner rejects)."""
    metrics: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        if started is not None:
            started(seed)
        with tempfile.TemporaryDirectory(prefix="scientist-reference-") as tmp:
            graded = _one_seed(sandbox, template, config_text, seed, command, Path(tmp))
        if isinstance(graded, str):
            return ReferenceRun(metrics=metrics, error=graded)
        metrics[str(seed)] = graded
    return ReferenceRun(metrics=metrics)


def _one_seed(
    sandbox: Sandbox, template: Template, config_text: str | None, seed: int, command: Command, root: Path
) -> dict[str, Any] | str:
    """One training seed of the template's learner and its evaluation: the metrics, or why there are none."""
    workspace = root / "learner" / "workspace"
    graded: Path | None = None
    try:
        sandbox.prepare(template.path, workspace, list(template.protected), template.vendored())
        if config_text is not None:
            (workspace / CONFIG_FILE).write_text(config_text, encoding="utf-8")
        limits = Limits.for_template(template)
        result = sandbox.run(workspace, command(seed), limits, out_dir=OUT_DIR, log_dir=root / "learner" / "logs")
        if not result.ok:
            lines = [line for line in result.stderr_tail.splitlines() if line.strip()]
            why = lines[-1][:300] if lines else f"exit code {result.exit_code}"
            return f"the reference learner failed (seed {seed}): {why}"
        evaluated = run_evaluator(sandbox, template, root / "eval", workspace, config_text, seed)
        graded = evaluated.workspace
        if evaluated.measured is None:
            return evaluated.error or f"the evaluator gave no measurement (seed {seed})"
        return dict(evaluated.measured.metrics)
    finally:
        for used in (workspace, graded):
            if used is not None and used.exists():
                sandbox.cleanup(used)
        for child in root.iterdir():
            remove_tree(child)


def reference_key(template: Template, config_text: str | None, seeds: Sequence[int], backend: str) -> str:
    """sha256 of what a reference run depends on: the template's files as shipped (and the vendored ones), the
    config, the seeds and the backend (never the agent's code or the monitors' source)."""
    digest = hashlib.sha256()
    for path in sorted(template.path.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(template.path).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name, source in sorted(template.vendored().items()):
        digest.update(name.encode() + b"\0" + source.read_bytes() + b"\0")
    payload = {"config": config_text, "seeds": list(seeds), "backend": backend, "version": REFERENCE_VERSION}
    digest.update(json.dumps(payload, sort_keys=True).encode())
    return digest.hexdigest()


def cached_reference(
    cache: Path,
    sandbox: Sandbox,
    template: Template,
    config_text: str | None,
    seeds: Sequence[int],
    command: Command,
    started: Callable[[int], None] | None = None,
) -> ReferenceRun:
    """`run_reference_learner`, stored under `cache` by `reference_key`: many runs share one config (a run's
    attempts, a corpus's cases), and a resumed run does not train the reference again."""
    path = cache / f"{reference_key(template, config_text, seeds, sandbox.backend)}.json"
    if path.is_file():
        try:
            stored = ReferenceRun.model_validate_json(path.read_text(encoding="utf-8"))
            if stored.version == REFERENCE_VERSION and stored.error is None:
                return stored
        except (OSError, ValueError, ValidationError):
            pass  # unreadable or another version: run it again
    run = run_reference_learner(sandbox, template, config_text, seeds, command, started)
    if run.error is None:
        cache.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, run.model_dump_json(indent=2) + "\n")
    return run


def check_reference_learner(
    ctx: RunContext, label: str, code: dict[str, str], per_seed: list[dict[str, Any]], command: Command
) -> list[MonitorEvent]:
    """The experiment stage's check of one evaluated attempt: the mean primary metric of its seeds against the
    template's own learner on the attempt's config, trained on the same seeds and at least REFERENCE_SEEDS of them
    (cached in the run folder, so the attempts of a run that share a config, and a resumed run, train it once);
    then the policy."""
    from scientist.monitors.hooks import check_claims
    from scientist.monitors.referencelearner import reference_events

    primary = ctx.template.primary_metric
    values = [entry["metrics"].get(primary) for entry in per_seed]
    if not per_seed or not applies(ctx.template, code) or not all(isinstance(v, int | float) for v in values):
        return []
    first = int(per_seed[0]["seed"])  # the run's seeds, and more up to REFERENCE_SEEDS: the spread needs a few
    seeds = [first + index for index in range(max(len(per_seed), REFERENCE_SEEDS))]

    config = code.get(CONFIG_FILE)
    cache = ctx.run_dir / REFERENCE_DIR
    started = _announcer(ctx, label, "reference", "on this config", command)
    reference = cached_reference(cache, ctx.sandbox, ctx.template, config, seeds, command, started)
    if reference.error is not None:
        ctx.progress("experiment", f"{label}: no reference learner verdict: {reference.error}")
        return []
    mean = statistics.fmean(float(value) for value in values)
    events = reference_events(ctx.template, {primary: mean}, reference.metrics, location=f"experiments/{label}")
    events += _switched_events(ctx, label, config, per_seed, reference.metrics, command)
    return check_claims(ctx, label, events) if events else []


def _announcer(ctx: RunContext, label: str, role: str, what: str, command: Command) -> Callable[[int], None]:
    """The progress line and the audited sandbox start of one of the harness's own learner runs, per seed."""

    def started(seed: int) -> None:
        ctx.progress("experiment", f"{label}: the template's own learner {what}, seed {seed}")
        ctx.audit.emit(
            audit_events.SandboxRunStart(label=f"{label}/{role}_{seed}", command=command(seed), role="reference"),
            f"sandbox:{ctx.sandbox.backend}",
        )

    return started


def switched_references(
    cache: Path,
    sandbox: Sandbox,
    template: Template,
    config: str | None,
    seeds: Sequence[int],
    command: Command,
    announcer: Callable[[str], Callable[[int], None] | None] | None = None,
) -> dict[str, ReferenceRun]:
    """`switch=value` -> the template's own learner on `config` with that task switch flipped, on `seeds` (cached
    like the reference; a flipped config the learner rejects gives no entry, never a catch). `announcer` gives the
    start callback of each flipped learner (the experiment stage audits them; the corpus re-evaluation does not)."""
    from scientist.monitors.switchedsetting import flipped_configs

    found = {}
    for flipped, text in flipped_configs(template, config).items():
        started = announcer(flipped) if announcer is not None else None
        run = cached_reference(cache, sandbox, template, text, seeds, command, started)
        if run.error is None:
            found[flipped] = run
    return found


def _switched_events(
    ctx: RunContext,
    label: str,
    config: str | None,
    per_seed: list[dict[str, Any]],
    stated: dict[str, dict[str, Any]],
    command: Command,
) -> list[MonitorEvent]:
    """The attempt's seeds against the template's own learner with each task switch flipped (cached like the
    reference): an event when every seed reproduces one flipped learner exactly (scientist.monitors.switchedsetting)."""
    from scientist.monitors.switchedsetting import switched_setting_events

    seeds = [int(entry["seed"]) for entry in per_seed]

    def announcer(flipped: str) -> Callable[[int], None]:
        return _announcer(ctx, label, f"switched_{flipped}", f"with {flipped}", command)

    runs = switched_references(
        ctx.run_dir / REFERENCE_DIR, ctx.sandbox, ctx.template, config, seeds, command, announcer
    )
    events: list[MonitorEvent] = []
    for flipped, run in runs.items():
        found = [
            switched_setting_events(
                entry["metrics"],
                stated.get(str(entry["seed"])),
                {flipped: run.metrics.get(str(entry["seed"]), {})},
                seed=int(entry["seed"]),
                location=f"experiments/{label}",
            )
            for entry in per_seed
        ]
        if all(found):  # every seed ran the flipped task
            events += found[0]
    return events
