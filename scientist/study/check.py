"""Check a study's names against what exists here (templates, models) and build each run's Settings.

Separate from `spec` because these checks import the template registry and the model gateway's provider table.
"""

from __future__ import annotations

from pathlib import Path

from scientist.config import Settings, load_settings
from scientist.errors import ConfigError, ScientistError
from scientist.study.spec import CellSpec, StudySpec


def run_settings(spec: StudySpec, cell: CellSpec, sample: int, runs_dir: Path) -> Settings:
    """Settings of run `sample` of `cell`: flags from the study over env and scientist.toml."""
    try:
        return load_settings(**spec.settings_for(cell, sample), runs_dir=runs_dir)
    except ConfigError as err:
        raise ConfigError(f"study {spec.name!r}, variant {cell.variant!r}: {err.message}", hint=err.hint) from err


def check_study(spec: StudySpec) -> None:
    """Every template and model exists and every variant gives valid Settings; else one error naming the key."""
    from scientist.llm.gateway import check_model
    from scientist.template import list_templates, load_template

    for template in spec.templates:
        try:
            load_template(template)
        except ScientistError as err:
            raise ConfigError(
                f"unknown template {template!r} in the study's templates",
                hint=f"valid: {', '.join(list_templates())} (or a template folder path)",
            ) from err
    for model in spec.models:
        try:
            check_model(load_settings(**spec.settings, model=model))
        except ScientistError as err:
            raise ConfigError(
                f"model {model!r} in the study's models cannot be used: {err.message}",
                hint="valid: provider/name as litellm knows it (openai/..., anthropic/..., ollama/...) or"
                " local/smollm2-135m; hosted providers need their API key in the environment",
            ) from err
    cell = spec.cells()[0]
    for variant in spec.variants:
        run_settings(spec, cell.model_copy(update={"variant": variant}), 0, Path("runs"))
