"""The one gateway for every model call (the only module, with `local_model`, that imports litellm).

It adds what a research harness needs on top of a provider call: structured output into pydantic models with
bounded repair retries, a hard per-run token/USD budget, retries with backoff on transient provider errors, a
content-addressed record/replay store (so tests and re-analyses cost nothing and never silently go live), and one
audit record per call.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog, canonical_json, redact
from scientist.config import Role, Settings
from scientist.errors import (
    BudgetExceededError,
    ConfigError,
    MissingAPIKeyError,
    ModelRuntimeError,
    PricingUnknownError,
    ReplayMissError,
    SchemaRejectedError,
    ScientistError,
    StructuredOutputError,
    UnknownModelError,
)
from scientist.files import write_text_atomic
from scientist.llm.call_record import prompt_text, truncated
from scientist.llm.profiles import Limits, ModelProfile
from scientist.llm.profiles import resolve as _resolve
from scientist.llm.providers import import_litellm, provider_for, supplied_profile
from scientist.llm.structured import response_format as provider_response_format
from scientist.llm.structured import schema_instruction
from scientist.prompts import RenderedPrompt, render

T = TypeVar("T", bound=BaseModel)
CACHE_FORMAT = 1


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Completion(BaseModel):
    """One model answer, live or replayed."""

    text: str
    finish_reason: str | None
    usage: Usage
    cost_usd: float | None  # None: the provider's price is unknown to litellm
    latency_s: float
    request_hash: str
    response_hash: str
    replayed: bool


class Spend(BaseModel):
    tokens: int = 0
    usd: float = 0.0
    calls: int = 0


def check_model(settings: Settings) -> None:
    """Fail before any work if a role's model's provider is unknown, its API key is missing, or the configured
    temperature is outside the range its API accepts."""
    for model in dict.fromkeys([settings.model, *settings.role_models.values()]):
        _check_one_model(settings, model)
        check_temperature(model, settings.temperature, resolve_profile(model, settings))


def check_temperature(model: str, temperature: float, profile: ModelProfile) -> None:
    """A temperature the provider would refuse with a 400 is a config error now, not a failed call mid-run."""
    if temperature > profile.max_temperature:
        raise ConfigError(
            f"temperature {temperature:g} is above what {model} accepts (at most {profile.max_temperature:g})",
            hint=f"set temperature = {profile.max_temperature:g} or lower (scientist.toml, SCIENTIST_TEMPERATURE or "
            f'the command\'s --temperature), or [models."{model}"] max_temperature if its API takes more',
        )


def model_info(model: str) -> dict[str, Any]:
    """litellm's window, output cap, prices and schema support for `model` ({} for a model it does not know)."""
    litellm = import_litellm()
    try:
        info: dict[str, Any] = dict(litellm.get_model_info(model))
    except Exception:
        info = {}
    try:
        info["supports_response_schema"] = bool(litellm.supports_response_schema(model=model))
    except Exception:
        info["supports_response_schema"] = False
    return info


def resolve_profile(model: str, settings: Settings) -> ModelProfile:
    """`model`'s profile: its provider's own, else litellm's model info; under the config's `[models."..."]`
    overrides."""
    return _resolve(model, settings, model_info, supplied_profile(model, settings))


def unpriced_models(settings: Settings) -> list[str]:
    """The role models whose profile has no price (a USD cap cannot count their calls)."""
    models = dict.fromkeys([settings.model, *settings.role_models.values()])
    return [model for model in models if not resolve_profile(model, settings).priced]


def check_pricing(settings: Settings, *, explicit_cap: bool) -> list[str]:
    """Refuse, before any call, a USD cap the user asked for that could never trigger; returns the unpriced models.

    With only the default cap (not asked for) the caller warns instead: a model on one's own server is often free."""
    if settings.budget_usd is None:
        return []
    unpriced = unpriced_models(settings)
    if unpriced and explicit_cap:
        raise PricingUnknownError(
            f"--budget-usd {settings.budget_usd:g} cannot be enforced: no price is known for {', '.join(unpriced)}",
            hint=f'give the price in scientist.toml ([models."{unpriced[0]}"] input_usd_per_mtok = ...,'
            " output_usd_per_mtok = ...) or cap tokens with --budget-tokens",
        )
    return unpriced


def _check_one_model(settings: Settings, model: str) -> None:
    provider_for(model).check(model, settings)


