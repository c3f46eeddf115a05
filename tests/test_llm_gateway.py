"""The gateway against a loopback OpenAI-compatible server: the real litellm client path, scripted answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from scientist.audit.log import AuditLog, verify
from scientist.config import Settings
from scientist.errors import (
    BudgetExceededError,
    MissingAPIKeyError,
    ModelRuntimeError,
    ReplayMissError,
    ScientistError,
    StructuredOutputError,
    UnknownModelError,
)
from scientist.llm.gateway import LLMGateway, check_model, context_overflow, parse_structured
from tests.openai_stub import OpenAIStub, ScriptedReply, serve


class Verdict(BaseModel):
    verdict: str
    score: int


GOOD = json.dumps({"verdict": "fine", "score": 3})


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


def make_settings(stub: OpenAIStub, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "model": "openai/gpt-4o-mini",
        "api_base": stub.base_url,
        "api_key": "sk-test-not-a-real-key-0000",
        "llm_cache_dir": tmp_path / "store",
        "transient_retries": 2,
        "max_tokens": 200,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def ask(gateway: LLMGateway, sample_index: int = 0) -> Verdict:
    return gateway.structured("review", {"paper": "A tiny paper."}, Verdict, stage="test", sample_index=sample_index)


def test_structured_call_is_parsed_audited_and_costed(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.replies = [ScriptedReply(content=GOOD, prompt_tokens=120, completion_tokens=30)]
    audit = AuditLog(tmp_path / "run")
    gateway = LLMGateway(make_settings(stub, tmp_path, temperature=0.3, seed=7), audit)
    assert ask(gateway, sample_index=2) == Verdict(verdict="fine", score=3)
    (record,) = audit.find(kind="llm_call")
    payload = record.payload
    assert payload["prompt_template"] == "review" and len(payload["prompt_sha256"]) == 64
    assert payload["total_tokens"] == 150 and payload["cost_usd"] > 0
    assert payload["sample_index"] == 2 and payload["seed"] == 9
    assert audit.blob_path(payload["response_blob"]).read_text() == GOOD
    # every knob reaches the wire
    sent = stub.requests[0]
    assert sent["temperature"] == 0.3 and sent["seed"] == 9 and sent["max_tokens"] == 200
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["verdict", "score"]


def test_each_call_keeps_its_prompt_and_response_as_redacted_blobs_and_sends_the_prompt_untouched(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    """The run page opens a model call's prompt from its `prompt_blob`: the messages actually sent (a repair turn
    too), secrets redacted in the copy only, the request it belongs to named; identical calls share one blob."""
    secret = "sk-" + "A1b2C3d4" * 4
    stub.replies = [ScriptedReply(content='{"verdict": "x"}'), ScriptedReply(content=GOOD)]
    audit = AuditLog(tmp_path / "run")
    gateway = LLMGateway(make_settings(stub, tmp_path), audit)
    paper = f"A tiny paper that quotes {secret} and <script>alert(1)</script>."
    verdict = gateway.structured("review", {"paper": paper}, Verdict, stage="test")
    assert verdict.score == 3
    calls = audit.find(kind="llm_call")
    assert len(calls) == 2
    for call, sent in zip(calls, stub.requests, strict=True):
        text = audit.blob_path(call.payload["prompt_blob"]).read_text(encoding="utf-8")
        assert text.startswith(f"model call prompt · request {call.payload['request_hash']} · ")
        for message in sent["messages"]:  # every message, in order, redacted in the copy
            content = message["content"].replace(secret, "[REDACTED:openai-key]")
            assert f"--- {message['role']} ({len(content)} characters) ---\n{content}\n" in text
        assert secret in json.dumps(sent) and secret not in text  # sent as written, stored redacted
    assert "Field required" in audit.blob_path(calls[1].payload["prompt_blob"]).read_text()  # the repair turn
    assert audit.blob_path(calls[1].payload["response_blob"]).read_text() == GOOD
    assert verify(audit.run_dir).ok


def test_a_prompt_or_response_over_the_cap_is_cut_and_the_cut_marked(stub: OpenAIStub, tmp_path: Path) -> None:
    long_answer = json.dumps({"verdict": "é" * 3000, "score": 3})
    stub.replies = [ScriptedReply(content=long_answer)]
    audit = AuditLog(tmp_path / "run")
    gateway = LLMGateway(make_settings(stub, tmp_path, model_call_blob_max_bytes=2048), audit)
    gateway.structured("review", {"paper": "x" * 5000}, Verdict, stage="test")
    (call,) = audit.find(kind="llm_call")
    prompt = audit.blob_path(call.payload["prompt_blob"]).read_bytes()
    response = audit.blob_path(call.payload["response_blob"]).read_bytes()
    for stored, whole in ((prompt, None), (response, long_answer.encode())):
        body, _, marker = stored.rstrip(b"\n").rpartition(b"\n")
        assert len(body) <= 2048 and marker.startswith(b"[... truncated by scientist: ")
        assert b"(model_call_blob_max_bytes = 2048)]" in marker
        body.decode("utf-8")  # cut at a character boundary
        if whole is not None:
            assert whole.startswith(body) and f"of {len(whole)} bytes kept".encode() in marker
    assert "x" * 5000 in stub.requests[0]["messages"][-1]["content"]  # the model got the whole prompt


def test_invalid_output_is_repaired_with_the_error_fed_back(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.replies = [ScriptedReply(content='{"verdict": "x"}'), ScriptedReply(content=f"```json\n{GOOD}\n```")]
    audit = AuditLog(tmp_path / "run")
    assert ask(LLMGateway(make_settings(stub, tmp_path), audit)).score == 3
    repair_turn = stub.requests[1]["messages"][-1]["content"]
    assert "score" in repair_turn and "Field required" in repair_turn
    assert len(audit.find(kind="llm_parse_error")) == 1


def test_repair_gives_up_with_a_clear_error(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.replies = [ScriptedReply(content="not json at all")] * 3
    with pytest.raises(StructuredOutputError, match="no valid Verdict after 3 tries"):
        ask(LLMGateway(make_settings(stub, tmp_path, repair_retries=2)))
    assert len(stub.requests) == 3


TOO_LONG = ScriptedReply(status=400, error={  # OpenAI's documented error for a prompt past the window
    "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072"
    " tokens. Please reduce the length of the messages.",
    "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded",
})  # fmt: skip


def test_a_repair_that_no_longer_fits_the_window_is_this_items_failure_not_a_broken_model(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    """A long prompt, a cut answer, and the request to fix it: the repair overflows the context. That is no valid
    answer for this item (a batch records it and goes on), not a model error that would stop the whole batch."""
    cut = ScriptedReply(content='{"verdict": "a very long verdict that never', finish_reason="length")
    stub.replies = [cut, TOO_LONG]
    with pytest.raises(StructuredOutputError, match="its repair did not fit openai/gpt-4o-mini's context") as caught:
        ask(LLMGateway(make_settings(stub, tmp_path, repair_retries=2)))
    assert len(stub.requests) == 2 and caught.value.hint is not None and "longer window" in caught.value.hint
    stub.replies = [TOO_LONG]  # the first request itself too long: the model error, as before
    with pytest.raises(ScientistError) as first:
        ask(LLMGateway(make_settings(stub, tmp_path, repair_retries=2)))
    assert not isinstance(first.value, StructuredOutputError) and context_overflow(first.value)


def test_an_answer_cut_at_max_tokens_is_re_asked_with_a_larger_cap_within_the_profile(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    cut = ScriptedReply(content='{"verdict": "a very long verdict that never', finish_reason="length")
    stub.replies = [cut] * 4
    audit = AuditLog(tmp_path / "run")
    small = {"openai/gpt-4o-mini": {"max_output_tokens": 500}}  # the profile's output limit caps the growth

    def ask_capped(gateway: LLMGateway) -> Verdict:  # a stage's own cap, as the writer and reviewer pass theirs
        return gateway.structured("review", {"paper": "A tiny paper."}, Verdict, stage="test", max_tokens=200)

    with pytest.raises(StructuredOutputError, match="cut off at the token limit") as caught:
        ask_capped(LLMGateway(make_settings(stub, tmp_path, repair_retries=3, models=small, max_tokens=None), audit))
    assert [request["max_tokens"] for request in stub.requests] == [200, 400, 500, 500]
    assert caught.value.hint is not None and "max_tokens 500 of at most 500" in caught.value.hint
    assert "raise --repair-retries" in caught.value.hint and "--max-tokens" not in caught.value.hint  # at the limit
    errors = [record.payload for record in audit.find(kind="llm_parse_error")]
    assert [(e["max_tokens"], e["next_max_tokens"], e["finish_reason"]) for e in errors] == [
        (200, 400, "length"), (400, 500, "length"), (500, 500, "length"), (500, 500, "length"),
    ]  # fmt: skip
    # the raised cap is enough: the answer parses on the retry
    stub.requests.clear()
    stub.replies = [cut, ScriptedReply(content=GOOD)]
    assert ask_capped(LLMGateway(make_settings(stub, tmp_path, repair_retries=1, max_tokens=None))).score == 3
    assert [request["max_tokens"] for request in stub.requests] == [200, 400]
    # a cap the user set (--max-tokens) is a ceiling: the retry stays within it, and the hint says so
    stub.requests.clear()
    stub.replies = [cut, cut]
    with pytest.raises(StructuredOutputError) as capped:
        ask(LLMGateway(make_settings(stub, tmp_path, repair_retries=1)))  # settings max_tokens 200
    assert [request["max_tokens"] for request in stub.requests] == [200, 200]
    assert capped.value.hint is not None and "max_tokens 200 of at most 200: raise --max-tokens" in capped.value.hint
    # growth 1 (recordings made before it) and an answer that is wrong but not cut both repeat the cap
    stub.requests.clear()
    stub.replies = [cut, ScriptedReply(content='{"verdict": "x"}'), ScriptedReply(content=GOOD)]
    assert ask(LLMGateway(make_settings(stub, tmp_path, repair_retries=2, truncation_growth=1.0))).score == 3
    assert [request["max_tokens"] for request in stub.requests] == [200, 200, 200]


def test_a_stages_own_cap_comes_first_then_the_users_max_tokens(stub: OpenAIStub, tmp_path: Path) -> None:
    """A stage's profile-derived cap is kept (recorded replies are keyed by it); `--max-tokens` caps the calls
    without one, and without either the profile's default does."""
    from scientist.prompts import render

    stub.replies = [ScriptedReply(content=GOOD)] * 4
    capped = LLMGateway(make_settings(stub, tmp_path, max_tokens=150))
    capped.structured("review", {"paper": "x"}, Verdict, stage="write", max_tokens=900)
    capped.complete(render("review", {"paper": "x"}), stage="experiment", max_tokens=900)
    free = LLMGateway(make_settings(stub, tmp_path, max_tokens=None))
    free.structured("review", {"paper": "x"}, Verdict, stage="write", max_tokens=900)
    free.complete(render("review", {"paper": "x"}), stage="experiment")
    profile_cap = free.limits.max_tokens  # gpt-4o-mini's profile-derived default
    assert [request["max_tokens"] for request in stub.requests] == [900, 900, 900, profile_cap] and profile_cap != 900
    capped.complete(render("review", {"paper": "x"}), stage="experiment")
    assert stub.requests[-1]["max_tokens"] == 150


