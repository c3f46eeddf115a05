"""Few-shot examples: public human reviews (see `reviews/fewshot/README.md` for their provenance)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from scientist.errors import ScientistError

FEWSHOT_DIR = Path(__file__).parent / "fewshot"


class FewShotExample(BaseModel):
    id: str
    title: str
    venue: str
    outcome: Literal["accepted", "rejected"]
    paper_url: str | None = None
    arxiv_url: str | None = None
    review_source: str
    excerpt_source: str
    provenance: str
    excerpt: str
    review: dict[str, Any]

    def prompt_view(self) -> dict[str, str]:
        """What the prompt shows: the paper excerpt and the review as the JSON the model must produce."""
        return {
            "id": self.id,
            "title": self.title,
            "venue": self.venue,
            "outcome": self.outcome,
            "excerpt": self.excerpt,
            "review_json": json.dumps(self.review, indent=1, ensure_ascii=False),
        }


@cache
def load_examples() -> tuple[FewShotExample, ...]:
    """All shipped examples, accepted and rejected papers alternating (so any prefix is as balanced as can be)."""
    if not FEWSHOT_DIR.is_dir():
        raise ScientistError(
            f"the few-shot reviews are missing from this installation ({FEWSHOT_DIR})",
            hint="reinstall scientist (its package data must include reviews/fewshot/*.json), or pass --fewshot 0",
        )
    examples = [
        FewShotExample.model_validate_json(path.read_text(encoding="utf-8"))
        for path in sorted(FEWSHOT_DIR.glob("*.json"))
    ]
    accepted = [example for example in examples if example.outcome == "accepted"]
    rejected = [example for example in examples if example.outcome == "rejected"]
    ordered: list[FewShotExample] = []
    for index in range(max(len(accepted), len(rejected))):
        ordered += accepted[index : index + 1] + rejected[index : index + 1]
    return tuple(ordered)
