"""Provider-conformant structured output: every schema the project sends passes OpenAI's published strict rules
after the transform (and the checker rejects pydantic's plain schema, so it bites); Gemini gets an OpenAPI-subset
schema; the gateway picks the mode per model (config wins), and over the conformance stub a schema the server
refuses, a 429 with Retry-After, a 500, a timeout and garbage bodies each end survived or as one clear error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from scientist.audit.log import AuditLog
from scientist.config import ModelOverride, Settings
from scientist.errors import ModelRuntimeError, SchemaRejectedError, StructuredOutputError
from scientist.llm.gateway import LLMGateway
from scientist.llm.gateway import resolve_profile as resolve
from scientist.llm.profiles import default_mode
from scientist.llm.providers import supplied_profile
from scientist.llm.structured import gemini_schema, openai_strict, response_format, schema_instruction
from scientist.probes.judge import TraceRating
from scientist.reviews.form import MetaReviewForm, ReviewForm
from scientist.stages.experiment import variant_plan_schema
from scientist.stages.ideation import Idea
from scientist.stages.writing import section_schema
from scientist.template import list_templates, load_template
from scientist.tools.novelty import NoveltyDecision, NoveltyQueries, decision_schema
from tests.openai_rules import strict_schema_errors
from tests.openai_stub import OpenAIStub, ScriptedReply, serve


def project_schemas() -> list[type[BaseModel]]:
    """Every schema a gateway.structured call of the project sends (one VariantPlan per shipped template)."""
    schemas: list[type[BaseModel]] = [
        Idea, NoveltyQueries, NoveltyDecision, decision_schema(["2101.00001", "synthetic-7"]), ReviewForm,
        MetaReviewForm, TraceRating,
        section_schema(600), section_schema(600, titled=True), section_schema(4800), section_schema(4800, titled=True),
    ]
    return schemas + [variant_plan_schema(load_template(name)) for name in list_templates()]


@pytest.mark.parametrize("schema", project_schemas(), ids=lambda schema: schema.__name__)
def test_every_project_schema_passes_openai_strict_rules(schema: type[BaseModel]) -> None:
    for mode in ("json_schema", "tool"):
        assert strict_schema_errors(response_format(schema, mode)) == []  # type: ignore[arg-type]
    transformed = json.dumps(openai_strict(schema))
    assert "$ref" not in transformed and '"default"' not in transformed and "maxLength" not in transformed


def test_the_rule_checker_rejects_pydantics_plain_schema() -> None:
    """What the gateway used to send to every provider: OpenAI answers it with HTTP 400."""
    plain = response_format(ReviewForm, "grammar")
    errors = strict_schema_errors(plain)
    assert any("additionalProperties" in error for error in errors)
    assert any("not permitted" in error for error in errors)  # maxLength, default ...
    bad_name = {"type": "json_schema", "json_schema": {"name": "a b", "strict": True, "schema": openai_strict(Idea)}}
    assert strict_schema_errors(bad_name) == ["name 'a b' must match ^[a-zA-Z0-9_-]{1,64}$"]


class WithOptional(BaseModel):
    required_text: str
    maybe: int | None = None
    note: str = "x"


def test_optional_fields_become_required_and_nullable() -> None:
    schema = openai_strict(WithOptional)
    assert schema["required"] == ["required_text", "maybe", "note"] and schema["additionalProperties"] is False
    assert {"type": "null"} in schema["properties"]["maybe"]["anyOf"]
    assert schema["properties"]["note"]["type"] == "string"  # a default is not null: pydantic would refuse null
    assert strict_schema_errors(response_format(WithOptional, "json_schema")) == []


def test_length_limits_move_into_the_description_for_openai() -> None:
    text = openai_strict(section_schema(600))["properties"]["text"]
    assert "maxLength" not in text and "at most 600 characters" in text["description"]


@pytest.mark.parametrize("schema", project_schemas(), ids=lambda schema: schema.__name__)
def test_gemini_schema_is_the_openapi_subset(schema: type[BaseModel]) -> None:
    flat = json.dumps(gemini_schema(schema))
    assert "$ref" not in flat and "$defs" not in flat and "additionalProperties" not in flat
    assert '"type": "null"' not in flat and '"default"' not in flat


def test_gemini_optional_is_nullable() -> None:
    schema = gemini_schema(WithOptional)
    assert schema["properties"]["maybe"] == {"type": "integer", "nullable": True, "title": "Maybe"}
    assert schema["propertyOrdering"] == ["required_text", "maybe", "note"]


@pytest.mark.parametrize(
    ("model", "supports", "mode"),
    [
        ("openai/gpt-4o-mini", True, "json_schema"),
        ("anthropic/claude-3-5-sonnet-20240620", True, "tool"),
        ("gemini/gemini-1.5-pro", True, "response_schema"),
        ("openai/my-own-server-model", False, "json_object"),
    ],
)
def test_mode_follows_the_provider(model: str, supports: bool, mode: str) -> None:
    assert default_mode(model, supports) == mode


def test_litellm_decides_schema_support(tmp_path: Path) -> None:
    settings = Settings(model="openai/gpt-4o-mini", llm_cache_dir=tmp_path)
    assert resolve("openai/gpt-4o-mini", settings).structured_output == "json_schema"
    assert resolve("openai/nobody-knows-me", settings).structured_output == "json_object"


def test_the_embedded_models_profile_is_its_providers(tmp_path: Path) -> None:
    """The embedded model's fixed profile (grammar, free, its loaded window) comes from its provider, not from a
    branch on its name; a hosted provider supplies none (litellm's info decides)."""
    settings = Settings(model="openai/gpt-4o-mini", llm_cache_dir=tmp_path, local_n_ctx=2048)
    profile = resolve("local/smollm2-135m", settings)
    assert profile == supplied_profile("local/smollm2-135m", settings)
    assert (profile.structured_output, profile.source, profile.context_window, profile.priced) == (
        "grammar",
        "embedded",
        2048,
        True,
    )
    assert supplied_profile("openai/gpt-4o-mini", settings) is None


# -- over the conformance stub ---------------------------------------------------------------------------------------
@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


IDEA = {
    "title": "Slow coins", "hypothesis": "A slower coin respawn lowers reward gaming.",
    "experiment_plan": "Raise coin_respawn_steps and compare.", "risks": "none", "interestingness": 6,
    "feasibility": 8,
}


def gateway(tmp_path: Path, stub: OpenAIStub, model: str = "openai/gpt-4o-mini", **knobs: Any) -> LLMGateway:
    knobs = {"transient_retries": 0, "repair_retries": 0, **knobs}
    settings = Settings(
        model=model, api_base=stub.base_url, api_key="sk-test-not-a-real-key-0000", llm_cache_dir=tmp_path / "s",
        **knobs,
    )
    return LLMGateway(settings, AuditLog(tmp_path / "run"))


def ask(gw: LLMGateway) -> Idea:
    variables = {"topic": "reward hacking", "task_description": "t", "params": {}, "seed_ideas": [], "related": [],
                 "revise": None}
    return gw.structured("ideate", variables, Idea, stage="ideate")


def test_conformant_request_is_accepted_by_the_strict_server(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content=json.dumps(IDEA))]
    assert ask(gateway(tmp_path, stub)).title == "Slow coins"
    sent = stub.requests[0]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True and not stub.rejected


