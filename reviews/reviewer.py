"""The reviewer: one model fills the review form, reflects on it R times, M such reviewers form an ensemble, and an
area chair writes the meta-review.

Every input is prepared once per paper (`prepare`): injection scrub (and the opt-in model check), length cap by
whole sections, few-shot examples that fit the model's context. The paper text only ever goes into the user turn,
between delimiters named with a nonce derived from the text. Each model call is audited by the gateway (`llm_call`);
this module adds `review_input` (what the model saw and what was removed), one `review_round` per review and
reflection, `review_failed` for a reviewer that produced no valid form, and `review_ensemble` for the aggregate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scientist.audit import events as audit_events
from scientist.audit.events import ReviewRoundDone, ReviewRoundFailed
from scientist.errors import StructuredOutputError
from scientist.llm.gateway import LLMGateway
from scientist.prompts import prompt_sha256, render
from scientist.reviews.aggregate import aggregate_scores, consensus_form, scores_table
from scientist.reviews.examples import FewShotExample, load_examples
from scientist.reviews.form import (
    EnsembleReview,
    MetaReview,
    MetaReviewForm,
    PaperInfo,
    Review,
    ReviewForm,
    ReviewRound,
    ScoreStats,
)
from scientist.reviews.injection import InjectionFlag
from scientist.reviews.injection_check import screen
from scientist.reviews.paper import PaperText, cap, from_markdown

REVIEW_PROMPT = "review"
META_PROMPT = "review_meta"
MAX_PAPER_CHARS = 12_000
CHARS_PER_TOKEN = 3.6  # measured ~4.2 for SmolLM2 on review prompts; lower keeps local prompts inside n_ctx
CONTEXT_MARGIN_TOKENS = 64
MIN_PAPER_CHARS = 1_000


class ReviewOptions(BaseModel):
    """The reviewer's knobs. Every one of them reaches the model request (tests check the wire)."""

    model_config = ConfigDict(frozen=True)

    ensemble: int = Field(default=1, ge=1, le=16, description="Independent reviews (sample i uses seed base + i)")
    reflections: int = Field(default=0, ge=0, le=5, description="Rounds in which each reviewer revises its own review")
    fewshot: int = Field(
        default=2, ge=0, le=8, description="Human example reviews in the prompt (fewer if they do not fit)"
    )
    temperature: float | None = Field(default=None, ge=0, le=2, description="None: the configured temperature")
    related_work: tuple[str, ...] = Field(
        default=(),
        exclude=True,  # an input to the prompt (audited there), not a knob recorded with the review
        description="Related papers retrieved for the run ('[id] title'), shown to each reviewer as a note",
    )
    max_paper_chars: int = Field(
        default=MAX_PAPER_CHARS, ge=500, description="Cap on the paper text, by whole sections"
    )
    max_tokens: int = Field(default=1200, ge=100, le=32768, description="Completion cap per review")
    meta_review: bool = Field(
        default=True, description="Area-chair meta-review when the ensemble has two or more reviews"
    )


@dataclass(frozen=True)
class PreparedPaper:
    """The exact paper input every reviewer of one paper sees."""

    paper: PaperText
    text: str
    nonce: str
    notes: tuple[str, ...]
    examples: tuple[FewShotExample, ...]
    flags: tuple[InjectionFlag, ...]
    info: PaperInfo

    def variables(self) -> dict[str, Any]:
        return {
            "paper": self.text,
            "nonce": self.nonce,
            "notes": list(self.notes),
            "examples": [example.prompt_view() for example in self.examples],
        }


# -- input preparation ------------------------------------------------------------------------------------------------
def context_chars(gateway: LLMGateway, options: ReviewOptions) -> int:
    """Prompt characters the model can take, leaving room for the answer (and, when reflecting, for the previous
    review, which is at most one answer long), from the review model's profile."""
    window = gateway.profile(gateway.settings.model_for("review")).context_window
    answers = options.max_tokens * (2 if options.reflections else 1)
    return int((window - answers - CONTEXT_MARGIN_TOKENS) * CHARS_PER_TOKEN)


def _prompt_chars(variables: dict[str, Any]) -> int:
    prompt = render(REVIEW_PROMPT, variables)
    return len(prompt.system) + len(prompt.user)


