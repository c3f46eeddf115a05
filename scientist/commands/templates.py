"""`scientist templates list/show`: the experiment templates a run can use, and what each one measures."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="List and describe experiment templates.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_command() -> None:
    """One line per template: name, primary metric, title; a plugin's template is marked with its package."""
    from scientist.template import TEMPLATES, list_templates, load_template

    table = Table("template", "primary metric", "title")
    for name in list_templates():
        template = load_template(name)
        direction = template.metrics[template.primary_metric].direction
        origin = TEMPLATES.origin(name)
        label = name if origin is None else f"{name} (plugin: {origin})"
        table.add_row(label, f"{template.primary_metric} ({direction} is better)", template.title)
    console.print(table)


@app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Template name, or a folder holding template.toml")],
) -> None:
    """A template's task, metrics, tunable parameters, protected and editable files, limits and seed ideas."""
    from scientist.template import TEMPLATES, load_template

    template = load_template(name)
    console.print(f"[bold]{template.name}[/]: {template.title}")
    console.print(f"folder: {template.path}", soft_wrap=True)
    origin = TEMPLATES.origin(name) if name in TEMPLATES else None
    if origin is not None:
        console.print(f"plugin: {origin}")
    console.print(template.task_description.strip(), soft_wrap=True)
    metrics = Table("metric", "better", "description", title="metrics")
    for metric, spec in template.metrics.items():
        primary = " (primary)" if metric == template.primary_metric else ""
        metrics.add_row(metric + primary, spec.direction, spec.description)
    console.print(metrics)
    params = Table("param", "type", "default", "range", "description", title="parameters (config.json)")
    for param, knob in template.params.items():
        params.add_row(param, knob.type, str(knob.default), f"{knob.min}..{knob.max}", knob.description)
    console.print(params)
    console.print(f"protected: {', '.join(template.protected)}")
    console.print(f"editable: {', '.join(template.editable)}")
    if template.vendor:  # shared code the harness copies in (templates/_shared), protected like the above
        console.print(f"vendored (protected, shared): {', '.join(template.vendor)}")
    if template.config_editable is not None:
        console.print(f"editable in config mode: {', '.join(template.config_editable)}")
    if template.evaluator is not None:  # template contract v2: the harness measures
        artifacts = ", ".join(template.evaluator.artifacts)
        console.print(f"evaluator (harness-owned): {template.evaluator.script} over the artifacts {artifacts}")
    console.print(f"limits: {template.limits.wall_time_s:g} s wall time, {template.limits.memory_mb} MB memory")
    for idea in template.seed_ideas:
        console.print(f"seed idea: {idea.title}", soft_wrap=True)
