"""A study file (TOML): the grid topics x templates x models x scaffold variants x n x seeds, and its budget.

Why named variants: a study compares *scaffolds*, so each variant is a named preset of Settings overrides that a
report can refer to (`plain`, `full`, `reflect-2`, a component preset `plain+novelty` / `full-novelty` generated
from `COMPONENTS`, or one the file defines under `[presets.NAME]`). Everything is
checked before any run starts, so a typo in a variant, template, model or setting is one error naming the bad key
and the valid options, never a crash halfway through a grid.

    name = "scaffold-vs-best-of-n"
    topics = ["reward hacking in a gridworld with a respawning coin"]
    templates = ["reward_misspec"]
    models = ["local/smollm2-135m"]
    variants = ["plain", "full", "reflect-2"]
    n = 4            # runs per cell: the best-of-n pool (a list gives one cell per value)
    seeds = [0, 1]
    [budget]         # whole-study caps, checked before each run (per-run caps: budget_usd in [settings])
    usd = 20.0
    tokens = 2_000_000
    [settings]       # Settings for every run (sandbox, temperature, ...), under each variant's overrides
    sandbox = "docker"
    [presets.wide]   # a variant of your own
    num_ideas = 8
    [judge]          # the fixed scorer of every run's paper (over scientist.toml's [judge]); never in a preset
    model = "openai/gpt-4o-mini"
    ensemble = 3
    [hypotheses.full-beats-plain]   # pre-registered (scientist.study.prereg): variant - baseline, expected sign
    variant = "full"
    baseline = "plain"
    direction = "greater"
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scientist.config import JudgeSettings
from scientist.errors import ConfigError

# Settings a study controls itself: a preset or [settings] table may not set them.
GRID_FIELDS = ("model", "template", "seed", "runs_dir", "variant", "api_key")
# The instrument: what scores a study's papers is fixed by the study's [judge] table, never by a variant.
JUDGE_FIELDS = ("judge",)
# Run i of a cell with seed s uses Settings.seed = s * SEED_STRIDE + i * SAMPLE_STRIDE: a run's stages use
# seed + j for their j-th sample (< SAMPLE_STRIDE), so no two runs of a study share a model seed, while sample i
# of two variants with the same seed share theirs (paired comparisons).
SEED_STRIDE = 100_000
SAMPLE_STRIDE = 100

# Scaffold components, one row each: the Settings overrides that switch it off. The one table the `plain` preset
# and the component presets are generated from, so a study can add one component to plain or drop one from full.
COMPONENTS: dict[str, dict[str, Any]] = {
    "ideas": {"num_ideas": 1},  # several ideas drawn and one selected, instead of one
    "novelty": {"novelty_policy": "off"},  # the novelty check (search, judge, filter)
    "review-reflection": {"review_reflections": 0},  # reviewers revising their reviews
    "write-reflection": {"write_reflections": 0},  # the writer revising each section
    "experiment-loop": {"experiment_runs": 0, "fix_attempts": 0, "search": "linear"},  # edit→run→fix runs
    "retrieval": {"retrieval": "off"},  # related papers in the ideation prompt and for the writer
}
# `plain`: one-shot. One idea, no novelty check, reviewers and writer without reflection, the config-only
# experiment (no edit→run→fix loop). Retrieval stays on in plain (as before the switch existed: recorded studies
# replay plain's prompts), so it has a `full-retrieval` preset but no `plain+retrieval`.
PLAIN_COMPONENTS = ("ideas", "novelty", "review-reflection", "write-reflection", "experiment-loop")
PLAIN: dict[str, Any] = {key: value for name in PLAIN_COMPONENTS for key, value in COMPONENTS[name].items()}
BUILTIN_PRESETS: dict[str, dict[str, Any]] = {
    "plain": PLAIN,
    "full": {},  # the defaults of Settings (and of the study's [settings])
    "novelty-off": {"novelty_policy": "off"},
}
REFLECT = re.compile(r"^reflect-(\d+)$")  # plain + R review-reflection rounds
# `plain+C`: plain with component C back on (its keys fall back to [settings] or the defaults, as in `full`).
# `full-C`: full with only C switched off.
COMPONENT_PRESETS: dict[str, dict[str, Any]] = {
    **{
        f"plain+{name}": {key: value for key, value in PLAIN.items() if key not in COMPONENTS[name]}
        for name in PLAIN_COMPONENTS
    },
    **{f"full-{name}": dict(overrides) for name, overrides in COMPONENTS.items()},
}

# Components that are off in plain and in full alike (opt-in settings), one row each: the overrides that switch it
# on. `plain+C` / `full+C` add one; a study compares them with plain's or full's best-of-n at the same compute.
OPT_IN_COMPONENTS: dict[str, dict[str, Any]] = {
    "reflection": {"idea_reflections": 2},  # each drawn idea critiqued and revised
    "tournament": {"num_ideas": 4, "ideas_selector": "tournament"},  # ideas ranked by pairwise comparisons
    "reviewer": {"num_ideas": 4, "ideas_selector": "reviewer"},  # ideas ranked by review forms
    "edit-best-of-n": {"edit_n": 2},  # each experiment run as the best of two candidate runs
}
OPT_IN_PRESETS: dict[str, dict[str, Any]] = {
    **{f"plain+{name}": {**PLAIN, **overrides} for name, overrides in OPT_IN_COMPONENTS.items()},
    **{f"full+{name}": dict(overrides) for name, overrides in OPT_IN_COMPONENTS.items()},
    "plain-retrieval": {**PLAIN, **COMPONENTS["retrieval"]},  # the one component plain has on: dropped from it
}


class StudyBudget(BaseModel):
    """Caps over the whole study (sum over its runs in the store); a run is not started once one is reached."""

    model_config = ConfigDict(extra="forbid")

    usd: float | None = Field(None, ge=0)
    tokens: int | None = Field(None, ge=0)
    wall_s: float | None = Field(None, ge=0, description="Active wall time summed over the study's runs")


class Hypothesis(BaseModel):
    """`[hypotheses.NAME]`: a pre-registered comparison (variant minus baseline, paired by run) and its direction."""

    model_config = ConfigDict(extra="forbid")

    variant: str
    baseline: str = "plain"
    direction: Literal["greater", "less", "different"] = "greater"
    note: str = ""


class StudySpec(BaseModel):
    """The parsed study file. `cells()` expands the grid; `settings_for()` gives a run its Settings overrides."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    topics: list[str] = Field(min_length=1)
    templates: list[str] = Field(default_factory=lambda: ["reward_misspec"], min_length=1)
    models: list[str] = Field(min_length=1)
    variants: list[str] = Field(min_length=1)
    n: list[int] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    budget: StudyBudget = Field(default_factory=lambda: StudyBudget(usd=None, tokens=None, wall_s=None))
    settings: dict[str, Any] = Field(default_factory=dict)
    presets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    judge: JudgeSettings | None = Field(default=None, description="[judge] over scientist.toml's: the study's scorer")
    hypotheses: dict[str, Hypothesis] = Field(default_factory=dict)
    failed_score: float | None = Field(
        default=None, description="Score a failed or unscored run counts as (None: the review form's minimum)"
    )

    @field_validator("n", mode="before")
    @classmethod
    def _n_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value

    @field_validator("n")
    @classmethod
    def _n_positive(cls, value: list[int]) -> list[int]:
        if any(n < 1 for n in value):
            raise ValueError("every n must be ≥ 1")
        return value

    @field_validator("topics")
    @classmethod
    def _topics_not_empty(cls, value: list[str]) -> list[str]:
        if any(not topic.strip() for topic in value):
            raise ValueError("a topic is empty")
        return value

    def preset(self, variant: str) -> dict[str, Any]:
        """The Settings overrides a variant stands for; unknown names are a ConfigError listing the valid ones."""
        if variant in self.presets:
            return dict(self.presets[variant])
        if variant in BUILTIN_PRESETS:
            return dict(BUILTIN_PRESETS[variant])
        match = REFLECT.match(variant)
        if match:
            return {**PLAIN, "review_reflections": int(match.group(1))}
        if variant in COMPONENT_PRESETS:
            return dict(COMPONENT_PRESETS[variant])
        if variant in OPT_IN_PRESETS:
            return dict(OPT_IN_PRESETS[variant])
        if variant.startswith(("plain+", "full-")):
            base, component = ("plain", variant[6:]) if variant.startswith("plain+") else ("full", variant[5:])
            valid = (*PLAIN_COMPONENTS, *OPT_IN_COMPONENTS) if base == "plain" else tuple(COMPONENTS)
            raise ConfigError(
                f"unknown component {component!r} in variant {variant!r}",
                hint=f"{base}{'+' if base == 'plain' else '-'}C takes C = {', '.join(valid)}",
            )
        raise ConfigError(
            f"unknown variant {variant!r} in the study's variants",
            hint=f"valid: {', '.join(self.variant_names())}, reflect-R (R = 0..5), plain+C"
            f" (C = {', '.join((*PLAIN_COMPONENTS, *OPT_IN_COMPONENTS))}), full-C (C = {', '.join(COMPONENTS)}),"
            f" full+C (C = {', '.join(OPT_IN_COMPONENTS)}), plain-retrieval, or define [presets.{variant}]",
        )

    def variant_names(self) -> list[str]:
        return [*BUILTIN_PRESETS, *self.presets]

    def cells(self) -> list[CellSpec]:
        """The grid, in a stable order (topic, template, model, variant, n, seed)."""
        return [
            CellSpec(topic=topic, template=template, model=model, variant=variant, n=n, seed=seed)
            for topic in self.topics
            for template in self.templates
            for model in self.models
            for variant in self.variants
            for n in self.n
            for seed in self.seeds
        ]

    def settings_for(self, cell: CellSpec, sample: int) -> dict[str, Any]:
        """Settings overrides of run `sample` of `cell`: [settings] < variant preset < the cell's own values."""
        return {
            **self.settings,
            **self.preset(cell.variant),
            "model": cell.model,
            "template": cell.template,
            "variant": cell.variant,
            "seed": cell.seed * SEED_STRIDE + sample * SAMPLE_STRIDE,
        }


