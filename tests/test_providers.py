"""Model providers behind the gateway: looked up by the model's provider name, never branched on by the caller."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from scientist.commands.doctor import check_model_runtime
from scientist.config import Settings
from scientist.errors import ConfigError, StructuredOutputError, UnknownModelError
from scientist.llm import local_model, providers
from scientist.llm.gateway import LLMGateway, check_model, resolve_profile
from scientist.llm.profiles import ModelProfile, embedded_profile
from scientist.registry import Registry
from tests.openai_stub import OpenAIStub, ScriptedReply, serve
from tests.test_llm_gateway import make_settings


class Verdict(BaseModel):
    verdict: str
    score: int


class ServedProvider:
    """A plugin provider: models on one's own OpenAI-compatible server whose window and tokenizer are known."""

    min_answer_tokens = 100
    pings = True

    def __init__(self, window: int) -> None:
        self.window = window
        self.checked: list[str] = []

    def check(self, model: str, settings: Settings) -> None:
        self.checked.append(model)

    def describe(self, model: str, settings: Settings) -> str:
        return f"{model}: served, window {self.window}"

    def warm_up(self, model: str, settings: Settings) -> None:
        return None

    def call_options(self, settings: Settings) -> dict[str, Any]:
        return {"custom_llm_provider": "openai"}  # litellm routes `served/...` to the server at api_base

    def context_window(self, settings: Settings) -> int | None:
        return self.window

    def count_tokens(self, model: str, text: str, settings: Settings) -> int:
        return len(text) // 4 + 1


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> ServedProvider:
    provider = ServedProvider(window=4096)
    registry: Registry[providers.Provider] = Registry("provider", what="model provider")
    registry.add("local", "scientist.llm.local_model:EMBEDDED")
    registry.add("served", provider)
    monkeypatch.setattr(providers, "PROVIDERS", registry)
    return provider


def settings_for(stub: OpenAIStub, tmp_path: Path, **overrides: object) -> Settings:
    return make_settings(stub, tmp_path, **{"model": "served/tiny", "transient_retries": 0, **overrides})


def ask(gateway: LLMGateway) -> Verdict:
    return gateway.structured("review", {"paper": "A tiny paper."}, Verdict, stage="test")


def test_a_registered_provider_checks_describes_and_routes_its_models(
    stub: OpenAIStub, served: ServedProvider, tmp_path: Path
) -> None:
    settings = settings_for(stub, tmp_path)
    check_model(settings)
    assert served.checked == ["served/tiny"]  # its own check, not litellm's provider table (which has no `served`)
    assert check_model_runtime(settings).detail == "served/tiny: served, window 4096"
    stub.replies = [ScriptedReply(content=json.dumps({"verdict": "fine", "score": 3}))]
    gateway = LLMGateway(settings)
    assert ask(gateway).score == 3 and len(stub.requests) == 1  # the provider's call options reached litellm
    assert gateway.known_context("served/tiny") == 4096
    assert gateway.prompt_room("served/tiny") == 4096 - served.min_answer_tokens
    assert gateway.prompt_tokens("served/tiny", "abcd" * 10, "x") == len("abcd" * 10 + "\nx") // 4 + 1


class ProfiledProvider(ServedProvider):
    """A plugin provider that also fixes its models' profile (as the embedded one does)."""

    def profile(self, model: str, settings: Settings) -> ModelProfile:
        return embedded_profile(model, self.window).model_copy(update={"source": "served"})


def test_a_provider_may_supply_its_models_profile_and_one_without_keeps_litellms(
    stub: OpenAIStub, served: ServedProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(stub, tmp_path)
    assert providers.supplied_profile("served/tiny", settings) is None  # written without `profile`: litellm's info
    assert resolve_profile("served/tiny", settings).source in ("litellm", "default")
    providers.PROVIDERS.add("profiled", ProfiledProvider(window=8192))
    profile = resolve_profile("profiled/tiny", settings)
    assert (profile.source, profile.context_window, profile.structured_output) == ("served", 8192, "grammar")
    assert resolve_profile("local/smollm2-135m", settings).source == "embedded"  # the embedded provider's own


def test_a_repair_past_the_providers_window_is_refused_before_the_call(
    stub: OpenAIStub, served: ServedProvider, tmp_path: Path
) -> None:
    """The gateway sizes the repair by the provider's window and tokenizer, as it does for the embedded model: a
    repair that would not fit is this item's failure, decided without a second request (so a replay decides alike)."""
    served.window = 300
    stub.replies = [ScriptedReply(content='{"verdict": "' + "long " * 200, finish_reason="length")]
    with pytest.raises(StructuredOutputError, match="repair did not fit"):
        ask(LLMGateway(settings_for(stub, tmp_path, repair_retries=2)))
    assert len(stub.requests) == 1
    served.window = 100_000  # the same cut answer under a large window is re-asked
    stub.requests.clear()
    stub.replies = [
        ScriptedReply(content='{"verdict": "' + "long " * 200, finish_reason="length"),
        ScriptedReply(content=json.dumps({"verdict": "fine", "score": 2})),
    ]
    assert ask(LLMGateway(settings_for(stub, tmp_path, repair_retries=2))).score == 2
    assert len(stub.requests) == 2


def test_the_embedded_and_hosted_providers_answer_for_their_models(tmp_path: Path) -> None:
    settings = Settings(llm_cache_dir=tmp_path, local_n_ctx=2048)
    embedded = providers.provider_for("local/smollm2-135m")
    assert embedded is local_model.EMBEDDED
    assert embedded.context_window(settings) == 2048 and embedded.call_options(settings) == {"n_ctx": 2048}
    assert not embedded.pings  # `doctor --model local/...` shows the weights instead of a live call
    gateway = LLMGateway(settings)
    assert gateway.prompt_room("local/smollm2-135m") == 2048 - local_model.MIN_ANSWER_TOKENS
    hosted = providers.provider_for("openai/gpt-4o-mini")
    assert hosted is providers.HOSTED and hosted.pings and hosted.call_options(settings) == {}
    assert gateway.known_context("openai/gpt-4o-mini") is None and gateway.prompt_room("openai/gpt-4o-mini") is None
    with pytest.raises(ConfigError, match="tokenizer is not known"):
        hosted.count_tokens("openai/gpt-4o-mini", "text", settings)


def test_a_provider_litellm_does_not_know_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match="unknown model or provider 'nosuchprovider/x'") as caught:
        check_model(Settings(model="nosuchprovider/x", llm_cache_dir=tmp_path))
    assert caught.value.hint is not None and "local/smollm2-135m" in caught.value.hint