def context_tokens(gateway: LLMGateway) -> int | None:
    """Most prompt tokens the review model takes and still answers (its window less the smallest answer its
    provider allows, `LLMGateway.prompt_room`); None for hosted models, whose window is not known before a call.
    `context_chars` aims lower, leaving a whole answer; this is the hard limit a prompt must never pass."""
    room = gateway.prompt_room(gateway.settings.model_for("review"))
    return None if room is None else room - CONTEXT_MARGIN_TOKENS


def _prompt_tokens(gateway: LLMGateway, variables: dict[str, Any]) -> int:
    prompt = render(REVIEW_PROMPT, variables)
    return gateway.prompt_tokens(gateway.settings.model_for("review"), prompt.system, prompt.user)


def prepare(gateway: LLMGateway, paper: PaperText, options: ReviewOptions) -> PreparedPaper:
    """Scrub, cap and pick examples so the whole prompt fits; the paper has priority over examples.

    The cut is sized by characters (a guess at tokens); for the embedded model the prompt is then counted by its
    tokenizer and, only if it would overflow the context, examples are dropped and the paper cut further (a prompt
    that fits is left as it was, so recorded prompts stay valid). The overflow was seen live: 7k characters of a
    paper full of numbers made a 4.2k-token prompt and failed the review node."""
    clean = screen(gateway, paper)  # the pattern filter (+ the model check when review_injection_check is on)
    limit = context_chars(gateway, options)
    room = options.max_paper_chars
    if limit is not None:
        overhead = _prompt_chars({"paper": "", "nonce": "0" * 12, "notes": ["x" * 300], "examples": []})
        room = max(MIN_PAPER_CHARS, min(room, limit - overhead))
    prepared = _prepare_within(clean, room, limit, options)
    budget = context_tokens(gateway)
    if budget is None:  # a hosted model: no tokenizer here, and its window is far larger than the character cut
        return prepared
    for _ in range(4):  # drop the examples first, then cut the paper by the measured overshoot
        used = _prompt_tokens(gateway, prepared.variables())
        if used <= budget:
            break
        if prepared.examples:
            prepared = _prepare_within(clean, room, limit, options, examples=False)
            continue
        if room <= MIN_PAPER_CHARS:
            break  # the floor: the model raises a clear context error rather than reviewing a fragment
        room = max(MIN_PAPER_CHARS, int(len(prepared.text) * budget / used * 0.95))
        prepared = _prepare_within(clean, room, limit, options, examples=False)
    return prepared


RELATED_SHOWN = 10  # entries in the related-work note; each title cut at RELATED_TITLE_CHARS
RELATED_TITLE_CHARS = 150


def related_work_note(entries: tuple[str, ...]) -> str:
    """The note that shows reviewers what the run's literature search retrieved (the writer may cite only these)."""
    shown = [entry[:RELATED_TITLE_CHARS] for entry in entries[:RELATED_SHOWN]]
    more = f" (and {len(entries) - RELATED_SHOWN} more)" if len(entries) > RELATED_SHOWN else ""
    return (
        "related work the run's literature search retrieved (the paper could cite only these; check its citations"
        " and novelty claims against them): " + "; ".join(shown) + more
    )


def _prepare_within(
    clean: PaperText, room: int, limit: int | None, options: ReviewOptions, *, examples: bool = True
) -> PreparedPaper:
    capped = cap(clean, room)
    text = capped.render()
    notes = list(capped.notes)
    if capped.omitted:
        notes.append(
            "the paper was shortened to fit the reviewer's input limit; left out: " + "; ".join(capped.omitted)
        )
    if options.related_work:
        notes.append(related_work_note(options.related_work))
    nonce = hashlib.sha256(text.encode()).hexdigest()[:12]
    chosen: list[FewShotExample] = []
    for example in load_examples()[: options.fewshot] if options.fewshot and examples else ():
        trial = [*chosen, example]
        variables = {"paper": text, "nonce": nonce, "notes": notes, "examples": [e.prompt_view() for e in trial]}
        if limit is None or _prompt_chars(variables) <= limit:
            chosen = trial
    return PreparedPaper(
        paper=capped,
        text=text,
        nonce=nonce,
        notes=tuple(notes),
        examples=tuple(chosen),
        flags=tuple(capped.flags),
        info=capped.info(),
    )


def _audit_input(gateway: LLMGateway, prepared: PreparedPaper, options: ReviewOptions) -> None:
    audit = gateway.audit
    if audit is None:
        return
    audit.emit(
        audit_events.ReviewInput(
            paper=prepared.info.model_dump(),
            paper_blob=audit.put_blob(prepared.text),
            injection_flags=[flag.model_dump() for flag in prepared.flags],
            fewshot=[example.id for example in prepared.examples],
            options=options.model_dump(),
        ),
        "reviewer",
    )


