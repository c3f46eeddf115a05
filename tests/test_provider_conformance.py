"""Anthropic and Gemini models over the real litellm path, against loopback servers that enforce each provider's
documented request rules (tests/provider_rules.py): every schema the project sends is accepted and answered
through both of Anthropic's structured forms (a forced tool for older models, `output_format` for the newest) and
both of Gemini's, sampling settings stay in each provider's range, and the provider's own error shapes (400, 429
with Retry-After, 529 overloaded, a cut-off answer) end survived or as one clear error."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from scientist.audit.log import AuditLog
from scientist.config import ModelOverride, Settings
from scientist.errors import ConfigError, ModelRuntimeError, StructuredOutputError
from scientist.llm.gateway import LLMGateway, check_model
from scientist.stages.ideation import Idea
from tests.openai_stub import ScriptedReply
from tests.provider_rules import anthropic_request_errors, anthropic_schema_errors, gemini_request_errors
from tests.provider_stubs import ProviderStub, serve
from tests.schema_answers import instance
from tests.test_structured import project_schemas

# litellm's model map knows only Claude models with Anthropic's own structured outputs (`output_format`); an older
# model it does not know gets JSON mode by default, or the forced-tool form when the config asks for `tool`.
CLAUDE_NATIVE = "anthropic/claude-sonnet-4-5-20250929"
CLAUDE_TOOL = "anthropic/claude-3-5-sonnet-20240620"
CLAUDE_UNKNOWN = "anthropic/claude-3-opus-20240229"
GEMINI_MODELS = ("gemini/gemini-2.5-flash", "gemini/gemini-1.5-pro")  # known (response schema), unknown (JSON mode)
OVERRIDES = {CLAUDE_TOOL: ModelOverride(structured_output="tool")}
VARIABLES = {"topic": "reward hacking", "task_description": "t", "params": {}, "seed_ideas": [], "related": [],
             "revise": None}


@pytest.fixture
def anthropic() -> Iterator[ProviderStub]:
    yield from serve(ProviderStub("anthropic"))


@pytest.fixture
def gemini() -> Iterator[ProviderStub]:
    yield from serve(ProviderStub("gemini"))


def gateway(tmp_path: Path, stub: ProviderStub, model: str, **knobs: Any) -> LLMGateway:
    knobs = {"transient_retries": 0, "repair_retries": 0, **knobs}
    settings = Settings(model=model, api_base=stub.base_url, api_key="test-key-not-real-0000",
                        llm_cache_dir=tmp_path / "cache", models=OVERRIDES, **knobs)
    return LLMGateway(settings, AuditLog(tmp_path / "run"))


def valid_answer(schema: type[BaseModel]) -> str:
    raw = schema.model_json_schema()
    return json.dumps(instance(raw, raw, overall=6))


@pytest.mark.parametrize("schema", project_schemas(), ids=lambda schema: schema.__name__)
@pytest.mark.parametrize("model", [CLAUDE_NATIVE, CLAUDE_TOOL, CLAUDE_UNKNOWN])
def test_every_project_schema_is_accepted_and_answered_by_anthropic(
    tmp_path: Path, anthropic: ProviderStub, model: str, schema: type[BaseModel]
) -> None:
    anthropic.replies = [ScriptedReply(content=valid_answer(schema))]
    answer = gateway(tmp_path, anthropic, model).structured("ideate", VARIABLES, schema, stage="ideate")
    assert isinstance(answer, schema) and not anthropic.rejected, anthropic.rejected
    request = anthropic.requests[0]
    assert anthropic.paths == ["/v1/messages"]
    assert all(message["role"] != "system" for message in request["messages"]) and request.get("system")
    if model == CLAUDE_NATIVE:
        assert request["output_format"]["type"] == "json_schema" and "tools" not in request
    elif model == CLAUDE_TOOL:
        assert request["tool_choice"]["type"] == "tool" and len(request["tools"]) == 1
    else:  # JSON mode: the schema travels in the system prompt
        assert "tools" not in request and "output_format" not in request and "JSON Schema" in str(request["system"])


@pytest.mark.parametrize("schema", project_schemas(), ids=lambda schema: schema.__name__)
@pytest.mark.parametrize("model", GEMINI_MODELS)
def test_every_project_schema_is_accepted_and_answered_by_gemini(
    tmp_path: Path, gemini: ProviderStub, model: str, schema: type[BaseModel]
) -> None:
    gemini.replies = [ScriptedReply(content=valid_answer(schema))]
    answer = gateway(tmp_path, gemini, model).structured("ideate", VARIABLES, schema, stage="ideate")
    assert isinstance(answer, schema) and not gemini.rejected, gemini.rejected
    assert gemini.paths[0].startswith(f"/models/{model.split('/', 1)[1]}:generateContent")
    config = gemini.requests[0]["generationConfig"]
    assert config["response_mime_type"] == "application/json"
    if model == GEMINI_MODELS[0]:
        assert "response_schema" in config or "response_json_schema" in config


class Bounded(BaseModel):
    score: int = Field(ge=1, le=10)
    tags: list[str] = Field(min_length=2, max_length=4)
    note: str = Field(max_length=50)


def test_the_anthropic_rules_refuse_what_the_api_refuses() -> None:
    """The checker bites: pydantic's plain schema, a system message, a hot temperature, a missing header."""
    plain = Bounded.model_json_schema()
    errors = anthropic_schema_errors(plain)
    assert any("'minimum'" in error for error in errors) and any("maxLength" in error for error in errors)
    assert any("additionalProperties" in error for error in errors) and any("minItems 2" in error for error in errors)
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 10, "temperature": 1.5,
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
            "tools": [{"name": "bad name", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "other"}, "output_format": {"type": "json_schema", "schema": plain}}
    found = " | ".join(anthropic_request_errors(headers, body))
    for expected in ("messages.0.role", "temperature", "tools.0.name", "tool_choice.name", "anthropic-beta",
                     "'maximum'"):
        assert expected in found
    assert anthropic_request_errors({}, {"model": "m", "max_tokens": 1, "messages": [{"role": "user"}]}) == [
        "header x-api-key: field required", "header anthropic-version: field required"]


