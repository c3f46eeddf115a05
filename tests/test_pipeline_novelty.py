"""The novelty and review nodes' stage logic on a real index, a real gateway and scripted model answers.

The model is the loopback OpenAI stub (tests/openai_stub.py), arXiv is switched off (SCIENTIST_ARXIV_OFFLINE=1),
and the index is seeded with the synthetic test corpus, so every policy branch is exercised deterministically:
filter, revise, keep, and the two answers to "no idea is novel" (go on with the least similar one, or stop).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog
from scientist.config import Settings
from scientist.context import RunContext
from scientist.llm.gateway import LLMGateway
from scientist.paper.citations import references_from_related
from scientist.reviews.form import EnsembleReview, ReviewForm
from scientist.sandbox import get_sandbox
from scientist.stages.novelty import NoveltyExhaustedError, NoveltyUncheckedError, check_novelty, unchecked_summary
from scientist.stages.papers import paper_index
from scientist.stages.review import review_run_paper
from scientist.template import load_template
from scientist.tools.index import load_papers
from tests.conftest import SYNTHETIC_CORPUS
from tests.openai_stub import OpenAIStub, ScriptedReply
from tests.openai_stub import serve as serve_openai

pytestmark = pytest.mark.slow  # loads the embedding model and litellm

SOURCE = json.loads(SYNTHETIC_CORPUS.read_text(encoding="utf-8").splitlines()[0])  # synthetic-001, coin camping
DUPLICATE = {  # the corpus record itself: similarity ≥ 0.9, never novel whatever the model says
    "index": 0,
    "title": SOURCE["title"],
    "hypothesis": SOURCE["abstract"],
    "experiment_plan": "Vary the respawn delay.",
    "risks": "none",
    "interestingness": 5,
    "feasibility": 5,
}
FRESH = {
    "index": 1,
    "title": "Tabular Q-learning exploits a lava shortcut under reward noise",
    "hypothesis": "Gaussian noise on the step penalty makes agents cross lava more often than the clean reward.",
    "experiment_plan": "Sweep the noise scale and count lava crossings.",
    "risks": "small effect",
    "interestingness": 6,
    "feasibility": 7,
}


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("SCIENTIST_ARXIV_OFFLINE", "1")
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", str(SYNTHETIC_CORPUS))
    yield from serve_openai(OpenAIStub())


def context(llm: OpenAIStub, tmp_path: Path, **overrides: Any) -> RunContext:
    values: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "api_base": llm.base_url,
        "api_key": "sk-test-not-a-real-key-0000",
        "llm_cache_dir": tmp_path / "llm",
        "transient_retries": 0,
        "repair_retries": 0,
        "sandbox": "local",
        **overrides,
    }
    settings = Settings(**values)
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    audit = AuditLog(run_dir)
    return RunContext(
        run_id="test-run",
        run_dir=run_dir,
        settings=settings,
        audit=audit,
        gateway=LLMGateway(settings, audit),
        sandbox=get_sandbox("local"),
        template=load_template(settings.template),
    )


def reply(payload: dict[str, Any]) -> ScriptedReply:
    return ScriptedReply(content=json.dumps(payload))


def queries(*items: str) -> ScriptedReply:
    return reply({"queries": list(items)})


def decision(novel: bool, closest: list[str] | None = None) -> ScriptedReply:
    return reply({"reasoning": "compared with the shown papers", "closest": closest or [], "novel": novel})


def prompts(ctx: RunContext) -> list[str]:
    return [record.payload["prompt_template"] for record in ctx.audit.find(kind="llm_call")]


def test_filter_drops_the_near_duplicate_and_keeps_related_work(llm: OpenAIStub, tmp_path: Path) -> None:
    llm.replies = [
        queries("coin respawn reward hacking"),
        decision(True),  # overruled: the idea is the corpus record itself
        queries("lava shortcut reward noise"),
        decision(True, ["synthetic-034", "synthetic-001"]),  # 034 is among the shown papers, 001 is not
    ]
    ctx = context(llm, tmp_path, novelty_policy="filter")
    outcome = check_novelty(ctx, "reward hacking", [DUPLICATE, FRESH])

    records = outcome["novelty"]
    assert [(r["index"], r["novelty"], r["outcome"]) for r in records] == [
        (0, "not_novel", "filtered"),
        (1, "novel", "kept"),
    ]
    duplicate = records[0]
    assert duplicate["decided_by"] == "similarity_guard" and duplicate["max_similarity"] >= 0.9
    assert duplicate["top_k"][0]["id"] == "synthetic-001" and len(duplicate["top_k"]) == ctx.settings.novelty_k
    assert duplicate["queries"] == ["coin respawn reward hacking"] and duplicate["rounds"] == 1
    assert duplicate["offline"] and not duplicate["fresh_search"] and duplicate["reasoning"]
    assert duplicate["index_papers"] == 40  # the seed corpus was loaded into the workspace index

    (kept,) = outcome["candidates"]
    assert kept["index"] == 1 and kept["novelty"]["novel"] and not kept["novelty"]["proceeded_without_novel_idea"]
    fresh = records[1]
    assert fresh["cited_ids"] == ["synthetic-034"] and fresh["invented_ids"] == ["synthetic-001"]
    others = [paper["id"] for paper in fresh["top_k"] if paper["id"] != "synthetic-034"]
    # Cited first, then the closest others, as many as the writer's profile takes (more for a long-context model).
    references = ctx.gateway.limits_for("writeup").references
    assert [paper["id"] for paper in kept["related_work"]] == ["synthetic-034", *others[: references - 1]]
    assert kept["related_work"][0]["authors"] == ["Synthetic Fixture"]
    assert references_from_related(kept["related_work"])[0].key == "synthetic-034"
    assert "novelty" not in FRESH  # the input ideas (checkpointed state) are never edited

    assert prompts(ctx) == ["novelty_queries", "novelty_decide"] * 2
    assert [v.payload["novel"] for v in ctx.audit.find(kind="novelty_verdict")] == [False, True]
    assert len(ctx.audit.find(kind="seed_corpus_loaded")) == 1


def test_revise_sends_the_idea_back_with_the_closest_papers(llm: OpenAIStub, tmp_path: Path) -> None:
    revised = {**FRESH, "title": "Respawn delay as a lever against coin camping"}
    revised = {key: value for key, value in revised.items() if key != "index"}
    llm.replies = [
        queries("coin respawn"),
        decision(False, ["synthetic-001"]),
        reply(revised),  # the ideate prompt again, with the rejection
        queries("respawn delay lever"),
        decision(True),
    ]
    ctx = context(llm, tmp_path, novelty_policy="revise", novelty_revisions=1, num_ideas=1)
    outcome = check_novelty(ctx, "reward hacking", [DUPLICATE])

    assert [(r["index"], r["attempt"], r["outcome"]) for r in outcome["novelty"]] == [
        (0, 0, "sent_back"),
        (1, 1, "kept"),
    ]
    (kept,) = outcome["candidates"]
    assert kept["revised_from"] == 0 and kept["title"] == revised["title"]
    ideate = next(request for request in llm.requests if "rejected" in request["messages"][-1]["content"])
    text = ideate["messages"][-1]["content"]
    assert SOURCE["title"] in text and "synthetic-001" in text  # the feedback names the closest paper
    assert prompts(ctx) == ["novelty_queries", "novelty_decide", "ideate", "novelty_queries", "novelty_decide"]
    assert ctx.audit.find(kind="idea_revised")[0].payload == {"from": 0, "to": 1, "title": revised["title"]}


def test_no_novel_idea_goes_on_with_the_least_similar_one_flagged(llm: OpenAIStub, tmp_path: Path) -> None:
    llm.replies = [queries("coin"), decision(False), queries("lava"), decision(False, ["synthetic-001"])]
    ctx = context(llm, tmp_path, novelty_policy="filter", novelty_exhausted="least_similar")
    outcome = check_novelty(ctx, "reward hacking", [DUPLICATE, FRESH])

    (kept,) = outcome["candidates"]
    assert kept["index"] == 1  # the fresh idea is further from every indexed paper than the duplicate
    assert kept["novelty"] == {
        "novel": False,
        "decided_by": "model",
        "max_similarity": outcome["novelty"][1]["max_similarity"],
        "closest": outcome["novelty"][1]["top_k"][0]["id"],
        "proceeded_without_novel_idea": True,
    }
    assert [r["outcome"] for r in outcome["novelty"]] == ["filtered", "kept_least_similar"]
    assert ctx.audit.find(kind="novelty_exhausted")[0].payload["then"] == "least_similar"


def test_no_novel_idea_can_stop_the_run_with_the_evidence(llm: OpenAIStub, tmp_path: Path) -> None:
    llm.replies = [queries("coin"), decision(False), queries("lava"), decision(False)]
    ctx = context(llm, tmp_path, novelty_policy="filter", novelty_exhausted="stop")
    with pytest.raises(NoveltyExhaustedError) as raised:
        check_novelty(ctx, "reward hacking", [DUPLICATE, FRESH])
    assert "all 2 ideas were judged not novel" in raised.value.message
    assert "idea 0 ≈ synthetic-001" in raised.value.message
    assert raised.value.hint is not None and "novelty_policy" in raised.value.hint


def test_keep_only_records_and_zero_rounds_searches_nothing(llm: OpenAIStub, tmp_path: Path) -> None:
    llm.replies = [decision(False), decision(True)]
    ctx = context(llm, tmp_path, novelty_policy="keep", novelty_rounds=0)
    outcome = check_novelty(ctx, "reward hacking", [DUPLICATE, FRESH])
    assert [idea["index"] for idea in outcome["candidates"]] == [0, 1]
    assert all(record["queries"] == [] and record["rounds"] == 0 for record in outcome["novelty"])
    assert prompts(ctx) == ["novelty_decide", "novelty_decide"]


def test_off_skips_the_check_and_keeps_every_idea(llm: OpenAIStub, tmp_path: Path) -> None:
    ctx = context(llm, tmp_path, novelty_policy="off")
    outcome = check_novelty(ctx, "reward hacking", [DUPLICATE, FRESH])
    assert outcome == {"novelty": [], "candidates": [DUPLICATE, FRESH]}
    assert llm.requests == [] and prompts(ctx) == []
    assert ctx.audit.find(kind="novelty_skipped")[0].payload == {"ideas": 2, "policy": "off"}


def test_offline_with_an_empty_index_the_idea_goes_on_unchecked_and_the_run_says_so(
    llm: OpenAIStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", "")  # a fresh install: nothing indexed, arXiv unreachable
    llm.replies = [queries("lava shortcut reward noise")]
    ctx = context(llm, tmp_path, novelty_policy="filter")
    outcome = check_novelty(ctx, "reward hacking", [FRESH])
    (record,) = outcome["novelty"]
    assert (record["novelty"], record["decided_by"], record["outcome"]) == ("unchecked", "unchecked", "kept")
    (kept,) = outcome["candidates"]
    assert kept["novelty"]["unchecked"] is True and kept["novelty"]["novel"] is False and kept["related_work"] == []
    assert ctx.audit.find(kind="novelty_verdict")[0].payload["verdict"] == "unchecked"
    assert prompts(ctx) == ["novelty_queries"]  # nothing to decide on: no novelty_decide call
    assert unchecked_summary(ctx.run_dir) is None  # novelty.json is written by the pipeline node
    (ctx.run_dir / "novelty.json").write_text(json.dumps(outcome["novelty"]), encoding="utf-8")
    line = unchecked_summary(ctx.run_dir)
    assert line is not None and line.startswith("novelty unchecked") and "scientist index build" in line


def test_require_stops_a_run_that_cannot_check_novelty_and_judges_again_once_the_index_is_built(
    llm: OpenAIStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", "")
    llm.replies = [queries("lava shortcut reward noise")]
    ctx = context(llm, tmp_path, novelty_policy="require")
    with pytest.raises(NoveltyUncheckedError) as stopped:
        check_novelty(ctx, "reward hacking", [FRESH])
    assert "\n" not in str(stopped.value) and 'novelty_policy = "require"' in stopped.value.message
    assert stopped.value.hint is not None and "scientist resume test-run" in stopped.value.hint
    assert ctx.audit.find(kind="novelty_unchecked_stop")[0].payload == {"ideas": [1], "index_papers": 0}

    paper_index(ctx).upsert(load_papers(SYNTHETIC_CORPUS))  # what `scientist index build` does
    llm.replies = [queries("lava shortcut reward noise"), decision(True, ["synthetic-034"])]
    outcome = check_novelty(ctx, "reward hacking", [FRESH])
    assert [(r["novelty"], r["outcome"]) for r in outcome["novelty"]] == [("novel", "kept")]
    assert "unchecked" not in outcome["candidates"][0]["novelty"]


REVIEW = {
    "summary": "A small gridworld study.",
    "strengths": ["clear"],
    "weaknesses": ["tiny"],
    "questions": [],
    "limitations": "few seeds",
    "ethical_concerns": False,
    "originality": 2,
    "quality": 2,
    "clarity": 3,
    "significance": 2,
    "soundness": 2,
    "presentation": 3,
    "contribution": 2,
    "overall": 4,
    "confidence": 3,
    "decision": "reject",
}
META = {
    "summary": "Both reviewers find it small.",
    "strengths": ["clear"],
    "weaknesses": ["tiny"],
    "disagreements": [],
    "decision": "reject",
    "confidence": 3,
}


def test_review_node_uses_the_configured_ensemble_reflections_and_meta_review(llm: OpenAIStub, tmp_path: Path) -> None:
    changed = {**REVIEW, "overall": 5}
    llm.replies = [reply(REVIEW), reply(changed), reply(REVIEW), reply(REVIEW), reply(META)]
    ctx = context(llm, tmp_path, review_ensemble=2, review_reflections=1, seed=7)
    paper = "# Coin camping\n\n## Abstract\n\nWe measure reward hacking.\n\n## Results\n\nThe variant games more."
    review = review_run_paper(ctx, paper)
    assert review["status"] == "reviewed"

    ensemble = EnsembleReview.model_validate(review)
    assert len(ensemble.reviews) == 2 and ensemble.meta is not None
    assert [len(r.rounds) for r in ensemble.reviews] == [2, 2]  # review 0 changed in reflection; review 1 converged
    assert ensemble.scores["overall"].values == [5, 4] and ensemble.decision_source == "meta_review"
    assert set(review["form"]) == set(ReviewForm.model_fields)  # what `scientist run` and `runs show` read
    assert [request["seed"] for request in llm.requests] == [7, 7, 8, 8, 7]
    assert "round 1" in llm.requests[1]["messages"][-1]["content"].lower()
    stages = [record.payload["stage"] for record in ctx.audit.find(kind="llm_call")]
    assert stages == ["review", "review.reflect", "review", "review.reflect", "review.meta"]


def test_a_review_with_no_valid_form_is_recorded_and_the_paper_kept(llm: OpenAIStub, tmp_path: Path) -> None:
    llm.replies = [ScriptedReply(content='{"summary": "cut off at the token cap')] * 2
    ctx = context(llm, tmp_path, review_ensemble=1, review_reflections=0)
    review = review_run_paper(ctx, "# A paper\n\n## Abstract\n\nText.", "paper/paper.md")
    assert review["status"] == "failed" and "no valid" in review["error"]
    assert review["hint"].startswith("review it again with a stronger model: scientist review ")
    assert str(ctx.run_dir / "paper" / "paper.md") in review["hint"]
    assert ctx.audit.find(kind="stage_failure", stage="review")


def test_require_with_nothing_to_check_against_is_refused_before_any_model_call(
    llm: OpenAIStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, no seed corpus, an empty index and `require`: the run could only stop at its novelty node after
    paying for ideation, so `scientist run` refuses it up front: one line, no run folder, no request to the model."""
    from tests.conftest import run_cli

    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", "")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-0000")
    env = {"SCIENTIST_MODEL": "openai/gpt-4o-mini", "SCIENTIST_API_BASE": llm.base_url,
           "SCIENTIST_NOVELTY_POLICY": "require", "SCIENTIST_SANDBOX": "local",
           "SCIENTIST_INDEX_DIR": str(tmp_path / "empty-index"),
           "SCIENTIST_RUNS_DIR": str(tmp_path / "runs")}  # fmt: skip
    refused = run_cli("run", "reward hacking", env=env)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    message = " ".join(refused.stderr.split())
    assert 'novelty_policy = "require" but novelty cannot be checked' in message, refused.stderr
    assert "literature search is offline" in message and "scientist index build" in message
    assert llm.requests == [] and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("change", "refused"),
    [({}, True), ({"SCIENTIST_ARXIV_OFFLINE": "0"}, False), ({"SCIENTIST_SEED_CORPUS": str(SYNTHETIC_CORPUS)}, False),
     ({"SCIENTIST_INDEX_URL": "http://127.0.0.1:9"}, False)],
)  # fmt: skip
def test_only_a_run_that_certainly_cannot_check_novelty_is_refused(
    change: dict[str, str], refused: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scientist.stages.novelty import check_novelty_checkable

    monkeypatch.setenv("SCIENTIST_INDEX_DIR", str(tmp_path / "empty-index"))
    monkeypatch.setenv("SCIENTIST_ARXIV_OFFLINE", "1")
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", "")
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    settings = Settings(model="openai/gpt-4o-mini", novelty_policy="require")
    if refused:
        with pytest.raises(NoveltyUncheckedError):
            check_novelty_checkable(settings)
    else:
        check_novelty_checkable(settings)
    check_novelty_checkable(settings.model_copy(update={"novelty_policy": "filter"}))  # other policies: never
    if change.get("SCIENTIST_ARXIV_OFFLINE") == "0":  # online, but no search: nothing can answer either
        with pytest.raises(NoveltyUncheckedError, match="novelty_rounds = 0"):
            check_novelty_checkable(settings.model_copy(update={"novelty_rounds": 0}))


def test_review_related_work_shows_reviewers_what_the_search_retrieved_and_is_off_by_default(
    llm: OpenAIStub, tmp_path: Path
) -> None:
    """Opt-in: each reviewer's prompt carries the retrieved papers as a note from the review system; off (the
    default) the prompt has no such note, so recorded review prompts are unchanged."""
    related = [{"id": "synthetic-034", "title": "Tampering with  the reward channel"}, {"id": "synthetic-005"}]
    paper = "# Coin camping\n\n## Abstract\n\nWe measure reward hacking.\n\n## Results\n\nThe variant games more."
    prompts = {}
    for enabled in (False, True):
        llm.replies, llm.requests[:] = [reply(REVIEW)], []
        (tmp_path / str(enabled)).mkdir()
        options = {"review_ensemble": 1, "review_reflections": 0, "review_related_work": enabled}
        ctx = context(llm, tmp_path / str(enabled), **options)
        (ctx.run_dir / "selected_idea.json").write_text(json.dumps({"title": "t", "related_work": related}))
        assert review_run_paper(ctx, paper)["status"] == "reviewed"
        prompts[enabled] = llm.requests[0]["messages"][-1]["content"]
    assert "related work the run's literature search retrieved" not in prompts[False]
    assert "[synthetic-034] Tampering with the reward channel; [synthetic-005] " in prompts[True]
    assert prompts[True].count("Note from the review system") == prompts[False].count("Note from the review system") + 1
