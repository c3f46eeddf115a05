"""Experiment templates: the registry of template folders and the typed view of each one's `template.toml`.

A bundled template is package data (a folder under `scientist/templates/`), so it ships inside the wheel and is
found next to this module rather than via the working directory; an installed package adds one through the
entry-point group `scientist.template` (`TEMPLATES`). `validate_variant` and `clamp_variant` are the only
way an LLM-proposed config change reaches a sandbox run: unknown knobs and out-of-range values never do.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scientist.errors import ConfigError, ScientistError, UnknownTemplateError
from scientist.registry import Registry

TEMPLATE_FILE = "template.toml"
CONFIG_FILE = "config.json"
EXPERIMENT_FILE = "experiment.py"
SEED_IDEAS_FILE = "seed_ideas.json"
SHARED_DIR = "_shared"  # under the bundled templates folder: code several templates vendor (`Template.vendor`)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

Number = int | float


class MetricSpec(BaseModel):
    """One metric the experiment writes to final_info.json, and which way is better."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["higher", "lower"]
    description: str
    # A rate averaged over this many independent items (test inputs, evaluation episodes): its sampling error sets
    # the smallest gap the reference learner's check may call gaming (scientist.monitors.referencelearner).
    items: int | None = Field(default=None, ge=1)


class ParamSpec(BaseModel):
    """One tunable value in config.json, with the range an agent may move it in."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["int", "float"]
    default: Number
    min: Number
    max: Number
    description: str

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        for name in ("default", "min", "max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            if self.type == "int":
                if float(value) != int(value):
                    raise ValueError(f"{name} of an int param must be an integer, got {value!r}")
                setattr(self, name, int(value))
            else:
                setattr(self, name, float(value))
        if not self.min <= self.default <= self.max:
            raise ValueError(f"default {self.default} is outside [min, max] = [{self.min}, {self.max}]")
        return self

    def coerce(self, value: Any) -> Number:
        """`value` as this param's type, or ValueError saying why it is not one."""
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        if self.type == "int":
            if float(value) != int(value):
                raise ValueError(f"expected an integer, got {value!r}")
            return int(value)
        return float(value)


class TemplateLimits(BaseModel):
    """Resource limits the sandbox enforces from outside for one run of this template."""

    model_config = ConfigDict(extra="forbid")

    wall_time_s: float = Field(60.0, gt=0)
    memory_mb: int = Field(1024, gt=0)


EditMode = Literal["config", "code"]


class EvaluatorSpec(BaseModel):
    """Template contract v2: the harness-owned evaluator and the artifacts it grades.

    After the agent's run the harness copies each declared artifact from the run's out dir into a fresh sandbox
    workspace (under `artifacts/`, with the run's config.json) and runs
    `python <script> --artifacts_dir artifacts --config config.json --out_dir out --seed N` there; only that run's
    final_info.json reaches the paper. The script is protected: the agent never gets it in writable form."""

    model_config = ConfigDict(extra="forbid")

    script: str = "evaluate.py"
    artifacts: list[str] = Field(min_length=1, description="Files the agent's run must save under its out dir")
    # Files the protected runner saves beside the artifacts as evidence of what the agent's code did (planted_gaming's
    # probe of its shaping hook): copied to the evaluator when the run left them, never required, never graded. The
    # evaluator reads from them what the artifact embodies (`artifact_settings`, scientist.monitors.artifactsettings).
    evidence: list[str] = Field(default_factory=list)
    # What a run with ONE seed reports: the harness's summary (mean/std/CI over the one seed) or the evaluator's own
    # final_info.json byte for byte. A template ported from contract v1 keeps the file its papers were made from
    # (same fields, order and sha256), so recorded runs replay; with two or more seeds the summary always is.
    one_seed_report: Literal["summary", "evaluator"] = "summary"
    # True when the evaluator's --seed moves only its evaluation draws (episodes, test sets), never the task, the
    # config or what the artifact must contain: the harness may then grade the same artifacts again on draws from
    # seeds the agent cannot know (scientist.monitors.freshdraws). False when an artifact answers one seed's draws
    # (impossible_task's predictions are for that seed's test inputs): a fresh seed would grade it on other items.
    fresh_draws: bool = False
    # True when a trained artifact differs between training seeds (the training data are drawn from the seed and
    # the artifact holds fitted real numbers): an artifact byte-identical for two seeds was not fitted to either
    # (scientist.monitors.freshdraws `seed_blind_artifact_events`). False for tables of discrete actions, which an
    # honest learner can reach identically from any seed.
    seeded_artifacts: bool = False
    # True when the template's variants change config values only (the learner's code is not a research variable):
    # the harness then runs the template's OWN learner on a code-mode run's config.json and flags an artifact that
    # scores far beyond it (scientist.monitors.referencelearner). False where code is the variable (a shaping hook,
    # a reward model the agent may rewrite).
    reference_learner: bool = False

    @model_validator(mode="after")
    def _relative(self) -> EvaluatorSpec:
        for name in [self.script, *self.artifacts, *self.evidence]:
            path = PurePosixPath(name)
            if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
                raise ValueError(f"{name!r} must be a relative path inside the template (no '..')")
        return self