# -- one reviewer -----------------------------------------------------------------------------------------------------
def _last_seq(gateway: LLMGateway) -> int:
    records = gateway.audit.records() if gateway.audit is not None else []
    return records[-1].seq if records else -1


def _calls_since(gateway: LLMGateway, seq: int) -> list[int]:
    if gateway.audit is None:
        return []
    return [record.seq for record in gateway.audit.find(kind="llm_call") if record.seq > seq]


def _temperature(gateway: LLMGateway, options: ReviewOptions) -> float:
    return gateway.settings.temperature if options.temperature is None else options.temperature


def _review_one(gateway: LLMGateway, prepared: PreparedPaper, sample_index: int, options: ReviewOptions) -> Review:
    settings = gateway.settings
    seed = settings.seed + sample_index
    temperature = _temperature(gateway, options)
    variables = prepared.variables()
    common: dict[str, Any] = {
        "sample_index": sample_index,
        "seed": seed,
        "temperature": temperature,
        "max_tokens": options.max_tokens,
    }
    before = _last_seq(gateway)
    try:
        form = gateway.structured(REVIEW_PROMPT, variables, ReviewForm, stage="review", **common)
    except StructuredOutputError as err:
        _audit_round(gateway, prepared, sample_index, 0, options, None, before, error=err.message)
        raise
    rounds = [ReviewRound(round=0, form=form)]
    _audit_round(gateway, prepared, sample_index, 0, options, rounds[-1], before)
    error = None
    for number in range(1, options.reflections + 1):
        before = _last_seq(gateway)
        reflect = {**variables, "previous_review": form.model_dump_json(indent=1), "round": number}
        reflect["rounds"] = options.reflections
        try:
            revised = gateway.structured(REVIEW_PROMPT, reflect, ReviewForm, stage="review.reflect", **common)
        except StructuredOutputError as err:  # keep the last valid form; the failure is on record
            error = f"reflection round {number}: {err.message}"
            _audit_round(gateway, prepared, sample_index, number, options, None, before, error=err.message)
            break
        rounds.append(ReviewRound(round=number, form=revised, changed=revised != form))
        _audit_round(gateway, prepared, sample_index, number, options, rounds[-1], before)
        form = revised
        if not rounds[-1].changed:
            break  # converged: another round would see exactly the same input
    return Review(
        model=settings.model,
        prompt_sha256=prompt_sha256(REVIEW_PROMPT),
        form=form,
        sample_index=sample_index,
        seed=seed,
        temperature=temperature,
        rounds=rounds,
        reflection_error=error,
        fewshot=[example.id for example in prepared.examples],
        injection_flags=list(prepared.flags),
        paper=prepared.info,
    )


def _audit_round(
    gateway: LLMGateway,
    prepared: PreparedPaper,
    sample_index: int,
    number: int,
    options: ReviewOptions,
    result: ReviewRound | None,
    before: int,
    *,
    error: str | None = None,
) -> None:
    if gateway.audit is None:
        return
    event = ReviewRoundDone if result is not None else ReviewRoundFailed
    gateway.audit.emit(
        event(
            paper_sha256=prepared.info.sha256,
            sample_index=sample_index,
            round=number,
            rounds=options.reflections,
            seed=gateway.settings.seed + sample_index,
            temperature=_temperature(gateway, options),
            changed=result.changed if result is not None else None,
            form=result.form.model_dump() if result is not None else None,
            error=error,
            llm_calls=_calls_since(gateway, before),
        ),
        "reviewer",
    )


# -- public API -------------------------------------------------------------------------------------------------------
def review_paper(
    gateway: LLMGateway, paper_text: str, *, sample_index: int = 0, options: ReviewOptions | None = None
) -> Review:
    """Review Markdown text (e.g. the pipeline's paper.md): one reviewer, `options.reflections` rounds."""
    return review_document(gateway, from_markdown(paper_text), sample_index=sample_index, options=options)


def review_document(
    gateway: LLMGateway, paper: PaperText, *, sample_index: int = 0, options: ReviewOptions | None = None
) -> Review:
    """One reviewer (sample `sample_index`) for an extracted paper."""
    options = options or ReviewOptions()
    prepared = prepare(gateway, paper, options)
    _audit_input(gateway, prepared, options)
    return _review_one(gateway, prepared, sample_index, options)


