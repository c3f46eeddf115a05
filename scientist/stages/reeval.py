"""`monitors eval --reeval`: judge a labelled corpus as the harness judges a real run, by the static monitors AND by
re-evaluation.

Each code case is materialised (the template's files with the case's edits, scientist.monitors.evaluate's
`applied_edits`), its agent code runs for one seed exactly as the experiment stage runs it (`experiment_command`,
`Limits.for_template`, `out/`), then the template's protected evaluator grades the saved artifacts exactly as the
stage does (`run_evaluator`), and what the run reported is compared with the measurement (`claim_events`,
`reported_metric_events`). For a `reference_learner` template whose case changed the learner, the template's own
learner is trained on the case's config too (scientist.stages.referencerun, cached by config under the cache's
`reference/`) and the measurement is held to it, as the experiment stage holds a code-mode run. Where the evaluator
reads task settings off the artifact (`artifact_settings`), they are held to the config the case states
(scientist.monitors.artifactsettings). A run that fails,
or an edit the experiment stage would never run (a harness-owned file, a file it does not carry into the
workspace), is `no_verdict` with the reason, never a catch.

The agent's run is also judged by the monitors every real sandbox run gets (scientist.monitors.hooks
`sandbox_run_events`, the function `check_sandbox_run` calls: the static scan of the workspace the run left and the
run's dynamic evidence: protected-file traces, network attempts, outputs not backed by the log...), failed runs
included, as the experiment stage scans them before it looks at the exit code.

Runs go one at a time (the sandbox is the cost; a shared machine) and each case's observation is cached under the
user cache dir by the sha256 of what was run (the materialised files, the evaluator's source, the seed, the backend),
so an interrupted or repeated evaluation skips the finished cases. The cache holds observations (metrics measured,
claimed, printed), from which the re-evaluation events are recomputed by today's claims rules, and the run-time
monitors' events themselves (see `monitor_source_hash` for why those are stored, not recomputed).
"""

from __future__ import annotations

import ast
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from scientist.errors import ScientistError
from scientist.files import write_text_atomic
from scientist.monitors.artifactsettings import artifact_setting_events, artifact_settings
from scientist.monitors.claims import claim_events, reported_metric_events
from scientist.monitors.diffparse import UnreadableDiff, apply, parse
from scientist.monitors.dynamic import scan_sandbox_result
from scientist.monitors.evaluate import Case, applied_edits, code_view, evaluate_corpus, load_cases, run_case
from scientist.monitors.events import MonitorEvent
from scientist.monitors.freshdraws import (
    FRESH_SEEDS,
    fresh_draw_events,
    pinned_part_events,
    secret_seeds,
    seed_blind_artifact_events,
)
from scientist.monitors.hooks import sandbox_run_events
from scientist.monitors.reevalreport import CaseEffect, CaseEvent, ReevalCase, ReevalReport, summarise
from scientist.monitors.referencelearner import primary_effect, reference_events
from scientist.monitors.runscan import scan_workspace
from scientist.monitors.switchedsetting import switched_setting_events
from scientist.sandbox import Limits, Sandbox
from scientist.sandbox.final_info import FINAL_INFO, try_load_final_info
from scientist.sandbox.reader import remove_tree
from scientist.stages.evaluation import (
    OUT_DIR,
    ArtifactComparison,
    compare_artifacts,
    printed_in_log,
    run_evaluator,
    run_fresh_evaluator,
)
from scientist.stages.experiment import experiment_command
from scientist.stages.referencerun import (
    REFERENCE_SEEDS,
    applies,
    cached_reference,
    changes_code,
    switched_references,
)
from scientist.template import CONFIG_FILE, Template, load_template

CACHE_VERSION = 4  # 2: the run-time monitors' events are part of an observation; 3: the fresh-draws pass; 4: pinned
_IGNORED = ("__pycache__",)


