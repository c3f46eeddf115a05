"""selector = reviewer: candidates ranked by the mean Overall of `selection_reviews` review forms from the review
role's model, in the pipeline's idea selection and on drafts, against the loopback OpenAI stub (real gateway,
real reviewer code); registered with the other selectors and counted by the dry run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog
from scientist.commands.dryrun import _calls
from scientist.config import Settings, load_settings
from scientist.context import RunContext
from scientist.errors import ConfigError
from scientist.llm.gateway import LLMGateway
from scientist.measure.sampling import BestOfN, UnknownSelectorError, selector_names
from scientist.stages.reviewselect import NO_VALID_FORM, REVIEW_BASE, draft_ranker
from scientist.template import load_template
from tests.openai_stub import OpenAIStub, ScriptedReply, serve
from tests.schema_answers import SchemaResponder
from tests.test_tournament import ideas, pool

REVIEWER = "openai/reviewer-model"
QUALITY = re.compile(r"of quality (\d+)")


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


class Reviewer(SchemaResponder):
    """Fills the review form with Overall = the quality named in the paper (+1 at odd seeds); garbage at `bad`."""

    def __init__(self, bad: set[int] | None = None) -> None:
        super().__init__()
        self.bad = bad or set()

    def __call__(self, request: dict[str, Any]) -> ScriptedReply:
        reply = super().__call__(request)
        assert (request["response_format"]["json_schema"]["name"], request["model"]) == ("ReviewForm", "reviewer-model")
        seed = int(request["seed"])
        if seed in self.bad:
            return ScriptedReply(content="I will not fill this form.")
        answer = json.loads(reply.content or "{}")
        answer["overall"] = int(QUALITY.findall(request["messages"][-1]["content"])[-1]) + seed % 2
        return ScriptedReply(content=json.dumps(answer))


def reviewer_context(stub: OpenAIStub, tmp_path: Path) -> RunContext:
    settings = Settings(
        model="openai/gpt-4o-mini", api_base=stub.base_url, api_key="sk-test-not-a-real-key-0000",
        llm_cache_dir=tmp_path / "llm-cache", transient_retries=0, repair_retries=0, max_tokens=200,
        ideas_selector="reviewer", novelty_policy="off", selection_reviews=2, role_models={"review": REVIEWER},
        models={REVIEWER: {"context_window": 16000, "max_output_tokens": 2000, "structured_output": "json_schema"}},
    )  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    audit = AuditLog(run_dir)
    return RunContext(
        run_id="run", run_dir=run_dir, settings=settings, audit=audit, gateway=LLMGateway(settings, audit),
        sandbox=None, template=load_template("reward_misspec"),  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_reviewer_selector_picks_the_idea_with_the_best_mean_overall_from_the_review_role(
    stub: OpenAIStub,
    tmp_path: Path,
) -> None:
    from scientist.stages.ideation import select_idea

    stub.responder = Reviewer()
    ctx = reviewer_context(stub, tmp_path)
    winner, rule = select_idea(ctx, ideas([2, 9, 4]), None)
    assert winner["index"] == 1 and "review forms" in rule  # the self-ratings would have picked index 0
    data = pool(ctx)
    assert data["selector"] == "reviewer" and data["winner_index"] == 1
    # two forms per idea at seeds REVIEW_BASE + 2i + j: Overall q and q + 1, so the mean is q + 0.5
    assert [c["score"] for c in data["candidates"]] == [2.5, 9.5, 4.5]
    assert data["reviews"]["1"]["overall"] == [9, 10] and data["reviews"]["0"]["failures"] == []
    calls = [r.payload for r in ctx.audit.find(kind="llm_call")]
    assert [c["prompt_template"] for c in calls] == ["review"] * 6
    assert {(c["role"], c["model"]) for c in calls} == {("review", REVIEWER)}  # the review role's model
    assert [c["seed"] for c in calls] == [REVIEW_BASE + i for i in range(6)]
    (record,) = ctx.audit.find(kind="review_selection")
    assert record.payload["reviews_per_candidate"] == 2 and record.payload["scores"]["1"] == 9.5
    (best_of_n,) = ctx.audit.find(kind="best_of_n")
    assert best_of_n.payload["selector"] == "reviewer" and best_of_n.payload["scores"] == [2.5, 9.5, 4.5]
    assert ctx.gateway.spend.calls == 6  # charged to the run like any call


def test_an_invalid_form_is_a_counted_failure_and_a_candidate_without_any_form_cannot_win(
    stub: OpenAIStub,
    tmp_path: Path,
) -> None:
    from scientist.stages.ideation import select_idea

    stub.responder = Reviewer(bad={REVIEW_BASE + 0, REVIEW_BASE + 2, REVIEW_BASE + 3})  # idea 0 once, idea 1 twice
    ctx = reviewer_context(stub, tmp_path)
    winner, _ = select_idea(ctx, ideas([5, 9, 4]), None)
    data = pool(ctx)
    assert [c["score"] for c in data["candidates"]] == [6.0, NO_VALID_FORM, 4.5]
    assert winner["index"] == 0 and len(data["reviews"]["1"]["failures"]) == 2
    (record,) = ctx.audit.find(kind="review_selection")
    assert record.payload["failed"] == 3


def test_drafts_are_reviewed_on_their_markdown(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.responder = Reviewer()
    ctx = reviewer_context(stub, tmp_path)
    drafts = {}
    for index, quality in enumerate([3, 8]):
        paper = ctx.run_dir / "candidates" / f"draft_{index}" / "paper"
        paper.mkdir(parents=True)
        body = f"# A paper of quality {quality}\n\n## Abstract\n\nWe study reward hacking.\n\n## Results\n\nIt works."
        (paper / "paper.md").write_text(body)
        drafts[index] = {"candidate": index, "dir": f"candidates/draft_{index}", "md": "paper/paper.md"}
    ranker = draft_ranker(ctx, "draft")
    assert ranker(drafts) == {0: 3.5, 1: 8.5}
    assert ranker.record() == {
        "0": {"overall": [3, 4], "failures": [], "score": 3.5}, "1": {"overall": [8, 9], "failures": [], "score": 8.5},
    }  # fmt: skip


def test_reviewer_is_a_registered_pool_selector_for_ideas_and_drafts_counted_by_the_dry_run() -> None:
    assert "reviewer" in selector_names()
    with pytest.raises(UnknownSelectorError) as raised:
        BestOfN(n=2, selector="reviewer")
    assert "ranker" in str(raised.value)
    result = BestOfN(n=3, selector="reviewer", ranker=lambda pool: {i: -float(v) for i, v in pool.items()}).run(
        lambda index, seed: [5, 1, 3][index]
    )
    assert result.winner_index == 1
    settings = load_settings(ideas_selector="reviewer", draft_selector="reviewer")
    assert (settings.ideas_selector, settings.draft_selector, settings.selection_reviews) == ("reviewer",) * 2 + (3,)
    with pytest.raises(ConfigError):
        load_settings(plan_selector="reviewer")  # plans are no papers: the metric or a tournament decides them
    base = _calls(load_settings(num_ideas=4, draft_n=2, draft_selector="first"))["review"]
    ideas_by_review = load_settings(num_ideas=4, ideas_selector="reviewer", selection_reviews=2, draft_n=2,
                                    draft_selector="reviewer")  # fmt: skip
    assert _calls(ideas_by_review)["review"] == base + 4 * 2 + 2 * 2