def test_the_gemini_rules_refuse_what_the_api_refuses() -> None:
    plain = Bounded.model_json_schema() | {"additionalProperties": False}
    body = {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}],
            "generationConfig": {"temperature": 2.5, "responseSchema": plain}}
    found = " | ".join(gemini_request_errors({}, body))
    for expected in ("API key", "valid role", "temperature", "additionalProperties", "application/json"):
        assert expected in found
    nullable_type = {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    assert "no null type" in " ".join(gemini_request_errors(
        {"x-goog-api-key": "k"}, {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                                  "generation_config": {"response_mime_type": "application/json",
                                                        "response_schema": nullable_type}}))


@pytest.mark.parametrize("model", [CLAUDE_NATIVE, CLAUDE_TOOL])
def test_bounded_fields_reach_anthropic_in_its_subset_and_are_still_enforced(
    tmp_path: Path, anthropic: ProviderStub, model: str
) -> None:
    """Anthropic's grammar cannot hold `ge`/`max_length`: they are dropped from the request, and an answer that
    breaks them is still refused by the gateway's validation (here: a score of 11)."""
    bad = {"score": 11, "tags": ["a", "b"], "note": "n"}
    anthropic.replies = [ScriptedReply(content=json.dumps(bad))]
    with pytest.raises(StructuredOutputError):
        gateway(tmp_path, anthropic, model).structured("ideate", VARIABLES, Bounded, stage="ideate")
    assert not anthropic.rejected and len(anthropic.requests) == 1


@pytest.mark.parametrize("model", [CLAUDE_NATIVE, CLAUDE_TOOL])
def test_a_temperature_anthropic_would_refuse_is_a_config_error_before_any_call(
    tmp_path: Path, anthropic: ProviderStub, model: str
) -> None:
    """Settings allow up to 2 (OpenAI's range); Anthropic documents 0-1 and answers more with a 400, which mid-run
    read as a provider outage ("resume when it is back"). Now: refused up front, and per call as a backstop."""
    settings = Settings(model=model, api_key="k", temperature=1.5, models=OVERRIDES)
    with pytest.raises(ConfigError, match=r"temperature 1.5 is above what .* accepts \(at most 1\)") as caught:
        check_model(settings)
    assert "temperature = 1 or lower" in (caught.value.hint or "")
    gw = gateway(tmp_path, anthropic, model)
    with pytest.raises(ConfigError):
        gw.structured("ideate", VARIABLES, Idea, stage="ideate", temperature=1.2)  # a sampling control's own
    assert anthropic.requests == []
    raised = Settings(model=model, api_key="k", temperature=1.5,
                      models={model: ModelOverride(max_temperature=2.0)})
    check_model(raised)  # a config that knows better (a proxy with another range) is believed


def test_gemini_takes_temperatures_up_to_two(tmp_path: Path, gemini: ProviderStub) -> None:
    gemini.replies = [ScriptedReply(content=valid_answer(Idea))]
    gateway(tmp_path, gemini, GEMINI_MODELS[0], temperature=1.8).structured("ideate", VARIABLES, Idea, stage="ideate")
    assert gemini.requests[0]["generationConfig"]["temperature"] == 1.8 and not gemini.rejected


def test_anthropic_rate_limit_and_overload_are_retried(tmp_path: Path, anthropic: ProviderStub) -> None:
    anthropic.replies = [ScriptedReply(status=429, headers={"retry-after": "0"}), ScriptedReply(status=529),
                         ScriptedReply(content=valid_answer(Idea))]
    gw = gateway(tmp_path, anthropic, CLAUDE_TOOL, transient_retries=2)
    assert isinstance(gw.structured("ideate", VARIABLES, Idea, stage="ideate"), Idea)
    assert len(anthropic.requests) == 3 and gw.spend.calls == 1


def test_gemini_resource_exhausted_is_retried_then_reported(tmp_path: Path, gemini: ProviderStub) -> None:
    gemini.replies = [ScriptedReply(status=429)] * 3
    with pytest.raises(ModelRuntimeError, match="resume") as caught:
        gateway(tmp_path, gemini, GEMINI_MODELS[0], transient_retries=1).structured(
            "ideate", VARIABLES, Idea, stage="ideate")
    assert len(gemini.requests) == 2 and "\n" not in caught.value.message


@pytest.mark.parametrize(("provider", "model"), [("anthropic", CLAUDE_NATIVE), ("gemini", GEMINI_MODELS[0])])
def test_an_answer_cut_at_the_token_cap_is_reported_as_cut(tmp_path: Path, provider: str, model: str) -> None:
    for stub in serve(ProviderStub(provider)):
        stub.replies = [ScriptedReply(content='{"title": "Slow co', finish_reason="length")]
        with pytest.raises(StructuredOutputError) as caught:
            gateway(tmp_path, stub, model).structured("ideate", VARIABLES, Idea, stage="ideate")
        assert "token limit" in str(caught.value) and "\n" not in str(caught.value)


def test_no_anthropic_configuration_is_fetched_from_the_network(tmp_path: Path, anthropic: ProviderStub) -> None:
    """litellm fetches its Anthropic beta-header table from the internet unless told not to: the gateway says so,
    so a call behaves the same on- and offline and asks nothing of any host but the API's."""
    anthropic.replies = [ScriptedReply(content=valid_answer(Idea))]
    gateway(tmp_path, anthropic, CLAUDE_NATIVE).structured("ideate", VARIABLES, Idea, stage="ideate")
    assert os.environ.get("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS") == "True"
    assert "structured-outputs-2025-11-13" in anthropic.headers[0].get("anthropic-beta", "")