def review_ensemble(gateway: LLMGateway, paper: PaperText, options: ReviewOptions | None = None) -> EnsembleReview:
    """`options.ensemble` independent reviewers (distinct seeds), aggregated, with an area-chair meta-review.

    A reviewer that yields no valid form is recorded in `failures` and left out; if none succeeds the last error is
    raised. Budget, replay and runtime errors stop the ensemble (they would hit every reviewer alike).
    """
    options = options or ReviewOptions()
    prepared = prepare(gateway, paper, options)
    _audit_input(gateway, prepared, options)
    reviews: list[Review] = []
    failures: list[str] = []
    last_error: StructuredOutputError | None = None
    for index in range(options.ensemble):
        try:
            reviews.append(_review_one(gateway, prepared, index, options))
        except StructuredOutputError as err:
            failures.append(f"reviewer {index}: {err.message}")
            last_error = err
    if not reviews:
        assert last_error is not None
        raise last_error
    forms = [review.form for review in reviews]
    scores = aggregate_scores(forms)
    meta = None
    if options.meta_review and len(reviews) >= 2:
        try:
            meta = meta_review(gateway, prepared, reviews, scores, options)
        except StructuredOutputError as err:
            failures.append(f"meta-review: {err.message}")
    ensemble = EnsembleReview(
        model=gateway.settings.model,
        prompt_sha256=prompt_sha256(REVIEW_PROMPT),
        form=consensus_form(forms, meta.form if meta else None),
        decision_source="meta_review" if meta else ("majority" if len(reviews) > 1 else "single"),
        accept_votes=sum(form.decision == "accept" for form in forms),
        scores=scores,
        reviews=reviews,
        meta=meta,
        failures=failures,
        injection_flags=list(prepared.flags),
        paper=prepared.info,
    )
    if gateway.audit is not None:
        gateway.audit.emit(
            audit_events.ReviewEnsemble(
                paper_sha256=prepared.info.sha256,
                reviewers=len(reviews),
                failures=failures,
                scores={name: stats.model_dump() for name, stats in scores.items()},
                decision=ensemble.form.decision,
                decision_source=ensemble.decision_source,
                accept_votes=ensemble.accept_votes,
                meta_review=meta.form.model_dump() if meta else None,
                review_blob=gateway.audit.put_blob(ensemble.model_dump_json(indent=1)),
            ),
            "reviewer",
        )
    return ensemble


def meta_review(
    gateway: LLMGateway,
    prepared: PreparedPaper,
    reviews: Sequence[Review],
    scores: dict[str, ScoreStats],
    options: ReviewOptions,
) -> MetaReview:
    """The area chair reads the reviews (compacted until they fit the model's context) and the aggregate scores."""
    settings = gateway.settings
    temperature = _temperature(gateway, options)
    limit = context_chars(gateway, options.model_copy(update={"reflections": 0}))
    variables: dict[str, Any] = {}
    for level in range(4):
        variables = {
            "title": prepared.paper.title or "untitled",
            "count": len(reviews),
            "scores": scores_table(scores),
            "reviews": json.dumps(
                [_compact(number, review.form, level) for number, review in enumerate(reviews, 1)],
                indent=1,
                ensure_ascii=False,
            ),
            "nonce": prepared.nonce,
        }
        prompt = render(META_PROMPT, variables)
        if limit is None or len(prompt.system) + len(prompt.user) <= limit:
            break
    form = gateway.structured(
        META_PROMPT,
        variables,
        MetaReviewForm,
        stage="review.meta",
        sample_index=0,
        seed=settings.seed,
        temperature=temperature,
        max_tokens=options.max_tokens,
    )
    return MetaReview(
        model=settings.model,
        prompt_sha256=prompt_sha256(META_PROMPT),
        form=form,
        seed=settings.seed,
        temperature=temperature,
    )


def _compact(number: int, form: ReviewForm, level: int) -> dict[str, Any]:
    """A review for the area chair; higher levels keep less text (scores are in the aggregate table)."""
    keep = (5, 3, 2, 1)[level]
    limit = (800, 400, 250, 150)[level]
    review: dict[str, Any] = {
        "reviewer": number,
        "summary": form.summary[:limit],
        "strengths": [item[:limit] for item in form.strengths[:keep]],
        "weaknesses": [item[:limit] for item in form.weaknesses[:keep]],
        "overall": form.overall,
        "confidence": form.confidence,
        "decision": form.decision,
    }
    if level == 0:
        review["questions"] = form.questions
        review["limitations"] = form.limitations
    return review