def test_token_budget_refuses_the_call_that_would_pass_it(stub: OpenAIStub, tmp_path: Path) -> None:
    gateway = LLMGateway(make_settings(stub, tmp_path, budget_tokens=100))
    with pytest.raises(BudgetExceededError, match="token budget"):
        ask(gateway)
    assert stub.requests == []  # refused before anything was sent


def test_usd_budget_counts_spend_recorded_by_earlier_processes(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.replies = [ScriptedReply(content=GOOD, prompt_tokens=100_000, completion_tokens=100_000)]
    audit = AuditLog(tmp_path / "run")
    ask(LLMGateway(make_settings(stub, tmp_path, budget_usd=1.0), audit))
    spent = LLMGateway(make_settings(stub, tmp_path, budget_usd=1.0), audit).spend
    assert spent.calls == 1 and spent.usd > 0.07  # 100k in + 100k out of gpt-4o-mini
    with pytest.raises(BudgetExceededError, match="USD budget"):
        ask(LLMGateway(make_settings(stub, tmp_path, budget_usd=spent.usd + 1e-6), audit), sample_index=1)


def test_transient_errors_are_retried_then_reported(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.replies = [ScriptedReply(status=503), ScriptedReply(content=GOOD)]
    assert ask(LLMGateway(make_settings(stub, tmp_path))).score == 3
    assert len(stub.requests) == 2
    stub.replies = [ScriptedReply(status=503)] * 5
    with pytest.raises(ModelRuntimeError, match="tried up to 2 times"):
        ask(LLMGateway(make_settings(stub, tmp_path, transient_retries=1)), sample_index=1)


def test_record_then_replay_makes_no_live_call(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.replies = [ScriptedReply(content=GOOD)]
    recorder = LLMGateway(make_settings(stub, tmp_path, llm_mode="record"))
    assert ask(recorder).score == 3
    replayer = LLMGateway(make_settings(stub, tmp_path, llm_mode="replay", api_base="http://127.0.0.1:9/v1"))
    assert ask(replayer).score == 3
    assert replayer.live_calls == 0 and len(stub.requests) == 1
    with pytest.raises(ReplayMissError, match="prompt 'review' \\(sample 5"):
        ask(replayer, sample_index=5)
    assert len(stub.requests) == 1  # a miss never falls back to a live call


def test_model_checks_fail_before_any_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        check_model(Settings(model="openai/gpt-4o-mini"))
    with pytest.raises(UnknownModelError, match="nosuchprovider/x"):
        check_model(Settings(model="nosuchprovider/x"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000")
    check_model(Settings(model="openai/gpt-4o-mini"))


def test_parse_structured_accepts_fences_and_rejects_garbage() -> None:
    assert parse_structured(f"```json\n{GOOD}\n```", Verdict).score == 3
    with pytest.raises(ValueError):
        parse_structured("{", Verdict)


def test_concurrent_calls_cannot_overshoot_the_budget_together(stub: OpenAIStub, tmp_path: Path) -> None:
    """Calls in flight hold a reservation: 4 parallel calls under a cap that fits 2 estimates send at most 2."""
    from concurrent.futures import ThreadPoolExecutor

    stub.replies = [ScriptedReply(content=GOOD, delay_s=0.5) for _ in range(4)]
    probe = LLMGateway(make_settings(stub, tmp_path))
    one_call = probe._estimate(render_review_prompt(), 200)[0]
    gateway = LLMGateway(make_settings(stub, tmp_path, budget_tokens=2 * one_call + one_call // 2))
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(ask, gateway, index) for index in range(4)]
    outcomes = [future.exception() for future in futures]
    assert sum(isinstance(error, BudgetExceededError) for error in outcomes) == 2
    assert len(stub.requests) == 2 and gateway.spend.calls == 2


def render_review_prompt() -> list[dict[str, str]]:
    from scientist.prompts import render

    return render("review", {"paper": "A tiny paper."}).messages()


def test_a_repair_the_embedded_models_window_cannot_hold_is_not_sent(tmp_path: Path) -> None:
    """Decided by counting tokens before the call, as the model would: a recording and its replay agree (a call
    that fails is never recorded, so a replay that sent it would miss)."""
    pytest.importorskip("llama_cpp", reason="the embedded runtime counts the tokens")
    from scientist.config import Settings
    from scientist.prompts import RenderedPrompt

    gateway = LLMGateway(Settings(model="local/smollm2-135m", llm_cache_dir=tmp_path / "store"))
    prompt = RenderedPrompt(name="review", sha256="0", system="You review papers.", user="A paper. " * 600)
    answer = [{"role": "assistant", "content": '{"summary": "' + "a long cut answer " * 450}]  # ~1.8k tokens
    fix = [{"role": "user", "content": "That reply was not valid. Reply again."}]
    assert not gateway._repair_overflows("local/smollm2-135m", prompt, [*answer[:1], *fix], cap=1200)
    assert gateway._repair_overflows("local/smollm2-135m", prompt, [*answer * 2, *fix], cap=1200)  # ~4.8k > 4096
    assert gateway._repair_overflows("local/smollm2-135m", prompt, [*answer * 2, *fix], cap=100)
    assert not gateway._repair_overflows("openai/gpt-4o-mini", prompt, [*answer * 40, *fix], cap=1200)  # hosted
