"""Model profiles: what one model can take and costs, and every length limit of the pipeline derived from it.

Why: the pipeline's sizes (section length, earlier sections passed on, edit size, the reviewer's paper cut,
references, `max_tokens`) were tuned for the 4k-context embedded model. A 128k-context model deserves full-length
sections and whole-file edits; the embedded model must keep exactly today's sizes (its recorded replies are keyed
by the request, so a changed size would be a replay miss). Limits scale with the context window in whole steps of
the embedded model's 4096 tokens, capped at 8x, and never ask for more output than the model may produce.

A profile comes from litellm's model info (looked up by the gateway, the one module that calls litellm), or from
the model's provider when it supplies its own (`providers.Provider.profile`: the embedded model's is fixed,
see `embedded_profile`), overridden per model by `[models."provider/name"]` in scientist.toml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from scientist.config import ModelOverride, Settings, StructuredMode
from scientist.template import EditMode

ModelInfo = Callable[[str], Mapping[str, Any]]  # litellm's model info for a model ({} when it does not know it)
TINY_CONTEXT = 4096  # the embedded model's window: the unit the limits scale by
MAX_SCALE = 8
UNKNOWN_CONTEXT = 8192  # a model litellm does not know: assume a small window (override it in config)
UNKNOWN_OUTPUT = 4096
CODE_MODE_MIN_CONTEXT = 16_384  # tokens: a training script, its last errors and a whole-file answer, with room
# The sampling temperature each API documents as its range: Anthropic's is 0-1 (it refuses more with a 400),
# OpenAI's, Gemini's and llama.cpp's 0-2. Settings allow 2, so a run checks its models' ranges before any call.
MAX_TEMPERATURE = 2.0
PROVIDER_MAX_TEMPERATURE = {"anthropic": 1.0}
# The embedded model's sizes (unchanged since its fixtures were recorded).
BASE_MAX_TOKENS = 700
BASE_SECTION_CHARS = 600
BASE_PREVIOUS_CHARS = 300
BASE_EDIT_TOKENS = 300
BASE_REVIEW_PAPER_CHARS = 12_000
BASE_REVIEW_TOKENS = 1200
BASE_REFERENCES = 3
TITLE_CHARS = 120
SECTION_JSON_TOKENS = 50  # the JSON around a section's text


def provider_of(model: str) -> str:
    return model.split("/", 1)[0]


@dataclass(frozen=True)
class Limits:
    """Every size the pipeline uses for one model (read from its profile, never a constant at the call site)."""

    max_tokens: int  # default completion cap per call
    section_chars: int  # a paper section's text, at most
    previous_chars: int  # each earlier section as the next section's prompt sees it
    edit_max_tokens: int  # one experiment edit answer (SEARCH/REPLACE blocks)
    review_paper_chars: int  # the reviewer's cut of the paper, by whole sections
    review_max_tokens: int  # one review form
    references: int  # related papers handed to the writer (at most as many as the novelty check found)

    @property
    def section_max_tokens(self) -> int:
        return self.section_chars + SECTION_JSON_TOKENS


class ModelProfile(BaseModel):
    """One model's window, output cap, prices (USD per token; None: unknown) and structured-output mode."""

    model_config = ConfigDict(frozen=True)

    model: str
    context_window: int
    max_output_tokens: int
    input_usd_per_token: float | None
    output_usd_per_token: float | None
    structured_output: StructuredMode
    max_temperature: float = MAX_TEMPERATURE
    source: str  # embedded | litellm | default, "+config" when scientist.toml overrode a field

    @property
    def priced(self) -> bool:
        return self.input_usd_per_token is not None and self.output_usd_per_token is not None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for one call, or None when the price is unknown."""
        if self.input_usd_per_token is None or self.output_usd_per_token is None:
            return None
        return prompt_tokens * self.input_usd_per_token + completion_tokens * self.output_usd_per_token

    @property
    def scale(self) -> int:
        return max(1, min(MAX_SCALE, self.context_window // TINY_CONTEXT))

    def limits(self) -> Limits:
        scale, out = self.scale, self.max_output_tokens
        section_chars = max(100, min(BASE_SECTION_CHARS * scale, out - SECTION_JSON_TOKENS - TITLE_CHARS))
        return Limits(
            max_tokens=min(BASE_MAX_TOKENS * scale, out),
            section_chars=section_chars,
            previous_chars=BASE_PREVIOUS_CHARS * scale,
            edit_max_tokens=min(BASE_EDIT_TOKENS * scale, out),
            review_paper_chars=BASE_REVIEW_PAPER_CHARS * scale,
            review_max_tokens=min(BASE_REVIEW_TOKENS * min(scale, 4), out),
            references=BASE_REFERENCES * scale,
        )


def default_mode(model: str, supports_response_schema: bool) -> StructuredMode:
    """The provider's documented structured-output route when litellm says the model supports schemas."""
    provider = provider_of(model)
    if not supports_response_schema:
        return "json_object"
    if provider in ("anthropic", "bedrock") or "claude" in model:
        return "tool"
    if provider in ("gemini", "vertex_ai"):
        return "response_schema"
    return "json_schema"