# Which role a call works for, by the stage that makes it (the first part of `stage`, before any dot).
STAGE_ROLES: dict[str, Role] = {
    "ideate": "ideation",
    "ideas": "ideation",
    "novelty": "ideation",
    "experiment": "experiment",
    "plan": "experiment",
    "write": "writeup",
    "draft": "writeup",
    "review": "review",
    "judge": "judge",
    "probe_judge": "judge",
}


def role_of(stage: str) -> Role:
    return STAGE_ROLES.get(stage.split(".", 1)[0], "agent")


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_structured(text: str, schema: type[T], *, control_characters: bool = False) -> T:
    """Parse a model's JSON answer (tolerating a markdown fence around it) into `schema`.

    `control_characters`: raw newlines and tabs inside strings are taken as written. llama.cpp's JSON-schema
    grammar (the `json_object_schema` route of its server) lets any character but a quote or backslash into a
    string, so a grammar-conformant answer from it can be invalid JSON; strict parsing would fail every such
    answer (and its repairs) on a model that did what it was asked."""
    match = _FENCE.match(text)
    body = match.group(1) if match else text.strip()
    if control_characters:
        try:
            data = json.loads(body, strict=False)
        except ValueError:
            pass  # not JSON even so: the strict parse below reports it the usual way
        else:
            return schema.model_validate(data)
    return schema.model_validate_json(body)


