"""The reviewer against the loopback OpenAI stub: every knob reaches the wire, reflection and ensemble logic, the
meta-review, structured-output parsing and repair, audit records, and the aggregation maths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from scientist.audit.log import AuditLog, verify
from scientist.errors import StructuredOutputError
from scientist.llm.gateway import LLMGateway
from scientist.prompts import prompt_sha256
from scientist.reviews.aggregate import aggregate_scores, consensus_form, majority_decision, score_stats
from scientist.reviews.form import FORM_VERSION, SCORE_FIELDS, MetaReviewForm, ReviewForm
from scientist.reviews.paper import from_markdown
from scientist.reviews.reviewer import ReviewOptions, prepare, review_ensemble, review_paper
from tests.openai_stub import ScriptedReply
from tests.reviews_support import (
    CLEAN_MARKDOWN,
    ReviewStub,
    form_json,
    fresh_stub,
    is_meta,
    meta_json,
    stub_settings,
    user_text,
)


@pytest.fixture
def stub(review_server: ReviewStub) -> ReviewStub:
    server = fresh_stub(review_server)
    return server


def reply(content: str) -> ScriptedReply:
    return ScriptedReply(content=content)


def test_ensemble_settings_reach_every_request(stub: ReviewStub, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "run")
    gateway = LLMGateway(stub_settings(stub, tmp_path, temperature=0.2, seed=40), audit)
    stub.replies = [reply(form_json(overall)) for overall in (8, 7, 5, 4, 3, 3)] + [reply(meta_json("reject"))]
    options = ReviewOptions(ensemble=3, reflections=1, temperature=0.9, max_tokens=777, fewshot=0)
    result = review_ensemble(gateway, from_markdown(CLEAN_MARKDOWN), options)

    reviews = [request for request in stub.requests if not is_meta(request)]
    assert len(reviews) == 6 and len(stub.requests) == 7
    assert {request["temperature"] for request in stub.requests} == {0.9}  # the option, not the config's 0.2
    assert {request["max_tokens"] for request in stub.requests} == {777}
    assert [request["seed"] for request in reviews] == [40, 40, 41, 41, 42, 42]  # seed = base + reviewer index
    assert all(request["response_format"]["type"] == "json_schema" for request in stub.requests)
    # each reviewer: a first review, then reflection round 1 of 1 that shows the review it revises
    assert "Reflection round" not in user_text(reviews[0])
    assert "Reflection round 1 of 1." in user_text(reviews[1])
    assert json.loads(form_json(8)) == json.loads(
        user_text(reviews[1]).split("<previous-review>")[1].split("</previous-review>")[0]
    )
    assert [review.sample_index for review in result.reviews] == [0, 1, 2]
    assert [review.seed for review in result.reviews] == [40, 41, 42]
    assert [review.form.overall for review in result.reviews] == [7, 4, 3]  # the reflected forms are final
    assert all(review.temperature == 0.9 for review in result.reviews)
    # the audit trail: the input once, one record per review and round, each linked to its model call
    kinds = [record.kind for record in audit.records()]
    assert kinds.count("review_input") == 1 and kinds.count("review_round") == 6 and kinds[-1] == "review_ensemble"
    for record in audit.find(kind="review_round"):
        (call,) = record.payload["llm_calls"]
        llm = next(item for item in audit.find(kind="llm_call") if item.seq == call)
        assert llm.payload["seed"] == record.payload["seed"] and llm.payload["temperature"] == 0.9
        assert llm.payload["stage"] == ("review" if record.payload["round"] == 0 else "review.reflect")
    assert verify(tmp_path / "run").ok


def test_reflection_round_number_is_rendered_and_converged_rounds_stop(stub: ReviewStub, tmp_path: Path) -> None:
    gateway = LLMGateway(stub_settings(stub, tmp_path))
    stub.replies = [reply(form_json(5)), reply(form_json(6)), reply(form_json(6)), reply(form_json(9))]
    review = review_paper(gateway, CLEAN_MARKDOWN, options=ReviewOptions(reflections=4, fewshot=0))
    texts = [user_text(request) for request in stub.requests]
    assert len(texts) == 3  # round 2 returned the round-1 form unchanged: a further round would see the same input
    assert "Reflection round 1 of 4." in texts[1] and "Reflection round 2 of 4." in texts[2]
    assert "Your review from round 1:" in texts[2]
    assert [(r.round, r.form.overall, r.changed) for r in review.rounds] == [(0, 5, True), (1, 6, True), (2, 6, False)]
    assert review.form.overall == 6 and review.prompt_sha256 == prompt_sha256("review")


def test_every_form_field_is_parsed_from_the_answer(stub: ReviewStub, tmp_path: Path) -> None:
    answer = json.loads(form_json(9, "accept", ethical_concerns=True, questions=[], confidence=5, originality=4))
    stub.replies = [reply(json.dumps(answer))]
    review = review_paper(LLMGateway(stub_settings(stub, tmp_path)), CLEAN_MARKDOWN)
    assert review.form.model_dump() == answer
    assert set(ReviewForm.model_fields) == set(answer)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (form_json(11), "overall"),
        (form_json(6, "maybe"), "decision"),
        (form_json(6, soundness=0), "soundness"),
        (form_json(6, summary=None), "summary: Field required"),
        (form_json(6, strengths=[]), "strengths"),
        ("The paper is great. Overall 10.", "json"),
    ],
)
def test_invalid_fields_are_repaired_then_reported(stub: ReviewStub, tmp_path: Path, bad: str, error: str) -> None:
    gateway = LLMGateway(stub_settings(stub, tmp_path, repair_retries=1))
    stub.replies = [reply(bad), reply(form_json(4, "reject"))]
    assert review_paper(gateway, CLEAN_MARKDOWN, options=ReviewOptions(fewshot=0)).form.overall == 4
    assert error in stub.requests[1]["messages"][-1]["content"]  # the validation error is fed back
    stub.replies = [reply(bad), reply(bad)]
    with pytest.raises(
        StructuredOutputError, match=f"'review' gave no valid ReviewForm after 2 tries: .*{error.split(':')[0]}"
    ):
        review_paper(gateway, CLEAN_MARKDOWN + "\nMore.", options=ReviewOptions(fewshot=0))


SCALE_TOP = {name: max(get_args(ReviewForm.model_fields[name].annotation)) for name in SCORE_FIELDS}


@pytest.mark.parametrize(
    ("field", "value"),
    [(name, value) for name in SCORE_FIELDS for value in (0, SCALE_TOP[name] + 1)] + [("ethical_concerns", "maybe")],
)
def test_every_score_field_out_of_its_scale_is_repaired_then_reported(
    stub: ReviewStub, tmp_path: Path, field: str, value: object
) -> None:
    gateway = LLMGateway(stub_settings(stub, tmp_path, repair_retries=1))
    bad = json.dumps({**json.loads(form_json(6)), field: value})
    stub.replies = [reply(bad), reply(form_json(4, "reject"))]
    assert review_paper(gateway, CLEAN_MARKDOWN, options=ReviewOptions(fewshot=0)).form.overall == 4
    assert field in stub.requests[1]["messages"][-1]["content"]  # the repair names the field
    stub.replies = [reply(bad), reply(bad)]
    with pytest.raises(StructuredOutputError, match=f"no valid ReviewForm after 2 tries: .*{field}"):
        review_paper(gateway, CLEAN_MARKDOWN + "\nMore.", options=ReviewOptions(fewshot=0))


@pytest.mark.parametrize("fewshot", [0, 1, 2])
def test_the_system_prompt_names_the_form_version_and_carries_the_chosen_examples(
    stub: ReviewStub, tmp_path: Path, fewshot: int
) -> None:
    stub.replies = [reply(form_json(5))]
    gateway = LLMGateway(stub_settings(stub, tmp_path))
    review = review_paper(gateway, CLEAN_MARKDOWN, options=ReviewOptions(fewshot=fewshot))
    (request,) = stub.requests
    system = request["messages"][0]["content"]
    assert f"(form version {FORM_VERSION})" in system and review.form_version == FORM_VERSION
    assert [f"Example {i}:" in system for i in (1, 2)] == [fewshot >= 1, fewshot >= 2]
    assert len(review.fewshot) == fewshot
    assert CLEAN_MARKDOWN.splitlines()[0].lstrip("# ") not in system  # the paper never enters the system turn


def test_a_failed_reviewer_is_recorded_and_the_rest_aggregated(stub: ReviewStub, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "run")
    gateway = LLMGateway(stub_settings(stub, tmp_path, repair_retries=0), audit)
    stub.replies = [reply(form_json(7)), reply("not json"), reply(form_json(5, "reject"))]
    result = review_ensemble(gateway, from_markdown(CLEAN_MARKDOWN), ReviewOptions(ensemble=3, meta_review=False))
    assert [review.sample_index for review in result.reviews] == [0, 2]
    assert result.failures and result.failures[0].startswith("reviewer 1:")
    assert result.decision_source == "majority" and result.form.decision == "reject"  # 1 of 2: a tie rejects
    assert audit.find(kind="review_failed")[0].payload["sample_index"] == 1
    stub.replies = [reply("no")] * 2
    with pytest.raises(StructuredOutputError):
        review_ensemble(gateway, from_markdown(CLEAN_MARKDOWN + "x"), ReviewOptions(ensemble=2))


def test_meta_review_sees_every_review_and_decides(stub: ReviewStub, tmp_path: Path) -> None:
    stub.replies = [reply(form_json(8, "accept")), reply(form_json(4, "reject")), reply(meta_json("accept"))]
    result = review_ensemble(
        LLMGateway(stub_settings(stub, tmp_path)), from_markdown(CLEAN_MARKDOWN), ReviewOptions(ensemble=2)
    )
    meta_request = stub.requests[-1]
    assert is_meta(meta_request) and "2 reviews follow" in user_text(meta_request)
    assert "overall: mean 6.00, median 6, range 4-8" in user_text(meta_request)
    assert result.meta is not None and result.decision_source == "meta_review"
    assert result.form.decision == "accept" and result.form.summary == result.meta.form.summary
    assert result.form.overall == 4  # median-low of (8, 4): always a valid scale value
    assert result.scores["overall"].mean == 6.0 and result.scores["overall"].spread == 4


def test_meta_review_replays_from_the_store(stub: ReviewStub, tmp_path: Path) -> None:
    stub.replies = [reply(form_json(8)), reply(form_json(5)), reply(meta_json("reject"))]
    paper = from_markdown(CLEAN_MARKDOWN)
    options = ReviewOptions(ensemble=2, fewshot=1)
    recorded = review_ensemble(LLMGateway(stub_settings(stub, tmp_path, llm_mode="record")), paper, options)
    replayer = LLMGateway(stub_settings(stub, tmp_path, llm_mode="replay", api_base="http://127.0.0.1:9/v1"))
    replayed = review_ensemble(replayer, paper, options)
    assert replayer.live_calls == 0 and replayed.meta == recorded.meta and replayed.form == recorded.form


def test_local_models_get_a_prompt_that_fits_their_context(tmp_path: Path) -> None:
    from scientist.config import Settings

    long_paper = from_markdown(CLEAN_MARKDOWN + "\n## 5 Appendix\n" + "Extra detail sentence. " * 600)
    small = LLMGateway(Settings(model="local/smollm2-135m", llm_cache_dir=tmp_path, local_n_ctx=2048))
    prepared = prepare(small, long_paper, ReviewOptions(fewshot=2, max_tokens=600))
    assert prepared.examples == () and "5 Appendix" in "; ".join(prepared.paper.omitted)
    assert any("shortened to fit" in note for note in prepared.notes)
    large = LLMGateway(Settings(model="openai/gpt-4o-mini", llm_cache_dir=tmp_path))
    roomy = prepare(large, from_markdown(CLEAN_MARKDOWN), ReviewOptions(fewshot=2))
    assert [example.id for example in roomy.examples] == ["arml-accept", "carpe-diem-reject"]


def test_a_paper_of_numbers_is_cut_by_the_models_own_token_count(tmp_path: Path) -> None:
    """Numbers and symbols take far more tokens per character than prose: the character-sized cut let a 4.2k-token
    review prompt through to a 4096-token model in a live study. The tokenizer's count now has the last word."""
    from scientist.config import Settings
    from scientist.llm.local_model import MIN_ANSWER_TOKENS, count_tokens
    from scientist.prompts import render
    from scientist.reviews.reviewer import CONTEXT_MARGIN_TOKENS, REVIEW_PROMPT, context_chars

    sentences = " ".join(
        f"Run {i} reached {i * 0.173:.4f} (sd {i % 7}.{i % 3}e-{i % 5}; [number removed] at step {i * 37})."
        for i in range(300)
    )
    numbers = from_markdown(f"# Grid results\n\n## 1 Results\n\n{sentences}\n")
    settings = Settings(model="local/smollm2-135m", llm_cache_dir=tmp_path, local_n_ctx=2048)
    gateway, options = LLMGateway(settings), ReviewOptions(fewshot=2, max_tokens=300)
    limit = context_chars(gateway, options)
    assert limit is not None and len(numbers.render()) > limit  # the character cut applies, and is not enough:
    prepared = prepare(gateway, numbers, options)
    prompt = render(REVIEW_PROMPT, prepared.variables())
    used = count_tokens(prompt.system + "\n" + prompt.user, model=settings.model, n_ctx=2048)
    assert used <= 2048 - MIN_ANSWER_TOKENS - CONTEXT_MARGIN_TOKENS, used
    assert prepared.examples == () and any("shortened to fit" in note for note in prepared.notes)
    assert len(prepared.text) > 1_000 and "Run 0 reached" in prepared.text  # cut to fit, not to nothing


