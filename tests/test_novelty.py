"""The novelty loop with real parts: the gateway against a loopback OpenAI-compatible server (scripted answers), arXiv
against a loopback Atom server, the real MiniLM index on disk. The model's answers are scripted; everything the
loop does with them (searching, indexing, retrieving, validating citations, guarding, falling back) is real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from scientist.audit.log import AuditLog
from scientist.config import Settings
from scientist.llm.gateway import LLMGateway
from scientist.tools.index import PaperIndex, embed, load_papers
from scientist.tools.literature import Literature, Paper
from scientist.tools.novelty import (
    NoveltyInputError,
    NoveltyVerdict,
    ScoredPaper,
    judge_novelty,
    revision_feedback,
    triage,
)
from tests.arxiv_stub import ArxivStub, closed_port_url
from tests.arxiv_stub import serve as serve_arxiv
from tests.openai_stub import OpenAIStub, ScriptedReply
from tests.openai_stub import serve as serve_openai

CORPUS = Path(__file__).parent / "fixtures" / "corpus" / "synthetic_ai_safety.jsonl"
COIN_IDEA = {
    "index": 0,
    "title": "Coin respawn timing and reward hacking",
    "hypothesis": "Agents paid per coin learn to wait at the coin's respawn point instead of finishing the level.",
    "experiment_plan": "Vary the respawn delay and measure proxy return against level completion.",
}


@pytest.fixture
def llm() -> Iterator[OpenAIStub]:
    yield from serve_openai(OpenAIStub())


@pytest.fixture
def arxiv() -> Iterator[ArxivStub]:
    yield from serve_arxiv(ArxivStub())


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Paper], np.ndarray[Any, Any]]:
    papers = load_papers(CORPUS)
    return papers, embed([paper.text() for paper in papers])  # embedded once, upserted per test


@pytest.fixture
def index(tmp_path: Path, corpus: tuple[list[Paper], np.ndarray[Any, Any]]) -> PaperIndex:
    index = PaperIndex(tmp_path / "index", collection="novelty")
    index.upsert(corpus[0], vectors=corpus[1])
    return index


def gateway(llm: OpenAIStub, tmp_path: Path, audit: AuditLog | None = None, **overrides: object) -> LLMGateway:
    values: dict[str, object] = {
        "model": "openai/gpt-4o-mini",
        "api_base": llm.base_url,
        "api_key": "sk-test-not-a-real-key-0000",
        "llm_cache_dir": tmp_path / "llm",
        "transient_retries": 0,
        "repair_retries": 0,
        "max_tokens": 300,
    }
    values.update(overrides)
    return LLMGateway(Settings(**values), audit)  # type: ignore[arg-type]


def literature(url: str, tmp_path: Path) -> Literature:
    return Literature(
        base_url=url, cache_dir=tmp_path / "arxiv", min_interval_s=0.0, backoff_s=0.01, retries=1, page_size=2
    )


def reply(payload: dict[str, object]) -> ScriptedReply:
    return ScriptedReply(content=json.dumps(payload))


@pytest.mark.slow  # the first gateway call imports litellm (~5-10 s)
def test_loop_searches_indexes_retrieves_and_cites_only_what_it_was_shown(
    llm: OpenAIStub, arxiv: ArxivStub, index: PaperIndex, tmp_path: Path
) -> None:
    llm.replies = [
        reply({"queries": ["reward hacking coin respawn", "coin gridworld proxy reward"]}),
        reply({"queries": ["Reward hacking, coin respawn!"]}),  # a repeat in other words: not searched again
        reply(
            {
                "reasoning": "0000.00001 already studies agents camping at a coin respawn point.",
                "closest": ["arXiv:0000.00001v2", "0000.00001", "9999.99999"],
                "novel": False,
            }
        ),
    ]
    audit = AuditLog(tmp_path / "run")
    before = index.count()
    verdict = judge_novelty(
        gateway(llm, tmp_path, audit),
        COIN_IDEA,
        index,
        literature(arxiv.base_url, tmp_path),
        rounds=3,
        k=5,
        audit=audit,
    )

    assert verdict.queries == ["reward hacking coin respawn", "coin gridworld proxy reward"]
    assert verdict.rounds == 2 and len(llm.requests) == 3  # round 2 proposed nothing new, so the loop stopped
    assert arxiv.queries[0] == "all:reward AND all:hacking AND all:coin AND all:respawn"
    assert [record.results for record in verdict.searches] == [5, 5]
    assert [record.new_papers for record in verdict.searches] == [5, 0]  # results went into the index, once
    assert index.count() == before + 5
    # The synthetic corpus' coin-camping record and the freshly indexed arXiv one are the two nearest.
    assert {paper.id for paper in verdict.top_k[:2]} == {"synthetic-001", "0000.00001"}
    assert verdict.max_similarity == verdict.top_k[0].score
    assert len(verdict.top_k) == 5
    assert verdict.cited_ids == ["0000.00001"] and verdict.invented_ids == ["9999.99999"]
    assert any("never retrieved" in note for note in verdict.notes)
    assert (verdict.novel, verdict.decided_by, verdict.model_novel) == (False, "model", False)
    assert not verdict.offline and verdict.fresh_search

    second_round = llm.requests[1]["messages"][-1]["content"]
    assert "Already searched: reward hacking coin respawn; coin gridworld proxy reward" in second_round
    decision_request = llm.requests[2]
    shown_ids = [paper.id for paper in verdict.top_k]
    assert all(f"[{paper_id}]" in decision_request["messages"][-1]["content"] for paper_id in shown_ids)
    schema = decision_request["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["closest"]["items"]["enum"] == shown_ids
    searches = audit.find(kind="literature_search")
    assert [record.payload["query"] for record in searches] == verdict.queries
    assert [record.payload["prompt_template"] for record in audit.find(kind="llm_call")] == [
        "novelty_queries",
        "novelty_queries",
        "novelty_decide",
    ]


def test_offline_the_check_runs_on_the_index_and_says_so(
    llm: OpenAIStub, index: PaperIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    llm.replies = [
        reply({"queries": ["reward hacking coin"]}),
        reply({"queries": ["respawn exploitation"]}),
        reply({"reasoning": "Closest work camps at coins.", "closest": ["synthetic-001"], "novel": False}),
    ]
    offline = literature(closed_port_url(), tmp_path)
    verdict = judge_novelty(gateway(llm, tmp_path), COIN_IDEA, index, offline, rounds=2, k=3)
    assert verdict.offline and offline.offline and not verdict.fresh_search
    assert [record.offline for record in verdict.searches] == [True, True]
    assert verdict.searches[1].requests == 0  # unreachable once, not knocked on again
    assert any("unreachable" in note for note in verdict.notes)
    assert verdict.top_k[0].id == "synthetic-001"  # the coin-camping record of the synthetic corpus
    assert verdict.cited_ids == ["synthetic-001"] and not verdict.novel
    assert sum("unreachable" in record.getMessage() for record in caplog.records) == 1


def test_a_near_duplicate_is_never_passed_as_novel(llm: OpenAIStub, index: PaperIndex, tmp_path: Path) -> None:
    source = load_papers(CORPUS)[7]
    llm.replies = [reply({"reasoning": "Looks new to me.", "closest": [], "novel": True})]
    idea = {"index": 3, "title": source.title, "hypothesis": source.abstract}
    verdict = judge_novelty(gateway(llm, tmp_path), idea, index, None, rounds=2, k=3)
    assert verdict.max_similarity >= 0.9 and verdict.top_k[0].id == source.id
    assert (verdict.novel, verdict.decided_by, verdict.model_novel) == (False, "similarity_guard", True)
    assert verdict.cited_ids == [source.id]
    assert verdict.offline and verdict.queries == [] and verdict.rounds == 0 and len(llm.requests) == 1


def test_model_failures_fall_back_and_are_recorded(
    llm: OpenAIStub, arxiv: ArxivStub, index: PaperIndex, tmp_path: Path
) -> None:
    llm.replies = [ScriptedReply(content="I think you should search for coins.")] * 3
    verdict = judge_novelty(
        gateway(llm, tmp_path), COIN_IDEA, index, literature(arxiv.base_url, tmp_path), rounds=2, k=3
    )
    assert [(record.query, record.proposed_by) for record in verdict.searches] == [(COIN_IDEA["title"], "fallback")]
    assert verdict.decided_by == "fallback_threshold" and verdict.model_novel is None
    assert verdict.novel == (verdict.max_similarity < 0.9)
    assert sum("no valid" in note for note in verdict.notes) == 3 and verdict.rounds == 2


def test_a_model_that_proposes_nothing_still_gets_one_search(
    llm: OpenAIStub, arxiv: ArxivStub, index: PaperIndex, tmp_path: Path
) -> None:
    llm.replies = [
        reply({"queries": []}),
        reply({"queries": []}),
        reply({"reasoning": "Not done before.", "closest": [], "novel": True}),
    ]
    search = literature(arxiv.base_url, tmp_path)
    verdict = judge_novelty(gateway(llm, tmp_path), COIN_IDEA, index, search, rounds=3, k=3)
    assert [(record.query, record.proposed_by) for record in verdict.searches] == [(COIN_IDEA["title"], "fallback")]
    assert verdict.rounds == 2 and verdict.fresh_search and verdict.novel and verdict.decided_by == "model"
    llm.replies = [reply({"queries": []}), reply({"reasoning": "Still new.", "closest": [], "novel": True})]
    repeat = judge_novelty(gateway(llm, tmp_path), COIN_IDEA, index, search, rounds=1, k=3)
    assert repeat.searches[0].cached and not repeat.fresh_search  # the same check again costs no arXiv request


def test_an_empty_index_without_search_is_unchecked_not_novel(llm: OpenAIStub, tmp_path: Path) -> None:
    empty = PaperIndex(tmp_path / "empty-index", collection="empty")
    verdict = judge_novelty(gateway(llm, tmp_path), COIN_IDEA, empty, None, rounds=2, k=5)
    assert (verdict.novel, verdict.decided_by, verdict.label, verdict.top_k) == (False, "unchecked", "unchecked", [])
    assert verdict.unchecked and verdict.offline and "not checked" in verdict.reasoning and llm.requests == []


@pytest.mark.slow  # the query proposal goes through the gateway (imports litellm)
def test_an_empty_index_with_no_source_reachable_is_unchecked(llm: OpenAIStub, tmp_path: Path) -> None:
    empty = PaperIndex(tmp_path / "empty-index", collection="empty")
    llm.replies = [reply({"queries": ["coin respawn reward hacking"]})]
    offline = literature(closed_port_url(), tmp_path)
    verdict = judge_novelty(gateway(llm, tmp_path), COIN_IDEA, empty, offline, rounds=1, k=5)
    assert [record.offline for record in verdict.searches] == [True]
    assert (verdict.novel, verdict.label) == (False, "unchecked") and len(llm.requests) == 1  # no decide call


@pytest.mark.slow
def test_a_search_that_answered_nothing_is_unrefuted_not_unchecked(
    llm: OpenAIStub, arxiv: ArxivStub, tmp_path: Path
) -> None:
    empty = PaperIndex(tmp_path / "empty-index", collection="empty")
    arxiv.default_pages = False  # arXiv answers, with no paper
    llm.replies = [reply({"queries": ["coin respawn reward hacking"]})]
    verdict = judge_novelty(gateway(llm, tmp_path), COIN_IDEA, empty, literature(arxiv.base_url, tmp_path), rounds=1)
    assert (verdict.novel, verdict.decided_by, verdict.label) == (True, "no_evidence", "novel")
    assert "not established" in verdict.reasoning and verdict.fresh_search


def test_an_idea_without_text_is_refused(llm: OpenAIStub, tmp_path: Path) -> None:
    empty = PaperIndex(tmp_path / "empty-index", collection="empty")
    with pytest.raises(NoveltyInputError):
        judge_novelty(gateway(llm, tmp_path), {"title": "  ", "hypothesis": ""}, empty, None, rounds=1, k=3)


def _verdict(novel: bool, cited: list[str], index: int = 0) -> NoveltyVerdict:
    return NoveltyVerdict(
        novel=novel,
        decided_by="model",
        max_similarity=0.8,
        duplicate_threshold=0.9,
        top_k=[ScoredPaper(id="0000.00001", title="Coin camping", score=0.8)],
        queries=[],
        searches=[],
        rounds=0,
        offline=True,
        fresh_search=False,
        reasoning="r",
        cited_ids=cited,
        index_papers=1,
        idea_index=index,
    )


def test_a_verdict_cannot_cite_papers_it_did_not_retrieve() -> None:
    assert _verdict(False, ["0000.00001"]).cited_ids == ["0000.00001"]
    with pytest.raises(ValidationError, match="not among the retrieved papers"):
        _verdict(False, ["1234.56789"])


def test_policies_filter_revise_or_keep_not_novel_ideas() -> None:
    ideas = [{"index": 0, "title": "a"}, {"index": 1, "title": "b"}]
    verdicts = [_verdict(True, []), _verdict(False, ["0000.00001"], index=1)]
    filtered = triage(ideas, verdicts, "filter")
    assert (filtered.kept, filtered.rejected, filtered.to_revise) == ([ideas[0]], [ideas[1]], [])
    revised = triage(ideas, verdicts, "revise")
    assert revised.to_revise == [ideas[1]] and set(revised.feedback) == {1}
    assert "Coin camping (arXiv 0000.00001, similarity 0.80)" in revised.feedback[1]
    assert triage(ideas, verdicts, "keep").kept == ideas
    required = triage(ideas, verdicts, "require")  # require filters like filter (it stops earlier on unchecked)
    assert (required.kept, required.rejected) == ([ideas[0]], [ideas[1]])
    unchecked = _verdict(False, []).model_copy(update={"decided_by": "unchecked", "top_k": []})
    for policy in ("filter", "revise", "keep", "require"):  # not refuted: never filtered or sent back
        assert triage(ideas[:1], [unchecked], policy).kept == ideas[:1]  # type: ignore[arg-type]
    assert len(revision_feedback(verdicts[1])) <= 600


@pytest.mark.live
@pytest.mark.slow
def test_live_novelty_check_on_the_embedded_model(index: PaperIndex, tmp_path: Path) -> None:
    """The prompts fit the default 135M model's 4k context and its grammar-constrained answers parse."""
    pytest.importorskip("llama_cpp", reason="embedded runtime not built: run `make setup`")
    settings = Settings(model="local/smollm2-135m", llm_cache_dir=tmp_path / "llm", seed=0)  # type: ignore[call-arg]
    offline = literature(closed_port_url(), tmp_path)
    verdict = judge_novelty(LLMGateway(settings), COIN_IDEA, index, offline, rounds=2, k=5)
    assert verdict.decided_by in {"model", "similarity_guard"}, verdict.notes
    assert verdict.searches and verdict.offline and verdict.top_k[0].id == "synthetic-001"
    assert not any("no valid" in note for note in verdict.notes)