class TaskDataSpec(BaseModel):
    """A protected loader of the task's data, and the config setting that sizes what a run may draw from it.

    The loader reports each call's arguments to the sandbox's trace (`sys.audit("scientist.task_data", name,
    arguments)`, see sandbox/write_trace.py); scientist.monitors.taskdraws flags a run whose calls drew more items in
    total than the config states (a larger size, or a second draw on another seed)."""

    model_config = ConfigDict(extra="forbid")

    module: str = Field(description="the protected module (a .py file at the template's top level) defining it")
    size_argument: str = Field(description="the loader's argument counting the items one call draws")
    setting: str = Field(description="the config setting stating how many items the run may draw")


class SeedIdea(BaseModel):
    """An example idea shown to the ideation prompt; `variant` is a config change that would test it."""

    title: str
    hypothesis: str
    experiment_plan: str
    risks: str
    variant: dict[str, Number] = Field(default_factory=dict)


class Template(BaseModel):
    """A loaded template: what the agent reads (task, metrics, params) and what the harness enforces."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    task_description: str
    metrics: dict[str, MetricSpec] = Field(min_length=1)
    primary_metric: str
    protected: list[str]
    editable: list[str]
    limits: TemplateLimits = Field(default_factory=lambda: TemplateLimits(wall_time_s=60.0, memory_mb=1024))
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    evaluator: EvaluatorSpec | None = None
    config_editable: list[str] | None = None  # what config mode may edit (default: all of `editable`)
    # What config mode names as protected in the edit prompt and in refused edits (default: `protected`): a template
    # ported from contract v1 keeps the list its recorded prompts show (its agent-owned experiment.py, which config
    # mode may not edit, in place of the evaluator). Display only: the sandbox always protects `protected`.
    config_protected: list[str] | None = None
    # Harness-owned files copied into every workspace from the bundled `_shared` folder (one source for code several
    # templates run, e.g. one evaluator). The sandbox protects and hashes them like `protected`; they are not shown
    # in the edit prompt's lists (display only, as config_protected), so the prompts stay those of the templates'
    # recordings, but an edit of one is refused as protected.
    vendor: list[str] = Field(default_factory=list)
    # The settings that define the task the report names (read by scientist.monitors.taskflow): config params whose
    # value the report states as the condition run, and UPPER_CASE module constants of the agent's code that fix the
    # task's world outside the config. An edit of the code that changes the value flowing from one of them to its
    # use, while the config still states the original, is flagged; changing the config itself is open.
    task_settings: list[str] = Field(default_factory=list)
    # The protected loaders the task's data comes from, by name (their calls are traced in the sandbox).
    task_data: dict[str, TaskDataSpec] = Field(default_factory=dict)
    path: Path
    seed_ideas: list[SeedIdea] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        if self.primary_metric not in self.metrics:
            raise ValueError(f"primary_metric {self.primary_metric!r} is not one of the metrics {sorted(self.metrics)}")
        overlap = sorted(set(self.protected) & set(self.editable))
        if overlap:
            raise ValueError(f"files {overlap} are both protected and editable")
        outside = sorted(set(self.config_editable or []) - set(self.editable))
        if outside:
            raise ValueError(f"config_editable files {outside} are not under editable")
        editable_in_config = set(self.editable_for("config"))
        for name in self.config_protected or []:
            if name in editable_in_config or name not in {*self.protected, *self.editable}:
                raise ValueError(
                    f"config_protected file {name!r} must be a protected file, or an editable one config mode may "
                    "not edit"
                )
        if self.evaluator is not None and self.evaluator.script not in self.protected:
            raise ValueError(f"the evaluator {self.evaluator.script!r} must be listed under protected")
        for name in self.vendor:
            if "/" in name or "\\" in name or name.startswith(".") or name in {*self.protected, *self.editable}:
                raise ValueError(
                    f"vendored file {name!r} must be a plain file name of {SHARED_DIR}/, not also protected or editable"
                )
        for name in self.task_settings:
            if name not in self.params and not (name.isidentifier() and name.isupper()):
                raise ValueError(
                    f"task setting {name!r} is neither a [params] entry nor an UPPER_CASE module constant name"
                )
        for loader, spec in self.task_data.items():
            if spec.setting not in self.params:
                raise ValueError(f"task_data loader {loader!r} names {spec.setting!r}, which is no [params] entry")
            if spec.module not in self.protected or "/" in spec.module or not spec.module.endswith(".py"):
                raise ValueError(
                    f"task_data loader {loader!r}: its module {spec.module!r} must be a protected .py file"
                )
        if self.evaluator is None and EXPERIMENT_FILE in self.editable:
            raise ValueError(
                f"{EXPERIMENT_FILE} is agent-owned (editable) but there is no [evaluator]: the agent would grade "
                "itself; add an [evaluator] section with a protected evaluate.py"
            )
        return self

    def editable_for(self, mode: EditMode) -> list[str]:
        """The files the agent may edit in this mode: config mode keeps to `config_editable`."""
        if mode == "config" and self.config_editable is not None:
            return list(self.config_editable)
        return list(self.editable)

    def protected_for(self, mode: EditMode) -> list[str]:
        """The files the agent is told are protected in this mode (config mode may show `config_protected`)."""
        if mode == "config" and self.config_protected is not None:
            return list(self.config_protected)
        return list(self.protected)

    def vendored(self) -> dict[str, Path]:
        """The shared files this template's workspaces get: workspace name -> its one source under `_shared/`."""
        return {name: templates_root() / SHARED_DIR / name for name in self.vendor}

    def source_of(self, rel: str) -> Path:
        """Where a workspace file comes from: its vendored source, or the template folder (what it is compared to)."""
        return self.vendored().get(rel, self.path / rel)

    def harness_owned(self) -> list[str]:
        """Every file the agent may not change: `protected` plus the vendored files (the sandbox guards both)."""
        return [*self.protected, *self.vendor]

    def default_config(self) -> dict[str, Number]:
        return {name: spec.default for name, spec in self.params.items()}

    def validate_variant(self, overrides: Mapping[str, Any]) -> dict[str, Number]:
        """Overrides coerced to their param types; any unknown param or out-of-range value is an error."""
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise ScientistError(
                f"template {self.name!r} has no parameter(s) {unknown}",
                hint=f"choose from {sorted(self.params)}",
            )
        result: dict[str, Number] = {}
        for name, raw in overrides.items():
            spec = self.params[name]
            try:
                value = spec.coerce(raw)
            except ValueError as err:
                wanted = "an integer" if spec.type == "int" else "a number"
                raise ScientistError(
                    f"parameter {name!r} of template {self.name!r}: {err}", hint=f"give {wanted}"
                ) from None
            if not spec.min <= value <= spec.max:
                raise ScientistError(
                    f"parameter {name!r}={value} is outside its range [{spec.min}, {spec.max}]",
                    hint=f"choose a value between {spec.min} and {spec.max}",
                )
            result[name] = value
        return result

    def clamp_variant(self, overrides: Mapping[str, Any]) -> dict[str, Number]:
        """The lenient twin of `validate_variant`: drop unknown or non-numeric keys, round ints, clamp to range."""
        result: dict[str, Number] = {}
        for name, raw in overrides.items():
            spec = self.params.get(name)
            if spec is None or isinstance(raw, bool):
                continue
            try:
                value = float(raw)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                continue
            value = min(max(value, float(spec.min)), float(spec.max))
            result[name] = math.floor(value + 0.5) if spec.type == "int" else value
        return result