class CellSpec(BaseModel):
    """One point of the grid: `n` runs of one variant on one topic, template and model, from one seed."""

    topic: str
    template: str
    model: str
    variant: str
    n: int
    seed: int

    @property
    def key(self) -> str:
        """Stable across re-runs of the same file (the topic by hash: it may be long)."""
        topic = hashlib.sha256(self.topic.encode()).hexdigest()[:10]
        return f"{topic}|{self.template}|{self.model}|{self.variant}|n{self.n}|s{self.seed}"

    @property
    def slug(self) -> str:
        """The key as a folder name."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.key.replace("|", "__"))[:200]


def parse_study(text: str, source: str = "study file") -> StudySpec:
    """Parse and validate the file's structure (not yet its names: see `scientist.study.check.check_study`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source} is not valid TOML: {err}", hint="fix the TOML syntax") from err
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "study"
        if first["type"] == "extra_forbidden":
            valid = {"budget": "usd, tokens, wall_s", "judge": ", ".join(JudgeSettings.model_fields),
                     "hypotheses": ", ".join(Hypothesis.model_fields)}.get(
                str(first["loc"][0]), ", ".join(StudySpec.model_fields)
            ) if len(first["loc"]) > 1 else ", ".join(StudySpec.model_fields)
            raise ConfigError(f"unknown key {where!r} in {source}", hint=f"valid keys: {valid}") from err
        raise ConfigError(
            f"invalid {where!r} in {source}: {first['msg']} (got {first.get('input')!r})",
            hint="see `scientist study run --help` for the file format",
        ) from err
    _check_setting_keys(spec, source)
    for variant in spec.variants:
        spec.preset(variant)
    for name, hypothesis in spec.hypotheses.items():
        for role, variant in (("variant", hypothesis.variant), ("baseline", hypothesis.baseline)):
            if variant not in spec.variants:
                raise ConfigError(
                    f"hypotheses.{name}.{role} {variant!r} in {source} is not one of the study's variants",
                    hint=f"valid: {', '.join(spec.variants)}",
                )
    if len(set(spec.variants)) != len(spec.variants):
        raise ConfigError(f"a variant is listed twice in {source}: {spec.variants}", hint="list each variant once")
    return spec