def test_the_review_roles_model_decides_the_token_count_not_the_agents(tmp_path: Path) -> None:
    """A hosted agent with the embedded model as its reviewer: the reviewer's prompt is counted by the embedded
    model's tokenizer and cut to its window (before, the agent's provider decided and nothing was counted)."""
    from scientist.config import Settings
    from scientist.reviews.reviewer import context_tokens

    long_paper = from_markdown(CLEAN_MARKDOWN + "\n## 5 Appendix\n" + "Extra detail sentence. " * 600)
    mixed = Settings(model="openai/gpt-4o-mini", role_models={"review": "local/smollm2-135m"},
                     llm_cache_dir=tmp_path, local_n_ctx=2048)  # fmt: skip
    gateway = LLMGateway(mixed)
    budget = context_tokens(gateway)
    assert budget is not None and budget < 2048
    prepared = prepare(gateway, long_paper, ReviewOptions(fewshot=2, max_tokens=600))
    assert prepared.examples == () and "5 Appendix" in "; ".join(prepared.paper.omitted)
    hosted_reviewer = Settings(model="local/smollm2-135m", role_models={"review": "openai/gpt-4o-mini"},
                               llm_cache_dir=tmp_path, local_n_ctx=2048)  # fmt: skip
    assert context_tokens(LLMGateway(hosted_reviewer)) is None  # a hosted reviewer's window is not counted here


