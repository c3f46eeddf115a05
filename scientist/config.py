"""Effective configuration: CLI flags > `SCIENTIST_*` environment variables > `scientist.toml` > defaults.

pydantic-settings does the layering; this module adds the project's rules: which file is read, that unknown keys
and malformed TOML are user errors (not tracebacks), and how secrets are masked when the config is shown.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from scientist.errors import ConfigError, ScientistError
from scientist.selector_registry import check_selector

CONFIG_FILE_NAME = "scientist.toml"
DEFAULT_MODEL = "local/smollm2-135m"
LLMMode = Literal["live", "record", "replay"]
NoveltyPolicy = Literal["filter", "revise", "keep", "require", "off"]
NoveltyExhausted = Literal["least_similar", "stop"]
SearchMode = Literal["linear", "tree"]
SeverityName = Literal["info", "low", "medium", "high", "critical"]
# Best-of-n selectors per sampling stage: the stage's own scorers (OWN_SELECTORS, the stage computes them), or any
# selector of the registry (scientist.selector_registry.SELECTORS: first, max_field:<name>, min_field:<name>, a
# plugin's), or a pool ranker the stage has a ranker for (POOL_SELECTORS):
# `tournament` (any stage): position-swapped pairwise comparisons by the model, rated by Bradley-Terry.
# `reviewer` (ideas, drafts): the mean Overall of `selection_reviews` review forms filled by the review role's model.
# Checked when the settings load (`_selector_is_known`), so a typo or a missing plugin fails before any model call.
OWN_SELECTORS: dict[str, tuple[str, ...]] = {
    "ideas_selector": ("self_rating", "novelty"),
    "plan_selector": ("metric",),
    "draft_selector": ("review",),
}
POOL_SELECTORS: dict[str, tuple[str, ...]] = {
    "ideas_selector": ("tournament", "reviewer"),
    "plan_selector": ("tournament",),
    "draft_selector": ("tournament", "reviewer"),
}
# Who a model call works for. `agent` is the default for every stage; the others override it per stage family.
# `judge` is the independent scorer of finished papers (fixed per study, never the variant's own reviewer).
Role = Literal["agent", "ideation", "experiment", "writeup", "review", "judge"]
ROLES: tuple[Role, ...] = ("agent", "ideation", "experiment", "writeup", "review", "judge")
# How structured output is asked for (scientist.llm.structured): grammar = the embedded model's own schema grammar;
# json_schema = OpenAI strict structured outputs; tool = Anthropic forced tool use; response_schema = Gemini;
# json_object_schema = {"type": "json_object", "schema": ...} (llama.cpp-python's server); json_object = JSON mode
# with the schema in the prompt (any model), validated and repaired by the gateway.
StructuredMode = Literal["grammar", "json_schema", "tool", "response_schema", "json_object_schema", "json_object"]


def config_file_path() -> Path:
    """The TOML file to read: `$SCIENTIST_CONFIG` if set, else `./scientist.toml`."""
    return Path(os.environ.get("SCIENTIST_CONFIG", CONFIG_FILE_NAME))


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scientist"


def _check_model_name(value: str) -> str:
    if "/" not in value or value.startswith("/") or value.endswith("/"):
        raise ValueError(f"model {value!r} must be 'provider/name', e.g. {DEFAULT_MODEL} or openai/gpt-4o-mini")
    return value


class ModelOverride(BaseModel):
    """`[models."provider/name"]` in scientist.toml: what litellm does not know (or gets wrong) about a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    context_window: int | None = Field(None, ge=512, description="Prompt + answer tokens the model takes")
    max_output_tokens: int | None = Field(None, ge=16, description="Completion tokens the model may produce")
    input_usd_per_mtok: float | None = Field(None, ge=0, description="USD per million prompt tokens")
    output_usd_per_mtok: float | None = Field(None, ge=0, description="USD per million completion tokens")
    structured_output: StructuredMode | None = Field(None, description="Override the structured-output mode")
    max_temperature: float | None = Field(None, ge=0, le=2, description="Highest sampling temperature it accepts")


# The review form a judge fills (scientist.reviews.form.FORM_VERSION; checked there, config sits below reviews).
JUDGE_FORM_VERSION = "neurips-2024.2"