class Observation(BaseModel):
    """What one case's run showed (cached): the evaluator's, the run file's and the log's metrics, or why none."""

    version: int = CACHE_VERSION
    verdict: Literal["measured", "no_verdict"]
    reason: str | None = None
    measured: dict[str, Any] = Field(default_factory=dict)
    claimed: dict[str, Any] | None = None
    printed: dict[str, float] = Field(default_factory=dict)
    run_events: list[MonitorEvent] = Field(
        default_factory=list, description="the agent run's monitors (workspace scan + dynamic), failed runs too"
    )
    run_scanned: bool = Field(default=False, description="the run happened and its monitors looked at it")
    fresh: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="secret evaluation seed -> the evaluator's metrics on the same artifacts (fresh_draws templates)",
    )
    fresh_error: str | None = Field(default=None, description="why the fresh-draws pass gave no metrics")
    same_artifact: bool | None = Field(
        default=None, description="a second training seed saved the same artifacts (seeded_artifacts templates)"
    )
    pinned: dict[str, float] = Field(
        default_factory=dict,
        description="artifact entries a second training seed saved identically while the rest differs (ditto)",
    )
    reference: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="training seed -> the evaluator's metrics of the template's own learner on the case's config"
        " (reference_learner templates, when the case changed the learner: scientist.stages.referencerun)",
    )
    baseline: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="training seed -> the evaluator's metrics of the template's own learner on the case's config, for a"
        " template without the reference-learner witness when the case changed code: the yardstick of the case's"
        " effect on the primary metric (reported, never a verdict)",
    )
    switched: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="`switch=value` -> the evaluator's metrics of the template's own learner on the case's config with"
        " that task switch flipped, on the case's seed (scientist.monitors.switchedsetting)",
    )
    artifact_settings: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="task setting -> what config.json states and what the graded artifact holds, as the evaluator read"
        " them (scientist.monitors.artifactsettings)",
    )
    wall_time_s: float = 0.0


class Materialised(BaseModel):
    """A case as the experiment stage would run it: the agent's files (all of them, edited or not), or why the
    stage would never run the edit."""

    code: dict[str, str] = Field(default_factory=dict)
    refused: str | None = None


def materialise(case: Case, template: Template) -> Materialised:
    """The agent-owned files of the case's view with its edits applied (one function applies search/replace edits
    for the diff and for the run: `applied_edits`; a raw patch is applied hunk by hunk)."""
    view = code_view(template) if case.view == "code" else template
    after: dict[str, str | None] = {}
    if case.patch is not None:
        try:
            files = parse(case.patch)
        except UnreadableDiff as err:
            return Materialised(refused=f"the patch is unreadable: {str(err)[:200]}")
        for file in files:
            if file.is_deleted or file.renamed or file.binary or file.is_symlink:
                return Materialised(refused=f"the patch deletes, renames or links {file.path}: not run")
            try:
                original = "" if file.is_new else template.source_of(file.path).read_text(encoding="utf-8")
                after[file.path] = apply(original, file)
            except (UnreadableDiff, OSError) as err:
                return Materialised(refused=f"the patch does not apply to {file.path}: {str(err)[:200]}")
    else:
        after = {path: edited for path, (_, edited, _) in applied_edits(case, template).items()}
    owned = set(template.harness_owned()) - set(view.editable)
    for path in sorted(after):
        if path in owned or any(path.startswith(entry.rstrip("/") + "/") for entry in owned):
            return Materialised(
                refused=f"edits harness-owned {path}: the edit loop refuses it, so no run carries it"
                " (the static rules judge it)"
            )
        if path not in view.editable:
            return Materialised(
                refused=f"edits {path}, which the experiment stage does not carry into the run (not agent-owned)"
            )
    code = {path: template.source_of(path).read_text(encoding="utf-8") for path in view.editable}
    code.update({path: text for path, text in after.items() if text is not None})
    return Materialised(code=code)


# The functions whose events a re-evaluation stores (what `sandbox_run_events` calls: the workspace scan and the
# run's dynamic evidence). Static and re-evaluation verdicts are recomputed from today's code wherever they are
# read (the record tests re-judge both), so only these modules vouch for something that cannot be recomputed.
_STORED_EVENT_PRODUCERS: tuple[Callable[..., list[MonitorEvent]], ...] = (scan_workspace, scan_sandbox_result)
_MONITORS_PACKAGE = "scientist.monitors"


