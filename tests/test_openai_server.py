"""A real OpenAI-compatible server on loopback: llama-cpp-python's own `python -m llama_cpp.server` (the `server`
extra) serving the embedded GGUF. The gateway talks to it through litellm's `openai/` provider with `api_base`, as
it would to vLLM, Ollama or a hosted API: a handful of calls, structured output included, kept well under a minute.
The server is the session's `llama_server` fixture (tests/llama_server.py); only 127.0.0.1 is bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from scientist.audit.log import AuditLog
from scientist.config import Settings
from scientist.llm.gateway import LLMGateway
from scientist.prompts import render
from tests.llama_server import HAS_SERVER, SERVED_MODEL, SERVED_PROFILE, SERVER_API_KEY

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not HAS_SERVER, reason="needs the local build and the server extra (bash scripts/setup.sh)"),
    pytest.mark.timeout(400),  # ~15 s on a quiet machine; minutes when 2 cores are shared by several suites
]
MODEL = SERVED_MODEL
PROFILE = SERVED_PROFILE


class Finding(BaseModel):
    """No free strings: llama.cpp's schema grammar lets raw newlines into strings and bounded string lengths make
    its grammar slow, neither of which is what this test is about (the wire path is)."""

    supported: Literal["yes", "no", "unclear"]
    confidence: int = Field(ge=1, le=10)


def gateway(tmp_path: Path, base: str, **knobs: object) -> LLMGateway:
    settings = Settings(
        model=MODEL, api_base=base, api_key=SERVER_API_KEY, models={MODEL: PROFILE},
        llm_cache_dir=tmp_path / "store", temperature=0.0, transient_retries=0, budget_usd=1.0, **knobs,
    )
    return LLMGateway(settings, AuditLog(tmp_path / "run"))


def test_structured_and_plain_calls_over_real_http(tmp_path: Path, llama_server: str) -> None:
    gw = gateway(tmp_path, llama_server, repair_retries=1)
    variables = {"section": "method", "section_title": "method", "text": "We ran a gridworld.", "errors": []}
    finding = gw.structured("write_fix", variables, Finding, stage="review", max_tokens=40)
    assert 1 <= finding.confidence <= 10 and finding.supported in ("yes", "no", "unclear")
    plain = gw.complete(render("write_fix", variables), max_tokens=16, stage="write")
    assert plain.usage.completion_tokens > 0 and not plain.replayed
    calls = AuditLog(tmp_path / "run").find(kind="llm_call")
    assert {record.payload["model"] for record in calls} == {MODEL}
    assert {record.payload["role"] for record in calls} >= {"review", "writeup"}
    assert all(record.payload["cost_usd"] == 0.0 for record in calls)  # priced (free) by the profile: the cap holds
    assert gw.live_calls == len(calls) <= 3


def test_the_request_on_the_wire_is_the_servers_grammar_form(tmp_path: Path, llama_server: str) -> None:
    """Recorded mode stores exactly what went over HTTP: json_object + the schema, which llama.cpp compiles."""
    gw = gateway(tmp_path, llama_server, llm_mode="record", repair_retries=1)
    variables = {"section": "results", "section_title": "results", "text": "Return rose.", "errors": []}
    gw.structured("write_fix", variables, Finding, stage="review", max_tokens=40)
    stored = [json.loads(path.read_text()) for path in (tmp_path / "store").rglob("*.json")]
    assert stored and stored[0]["request"]["response_format"]["type"] == "json_object"
    assert stored[0]["request"]["response_format"]["schema"]["properties"]["confidence"]["maximum"] == 10


@pytest.mark.live_full
@pytest.mark.timeout(1800)
def test_a_whole_run_over_the_server(isolated_env: Path, llama_server: str) -> None:
    """`scientist run --model openai/... --api-base ...` end to end over real HTTP: every stage, one pass each (as
    the live smoke run on the embedded provider), so the OpenAI-compatible path is proven for a whole run, not
    only for single calls. live_full (`make test-live`): it repeats the live smoke run's model work over HTTP,
    ~3 min more than CI's budget allows next to it; measured 872 s on the 2 shared cores under load."""
    from tests.conftest import chosen_sandbox, run_cli

    profile = {MODEL: PROFILE.model_dump(exclude_none=True)}
    result = run_cli(
        "run", "specification gaming with a gameable proxy reward", "--num-ideas", "1", "--seed", "11",
        "--model", MODEL, "--api-base", llama_server,
        env={
            "SCIENTIST_API_KEY": SERVER_API_KEY,
            "SCIENTIST_MODELS": json.dumps(profile),
            "SCIENTIST_SANDBOX": chosen_sandbox(),
            "SCIENTIST_WRITE_REFLECTIONS": "0",
            "SCIENTIST_REVIEW_REFLECTIONS": "0",
            "SCIENTIST_REVIEW_ENSEMBLE": "1",
            "SCIENTIST_BUDGET_USD": "1",
        },
        timeout=1700,
    )
    (run_dir,) = (isolated_env / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert result.returncode == 0, (info["status_detail"], result.stderr)
    calls = AuditLog(run_dir).find(kind="llm_call")
    assert calls and {call.payload["model"] for call in calls} == {MODEL}
    assert not any(call.payload["replayed"] for call in calls)
    assert (run_dir / "review.json").exists() and json.loads((run_dir / "review.json").read_text())
    assert run_cli("audit", "verify", run_dir.name).returncode == 0