class JudgeSettings(BaseModel):
    """`[judge]` in scientist.toml and in study files: the fixed instrument that scores finished papers.

    Why separate from the review_* settings: those belong to the agent (a scaffold variant may change its own
    self-review), while a study's comparisons are only fair if every variant's paper is scored by the same judge.
    Presets and a study's [settings] can therefore never set these (scientist.study.spec rejects it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(default=None, description="The judge's litellm model (None: the judge role's)")
    ensemble: int = Field(default=1, ge=1, le=16, description="Independent judge reviews of each paper")
    reflections: int = Field(default=0, ge=0, le=5, description="Rounds in which each judge reviewer revises")
    fewshot: int = Field(default=2, ge=0, le=8, description="Human example reviews in the judge's prompt")
    form_version: str = Field(default=JUDGE_FORM_VERSION, min_length=1, description="The form the judge fills")
    temperature: float = Field(default=0.0, ge=0, le=2, description="Judge sampling temperature")
    seed: int = Field(default=0, description="Judge seed: reviewer i of the ensemble uses seed + i")

    @field_validator("model")
    @classmethod
    def _judge_model_has_provider(cls, value: str | None) -> str | None:
        return None if value is None else _check_model_name(value)


class Settings(BaseSettings):
    """Every knob a run reads. Field names are the TOML keys; env vars are `SCIENTIST_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="SCIENTIST_",
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    model: str = Field(DEFAULT_MODEL, description="litellm model string for every stage, e.g. openai/gpt-4o")
    role_models: dict[Role, str] = Field(
        default_factory=dict,
        description="Model per role (ideation, experiment, writeup, review, judge) over `model`, e.g. review = M",
    )
    models: dict[str, ModelOverride] = Field(
        default_factory=dict,
        description='Per-model profile overrides: [models."provider/name"] context_window, max_output_tokens, '
        "input_usd_per_mtok, output_usd_per_mtok, structured_output",
    )
    api_base: str | None = Field(None, description="Override the provider's base URL (e.g. an Ollama server)")
    api_key: SecretStr | None = Field(None, description="API key; usually better left to the provider's env var")
    runs_dir: Path = Field(Path("runs"), description="Where run folders are created")
    template: str = Field("reward_misspec", description="Experiment template")
    sandbox: str = Field(
        "docker",
        description="Sandbox backend: docker | local (bubblewrap) | unsafe-subprocess (NO isolation, audited)",
    )
    sandbox_fallback: str | None = Field(
        None, description="Backend to use, with a warning and an audit record, when `sandbox` cannot start here"
    )
    llm_mode: LLMMode = Field("live", description="live: call the model; record: call and store; replay: stored only")
    llm_cache_dir: Path = Field(default_factory=lambda: default_cache_dir() / "llm", description="Record/replay store")
    budget_usd: float | None = Field(5.0, ge=0, description="Hard USD cap per run (None: no cap)")
    budget_tokens: int | None = Field(None, ge=0, description="Hard token cap per run (None: no cap)")
    budget_wall_s: float | None = Field(None, gt=0, description="Active wall-time cap per run, seconds (None: none)")
    approve: Literal["none", "ideas", "code", "all"] = Field(
        "none", description="Human approval gates: none | ideas | code (before experiments) | all (+ before writeup)"
    )
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int | None = Field(
        None,
        gt=0,
        le=200_000,
        description="Completion cap per call without a stage's own cap (None: from the model's profile)",
    )
    repair_retries: int = Field(2, ge=0, le=10, description="Re-asks after invalid structured output")
    truncation_growth: float = Field(
        2.0,
        ge=1.0,
        le=16.0,
        description="An answer cut at max_tokens is re-asked with the cap times this, within the model's output"
        " limit (1: re-ask with the same cap, as recordings made before this setting did)",
    )
    transient_retries: int = Field(3, ge=0, le=10, description="Retries on rate limits/timeouts/5xx")
    request_timeout_s: float = Field(300.0, gt=0)
    model_call_blob_max_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Largest prompt or response of one model call kept in the run folder's blobs (bytes; a longer"
        " one is cut and the cut marked)",
    )
    num_ideas: int = Field(2, ge=1, le=64, description="Ideas sampled by the ideate node (the ideas' best-of-n)")
    ideas_selector: str = Field(
        "self_rating",
        description="Which idea wins: self_rating (interestingness + feasibility), novelty (lowest max cosine to"
        " indexed papers; needs the novelty check), first, tournament (pairwise comparisons by the model), reviewer"
        " (mean Overall of selection_reviews review forms by the review role's model, the idea shown as a proposal),"
        " or any registered selector (max_field:<name>, a plugin's)",
    )
    idea_reflections: int = Field(
        0, ge=0, le=5,
        description="Rounds in which the model critiques and revises each drawn idea, seeing its nearest indexed"
        " papers when retrieval is on; every round kept in candidates/ideas.json (0: none)",
    )  # fmt: skip
    plan_n: int = Field(1, ge=1, le=16, description="Config-only experiment plans sampled (best-of-n)")
    edit_n: int = Field(
        1, ge=1, le=8,
        description="Candidate edit→run→fix runs per planned experiment run (best-of-n): each runs in the sandbox and"
        " the one with the best harness-measured primary metric is kept (1: one run, as before)",
    )  # fmt: skip
    plan_selector: str = Field(
        "metric",
        description="Which plan wins: metric (run each in the sandbox, best primary metric), first, tournament"
        " (pairwise comparisons by the model, no sandbox run), or any registered selector (max_field:<name>, a"
        " plugin's)",
    )
    draft_n: int = Field(1, ge=1, le=16, description="Paper drafts written (best-of-n)")
    draft_selector: str = Field(
        "review",
        description="Which draft wins: review (one reviewer's overall score, no reflection), first, tournament"
        " (pairwise comparisons by the model), reviewer (mean Overall of selection_reviews review forms), or any"
        " registered selector (max_field:<name>, a plugin's)",
    )
    selection_reviews: int = Field(
        3, ge=1, le=8,
        description="selector = reviewer: independent review forms (the review role's model, no reflection) filled"
        " per candidate; the candidate's score is their mean Overall",
    )  # fmt: skip
    tournament_all_pairs_max: int = Field(
        6, ge=2, le=16,
        description="selector = tournament: pools of at most this many candidates compare every pair, each in both"
        " orders (n(n-1) calls); larger pools play tournament_rounds Swiss rounds",
    )  # fmt: skip
    tournament_rounds: int = Field(
        3, ge=1, le=10,
        description="selector = tournament on a pool larger than tournament_all_pairs_max: Swiss rounds, each"
        " 2 * floor(n / 2) comparisons (adjacent ratings meet, no rematch where avoidable)",
    )  # fmt: skip
    best_of_n_concurrency: int = Field(1, ge=1, le=32, description="Candidates of a best-of-n drawn at once")
    flagged_candidates: Literal["exclude", "allow"] = Field(
        "exclude", description="Candidates with monitor events at flag_severity or worse: exclude (reported) or allow"
    )
    flag_severity: SeverityName = Field("high", description="Monitor severity that flags a best-of-n candidate")
    seed: int = Field(0, description="Base seed: sample i of a stage uses seed + i")
    local_n_ctx: int = Field(4096, ge=512, description="Context window of the embedded model")
    monitor_policy: dict[
        Literal["info", "low", "medium", "high", "critical"], Literal["log", "require_approval", "stop"]
    ] = Field(
        default_factory=dict,
        description="Action per monitor severity, over the defaults (high: require_approval, critical: stop)",
    )
    novelty_policy: NoveltyPolicy = Field(
        "filter",
        description="Ideas judged not novel: filter (drop), revise (re-ideate with feedback), keep; require: filter,"
        " and stop the run when novelty cannot be checked (empty index, no source answered); off: no check",
    )
    retrieval: Literal["on", "off"] = Field(
        "on",
        description="Related papers from the index as context: in the ideation prompts (the nearest papers) and for"
        " the writer (related work and references from the novelty check). off: neither, while the novelty check"
        " (novelty_policy) still searches and judges; a study can switch the two apart",
    )
    citation_check: Literal["off", "on", "auto"] = Field(
        "auto",
        description="on: before the paper is written, re-check each reference against a scholarly source (Crossref"
        " by DOI, else the $SCIENTIST_LITERATURE_SOURCES order by title): title, authors and year; each outcome"
        " (verified, mismatch, unverified when no source answers) is audited as citation_check. auto (default): the"
        " same when a source is reachable (one connection probe per paper, 3 s at most); offline"
        " (SCIENTIST_ARXIV_OFFLINE), with no route or every circuit breaker open, each reference is audited"
        " unverified with the reason and no request is sent. off: no check",
    )
    fulltext_quotes: Literal["off", "on"] = Field(
        "off",
        description="on: each related paper of a kept idea carries the passage of its full text nearest to the idea"
        " (from the <collection>-chunks collection `scientist index build --fulltext` fills; none when it has no"
        " passages of that paper), for the novelty record and the related work. Not shown to the model",
    )
    novelty_rounds: int = Field(1, ge=0, le=5, description="Rounds of model-proposed arXiv searches per idea")
    novelty_k: int = Field(5, ge=1, le=20, description="Nearest papers the novelty judgement rests on")
    novelty_duplicate_threshold: float = Field(
        0.9, gt=0, le=1, description="Cosine similarity at which an idea is a near-duplicate, whatever the model says"
    )
    novelty_revisions: int = Field(1, ge=0, le=3, description="Revise-and-rejudge rounds (novelty_policy=revise)")
    novelty_exhausted: NoveltyExhausted = Field(
        "least_similar",
        description="No idea judged novel: least_similar (go on with it, flagged) or stop (end the run, explained)",
    )
    review_ensemble: int = Field(2, ge=1, le=16, description="Independent reviews of the paper")
    review_reflections: int = Field(1, ge=0, le=5, description="Rounds in which each reviewer revises its review")
    review_related_work: bool = Field(
        False,
        description="Show the run's reviewers the related papers its literature search retrieved (ids and titles, "
        "as a note from the review system), so they can check the paper's citations and novelty claims against them",
    )
    review_accept_threshold: int = Field(
        6, ge=1, le=10,
        description="Calibration's Overall rule: accept at Overall >= this. Set before calibrating, never tuned on "
        "the evaluated set (a cut-off chosen on the same papers overstates accuracy)",
    )
    review_injection_check: Literal["off", "review", "judge"] = Field(
        "off",
        description="Model-based injection check behind the reviewer's pattern filter: each suspicious passage no"
        " pattern matched gets one short classification call (review: the review role's model; judge: the judge"
        " role's) and is removed and flagged like a pattern hit when judged aimed at the reviewer. off: patterns only",
    )
    review_injection_check_max: int = Field(
        24, ge=1, le=500,
        description="review_injection_check on: most passages classified per paper (most suspicious first)",
    )  # fmt: skip
    experiment_runs: int = Field(
        2, ge=0, le=20, description="K: edit→run→fix runs per idea (linear search); 0: one config-only variant"
    )
    fix_attempts: int = Field(2, ge=0, le=10, description="F: re-asks per run after unusable edits or a failed run")
    edit_mode: Literal["config", "code"] | None = Field(
        None,
        description="What the agent edits: config (config.json only) or code (the template's agent-owned code; "
        "needs a template with a harness-owned evaluator). None: from the model's profile (embedded: config)",
    )
    seeds_per_run: int | None = Field(
        None, ge=1, le=20, description="Seeds each experiment run is trained and evaluated with (None: 3 in code "
        "mode, 1 in config mode); results hold mean, std and a 95% CI per metric",
    )
    search: SearchMode = Field("linear", description="Experiment search: linear (K runs) or tree (best-first)")
    tree_breadth: int = Field(2, ge=1, le=8, description="B: children proposed per expanded tree node")
    tree_depth: int = Field(2, ge=1, le=8, description="D: maximum tree depth (also the number of expansions)")
    write_reflections: int = Field(
        1, ge=0, le=5, description="Rounds in which the writer revises each paper section after drafting it"
    )
    latex_fix_attempts: int = Field(
        2, ge=0, le=10, description="Rounds feeding LaTeX errors back to the writer before the Markdown fallback"
    )
    variant: str = Field(
        "default", min_length=1, max_length=100, description="Scaffold variant label (set by `scientist study run`)"
    )
    probes: list[dict[str, Any]] = Field(
        default_factory=list, description="Probe plan applied at node starts (set by `scientist probe run`)"
    )
    judge: JudgeSettings = Field(
        default_factory=JudgeSettings,
        description="[judge]: the independent scorer of finished papers (model, ensemble, reflections, fewshot,"
        " form_version, temperature, seed)",
    )

    @field_validator("model")
    @classmethod
    def _model_has_provider(cls, value: str) -> str:
        return _check_model_name(value)

    @field_validator("ideas_selector", "plan_selector", "draft_selector")
    @classmethod
    def _selector_is_known(cls, value: str, info: ValidationInfo) -> str:
        setting = str(info.field_name)
        try:
            return check_selector(
                value, own=OWN_SELECTORS[setting], pools=POOL_SELECTORS[setting], what=f"{setting} (selector)"
            )
        except ScientistError as err:  # a pydantic validator reports ValueErrors: load_settings makes a ConfigError
            raise ValueError(str(err)) from err

    @field_validator("role_models", "models")
    @classmethod
    def _model_keys_have_provider(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            _check_model_name(item if isinstance(item, str) else name)
        return value

    def model_for(self, role: Role) -> str:
        """The model a role's calls go to: its own (role_models), else the agent's, else `model`."""
        return self.role_models.get(role) or self.role_models.get("agent") or self.model

    @model_validator(mode="after")
    def _plans_scored_before_the_code_gate(self) -> Settings:
        if self.plan_n > 1 and self.plan_selector == "metric" and self.approve in ("code", "all"):
            raise ValueError(
                "plan_n > 1 with plan_selector = metric runs every plan in the sandbox, before the code gate could"
                " approve it: set plan_selector = first, plan_n = 1, or approve = none|ideas"
            )
        return self

    @model_validator(mode="after")
    def _novelty_selector_needs_the_check(self) -> Settings:
        # Caught here, before any model call, rather than at the select node after the ideas were paid for.
        if self.ideas_selector == "novelty" and self.novelty_policy == "off":
            raise ValueError(
                "ideas_selector = novelty needs the novelty check, but novelty_policy is off: set novelty_policy to"
                " filter, revise or keep, or choose another ideas_selector (e.g. a study's full-novelty variant with"
                " ideas_selector = novelty in [settings])"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Order is precedence: flags (init kwargs) beat env, env beats the file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file_path()))

    def masked(self) -> dict[str, Any]:
        """The effective config as plain JSON-able values, with secrets shown as '********'."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump(mode="json").items():
            if isinstance(getattr(self, name), SecretStr):
                value = "********" if getattr(self, name).get_secret_value() else ""
            shown[name] = value
        return shown


def parse_role_models(pairs: list[str] | None) -> dict[str, str] | None:
    """`--role-model review=openai/gpt-4o` flags as a role → model mapping (None when no flag was given)."""
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        role, sep, model = pair.partition("=")
        role, model = role.strip(), model.strip()
        if not sep or role not in ROLES or not model:
            raise ConfigError(
                f"--role-model {pair!r} is not ROLE=MODEL with ROLE one of {', '.join(ROLES)}",
                hint="e.g. --role-model review=openai/gpt-4o-mini",
            )
        out[role] = model
    return out


def role_summary(settings: Settings) -> str:
    """One line naming each role's model, saying when a role shares the agent's (the default)."""
    agent = settings.model_for("agent")
    parts = [f"agent {agent}"]
    for role in ROLES[1:]:
        model = settings.model_for(role)
        parts.append(f"{role} {model}" + (" (same as agent)" if model == agent else ""))
    return "models: " + "; ".join(parts)


def load_settings(**flags: Any) -> Settings:
    """Build Settings from flags (None values mean 'not given'), env and scientist.toml; user errors → ConfigError."""
    given = {key: value for key, value in flags.items() if value is not None}
    path = config_file_path()
    if path.exists():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path} is not valid TOML: {err}", hint="fix the file or remove it") from err
    elif "SCIENTIST_CONFIG" in os.environ:
        raise ConfigError(f"SCIENTIST_CONFIG points to {path}, which does not exist", hint="fix the path")
    try:
        return Settings(**given)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        raise ConfigError(
            f"invalid setting {where!r}: {first['msg']} (got {first.get('input')!r})",
            hint=f"check the flag, SCIENTIST_{where.upper()} or {path}",
        ) from err