def _imported_monitor_modules(path: Path) -> set[str]:
    """The scientist.monitors modules `path` imports anywhere (top level, inside functions, under TYPE_CHECKING:
    a lazy import is still code the events depend on)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(_MONITORS_PACKAGE + ".")}
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            if node.module == _MONITORS_PACKAGE:
                found |= {f"{_MONITORS_PACKAGE}.{alias.name}" for alias in node.names}
            elif node.module.startswith(_MONITORS_PACKAGE + "."):
                found.add(node.module)
    return found


def event_source_modules() -> list[str]:
    """The monitor modules that can change a stored run event: the transitive closure, over scientist.monitors
    imports, of the modules defining `_STORED_EVENT_PRODUCERS` (derived from the code, so a new helper module
    a scan imports is covered the day it is imported; a reporting module such as evaluate.py is not)."""
    folder = Path(__file__).resolve().parents[1] / "monitors"
    todo = [producer.__module__ for producer in _STORED_EVENT_PRODUCERS]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = folder / f"{module.rsplit('.', 1)[1]}.py"
        if path.is_file():  # a name imported from the package itself (a function in __init__) is no module
            todo += sorted(_imported_monitor_modules(path) - seen)
    return sorted(module for module in seen if (folder / f"{module.rsplit('.', 1)[1]}.py").is_file())


def monitor_source_hash() -> str:
    """sha256 of the source of the monitor modules that produce the stored run events (`event_source_modules`),
    part of every case key.

    Why the run-time events are cached as events under this hash rather than recomputed from stored evidence: the
    workspace scan reads the whole workspace the run left and the dynamic monitors read its stdout, stderr, out/
    log and final_info.json; storing all of that per case would copy each run's folder into the cache and into the
    recorded report, and any monitor that later reads one more thing would silently judge incomplete evidence.
    Keying the stored events by the monitors' code instead means a changed monitor re-runs the cases (and makes a
    recorded report stale, which its test says), never reuses events today's monitors would not produce. Only the
    modules those events come from count: editing a reporting module (evaluate.py's scoring, reevalreport.py)
    changes no event and so stales no record."""
    folder = Path(__file__).resolve().parents[1] / "monitors"
    digest = hashlib.sha256()
    for module in event_source_modules():
        path = folder / f"{module.rsplit('.', 1)[1]}.py"
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class KeyBase(BaseModel):
    """What every case key of one template shares, hashed once per corpus pass (not once per case): the sha256 of
    each file of the materialised workspace before the agent's code (the template's, the vendored ones), the
    evaluator's source and the monitors' source."""

    files: dict[str, str]
    evaluator: str
    monitors: str

    @classmethod
    def of(cls, template: Template, monitors: str) -> KeyBase:
        files: dict[str, str] = {}
        for path in sorted(template.path.rglob("*")):
            rel = path.relative_to(template.path).as_posix()
            if path.is_file() and not any(part in _IGNORED for part in path.parts) and not rel.endswith(".pyc"):
                files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        for name, source in template.vendored().items():
            files[name] = hashlib.sha256(source.read_bytes()).hexdigest()
        evaluator = ""
        if template.evaluator is not None:
            sources = [template.path / template.evaluator.script, *template.vendored().values()]
            evaluator = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
        return cls(files=files, evaluator=evaluator, monitors=monitors)


class CaseKeys:
    """Case keys for one corpus pass: the monitors' source hashed once, each template's files once."""

    def __init__(self) -> None:
        self._monitors = monitor_source_hash()
        self._bases: dict[str, KeyBase] = {}

    def key(self, template: Template, code: dict[str, str], seed: int, backend: str) -> str:
        base = self._bases.get(template.name) or self._bases.setdefault(
            template.name, KeyBase.of(template, self._monitors)
        )
        return case_key(base, code, seed, backend)


def case_key(base: KeyBase, code: dict[str, str], seed: int, backend: str) -> str:
    """sha256 of everything the case's run and its verdicts depend on: every file of the materialised workspace
    (the template's and vendored ones from `base`, the agent's code over them), the evaluator's source, the
    monitors' source, the seed and the backend."""
    files = dict(base.files)
    for rel, text in code.items():
        files[rel] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    payload = {
        "files": files,
        "evaluator": base.evaluator,
        "monitors": base.monitors,
        "seed": seed,
        "backend": backend,
        "version": CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def default_cache() -> Path:
    from scientist.config import default_cache_dir

    return default_cache_dir() / "monitor-reeval"


def observe(
    sandbox: Sandbox, template: Template, code: dict[str, str], seed: int, view: Template | None = None
) -> Observation:
    """Run the agent's code for one seed and the template's evaluator on what it saved, in a temporary folder.
    `view` is the template as the run's monitors see it (the code view when experiment code is agent-owned)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="scientist-reeval-") as tmp:
        root = Path(tmp)
        agent = root / "agent" / "workspace"
        evaluated_workspace: Path | None = None
        try:
            observation, evaluated_workspace = _observe_in(sandbox, template, view or template, code, seed, root, agent)
        finally:
            for workspace in (agent, evaluated_workspace):
                if workspace is not None and workspace.exists():
                    sandbox.cleanup(workspace)
            for child in root.iterdir():
                remove_tree(child)  # the run may leave unwritable or linked files; never followed
    return observation.model_copy(update={"wall_time_s": round(time.monotonic() - started, 2)})


def _observe_in(
    sandbox: Sandbox, template: Template, view: Template, code: dict[str, str], seed: int, root: Path, agent: Path
) -> tuple[Observation, Path | None]:
    if template.evaluator is None:
        return Observation(verdict="no_verdict", reason=f"template {template.name} has no evaluator"), None
    protected = [name for name in template.protected if name not in code]  # the view's agent files stay writable
    sandbox.prepare(template.path, agent, protected, template.vendored())
    for rel, text in code.items():
        target = agent / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    result = sandbox.run(
        agent, experiment_command(seed), Limits.for_template(template), out_dir=OUT_DIR, log_dir=root / "agent" / "logs"
    )
    # As the experiment stage does right after the run, whatever its exit code (an agent run: its files are the
    # agent's, its final_info.json is a claim).
    events = sandbox_run_events(agent, result, view, f"reeval/seed_{seed}", config_text=code.get(CONFIG_FILE))
    if not result.ok:
        lines = [line for line in result.stderr_tail.splitlines() if line.strip()]
        if result.timed_out:
            why = "timed out"
        elif result.protected_violations:
            why = f"touched protected files {result.protected_violations}"
        else:
            why = f"exit code {result.exit_code}: {lines[-1][:300] if lines else 'no error output'}"
        return Observation(
            verdict="no_verdict", reason=f"the agent's run failed: {why}", run_events=events, run_scanned=True
        ), None
    evaluated = run_evaluator(sandbox, template, root / "eval", agent, code.get(CONFIG_FILE), seed)
    if evaluated.measured is None:
        return Observation(
            verdict="no_verdict", reason=evaluated.error, run_events=events, run_scanned=True
        ), evaluated.workspace
    claimed = try_load_final_info(agent, f"{OUT_DIR}/{FINAL_INFO}")
    printed = printed_in_log(Path(result.stdout_path), result.stdout_tail, list(template.metrics))
    fresh: dict[str, dict[str, Any]] = {}
    fresh_error = None
    if template.evaluator.fresh_draws:  # the same artifacts on seeds the agent cannot know
        seeds = secret_seeds(FRESH_SEEDS)
        graded = run_fresh_evaluator(sandbox, template, root / "fresh", agent, code.get(CONFIG_FILE), seeds)
        fresh = {str(seed): metrics for seed, metrics in graded.metrics.items()}
        fresh_error = graded.error
    compared = None
    if template.evaluator.seeded_artifacts:  # the same code, another training seed: was the artifact fitted?
        compared = _second_seed_artifacts(sandbox, template, code, seed, root, agent)
    observation = Observation(
        verdict="measured",
        measured=dict(evaluated.measured.metrics),
        claimed=dict(claimed.metrics) if claimed else None,
        printed=printed,
        run_events=events,
        run_scanned=True,
        fresh=fresh,
        fresh_error=fresh_error,
        same_artifact=compared.same if compared else None,
        pinned=compared.pinned if compared else {},
        artifact_settings=artifact_settings(evaluated.measured.as_dict(), template),
    )
    return observation, evaluated.workspace


def _second_seed_artifacts(
    sandbox: Sandbox, template: Template, code: dict[str, str], seed: int, root: Path, agent: Path
) -> ArtifactComparison | None:
    """Run the agent's code again with the next training seed and compare the graded artifacts' parsed content
    with the first run's; None when the second run or either artifact is unusable (no verdict, never a catch)."""
    spec = template.evaluator
    if spec is None:
        return None
    other = root / "agent2" / "workspace"
    try:
        protected = [name for name in template.protected if name not in code]
        sandbox.prepare(template.path, other, protected, template.vendored())
        for rel, text in code.items():
            target = other / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        limits = Limits.for_template(template)
        result = sandbox.run(
            other, experiment_command(seed + 1), limits, out_dir=OUT_DIR, log_dir=root / "agent2" / "logs"
        )
        if not result.ok:
            return None
        return compare_artifacts(spec.artifacts, agent, other)
    finally:
        if other.exists():
            sandbox.cleanup(other)


def judge(case: Case, template: Template, observation: Observation, seed: int) -> tuple[str, list[str]]:
    """caught or clean, and the re-evaluation events' evidence, from an observation (as the experiment stage
    judges a seed: every claim against the measurement, and the reported primary metric)."""
    location = f"corpus/{case.id}/seed_{seed}"
    args = (observation.measured, observation.claimed, observation.printed)
    events = claim_events(*args, seed=seed, location=location)
    events += reported_metric_events(*args, template.primary_metric, seed=seed, location=location)
    events += fresh_events(template, observation.measured, observation.fresh, seed=seed, location=location)
    artifacts = template.evaluator.artifacts if template.evaluator is not None else []
    events += seed_blind_artifact_events(observation.same_artifact, artifacts, (seed, seed + 1), location=location)
    events += pinned_part_events(observation.pinned, artifacts, (seed, seed + 1), location=location)
    events += reference_events(template, observation.measured, observation.reference, location=location)
    stated = observation.reference.get(str(seed))
    events += switched_setting_events(observation.measured, stated, observation.switched, seed=seed, location=location)
    events += artifact_setting_events(observation.artifact_settings, seed=seed, location=location)
    return ("caught" if events else "clean"), [f"{event.rule}: {event.evidence}" for event in events]


def fresh_events(
    template: Template,
    measured: dict[str, Any],
    fresh: dict[str, dict[str, Any]],
    *,
    seed: int,
    location: str | None,
) -> list[MonitorEvent]:
    """The primary metric on the public evaluation draws against the same artifacts on the secret ones
    (scientist.monitors.freshdraws); nothing without a fresh-draws pass."""
    primary = template.primary_metric
    public = measured.get(primary)
    if not fresh or not isinstance(public, int | float) or isinstance(public, bool):
        return []
    values = [metrics.get(primary) for metrics in fresh.values()]
    direction = template.metrics[primary].direction
    return fresh_draw_events(float(public), values, primary, direction, seed=seed, location=location)


def reevaluate_corpus(
    corpus: Path,
    template_name: str,
    sandbox: Sandbox,
    *,
    seed: int = 0,
    cache: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReevalReport:
    """The static evaluation of `corpus` plus one re-evaluated run per code case, summarised per case and overall."""
    started = time.monotonic()
    static = {result.id: result for result in evaluate_corpus(corpus, template_name).cases}
    cache = default_cache() if cache is None else cache
    templates: dict[str, Template] = {}
    keys = CaseKeys()
    cases: list[ReevalCase] = []
    loaded = load_cases(corpus)
    for number, case in enumerate(loaded, 1):
        name = case.template or template_name
        template = templates.get(name) or templates.setdefault(name, load_template(name))
        result = static[case.id]
        static_events = [CaseEvent.of(event) for event in run_case(case, template)]
        base = ReevalCase(
            id=case.id,
            label=case.label,
            template=name,
            expected=list(case.monitors),
            static_flagged=result.flagged,
            static_fired=result.fired,
            static_events=static_events,
            outcome="not_run",
            reason="a paper-draft case: no run",
        )
        if case.sections is None:
            base = _reevaluated(case, base, template, sandbox, seed, cache, keys)
        cases.append(base)
        if progress is not None and not cases[-1].cached and cases[-1].outcome != "not_run":
            progress(f"[{number}/{len(loaded)}] {case.id}: {cases[-1].outcome} ({cases[-1].wall_time_s:.1f} s)")
    return summarise(
        cases, corpus=str(corpus), backend=sandbox.backend, seed=seed, wall_time_s=time.monotonic() - started
    )


def _reevaluated(
    case: Case, base: ReevalCase, template: Template, sandbox: Sandbox, seed: int, cache: Path, keys: CaseKeys
) -> ReevalCase:
    """`base` (the case's static verdict) with its re-evaluation: from the cache, or run now and cached."""
    materialised = materialise(case, template)
    view = code_view(template) if case.view == "code" else template
    if materialised.refused is not None:
        return base.model_copy(update={"outcome": "no_verdict", "reason": materialised.refused})
    key = keys.key(template, materialised.code, seed, sandbox.backend)
    observation, cached = _cached(cache, key)
    if observation is None:
        observation = observe(sandbox, template, materialised.code, seed, view)
        _store(cache, key, observation)
    witness = applies(template, materialised.code)  # the reference learner judges; otherwise it only measures
    if (
        observation.verdict == "measured"
        and not (observation.reference or observation.baseline)
        and changes_code(template, materialised.code)
    ):
        seeds = [seed + index for index in range(REFERENCE_SEEDS)]
        config = materialised.code.get(CONFIG_FILE)
        reference = cached_reference(cache / "reference", sandbox, template, config, seeds, experiment_command)
        if reference.error is None:  # a config the template's learner rejects: no reference, no verdict from it
            field = "reference" if witness else "baseline"
            observation = observation.model_copy(update={field: reference.metrics})
            _store(cache, key, observation)
    if observation.verdict == "measured" and not observation.switched and applies(template, materialised.code):
        switched = _switched_learners(template, sandbox, materialised.code.get(CONFIG_FILE), seed, cache)
        if switched:
            observation = observation.model_copy(update={"switched": switched})
            _store(cache, key, observation)
    common = {
        "key": key,
        "cached": cached,
        "wall_time_s": observation.wall_time_s,
        "run_scanned": observation.run_scanned,
        "run_events": [CaseEvent.of(event) for event in observation.run_events],
    }
    if observation.verdict == "no_verdict":
        return base.model_copy(update={**common, "outcome": "no_verdict", "reason": observation.reason})
    outcome, evidence = judge(case, template, observation, seed)
    observed: dict[str, Any] = {
        "measured": observation.measured,
        "claimed": observation.claimed,
        "printed": observation.printed,
    }
    if observation.fresh:  # the secret seeds' metrics: a record re-judges the fresh-draws rule from them
        observed["fresh"] = observation.fresh
    if observation.same_artifact is not None:
        observed["same_artifact"] = observation.same_artifact
    if observation.pinned:
        observed["pinned"] = observation.pinned
    if observation.reference:
        observed["reference"] = observation.reference
    if observation.baseline:
        observed["baseline"] = observation.baseline
    if observation.switched:
        observed["switched"] = observation.switched
    if observation.artifact_settings:
        observed["artifact_settings"] = observation.artifact_settings
    effect = case_effect(template, observation)
    return base.model_copy(
        update={
            **common,
            "outcome": outcome,
            "reason": None,
            "evidence": evidence,
            "observed": observed,
            "effect": CaseEffect(gap=effect[0], margin=effect[1]) if effect else None,
        }
    )


def case_effect(template: Template, observation: Observation) -> tuple[float, float] | None:
    """How far the run's primary metric lies beyond the template's own learner on the case's stated config, and
    the noise margin it is held to (scientist.monitors.referencelearner `primary_effect`); None when the case
    changed only config.json (it IS that learner) or the learner gave no number."""
    return primary_effect(template, observation.measured, observation.reference or observation.baseline)


def _switched_learners(
    template: Template, sandbox: Sandbox, config: str | None, seed: int, cache: Path
) -> dict[str, dict[str, Any]]:
    """`switch=value` -> the template's own learner's metrics on `config` with that switch flipped, on `seed`."""
    runs = switched_references(cache / "reference", sandbox, template, config, [seed], experiment_command)
    return {flipped: run.metrics[str(seed)] for flipped, run in runs.items() if str(seed) in run.metrics}


def _cached(cache: Path, key: str) -> tuple[Observation | None, bool]:
    path = cache / f"{key}.json"
    if not path.is_file():
        return None, False
    try:
        observation = Observation.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return None, False  # unreadable or from another version: run it again
    return (observation, True) if observation.version == CACHE_VERSION else (None, False)


def _store(cache: Path, key: str, observation: Observation) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cache / f"{key}.json", observation.model_dump_json(indent=2) + "\n")
    except OSError as err:
        raise ScientistError(
            f"cannot write the re-evaluation cache {cache}: {err}", hint="set XDG_CACHE_HOME to a writable folder"
        ) from None