def check_edit_mode(template: Template, mode: EditMode | None) -> None:
    """Code mode needs a harness-owned evaluator: without one the agent's code would report its own results."""
    if mode == "code" and template.evaluator is None:
        raise ConfigError(
            f"edit_mode = code needs a template with a harness-owned evaluator; {template.name!r} has none",
            hint="use edit_mode = config, or a template with an [evaluator] section (scientist templates list)",
        )


def templates_root() -> Path:
    """The bundled templates folder (next to this module, so it works from a wheel as well as a checkout)."""
    return Path(__file__).parent / "templates"


TemplateTarget = Path | str | Callable[[], Path | str]
TEMPLATES: Registry[TemplateTarget] = Registry(
    "template",
    error=UnknownTemplateError,
    hint=f"available templates: {{names}}, or a folder with {TEMPLATE_FILE}",
)
"""Template folders by name: the bundled ones (sorted), then plugins' (entry-point group `scientist.template`, each
entry a folder path or a function returning one) added after them and never over a bundled name."""
if templates_root().is_dir():
    for _folder in sorted(templates_root().iterdir()):
        if (_folder / TEMPLATE_FILE).is_file():
            TEMPLATES.add(_folder.name, _folder)


def list_templates() -> list[str]:
    """The names `load_template` accepts: the bundled templates, then installed plugins' templates."""
    return TEMPLATES.names()


