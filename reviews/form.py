"""The NeurIPS-style review form. Scores are enums, not free integers, so constrained decoding can enforce them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

FORM_VERSION = "neurips-2024.1"

Score4 = Literal[1, 2, 3, 4]
Score5 = Literal[1, 2, 3, 4, 5]
Score10 = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
ShortText = Field(min_length=1, max_length=600)


class ReviewForm(BaseModel):
    """What a reviewer fills in. Field descriptions are the guidelines the model sees in the JSON schema."""

    summary: str = Field(min_length=1, max_length=800, description="What the paper claims and does, neutrally")
    strengths: list[str] = Field(min_length=1, max_length=5, description="Main strengths, one per item")
    weaknesses: list[str] = Field(min_length=1, max_length=5, description="Main weaknesses, one per item")
    questions: list[str] = Field(max_length=5, description="Questions for the authors")
    limitations: str = Field(min_length=1, max_length=600, description="Are limitations and risks addressed?")
    ethical_concerns: bool = Field(description="True if the work raises ethical concerns needing review")
    originality: Score4 = Field(description="1 low .. 4 very high")
    quality: Score4 = Field(description="1 low .. 4 very high")
    clarity: Score4 = Field(description="1 low .. 4 very high")
    significance: Score4 = Field(description="1 low .. 4 very high")
    soundness: Score4 = Field(description="1 poor, 2 fair, 3 good, 4 excellent")
    presentation: Score4 = Field(description="1 poor, 2 fair, 3 good, 4 excellent")
    contribution: Score4 = Field(description="1 poor, 2 fair, 3 good, 4 excellent")
    overall: Score10 = Field(description="1 very strong reject .. 6 weak accept .. 10 award quality")
    confidence: Score5 = Field(description="1 educated guess .. 5 absolutely certain")
    decision: Literal["accept", "reject"] = Field(description="Final recommendation")


class Review(BaseModel):
    """A filled form plus where it came from, as stored in the run folder."""

    form_version: str = FORM_VERSION
    model: str
    prompt_sha256: str
    form: ReviewForm
