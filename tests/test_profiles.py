"""Model profiles: the embedded model keeps its recorded sizes exactly; a long-context model gets longer sections,
more earlier-section context, bigger edits and a longer reviewer cut; config overrides litellm's model info."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog
from scientist.config import ModelOverride, Settings, load_settings
from scientist.context import RunContext
from scientist.llm.gateway import LLMGateway
from scientist.llm.gateway import resolve_profile as resolve
from scientist.sandbox import get_sandbox
from scientist.stages.writing import draft_sections, section_schema
from scientist.template import load_template
from tests.openai_stub import OpenAIStub, ScriptedReply, serve

# The embedded model's sizes when its replay fixtures were recorded: any change is a replay miss.
EMBEDDED = {
    "max_tokens": 700,
    "section_chars": 600,
    "previous_chars": 300,
    "edit_max_tokens": 300,
    "review_paper_chars": 12_000,
    "review_max_tokens": 1200,
    "references": 3,
}
# The section schemas exactly as the recorded requests carry them.
RECORDED_SECTION = {
    "properties": {"text": {"maxLength": 600, "minLength": 1, "title": "Text", "type": "string"}},
    "required": ["text"],
    "title": "SectionText",
    "type": "object",
}
RECORDED_TITLED = {
    "properties": {
        "title": {"maxLength": 120, "minLength": 1, "title": "Title", "type": "string"},
        "text": {"maxLength": 600, "minLength": 1, "title": "Text", "type": "string"},
    },
    "required": ["title", "text"],
    "title": "TitledSection",
    "type": "object",
}


def test_embedded_profile_keeps_the_recorded_sizes(tmp_path: Path) -> None:
    settings = Settings(llm_cache_dir=tmp_path)
    profile = resolve(settings.model, settings)
    assert profile.source == "embedded" and profile.context_window == 4096 and profile.cost(1000, 1000) == 0.0
    assert vars(profile.limits()) == EMBEDDED
    # a smaller embedded window never goes below today's sizes' structure either (scale floors at 1)
    assert vars(resolve(settings.model, Settings(llm_cache_dir=tmp_path, local_n_ctx=2048)).limits()) == EMBEDDED
    assert section_schema(600).model_json_schema() == RECORDED_SECTION
    assert section_schema(600, titled=True).model_json_schema() == RECORDED_TITLED


def test_litellm_model_info_sizes_a_long_context_model(tmp_path: Path) -> None:
    settings = Settings(model="openai/gpt-4o-mini", llm_cache_dir=tmp_path)
    profile = resolve(settings.model, settings)
    assert profile.source == "litellm" and profile.context_window >= 128_000 and profile.priced
    limits = profile.limits()
    assert limits.section_chars == 8 * 600 and limits.previous_chars == 8 * 300 and limits.references == 24
    assert limits.review_paper_chars == 96_000 and limits.edit_max_tokens == 2400
    assert limits.section_max_tokens <= profile.max_output_tokens
    assert section_schema(limits.section_chars).model_json_schema()["properties"]["text"]["maxLength"] == 4800


def test_unknown_model_gets_small_defaults_and_config_overrides_every_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = Settings(model="openai/my-own-server-model", llm_cache_dir=tmp_path)
    profile = resolve(unknown.model, unknown)
    assert profile.source == "default" and not profile.priced and profile.structured_output == "json_object"
    config = tmp_path / "scientist.toml"
    config.write_text(
        '[models."openai/my-own-server-model"]\ncontext_window = 32768\nmax_output_tokens = 2000\n'
        "input_usd_per_mtok = 0.5\noutput_usd_per_mtok = 1.5\nstructured_output = \"json_object_schema\"\n"
    )
    monkeypatch.setenv("SCIENTIST_CONFIG", str(config))
    settings = load_settings(model="openai/my-own-server-model", llm_cache_dir=tmp_path)
    assert settings.models["openai/my-own-server-model"] == ModelOverride(
        context_window=32768, max_output_tokens=2000, input_usd_per_mtok=0.5, output_usd_per_mtok=1.5,
        structured_output="json_object_schema",
    )
    profile = resolve(settings.model, settings)
    assert profile.source == "default+config" and profile.structured_output == "json_object_schema"
    assert profile.cost(1_000_000, 1_000_000) == pytest.approx(2.0)
    limits = profile.limits()
    assert limits.max_tokens == 2000 and limits.edit_max_tokens == 2000  # the output cap bounds every answer
    assert limits.section_chars == 2000 - 50 - 120 and limits.previous_chars == 8 * 300


def test_bad_override_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scientist.errors import ConfigError

    config = tmp_path / "scientist.toml"
    config.write_text('[models."openai/x"]\ncontext_windw = 1\n')
    monkeypatch.setenv("SCIENTIST_CONFIG", str(config))
    with pytest.raises(ConfigError, match="context_windw"):
        load_settings()


# -- the rendered prompts follow the profile -------------------------------------------------------------------------
@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


LONG_SECTION = "word " * 500  # 2500 characters: more than the embedded model's 600-character cap


def _draft_with(tmp_path: Path, stub: OpenAIStub, model: str, **knobs: Any) -> list[dict[str, Any]]:
    def answer(request: dict[str, Any]) -> ScriptedReply:
        schema = request["response_format"]["json_schema"]["schema"]  # strict form: the cap is in the description
        cap = int(re.search(r"at most (\d+) characters", schema["properties"]["text"]["description"]).group(1))
        body = {"text": LONG_SECTION.strip()[:cap]}
        if "title" in schema["properties"]:
            body["title"] = "A title"
        return ScriptedReply(content=json.dumps(body))

    stub.responder = answer
    settings = Settings(
        model=model, api_base=stub.base_url, api_key="sk-test-not-a-real-key-0000", llm_cache_dir=tmp_path / "s",
        transient_retries=0, repair_retries=0, write_reflections=0, **knobs,
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True)
    audit = AuditLog(run_dir)
    ctx = RunContext(
        run_id="r", run_dir=run_dir, settings=settings, audit=audit, gateway=LLMGateway(settings, audit),
        sandbox=get_sandbox("unsafe-subprocess", run_label="r"), template=load_template("reward_misspec"),
    )
    draft_sections(ctx, {"title": "T", "hypothesis": "h", "experiment_plan": "p", "risks": "r"}, [], [])
    return list(stub.requests)


def test_long_context_prompts_carry_longer_sections_than_the_tiny_caps(
    tmp_path: Path, stub: OpenAIStub
) -> None:
    """The last section's prompt carries the earlier ones at the profile's length, and its answer may be long."""
    small_model = ModelOverride(context_window=4096, max_output_tokens=4096, structured_output="json_schema")
    large_model = ModelOverride(context_window=131072, max_output_tokens=16384, structured_output="json_schema")
    small = _draft_with(tmp_path / "small", stub, "openai/small-model", models={"openai/small-model": small_model})
    stub.requests.clear()
    large = _draft_with(tmp_path / "large", stub, "openai/large-model", models={"openai/large-model": large_model})
    small_last, large_last = small[-1], large[-1]
    assert small_last["max_tokens"] == 650 and large_last["max_tokens"] == 4850
    assert len(large_last["messages"][-1]["content"]) > len(small_last["messages"][-1]["content"]) + 5 * 1500
    assert LONG_SECTION.strip()[:2000] in large_last["messages"][-1]["content"]
    assert LONG_SECTION.strip()[:400] not in small_last["messages"][-1]["content"]  # cut to 300 characters
