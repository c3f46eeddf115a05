"""`scientist doctor --model M`: one tiny live call over the conformance stub, with a one-line verdict and fix for
a working model, a server that rejects the schema, an unreachable api_base and a missing key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scientist.cli import main
from scientist.commands.doctor import check_model_call
from scientist.config import ModelOverride, Settings
from tests.openai_stub import OpenAIStub, ScriptedReply, serve

KEY = "sk-test-not-a-real-key-0000"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


def settings(tmp_path: Path, base: str, **knobs: object) -> Settings:
    return Settings(model="openai/gpt-4o-mini", api_base=base, api_key=KEY, llm_cache_dir=tmp_path, **knobs)


def test_a_working_model_is_ok_in_one_call(tmp_path: Path, stub: OpenAIStub) -> None:
    stub.replies = [ScriptedReply(content=json.dumps({"ok": True}))]
    check = check_model_call(settings(tmp_path, stub.base_url))
    assert check.status == "ok" and "json_schema" in check.detail and len(stub.requests) == 1
    assert stub.requests[0]["response_format"]["json_schema"]["strict"] is True and not stub.rejected


def test_a_rejected_schema_names_the_config_fix(tmp_path: Path, stub: OpenAIStub) -> None:
    override = {"openai/gpt-4o-mini": ModelOverride(structured_output="grammar")}
    check = check_model_call(settings(tmp_path, stub.base_url, models=override))
    assert check.status == "fail" and "rejected the structured-output request" in check.detail
    assert 'structured_output = "json_object"' in check.fix


def test_an_unreachable_server_names_the_api_base(tmp_path: Path) -> None:
    check = check_model_call(settings(tmp_path, "http://127.0.0.1:9/v1"))
    assert check.status == "fail" and "127.0.0.1:9" in check.detail and "--api-base" in check.fix


def test_cli_doctor_with_a_model_makes_the_call_and_reports(
    tmp_path: Path, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.replies = [ScriptedReply(content="not json at all")] * 2
    from rich.console import Console

    monkeypatch.setattr("scientist.cli.console", Console(width=400))  # one table row per line
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("SCIENTIST_LLM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("sys.argv", ["scientist", "doctor", "--model", "openai/gpt-4o-mini", "--api-base",
                                     stub.base_url])
    with pytest.raises(SystemExit):
        main()
    output = " ".join(capsys.readouterr().out.split())
    assert "model:call" in output and "not the JSON asked for" in output and len(stub.requests) == 2