class ResponseStore:
    """Content-addressed record/replay store: `<dir>/<hash[:2]>/<hash>.json`, one file per request."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, request_hash: str) -> Path:
        return self.root / request_hash[:2] / f"{request_hash}.json"

    def get(self, request_hash: str) -> dict[str, Any] | None:
        path = self.path(request_hash)
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def put(self, request_hash: str, entry: Mapping[str, Any]) -> None:
        write_text_atomic(self.path(request_hash), json.dumps(entry, indent=1, sort_keys=True, ensure_ascii=False))


def request_hash(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(request).encode()).hexdigest()


class LLMGateway:
    """All model calls of one run go through one gateway, which owns that run's budget and audit trail."""

    def __init__(self, settings: Settings, audit: AuditLog | None = None) -> None:
        self.settings = settings
        self.audit = audit
        self.store = ResponseStore(settings.llm_cache_dir)
        self.spend = self._spend_so_far()
        self.live_calls = 0
        self._lock = threading.Lock()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0
        self._profiles: dict[str, ModelProfile] = {}
        self._profile_lock = threading.Lock()  # separate: profiles are read while `_lock` is held

    # -- profiles -----------------------------------------------------------------------------------------------
    def profile(self, model: str | None = None) -> ModelProfile:
        """The profile of `model` (default: the run's model), resolved once per gateway."""
        name = model or self.settings.model
        with self._profile_lock:
            if name not in self._profiles:
                self._profiles[name] = resolve_profile(name, self.settings)
            return self._profiles[name]

    @property
    def limits(self) -> Limits:
        """The run model's length limits (every size a stage uses comes from here)."""
        return self.profile().limits()

    def limits_for(self, role: Role) -> Limits:
        """The length limits of the model a role's calls go to."""
        return self.profile(self.settings.model_for(role)).limits()

    def _spend_so_far(self) -> Spend:
        """Spend survives a resume: it is re-read from the run's own audit log."""
        spend = Spend()
        if self.audit is None:
            return spend
        for record in self.audit.find(kind="llm_call"):
            spend.tokens += int(record.payload.get("total_tokens", 0))
            spend.usd += float(record.payload.get("cost_usd") or 0.0)
            spend.calls += 1
        return spend

    def warm_up(self) -> float:
        """Import the provider library (and load an embedded model) before the first stage; returns seconds."""
        started = time.perf_counter()
        if self.settings.llm_mode != "replay":
            import_litellm()
            provider_for(self.settings.model).warm_up(self.settings.model, self.settings)
        return time.perf_counter() - started

    # -- budget -------------------------------------------------------------------------------------------------
    def _estimate(
        self, messages: Sequence[Mapping[str, str]], max_tokens: int, model: str | None = None
    ) -> tuple[int, float]:
        prompt_tokens = sum(len(message["content"]) for message in messages) // 3 + 8
        tokens = prompt_tokens + max_tokens
        return tokens, self.profile(model).cost(prompt_tokens, max_tokens) or 0.0

    def _reserve_budget(
        self, prompt_name: str, model: str, messages: Sequence[Mapping[str, str]], max_tokens: int
    ) -> tuple[int, float]:
        """Refuse a call that could pass the cap, counting calls in flight; returns the reservation to release.

        Without reservations, c concurrent calls (best-of-n) could each pass the check and overshoot together.
        Caller holds `self._lock`.
        """
        tokens, usd = self._estimate(messages, max_tokens, model)
        cap_tokens, cap_usd = self.settings.budget_tokens, self.settings.budget_usd
        committed_tokens = self.spend.tokens + self._reserved_tokens
        if cap_tokens is not None and committed_tokens + tokens > cap_tokens:
            raise BudgetExceededError(
                f"token budget reached before '{prompt_name}': spent {self.spend.tokens} of {cap_tokens}"
                f" ({self._reserved_tokens} reserved by calls in flight), this call may use up to {tokens}",
                hint="resume with a larger --budget-tokens to continue",
            )
        if cap_usd is not None and self.spend.usd + self._reserved_usd + usd > cap_usd:
            raise BudgetExceededError(
                f"USD budget reached before '{prompt_name}': spent ${self.spend.usd:.4f} of ${cap_usd:.2f},"
                f" this call may cost up to ${usd:.4f}",
                hint="resume with a larger --budget-usd to continue",
            )
        self._reserved_tokens += tokens
        self._reserved_usd += usd
        return tokens, usd

    # -- calls --------------------------------------------------------------------------------------------------
    def complete(
        self,
        prompt: RenderedPrompt,
        *,
        extra_messages: Sequence[Mapping[str, str]] = (),
        response_format: Mapping[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        sample_index: int = 0,
        stage: str = "",
        role: Role | None = None,
        exact_cap: bool = False,
    ) -> Completion:
        """One model call: budget check, replay or live call (with transient retries), audit record.

        The model is the role's (`role`, else the one `stage` belongs to; see `STAGE_ROLES`). The completion cap is
        the user's `max_tokens` setting when given (it beats a stage's profile-derived cap), else `max_tokens`, else
        the profile's; `exact_cap` sends `max_tokens` as is (a retry that raised the cap after a cut answer)."""
        role = role or role_of(stage)
        model = self.settings.model_for(role)
        messages = [*prompt.messages(), *extra_messages]
        temperature = self.settings.temperature if temperature is None else temperature
        check_temperature(model, temperature, self.profile(model))  # per-call ones too (sampling, --temperature)
        if not (exact_cap and max_tokens):
            max_tokens = self._cap(model, max_tokens)
        seed = self.settings.seed + sample_index if seed is None else seed
        request = {
            "format": CACHE_FORMAT,
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "response_format": response_format,
        }
        key = request_hash(request)
        with self._lock:
            reservation = self._reserve_budget(prompt.name, model, messages, max_tokens)
        try:
            completion = self._answer(prompt, request, key, sample_index)
        finally:
            with self._lock:
                self._reserved_tokens -= reservation[0]
                self._reserved_usd -= reservation[1]
        self._account(
            prompt, completion, stage=stage, role=role, model=model, sample_index=sample_index, seed=seed,
            temperature=temperature, messages=messages,
        )
        return completion

    def _answer(self, prompt: RenderedPrompt, request: Mapping[str, Any], key: str, sample_index: int) -> Completion:
        """The recorded answer (replay) or a live one (stored too when recording)."""
        if self.settings.llm_mode == "replay":
            entry = self.store.get(key)
            if entry is None:
                raise ReplayMissError(
                    f"no recorded response for prompt '{prompt.name}' (sample {sample_index}, request {key[:12]})"
                    f" in {self.store.root}",
                    hint="record it with SCIENTIST_LLM_MODE=record, or run live",
                )
            completion = self._completion_from_entry(entry, key, replayed=True)
        else:
            completion = self._call_live(request, key)
            if self.settings.llm_mode == "record":
                self.store.put(key, {"request": request, "response": completion.model_dump(mode="json")})
        return completion

    def _completion_from_entry(self, entry: Mapping[str, Any], key: str, *, replayed: bool) -> Completion:
        response = dict(entry["response"])
        response.update(request_hash=key, replayed=replayed)
        return Completion.model_validate(response)

    def _call_live(self, request: Mapping[str, Any], key: str) -> Completion:
        litellm = import_litellm()
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

        from scientist.llm.local_model import scientist_error_in

        transient = (
            litellm.exceptions.RateLimitError,
            litellm.exceptions.APIConnectionError,
            litellm.exceptions.Timeout,
            litellm.exceptions.ServiceUnavailableError,
            litellm.exceptions.InternalServerError,
            litellm.exceptions.BadGatewayError,
        )
        kwargs: dict[str, Any] = {
            "model": request["model"],
            "messages": request["messages"],
            "temperature": request["temperature"],
            "max_tokens": request["max_tokens"],
            "seed": request["seed"],
            "timeout": self.settings.request_timeout_s,
            "num_retries": 0,  # retries are ours (bounded, with a deadline), not litellm's
        }
        if request["response_format"] is not None:
            kwargs["response_format"] = request["response_format"]
        if self.settings.api_base:
            kwargs["api_base"] = self.settings.api_base
        if self.settings.api_key is not None:
            kwargs["api_key"] = self.settings.api_key.get_secret_value()
        kwargs.update(provider_for(request["model"]).call_options(self.settings))

        def is_transient(err: BaseException) -> bool:
            # litellm wraps every error of a custom provider as APIConnectionError; a local error is not transient.
            return isinstance(err, transient) and scientist_error_in(err) is None

        started = time.perf_counter()
        try:
            for attempt in Retrying(
                retry=retry_if_exception(is_transient),
                stop=stop_after_attempt(self.settings.transient_retries + 1)
                | stop_after_delay(self.settings.request_timeout_s * 2),
                wait=wait_exponential(multiplier=1, min=1, max=30),
                reraise=True,
            ):
                with attempt:
                    response = litellm.completion(**kwargs)
        except ScientistError:
            raise
        except Exception as err:
            raise _user_facing_error(err, litellm, request["model"], self.settings.transient_retries) from err
        latency = time.perf_counter() - started
        self.live_calls += 1
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = Usage(
            prompt_tokens=int(getattr(response.usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(response.usage, "completion_tokens", 0) or 0),
        )
        return Completion(
            text=text,
            finish_reason=choice.finish_reason,
            usage=usage,
            cost_usd=self._cost(litellm, request["model"], response),
            latency_s=latency,
            request_hash=key,
            response_hash=hashlib.sha256(text.encode()).hexdigest(),
            replayed=False,
        )

    def _cost(self, litellm: Any, model: str, response: Any) -> float | None:
        """USD from the profile's prices (config beats litellm's map); litellm's own pricing as a fallback."""
        usage = getattr(response, "usage", None)
        priced = self.profile(model).cost(
            int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)
        )
        if priced is not None:
            return priced
        try:
            return float(litellm.completion_cost(completion_response=response))
        except Exception:
            return None

    def _account(
        self,
        prompt: RenderedPrompt,
        completion: Completion,
        *,
        stage: str,
        role: Role,
        model: str,
        sample_index: int,
        seed: int,
        temperature: float,
        messages: Sequence[Mapping[str, str]],
    ) -> None:
        with self._lock:
            self.spend.tokens += completion.usage.total_tokens
            self.spend.usd += completion.cost_usd or 0.0
            self.spend.calls += 1
        if self.audit is None:
            return
        prompt_blob, response_blob = self._call_blobs(messages, completion)
        self.audit.emit(
            audit_events.LLMCall(
                stage=stage,
                role=role,
                model=model,
                prompt_template=prompt.name,
                prompt_sha256=prompt.sha256,
                request_hash=completion.request_hash,
                response_hash=completion.response_hash,
                prompt_blob=prompt_blob,
                response_blob=response_blob,
                prompt_tokens=completion.usage.prompt_tokens,
                completion_tokens=completion.usage.completion_tokens,
                total_tokens=completion.usage.total_tokens,
                cost_usd=completion.cost_usd,
                latency_s=round(completion.latency_s, 4),
                finish_reason=completion.finish_reason,
                sample_index=sample_index,
                seed=seed,
                temperature=temperature,
                replayed=completion.replayed,
                mode=self.settings.llm_mode,
            ),
            "llm",
        )

    def _call_blobs(self, messages: Sequence[Mapping[str, str]], completion: Completion) -> tuple[str, str]:
        """The call's prompt and response stored as blobs (redacted, then cut at the settings' cap): what the run page
        opens from the timeline. Only what is stored changes; the messages sent are never touched."""
        assert self.audit is not None
        cap = self.settings.model_call_blob_max_bytes
        secrets = self.audit.extra_secrets
        sent = [{"role": str(m.get("role", "")), "content": redact(str(m.get("content", "")), secrets)}
                for m in messages]  # fmt: skip
        prompt = truncated(prompt_text(sent, completion.request_hash), cap)
        response = truncated(redact(completion.text, secrets), cap)
        return self.audit.put_blob(prompt), self.audit.put_blob(response)

    def structured(
        self,
        prompt_name: str,
        variables: Mapping[str, Any],
        schema: type[T],
        *,
        stage: str = "",
        sample_index: int = 0,
        seed: int | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        role: Role | None = None,
    ) -> T:
        """Render a prompt and get a validated `schema` instance back, feeding parse errors back to the model.

        The request has the form the role's model's provider documents (its profile's `structured_output`)."""
        prompt = render(prompt_name, variables)
        role = role or role_of(stage)
        mode = self.profile(self.settings.model_for(role)).structured_output
        response_format = provider_response_format(schema, mode)
        if mode == "json_object":  # JSON mode has no schema field: the prompt carries it
            prompt = prompt.model_copy(update={"system": prompt.system + schema_instruction(schema)})
        # Repair attempts differ from the first by the appended messages, so each has its own cache entry.
        repair: list[dict[str, str]] = []
        last_error = ""
        model = self.settings.model_for(role)
        cap = self._cap(model, max_tokens)
        truncated = overflowed = False
        for attempt in range(self.settings.repair_retries + 1):
            if attempt and self._repair_overflows(model, prompt, repair, cap):
                last_error += f"; its repair did not fit {model}'s context window"
                overflowed = True
                break
            try:
                completion = self.complete(
                    prompt,
                    extra_messages=repair,
                    response_format=response_format,
                    temperature=temperature,
                    max_tokens=cap,
                    seed=seed,
                    sample_index=sample_index,
                    stage=stage,
                    role=role,
                    exact_cap=True,
                )
            except ScientistError as err:
                if attempt == 0 or not context_overflow(err):
                    raise
                # The bad answer plus the request to fix it no longer fit the window: no valid answer for this
                # item (a batch records it and goes on), not a broken model (which would stop the batch).
                last_error += f"; its repair did not fit {model}'s context window"
                overflowed = True
                break
            try:
                return parse_structured(completion.text, schema, control_characters=mode == "json_object_schema")
            except ValidationError as err:
                last_error = _short_validation_error(err, completion.finish_reason)
                truncated = completion.finish_reason == "length"
                next_cap = self._raised_cap(model, cap) if truncated else cap
                if self.audit is not None:
                    parse_error = audit_events.LLMParseError(
                        stage=stage,
                        prompt_template=prompt_name,
                        attempt=attempt,
                        error=last_error,
                        finish_reason=completion.finish_reason,
                        max_tokens=cap,
                        # a cut answer is re-asked with a larger cap (within the profile), not the same request
                        next_max_tokens=next_cap,
                    )
                    self.audit.emit(parse_error, "llm")
                cap = next_cap
                repair = [
                    {"role": "assistant", "content": completion.text[:4000]},
                    {
                        "role": "user",
                        "content": f"That reply was not valid: {last_error}. Reply again with only one JSON"
                        " object matching the schema, keeping every string short.",
                    },
                ]
        if overflowed:
            hint = (
                f"the prompt, the cut answer and the repair request exceed {model}'s context window: use a model"
                " with a longer window (for the embedded model, raise local_n_ctx), or fewer --repair-retries"
            )
        elif truncated:
            limit = self.profile(model).max_output_tokens
            ceiling = min(limit, self.settings.max_tokens or sys.maxsize)
            raise_what = "--max-tokens or --repair-retries" if ceiling < limit else "--repair-retries"
            hint = (
                f"the last try had max_tokens {cap} of at most {ceiling}: raise {raise_what} (each retry grows the"
                " cap up to that), or use a stronger --model; the run is checkpointed and can be resumed"
            )
        else:
            hint = "raise --repair-retries or use a stronger --model; the run is checkpointed and can be resumed"
        raise StructuredOutputError(
            f"'{prompt_name}' gave no valid {schema.__name__} after {self.settings.repair_retries + 1} tries:"
            f" {last_error}",
            hint=hint,
        )

    def _repair_overflows(
        self, model: str, prompt: RenderedPrompt, repair: Sequence[Mapping[str, str]], cap: int
    ) -> bool:
        """Whether the embedded model would refuse the repair request (prompt, cut answer, fix request) for want of
        context, as scientist.llm.local_model decides: less room than min(cap, MIN_ANSWER_TOKENS) left. Counted before
        the call so a replay decides as the recording did (a call that fails is never recorded). Hosted models:
        False (their overflow error is caught after the call)."""
        window = self.known_context(model)
        if window is None:
            return False
        used = self.prompt_tokens(model, prompt.system, prompt.user, *(message["content"] for message in repair))
        return window - (used + REPAIR_MARGIN_TOKENS) < min(cap, provider_for(model).min_answer_tokens)

    def known_context(self, model: str) -> int | None:
        """`model`'s context window in tokens when its provider knows it before a call (the embedded model's
        `local_n_ctx`); None for a hosted model, whose overflow error is caught after the call instead."""
        return provider_for(model).context_window(self.settings)

    def prompt_room(self, model: str) -> int | None:
        """Most prompt tokens `model` takes and still has room for its smallest answer; None when its window is not
        known before a call (see `known_context`)."""
        window = self.known_context(model)
        return None if window is None else window - provider_for(model).min_answer_tokens

    def prompt_tokens(self, model: str, *texts: str) -> int:
        """Tokens the texts (joined by newlines) take in `model`, by its own tokenizer. Only for models whose window
        is known (see `known_context`): counting before a call is what lets a replay decide as the recording did."""
        return provider_for(model).count_tokens(model, "\n".join(texts), self.settings)

    def _cap(self, model: str, asked: int | None) -> int:
        """The completion cap: the caller's (a stage's, sized from the profile), else the user's max_tokens
        setting, else the profile's default. The stage's own comes first because recorded replies are keyed by
        the request (a study file's `max_tokens` would otherwise change every stage's request); a cut answer is
        re-asked with a larger cap (`_raised_cap`), so a stage's cap is not a dead end."""
        return asked or self.settings.max_tokens or self.profile(model).limits().max_tokens

    def _raised_cap(self, model: str, cap: int) -> int:
        """The completion cap for re-asking after an answer was cut at `cap`: grown, never past the model's limit
        nor past the user's own max_tokens setting (a cap the user set is a ceiling, and the hint names it)."""
        ceiling = min(self.profile(model).max_output_tokens, self.settings.max_tokens or sys.maxsize)
        return max(cap, min(ceiling, int(cap * self.settings.truncation_growth)))


REPAIR_MARGIN_TOKENS = 32  # the chat template's role markers around the four messages
def context_overflow(err: ScientistError) -> bool:
    """Whether a model call failed because its prompt did not fit the context window (the embedded model's
    error, or a hosted provider's as litellm maps it: see `_user_facing_error`)."""
    from scientist.llm.local_model import is_overflow

    return is_overflow(err.message) or "ContextWindowExceededError" in err.message


def _user_facing_error(err: Exception, litellm: Any, model: str, retries: int) -> Exception:
    """Map a provider failure to the ScientistError a user can act on; unknown failures pass through."""
    from scientist.llm.local_model import scientist_error_in

    local = scientist_error_in(err)
    if local is not None:
        return local
    exceptions = litellm.exceptions
    if isinstance(err, exceptions.AuthenticationError):
        return MissingAPIKeyError(f"the provider rejected the API key for {model}: {err}")
    if isinstance(err, exceptions.NotFoundError):
        return UnknownModelError(f"the provider does not know model {model!r}: {err}")
    if isinstance(err, exceptions.BadRequestError) and re.search(r"schema|response_format", str(err), re.I):
        return SchemaRejectedError(
            f"{model} rejected the structured-output request: {str(err)[:300]}",
            hint=f'set structured_output = "json_object" under [models."{model}"] in scientist.toml (JSON mode,'
            " schema in the prompt); the run is checkpointed: `scientist resume RUN` continues with that fix",
        )
    if type(err).__module__.split(".")[0] in {"litellm", "openai", "httpx"}:
        return ModelRuntimeError(
            f"model call failed (tried up to {retries + 1} times): {type(err).__name__}: {str(err)[:200]}",
            hint="the run is checkpointed; `scientist resume RUN` continues when the provider is back",
        )
    return err


def _short_validation_error(err: ValidationError, finish_reason: str | None) -> str:
    details = "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'json'}: {item['msg']}" for item in err.errors()[:3]
    )
    if finish_reason == "length":
        details += " (the answer was cut off at the token limit)"
    return details