def test_a_schema_the_server_refuses_is_one_clear_error(tmp_path: Path, stub: OpenAIStub) -> None:
    """Forcing the embedded model's plain schema onto an OpenAI model: the server's 400 becomes a hint, no retry."""
    override = {"openai/gpt-4o-mini": ModelOverride(structured_output="grammar")}
    with pytest.raises(SchemaRejectedError) as caught:
        ask(gateway(tmp_path, stub, models=override, repair_retries=2))
    assert len(stub.requests) == 1 and stub.rejected and "additionalProperties" in str(caught.value)
    assert 'structured_output = "json_object"' in str(caught.value) and "\n" not in str(caught.value)


def test_json_mode_carries_the_schema_in_the_prompt(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content=json.dumps(IDEA))]
    assert ask(gateway(tmp_path, stub, model="openai/my-own-server-model")).title == "Slow coins"
    request = stub.requests[0]
    assert request["response_format"] == {"type": "json_object"}
    assert schema_instruction(Idea).strip() in request["messages"][0]["content"]


def test_rate_limit_with_retry_after_then_success(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(status=429, headers={"Retry-After": "0"}), ScriptedReply(status=500),
                    ScriptedReply(content=json.dumps(IDEA))]
    gw = gateway(tmp_path, stub, transient_retries=2)
    assert ask(gw).title == "Slow coins" and len(stub.requests) == 3
    assert gw.spend.calls == 1  # the failed attempts are not billed calls


def test_timeouts_end_as_one_clear_error(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content=json.dumps(IDEA), delay_s=3.0)] * 2
    with pytest.raises(ModelRuntimeError) as caught:
        ask(gateway(tmp_path, stub, request_timeout_s=1.0, transient_retries=1))
    assert "resume" in str(caught.value) and len(stub.requests) == 2


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b'{"id": "x", "choices": [{"mess'])
def test_garbage_or_truncated_body_is_a_clear_error(tmp_path: Path, stub: OpenAIStub, body: bytes) -> None:
    stub.replies = [ScriptedReply(raw_body=body)]
    with pytest.raises(ModelRuntimeError, match="resume"):
        ask(gateway(tmp_path, stub))


def test_unreachable_api_base_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(model="openai/gpt-4o-mini", api_base="http://127.0.0.1:9/v1", api_key="sk-test-0000",
                        llm_cache_dir=tmp_path, transient_retries=0)
    with pytest.raises(ModelRuntimeError, match="resume") as caught:
        ask(LLMGateway(settings, AuditLog(tmp_path / "run")))
    assert "\n" not in caught.value.message


def test_raw_newlines_in_strings_from_llama_cpps_grammar_route_are_accepted(tmp_path: Path, stub: OpenAIStub) -> None:
    """llama.cpp's schema grammar admits raw control characters in strings: its answers are taken as written on
    that route only; strict JSON everywhere else (a hosted JSON mode never sends them)."""
    raw = json.dumps(IDEA).replace("Raise coin_respawn_steps and compare.", "Raise coin_respawn_steps\n\tand compare.")
    stub.replies = [ScriptedReply(content=raw)]
    served = {"openai/my-own-server-model": ModelOverride(structured_output="json_object_schema")}
    idea = ask(gateway(tmp_path, stub, model="openai/my-own-server-model", models=served))
    assert idea.experiment_plan == "Raise coin_respawn_steps\n\tand compare." and len(stub.requests) == 1
    stub.replies = [ScriptedReply(content=raw)]
    with pytest.raises(StructuredOutputError, match="control character"):
        ask(gateway(tmp_path / "strict", stub))  # the strict OpenAI route: invalid JSON stays invalid