def default_max_temperature(model: str) -> float:
    """The top of the provider's documented temperature range (Claude on Bedrock keeps Anthropic's)."""
    provider = provider_of(model)
    if provider == "bedrock" and "claude" in model:
        provider = "anthropic"
    return PROVIDER_MAX_TEMPERATURE.get(provider, MAX_TEMPERATURE)


def embedded_profile(model: str, n_ctx: int) -> ModelProfile:
    """An in-process model's fixed profile (its provider supplies it): its window is the context it is loaded with,
    it costs nothing, and llama.cpp constrains its output with a grammar."""
    return ModelProfile(
        model=model,
        context_window=n_ctx,
        max_output_tokens=n_ctx,
        input_usd_per_token=0.0,
        output_usd_per_token=0.0,
        structured_output="grammar",
        source="embedded",
    )


def _from_info(model: str, info: Mapping[str, Any]) -> ModelProfile:
    known = bool(info.get("max_input_tokens") or info.get("max_tokens"))
    window = int(info.get("max_input_tokens") or info.get("max_tokens") or UNKNOWN_CONTEXT)
    output = int(info.get("max_output_tokens") or info.get("max_tokens") or UNKNOWN_OUTPUT)
    prompt_price, completion_price = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    return ModelProfile(
        model=model,
        context_window=window,
        max_output_tokens=min(output, window),
        input_usd_per_token=float(prompt_price) if prompt_price is not None else None,
        output_usd_per_token=float(completion_price) if completion_price is not None else None,
        structured_output=default_mode(model, bool(info.get("supports_response_schema"))),
        max_temperature=default_max_temperature(model),
        source="litellm" if known else "default",
    )


def _override(profile: ModelProfile, override: ModelOverride) -> ModelProfile:
    update: dict[str, Any] = {}
    if override.context_window is not None:
        update["context_window"] = override.context_window
    if override.max_output_tokens is not None:
        update["max_output_tokens"] = override.max_output_tokens
    if override.input_usd_per_mtok is not None:
        update["input_usd_per_token"] = override.input_usd_per_mtok / 1e6
    if override.output_usd_per_mtok is not None:
        update["output_usd_per_token"] = override.output_usd_per_mtok / 1e6
    if override.structured_output is not None:
        update["structured_output"] = override.structured_output
    if override.max_temperature is not None:
        update["max_temperature"] = override.max_temperature
    if not update:
        return profile
    update["source"] = profile.source + "+config"
    return profile.model_copy(update=update)


def resolve(
    model: str, settings: Settings, model_info: ModelInfo, supplied: ModelProfile | None = None
) -> ModelProfile:
    """The profile of `model` under `settings`: the one its provider `supplied` (the embedded model's), else from
    litellm's info; config overrides any field.

    `model_info` is litellm's lookup (gateway.model_info: only the gateway calls litellm); {} = unknown."""
    profile = supplied if supplied is not None else _from_info(model, model_info(model))
    override = settings.models.get(model)
    return _override(profile, override) if override is not None else profile


def default_edit_mode(profile: ModelProfile) -> EditMode:
    """What an agent model edits when the run does not say, from its profile: the embedded model, and any model
    whose window cannot hold a training script, its errors and a rewrite (under CODE_MODE_MIN_CONTEXT; e.g. the
    same 135M model behind a llama.cpp server), keep to config.json; any other model writes code."""
    if profile.source == "embedded" or profile.context_window < CODE_MODE_MIN_CONTEXT:
        return "config"
    return "code"
