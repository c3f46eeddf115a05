"""`idea_reflections` (opt-in, default 0): each drawn idea critiqued and revised in rounds, every round kept in
candidates/ideas.json and audited, its neighbours from the index shown only when retrieval is on.

Real index (the synthetic corpus), real gateway, the loopback OpenAI stub: ideas from their schema, reflections
scripted (a new title per round, or garbage for one round).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog
from scientist.commands.dryrun import _calls
from scientist.config import Settings
from scientist.context import RunContext
from scientist.llm.gateway import LLMGateway
from scientist.stages.ideation import generate_ideas, select_idea
from scientist.template import load_template
from tests.conftest import SYNTHETIC_CORPUS
from tests.openai_stub import OpenAIStub, ScriptedReply
from tests.openai_stub import serve as serve_openai
from tests.schema_answers import SchemaResponder

pytestmark = pytest.mark.slow  # loads the embedding model and litellm

SHARPENED = {
    "hypothesis": "Gaussian noise on the step penalty makes agents cross lava more often than the clean reward.",
    "experiment_plan": "Sweep the noise scale and count lava crossings.",
    "risks": "small effect",
    "interestingness": 6,
    "feasibility": 7,
}


class Reflector(SchemaResponder):
    """Schema answers; an `IdeaReflection` answer renames the idea "Sharpened idea <k>" (k counts reflections), or
    is garbage for the reflection numbered `garbage_at`."""

    def __init__(self, garbage_at: int | None = None) -> None:
        super().__init__()
        self.garbage_at, self.reflections = garbage_at, 0

    def __call__(self, request: dict[str, Any]) -> ScriptedReply:
        form = ((request.get("response_format") or {}).get("json_schema") or {}).get("name")
        if form != "IdeaReflection":
            return super().__call__(request)
        self.reflections += 1
        if self.reflections == self.garbage_at:
            return ScriptedReply(content="no idea")
        idea = {**SHARPENED, "title": f"Sharpened idea {self.reflections}"}
        return ScriptedReply(content=json.dumps({"critique": "the plan is too broad", "idea": idea}))


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv("SCIENTIST_ARXIV_OFFLINE", "1")
    monkeypatch.setenv("SCIENTIST_SEED_CORPUS", str(SYNTHETIC_CORPUS))
    yield from serve_openai(OpenAIStub(responder=Reflector()))


def context(llm: OpenAIStub, tmp_path: Path, **overrides: Any) -> RunContext:
    settings = Settings(
        model="openai/gpt-4o-mini", api_base=llm.base_url, api_key="sk-test-not-a-real-key-0000",
        llm_cache_dir=tmp_path / "llm", transient_retries=0, repair_retries=0, **{"num_ideas": 2, **overrides},
    )  # fmt: skip
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    audit = AuditLog(run_dir)
    return RunContext(
        run_id="test-run", run_dir=run_dir, settings=settings, audit=audit, gateway=LLMGateway(settings, audit),
        sandbox=None, template=load_template(settings.template),  # type: ignore[arg-type]
    )  # fmt: skip


def prompts(ctx: RunContext) -> list[str]:
    return [record.payload["prompt_template"] for record in ctx.audit.find(kind="llm_call")]


def pool(ctx: RunContext) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ctx.run_dir / "candidates" / "ideas.json").read_text())
    return data


def test_each_idea_is_reflected_every_round_kept_audited_and_costed(llm: OpenAIStub, tmp_path: Path) -> None:
    ctx = context(llm, tmp_path, idea_reflections=2)
    ideas = generate_ideas(ctx, "reward hacking in gridworlds")
    assert prompts(ctx) == ["ideate", "idea_reflect", "idea_reflect"] * 2
    assert [idea["title"] for idea in ideas] == ["Sharpened idea 2", "Sharpened idea 4"]  # the last round's
    reflect_prompts = [
        r["messages"][1]["content"] for r in llm.requests if "reflection round" in r["messages"][1]["content"]
    ]
    assert len(reflect_prompts) == 4 and all("Published papers closest to this idea" in p for p in reflect_prompts)
    assert "Title: Sharpened idea 1" in reflect_prompts[1]  # round 2 revises round 1's idea

    data = pool(ctx)
    rounds = data["reflections"]
    assert sorted(rounds) == ["0", "1"] and [r["round"] for r in rounds["0"]] == [1, 2]
    assert (
        rounds["0"][1]["before"]["title"] == "Sharpened idea 1"
        and rounds["0"][1]["after"]["title"] == "Sharpened idea 2"
    )
    assert all(r["neighbours"] and r["critique"] == "the plan is too broad" for r in rounds["0"] + rounds["1"])
    assert len(ctx.audit.find(kind="idea_reflected")) == 4

    calls = [r.payload for r in ctx.audit.find(kind="llm_call")]
    for candidate in data["candidates"]:
        own = [
            c for c in calls if c["sample_index"] == candidate["index"] and c["stage"] in ("ideate", "ideate.reflect")
        ]
        assert candidate["tokens"] == sum(c["total_tokens"] for c in own)  # the reflections are charged to it

    select_idea(ctx, ideas, None)
    assert pool(ctx)["reflections"] == rounds and pool(ctx)["status"] == "selected"


def test_retrieval_off_reflects_without_neighbours(llm: OpenAIStub, tmp_path: Path) -> None:
    ctx = context(llm, tmp_path, idea_reflections=1, retrieval="off")
    generate_ideas(ctx, "reward hacking in gridworlds")
    assert prompts(ctx) == ["ideate", "idea_reflect"] * 2
    assert not any("Published papers closest" in r["messages"][1]["content"] for r in llm.requests)
    assert all(r["neighbours"] == [] for rounds in pool(ctx)["reflections"].values() for r in rounds)


def test_a_garbage_reflection_is_a_recorded_failure_and_the_idea_goes_on(llm: OpenAIStub, tmp_path: Path) -> None:
    llm.responder = Reflector(garbage_at=1)
    ctx = context(llm, tmp_path, idea_reflections=2, num_ideas=1)
    (idea,) = generate_ideas(ctx, "reward hacking in gridworlds")
    first, second = pool(ctx)["reflections"]["0"]
    assert first["round"] == 1 and first["error"] and "critique" not in first
    assert not second["before"]["title"].startswith("Sharpened")  # round 2 revised the drawn idea, kept as it was
    assert idea["title"] == "Sharpened idea 2"
    (failure,) = ctx.audit.find(kind="stage_failure")
    assert failure.payload["stage"] == "ideate.reflect" and failure.payload["round"] == 1


def test_the_default_is_no_reflection_and_the_dry_run_counts_the_rounds() -> None:
    assert Settings().idea_reflections == 0
    base = _calls(Settings(num_ideas=3))["ideation"]
    assert _calls(Settings(num_ideas=3, idea_reflections=2))["ideation"] == base + 6
