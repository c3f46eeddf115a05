"""The NeurIPS-style review form and the records built around it.

Scores are enums, not free integers, so constrained decoding can enforce them. The field guidelines the model reads
live in `prompts/review.j2`; `FORM_VERSION` names this form so stored reviews stay interpretable when it changes.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from scientist.records import StoredRecord
from scientist.reviews.injection import InjectionFlag

FORM_VERSION = "neurips-2024.2"  # .2: every list item bounded to 200 characters

Score4 = Literal[1, 2, 3, 4]
Score5 = Literal[1, 2, 3, 4, 5]
Score10 = Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
Decision = Literal["accept", "reject"]
ShortText = Field(min_length=1, max_length=600)
# Every string is bounded, list items too: constrained decoding then guarantees a small model finishes the form
# within its completion cap (600 + 400 + 15 x 200 chars, about 1,100 tokens < the reviewer's max_tokens) instead of
# looping inside one item until the token limit cuts the JSON.
Point = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ReviewForm(BaseModel):
    """What a reviewer fills in. Field descriptions are the guidelines the model sees in the JSON schema."""

    summary: str = Field(min_length=1, max_length=600, description="What the paper claims and does, neutrally")
    strengths: list[Point] = Field(min_length=1, max_length=5, description="Main strengths, one per item")
    weaknesses: list[Point] = Field(min_length=1, max_length=5, description="Main weaknesses, one per item")
    questions: list[Point] = Field(max_length=5, description="Questions for the authors")
    limitations: str = Field(min_length=1, max_length=400, description="Are limitations and risks addressed?")
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
    decision: Decision = Field(description="Final recommendation")


SCORE_FIELDS: tuple[str, ...] = (
    "overall",
    "soundness",
    "presentation",
    "contribution",
    "originality",
    "quality",
    "clarity",
    "significance",
    "confidence",
)


def score_scale(field: str) -> tuple[int, int] | None:
    """The (lowest, highest) value the form allows for a score field, read from its type so a plot or table on the
    form's scale follows the form when it changes; None for anything that is not a form score (an experiment
    metric has no fixed scale)."""
    info = ReviewForm.model_fields.get(field) if field in SCORE_FIELDS else None
    values = [v for v in get_args(info.annotation) if isinstance(v, int)] if info is not None else []
    return (min(values), max(values)) if values else None


class PaperInfo(BaseModel):
    """Which text the reviewer actually saw: enough to tell whether two reviews judged the same input."""

    title: str = ""
    source: str = ""
    sha256: str = ""
    chars: int = 0
    omitted: list[str] = Field(default_factory=list, description="Sections dropped or shortened to fit")
    notes: list[str] = Field(default_factory=list)


class ReviewRound(BaseModel):
    """One pass of one reviewer: round 0 is the first review, rounds 1..R its reflections."""

    round: int
    form: ReviewForm
    changed: bool = True


class Review(BaseModel):
    """A filled form plus where it came from, as stored in the run folder."""

    form_version: str = FORM_VERSION
    model: str
    prompt_sha256: str
    form: ReviewForm
    sample_index: int = 0
    seed: int | None = None
    temperature: float | None = None
    rounds: list[ReviewRound] = Field(default_factory=list)
    reflection_error: str | None = None
    fewshot: list[str] = Field(default_factory=list, description="Ids of the few-shot examples in the prompt")
    injection_flags: list[InjectionFlag] = Field(default_factory=list)
    paper: PaperInfo = Field(default_factory=PaperInfo)


class MetaReviewForm(BaseModel):
    """What the area chair writes after reading the ensemble's reviews (scores are aggregated numerically)."""

    summary: str = Field(min_length=1, max_length=800, description="The reviewers' shared view of the paper")
    strengths: list[Point] = Field(min_length=1, max_length=5, description="Strengths the reviewers agree on")
    weaknesses: list[Point] = Field(min_length=1, max_length=5, description="Weaknesses the reviewers agree on")
    disagreements: list[Point] = Field(max_length=5, description="Where reviewers disagree, and whose case is stronger")
    decision: Decision = Field(description="The area chair's recommendation")
    confidence: Score5 = Field(description="1 educated guess .. 5 absolutely certain")


class MetaReview(BaseModel):
    model: str
    prompt_sha256: str
    form: MetaReviewForm
    seed: int | None = None
    temperature: float | None = None


class ScoreStats(BaseModel):
    """One numeric field across the ensemble: centre and spread."""

    n: int
    mean: float
    median: float
    std: float = Field(description="Sample standard deviation (0 for one review)")
    min: int
    max: int
    values: list[int]

    @property
    def spread(self) -> int:
        return self.max - self.min


class EnsembleReview(BaseModel):
    """M independent reviews, their aggregate, and the area chair's meta-review.

    `form` is the consensus form (median-low scores, meta-review text and decision), so every consumer of a
    single `Review` can read an ensemble the same way.
    """

    form_version: str = FORM_VERSION
    model: str
    prompt_sha256: str
    form: ReviewForm
    decision_source: Literal["single", "meta_review", "majority"]
    accept_votes: int
    scores: dict[str, ScoreStats]
    reviews: list[Review]
    meta: MetaReview | None = None
    failures: list[str] = Field(default_factory=list)
    injection_flags: list[InjectionFlag] = Field(default_factory=list)
    paper: PaperInfo = Field(default_factory=PaperInfo)


class FolderReview(BaseModel):
    """One paper of `scientist review DIR` (a line of its results.jsonl; the full review is in `review_file`)."""

    id: str = Field(description="The paper's file name inside the folder")
    decision: Decision
    overall: int
    reviewers: int
    failures: list[str] = Field(default_factory=list)
    review_file: str
    seed_offset: int = 0


class FormScores(BaseModel):
    """The two answers of a stored form every reader shows (the overall score and the decision). Only these are
    checked: a form stored under an older `FORM_VERSION` (longer list items, say) is not damage."""

    model_config = ConfigDict(extra="allow")

    overall: Score10
    decision: Decision


class RunReview(StoredRecord):
    """A run's `review.json` (`stages.review`): `{"status": "reviewed", **EnsembleReview}`, or `{"status": "failed",
    "error", "hint", ...}` when no reviewer returned a valid form; a run from before the status was recorded has none.
    The rest of an `EnsembleReview` is kept as it was written (extra keys). Damage (not JSON, a score out of range, a
    reviewed paper without its form) is a `CorruptRunError` naming the file, through `RunReview.read(path)`."""

    status: Literal["reviewed", "failed"] | None = None
    form: FormScores | None = None
    error: str | None = None
    hint: str | None = None

    @model_validator(mode="after")
    def _reviewed_has_a_form(self) -> RunReview:
        if self.status == "reviewed" and self.form is None:
            raise ValueError("a reviewed paper's review.json holds its form")
        return self

    @classmethod
    def _hint(cls) -> str:
        return (
            "review.json holds the run's review: delete it (the run keeps its paper), or review the paper again"
            " with `scientist review runs/<id>/paper/paper.md`"
        )