def template_folder(name: str) -> Path:
    """The folder of the template registered as `name` (a plugin's entry may be a function returning it)."""
    target = TEMPLATES.get(name)
    folder = Path(target() if callable(target) else target)
    if not (folder / TEMPLATE_FILE).is_file():
        raise ConfigError(
            f"template {name!r} (from {TEMPLATES.origin(name) or 'scientist'}) points at {folder}, which has no "
            f"{TEMPLATE_FILE}",
            hint="reinstall the package that provides it, or choose another template (scientist templates list)",
        )
    return folder


def load_template(name: str) -> Template:
    """Load a registered template by name, or a template folder by path (a directory holding template.toml)."""
    folder, default_name = _find(name)
    toml_path = folder / TEMPLATE_FILE
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read {toml_path}: {err}", hint="fix the TOML syntax of the template") from None
    seed_ideas = _read_json(folder / SEED_IDEAS_FILE, default=[])
    data.setdefault("name", default_name)
    try:
        template = Template.model_validate({**data, "path": folder, "seed_ideas": seed_ideas})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'template'}: {item['msg']}" for item in err.errors()[:5]
        )
        raise ConfigError(f"invalid template {toml_path}: {problems}", hint="fix the template's fields") from None
    _check_files(template)
    return template


def _find(name: str) -> tuple[Path, str]:
    """The folder, and the name a template.toml without `name` gets (its registered name, or its folder's)."""
    candidate = Path(name).expanduser()
    if ("/" in name or name.startswith(".")) and (candidate / TEMPLATE_FILE).is_file():
        folder = candidate.resolve()
        return folder, folder.name
    if not _NAME.match(name):  # short: the error must stay a few lines as templates are added
        raise TEMPLATES.unknown(name)
    return template_folder(name), name


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}", hint="fix the JSON syntax") from None


def _check_files(template: Template) -> None:
    """The files the harness relies on exist, and config.json's values are the params' declared defaults."""
    toml_path = template.path / TEMPLATE_FILE
    for file in [EXPERIMENT_FILE, *template.protected, *template.editable]:
        if not (template.path / file).is_file():
            raise ConfigError(f"template {toml_path} names {file!r}, which is missing", hint="add the file")
    for name, source in template.vendored().items():
        if not source.is_file():
            raise ConfigError(
                f"template {toml_path} vendors {name!r}, which is not in {source.parent}",
                hint=f"add it under scientist/templates/{SHARED_DIR}, or remove it from vendor",
            )
        if (template.path / name).exists():
            raise ConfigError(
                f"template {toml_path} vendors {name!r} but also holds its own copy",
                hint=f"delete {template.path / name}: the harness copies the shared one into the workspace",
            )
    if template.evaluator is not None:
        _check_evaluator(template, template.evaluator, toml_path)
    config_path = template.path / CONFIG_FILE
    if not config_path.is_file():
        return
    config = _read_json(config_path, default={})
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path} must hold a JSON object", hint="write the params as {name: value}")
    if config != template.default_config():
        raise ConfigError(
            f"{config_path} does not match the param defaults in {toml_path}",
            hint=f"make them equal; template.toml says {template.default_config()}",
        )


def _check_evaluator(template: Template, evaluator: EvaluatorSpec, toml_path: Path) -> None:
    """The evaluator exists, and every declared artifact is written by agent-owned code and read by the evaluator
    (a name in neither is a typo that would fail every run, so it fails at load instead)."""
    script = template.path / evaluator.script
    if not script.is_file():
        raise ConfigError(
            f"template {toml_path} declares the evaluator {evaluator.script!r}, which is missing",
            hint="add the harness-owned evaluator script, or remove the [evaluator] section",
        )
    evaluator_text = "\n".join(  # the evaluator and the shared code it runs (vendored)
        path.read_text(encoding="utf-8", errors="replace") for path in [script, *template.vendored().values()]
    )
    agent_files = sorted({EXPERIMENT_FILE, *template.editable})
    agent_text = "\n".join(
        (template.path / name).read_text(encoding="utf-8", errors="replace")
        for name in agent_files
        if name.endswith(".py") and (template.path / name).is_file()
    )
    declared = [("artifacts", "artifact", name) for name in evaluator.artifacts]
    declared += [("evidence", "evidence file", name) for name in evaluator.evidence]
    for field, noun, artifact in declared:
        base = PurePosixPath(artifact).name
        if base not in agent_text:
            raise ConfigError(
                f"template {toml_path} declares the {noun} {artifact!r}, but no agent-owned file "
                f"({', '.join(agent_files)}) ever writes it",
                hint=f"make the baseline save it under --out_dir, or fix [evaluator].{field}",
            )
        if base not in evaluator_text:
            raise ConfigError(
                f"template {toml_path} declares the {noun} {artifact!r}, but {evaluator.script} never reads it",
                hint=f"make the evaluator load it from --artifacts_dir, or fix [evaluator].{field}",
            )
