"""Experiment templates: the registry of template folders and the typed view of each one's `template.toml`.

A template is package data (a folder under `scientist/templates/`), so it ships inside the wheel and is found
next to this module rather than via the working directory. `validate_variant` and `clamp_variant` are the only
way an LLM-proposed config change reaches a sandbox run: unknown knobs and out-of-range values never do.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scientist.errors import ConfigError, ScientistError, UnknownTemplateError

TEMPLATE_FILE = "template.toml"
CONFIG_FILE = "config.json"
SEED_IDEAS_FILE = "seed_ideas.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

Number = int | float


class MetricSpec(BaseModel):
    """One metric the experiment writes to final_info.json, and which way is better."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["higher", "lower"]
    description: str


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
    path: Path
    seed_ideas: list[SeedIdea] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        if self.primary_metric not in self.metrics:
            raise ValueError(f"primary_metric {self.primary_metric!r} is not one of the metrics {sorted(self.metrics)}")
        overlap = sorted(set(self.protected) & set(self.editable))
        if overlap:
            raise ValueError(f"files {overlap} are both protected and editable")
        return self

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


def templates_root() -> Path:
    """The bundled templates folder (next to this module, so it works from a wheel as well as a checkout)."""
    return Path(__file__).parent / "templates"


def list_templates() -> list[str]:
    root = templates_root()
    if not root.is_dir():
        return []
    return sorted(path.name for path in root.iterdir() if (path / TEMPLATE_FILE).is_file())


def load_template(name: str) -> Template:
    """Load a bundled template by name, or a template folder by path (a directory holding template.toml)."""
    folder = _find(name)
    toml_path = folder / TEMPLATE_FILE
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read {toml_path}: {err}", hint="fix the TOML syntax of the template") from None
    seed_ideas = _read_json(folder / SEED_IDEAS_FILE, default=[])
    data.setdefault("name", folder.name)
    try:
        template = Template.model_validate({**data, "path": folder, "seed_ideas": seed_ideas})
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'template'}: {item['msg']}" for item in err.errors()[:5]
        )
        raise ConfigError(f"invalid template {toml_path}: {problems}", hint="fix the template's fields") from None
    _check_files(template)
    return template


def _find(name: str) -> Path:
    candidate = Path(name).expanduser()
    if ("/" in name or name.startswith(".")) and (candidate / TEMPLATE_FILE).is_file():
        return candidate.resolve()
    available = list_templates()
    if _NAME.match(name) and name in available:
        return templates_root() / name
    raise UnknownTemplateError(
        f"unknown experiment template {name!r}",
        hint=f"available templates: {', '.join(available) or 'none'} (or pass a folder that holds {TEMPLATE_FILE})",
    )


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
    for file in ["experiment.py", *template.protected, *template.editable]:
        if not (template.path / file).is_file():
            raise ConfigError(f"template {toml_path} names {file!r}, which is missing", hint="add the file")
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
