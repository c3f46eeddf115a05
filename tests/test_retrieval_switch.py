"""`retrieval = on|off`: related papers in the ideation prompt and for the writer, switched apart from the novelty gate.

Real index (the synthetic corpus), real gateway, the loopback OpenAI stub answering every schema; each switch
position is checked on the calls it should change (the ideate prompt's text, the ideas' related work) and on the
calls it must not (the same prompts, in the same number, the novelty check still searching and judging).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog
from scientist.config import Settings, load_settings
from scientist.context import RunContext
from scientist.errors import ConfigError
from scientist.llm.gateway import LLMGateway
from scientist.stages.ideation import generate_ideas
from scientist.stages.novelty import check_novelty
from scientist.template import load_template
from tests.conftest import SYNTHETIC_CORPUS
from tests.openai_stub import OpenAIStub, ScriptedReply
from tests.openai_stub import serve as serve_openai
from tests.schema_answers import SchemaResponder

pytestmark = pytest.mark.slow  # loads the embedding model and litellm

CORPUS_TITLES = [json.loads(line)["title"] for line in SYNTHETIC_CORPUS.read_text(encoding="utf-8").splitlines()]
FRESH = {
    "index": 0,
    "title": "Tabular Q-learning exploits a lava shortcut under reward noise",
    "hypothesis": "Gaussian noise on the step penalty makes agents cross lava more often than the clean reward.",
    "experiment_plan": "Sweep the noise scale and count lava crossings.",
    "risks": "small effect",
    "interestingness": 6,
    "feasibility": 7,
}


class Answers(SchemaResponder):
    """Schema answers; the novelty decision always says novel (so the idea is kept either way)."""

    def __call__(self, request: dict[str, Any]) -> ScriptedReply:
        form = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
        if form == "NoveltyDecision":
            return ScriptedReply(content=json.dumps({"reasoning": "not tested", "closest": [], "novel": True}))
        return super().__call__(request)


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("SCIENTIST_ARXIV_OFFLINE", "1")
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", str(SYNTHETIC_CORPUS))
    yield from serve_openai(OpenAIStub(responder=Answers()))


def context(llm: OpenAIStub, tmp_path: Path, **overrides: Any) -> RunContext:
    settings = Settings(
        model="openai/gpt-4o-mini", api_base=llm.base_url, api_key="sk-test-not-a-real-key-0000",
        llm_cache_dir=tmp_path / "llm", transient_retries=0, repair_retries=0, num_ideas=2, **overrides,
    )  # fmt: skip
    run_dir = tmp_path / f"run-{overrides.get('retrieval', 'default')}"
    run_dir.mkdir()
    audit = AuditLog(run_dir)
    return RunContext(
        run_id="test-run", run_dir=run_dir, settings=settings, audit=audit, gateway=LLMGateway(settings, audit),
        sandbox=None, template=load_template(settings.template),  # type: ignore[arg-type]
    )  # fmt: skip


def prompts(ctx: RunContext) -> list[str]:
    return [record.payload["prompt_template"] for record in ctx.audit.find(kind="llm_call")]


def user_messages(llm: OpenAIStub) -> list[str]:
    return [request["messages"][1]["content"] for request in llm.requests]


def test_retrieval_off_leaves_the_related_papers_out_of_the_ideation_prompt_only(
    llm: OpenAIStub, tmp_path: Path
) -> None:
    on = context(llm, tmp_path)
    assert on.settings.retrieval == "on"  # the default: today's prompts
    generate_ideas(on, "reward hacking in gridworlds")
    shown_on = user_messages(llm)
    (context_on,) = on.audit.find(kind="ideation_context")
    assert context_on.payload["related"] and set(context_on.payload) == {"related"}
    assert all("Published papers closest to this topic" in text for text in shown_on)
    assert any(title in shown_on[0] for title in CORPUS_TITLES)

    llm.requests.clear()
    off = context(llm, tmp_path, retrieval="off")
    generate_ideas(off, "reward hacking in gridworlds")
    shown_off = user_messages(llm)
    assert prompts(off) == prompts(on) == ["ideate", "ideate"]  # the same calls, only their text differs
    assert not any("Published papers closest" in text for text in shown_off)
    assert not any(title in text for title in CORPUS_TITLES for text in shown_off)
    (context_off,) = off.audit.find(kind="ideation_context")
    assert context_off.payload == {"related": [], "retrieval": "off"}
    # Apart from the related block, the prompt is the same text.
    block_start = shown_on[0].index("Published papers closest")
    block_end = shown_on[0].index("\n\n", block_start) + 2
    assert shown_on[0][:block_start] + shown_on[0][block_end:] == shown_off[0]


def test_retrieval_off_keeps_the_novelty_gate_but_gives_the_writer_no_related_work(
    llm: OpenAIStub, tmp_path: Path
) -> None:
    on = context(llm, tmp_path, novelty_policy="filter")
    (kept_on,) = check_novelty(on, "reward hacking", [FRESH])["candidates"]
    off = context(llm, tmp_path, novelty_policy="filter", retrieval="off")
    (kept_off,) = check_novelty(off, "reward hacking", [FRESH])["candidates"]
    assert prompts(off) == prompts(on) == ["novelty_queries", "novelty_decide"]  # the gate searched and judged
    assert kept_on["related_work"] and "related_work" not in kept_off
    assert kept_off["novelty"] == kept_on["novelty"]
    assert len(off.audit.find(kind="novelty_verdict")) == 1


def test_retrieval_takes_only_on_or_off() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(retrieval="maybe")
    assert "retrieval" in str(raised.value)