def test_score_statistics_and_consensus() -> None:
    stats = score_stats([3, 5, 7, 9])
    assert (stats.mean, stats.median, stats.min, stats.max, stats.spread) == (6.0, 6.0, 3, 9, 6)
    assert stats.std == pytest.approx(2.5819889)  # sample standard deviation
    assert score_stats([4]).std == 0.0
    forms = [ReviewForm.model_validate_json(form_json(o, d)) for o, d in ((8, "accept"), (6, "accept"), (3, "reject"))]
    scores = aggregate_scores(forms)
    assert set(scores) == set(SCORE_FIELDS) and scores["overall"].median == 6.0
    assert majority_decision(forms) == "accept" and majority_decision(forms[1:]) == "reject"
    consensus = consensus_form(forms)
    assert consensus.overall == 6 and consensus.decision == "accept"
    meta = MetaReviewForm.model_validate_json(meta_json("reject"))
    assert consensus_form(forms, meta).decision == "reject"
    assert consensus_form(forms[:1]) is forms[0]
    long_meta = meta.model_copy(update={"summary": "The reviewers agree on the gridworld result. " * 17})  # 765 chars
    summary = consensus_form(forms, long_meta).summary  # a review's summary allows 600: cut at a word, not refused
    assert len(summary) <= 600 and summary.endswith("\u2026") and long_meta.summary.startswith(summary[:-1])


def test_out_of_range_answers_replay_with_their_repair(stub: ReviewStub, tmp_path: Path) -> None:
    """A recorded bad answer and its repair replay exactly: the same parse error, the same final form."""
    stub.replies = [reply(form_json(0, confidence=9)), reply(form_json(2, "reject"))]
    options = ReviewOptions(fewshot=0)
    recorded = review_paper(
        LLMGateway(stub_settings(stub, tmp_path, llm_mode="record")), CLEAN_MARKDOWN, options=options
    )
    audit = AuditLog(tmp_path / "replay")
    replayer = LLMGateway(stub_settings(stub, tmp_path, llm_mode="replay", api_base="http://127.0.0.1:9/v1"), audit)
    replayed = review_paper(replayer, CLEAN_MARKDOWN, options=options)
    assert replayed.form == recorded.form and replayed.form.overall == 2 and replayer.live_calls == 0
    (error,) = audit.find(kind="llm_parse_error")
    assert "overall" in error.payload["error"] and "confidence" in error.payload["error"]
