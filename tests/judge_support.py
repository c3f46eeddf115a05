"""Scripted runs and a scripted judge for the judge and study-report tests.

A run folder here is what the pipeline leaves behind, written by hand: run.json, config.json, a paper whose text
carries the quality a scripted judge reads (`JUDGE-QUALITY: N`), the run's own review (its self-score, which a
scaffold may inflate), and a real hash-chained audit log with the run's token spend. The judge is a real gateway
call to the loopback OpenAI stub (tests/openai_stub.py), answering every review form from its schema with the
paper's scripted quality as `overall` (or with text that is not a form, for `JUDGE-QUALITY: none`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from scientist.audit.log import AuditLog
from tests.audit_support import filled
from tests.openai_stub import ScriptedReply
from tests.schema_answers import instance, requested_schema

JUDGE_MODEL = "openai/gpt-4o-mini"
QUALITY = re.compile(r"JUDGE-QUALITY: (\w+)")


def review_form(overall: int) -> dict[str, Any]:
    return {
        "summary": "s", "strengths": ["a"], "weaknesses": ["b"], "questions": [], "limitations": "l",
        "ethical_concerns": False, "originality": 2, "quality": 2, "clarity": 2, "significance": 2,
        "soundness": 2, "presentation": 2, "contribution": 2, "overall": overall, "confidence": 3,
        "decision": "accept" if overall >= 6 else "reject",
    }  # fmt: skip


def make_run(
    runs: Path,
    run_id: str,
    *,
    variant: str,
    quality: int | None,
    self_overall: int | None,
    status: str = "completed",
    tokens: int = 1000,
    cost_usd: float = 0.01,
    model: str = "openai/agent-model",
) -> Path:
    """A finished (or failed) run folder; `quality` None: no paper; `self_overall` None: no own review."""
    run_dir = runs / run_id
    run_dir.mkdir(parents=True)
    stamp = "2026-12-05T00:00:00+00:00"
    info = {"id": run_id, "topic": "reward hacking", "template": "reward_misspec", "model": model,
            "created": stamp, "updated": stamp, "status": status}  # fmt: skip
    (run_dir / "run.json").write_text(json.dumps(info))
    (run_dir / "config.json").write_text(json.dumps({"variant": variant, "seed": 0, "model": model}))
    log = AuditLog(run_dir)
    call = filled("llm_call", log, stage="write", total_tokens=tokens, prompt_tokens=tokens, completion_tokens=0,
                  cost_usd=cost_usd)  # fmt: skip
    log.append("llm_call", "llm", call)
    if quality is not None:
        (run_dir / "paper").mkdir()
        body = f"# Paper {run_id}\n\n## Abstract\nJUDGE-QUALITY: {quality}\n\n## Method\nA gridworld study.\n"
        (run_dir / "paper" / "paper.md").write_text(body)
    if self_overall is not None:
        (run_dir / "review.json").write_text(json.dumps({"status": "reviewed", "model": model,
                                                         "form": review_form(self_overall)}))  # fmt: skip
    return run_dir


class ScriptedJudge:
    """`OpenAIStub.responder`: every review form gets the paper's scripted quality as its overall score."""

    def __init__(self) -> None:
        self.papers: list[str] = []
        self.refused: set[str] = set()  # qualities answered without a form (a judge that fails on these papers)

    def __call__(self, request: dict[str, Any]) -> ScriptedReply:
        text = "\n".join(str(message.get("content")) for message in request["messages"])
        match = QUALITY.search(text)
        self.papers.append(match.group(1) if match else "?")
        schema = requested_schema(request)
        if schema is None or match is None or match.group(1) == "none" or match.group(1) in self.refused:
            return ScriptedReply(content="I would rather not fill in a form.")
        return ScriptedReply(content=json.dumps(instance(schema, schema, int(match.group(1)))))


def judge_config(path: Path, base_url: str, **judge: Any) -> Path:
    """A scientist.toml whose [judge] is the scripted judge at the stub."""
    lines = [f'api_base = "{base_url}"', "repair_retries = 0", "transient_retries = 0", "", "[judge]",
             f'model = "{JUDGE_MODEL}"']  # fmt: skip
    lines += [f"{key} = {json.dumps(value)}" for key, value in judge.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
