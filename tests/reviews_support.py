"""Shared helpers for tests/test_reviews_*.py: scripted review answers on the loopback OpenAI stub."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scientist.config import Settings
from tests.openai_stub import OpenAIStub, ScriptedReply, serve

Request = dict[str, Any]


def form_json(overall: int = 6, decision: str = "accept", **fields: Any) -> str:
    """A valid ReviewForm answer (fields may be overridden, or set to None to drop them)."""
    form: dict[str, Any] = {
        "summary": "The paper studies reward hacking in a small gridworld.",
        "strengths": ["Clear setup."],
        "weaknesses": ["One environment only."],
        "questions": ["Does it transfer?"],
        "limitations": "Discussed briefly.",
        "ethical_concerns": False,
        "originality": 2,
        "quality": 3,
        "clarity": 3,
        "significance": 2,
        "soundness": 3,
        "presentation": 3,
        "contribution": 2,
        "overall": overall,
        "confidence": 3,
        "decision": decision,
    }
    form.update(fields)
    return json.dumps({key: value for key, value in form.items() if value is not None})


def meta_json(decision: str = "accept", **fields: Any) -> str:
    meta: dict[str, Any] = {
        "summary": "Reviewers agree the setup is clear but narrow.",
        "strengths": ["Clear setup."],
        "weaknesses": ["Narrow evaluation."],
        "disagreements": [],
        "decision": decision,
        "confidence": 3,
    }
    meta.update(fields)
    return json.dumps(meta)


def is_meta(request: Request) -> bool:
    return "area chair" in request["messages"][0]["content"]


def user_text(request: Request) -> str:
    return str(request["messages"][1]["content"])


@dataclass
class ReviewStub(OpenAIStub):
    """Scripted replies first; after that, `respond(request)` answers (default: a valid form or meta-review)."""

    respond: Callable[[Request], str | ScriptedReply] | None = None  # a ScriptedReply e.g. for finish_reason

    def next_reply(self, request: Request | None = None) -> ScriptedReply:
        if self.replies:
            return self.replies.pop(0)
        request = request if request is not None else self.requests[-1]
        if self.respond is not None:
            answer = self.respond(request)
            return answer if isinstance(answer, ScriptedReply) else ScriptedReply(content=answer)
        return ScriptedReply(content=meta_json() if is_meta(request) else form_json())


def review_stub() -> Iterator[ReviewStub]:
    yield from serve(ReviewStub())


def fresh_stub(server: ReviewStub, respond: Callable[[Request], str | ScriptedReply] | None = None) -> ReviewStub:
    """The module's review server (conftest's `review_server`) for one test: the last test's replies and requests
    gone, answering with `respond` (None: a valid form or meta-review)."""
    server.replies.clear()
    server.requests.clear()
    server.respond = respond
    return server


def stub_settings(stub: OpenAIStub, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "api_base": stub.base_url,
        "api_key": "sk-test-not-a-real-key-0000",
        "llm_cache_dir": tmp_path / "store",
        "transient_retries": 0,
        "repair_retries": 1,
        "budget_usd": None,
    }
    values.update(overrides)
    return Settings(**values)


def stub_env(stub: OpenAIStub, tmp_path: Path) -> dict[str, str]:
    """The same settings as environment variables, for CLI tests."""
    return {
        "SCIENTIST_MODEL": "openai/gpt-4o-mini",
        "SCIENTIST_API_BASE": stub.base_url,
        "SCIENTIST_API_KEY": "sk-test-not-a-real-key-0000",
        "SCIENTIST_LLM_CACHE_DIR": str(tmp_path / "store"),
        "SCIENTIST_TRANSIENT_RETRIES": "0",
    }


CLEAN_MARKDOWN = """# Reward Hacking in a Respawning-Coin Gridworld

## Abstract

We study reward hacking in a small gridworld. An agent trained on a proxy reward learns to farm a respawning coin.

## 1 Introduction

Reward misspecification is a common failure of reinforcement learning. We measure the true return of agents
trained on a proxy reward. The proxy is gamed within a few thousand steps.

## 2 Method

We train tabular Q-learning agents for 20000 steps. Each configuration uses five seeds.

## 3 Results

The agent collects the coin repeatedly. True return falls by half while proxy return doubles.

| agent | proxy | true |
|---|---|---|
| baseline | 1.0 | 1.0 |
| variant | 2.1 | 0.5 |

## 4 Conclusion

Respawning rewards invite farming. Penalising revisits closes most of the gap.
"""