def load_study(path: Path) -> StudySpec:
    if not path.is_file():
        raise ConfigError(f"study file {path} does not exist", hint="pass the path of a STUDY.toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read study file {path}: {err}") from err
    return parse_study(text, str(path))


def _check_setting_keys(spec: StudySpec, source: str) -> None:
    from scientist.config import Settings

    valid = sorted(set(Settings.model_fields) - set(GRID_FIELDS) - set(JUDGE_FIELDS))
    tables = [("settings", spec.settings)] + [(f"presets.{name}", preset) for name, preset in spec.presets.items()]
    for table, values in tables:
        for key in values:
            roles = values[key] if key == "role_models" and isinstance(values[key], dict) else {}
            if key in JUDGE_FIELDS or "judge" in roles:
                named = key if key in JUDGE_FIELDS else "role_models.judge"
                raise ConfigError(
                    f"{table}.{named} in {source} would change the judge, which must be the same for every variant",
                    hint="set the judge in the study's [judge] table (model, ensemble, reflections, fewshot,"
                    " form_version, temperature, seed)",
                )
            if key in GRID_FIELDS:
                raise ConfigError(
                    f"{table}.{key} in {source} is set by the study grid itself",
                    hint="set it with the study's topics/templates/models/variants/seeds; API keys: environment",
                )
            if key not in valid:
                raise ConfigError(
                    f"unknown setting {key!r} in [{table}] of {source}", hint=f"valid: {', '.join(valid)}"
                )
