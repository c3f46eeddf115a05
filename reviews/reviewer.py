"""The reviewer: one model fills the review form for a paper's text (ensemble and reflection come later)."""

from __future__ import annotations

from scientist.llm import LLMGateway
from scientist.prompts import prompt_sha256
from scientist.reviews.form import Review, ReviewForm

REVIEW_PROMPT = "review"
MAX_PAPER_CHARS = 12_000


def review_paper(gateway: LLMGateway, paper_text: str, *, sample_index: int = 0) -> Review:
    """Fill the review form for `paper_text` (untrusted: it goes in the user turn only, clearly delimited)."""
    form = gateway.structured(
        REVIEW_PROMPT,
        {"paper": paper_text[:MAX_PAPER_CHARS]},
        ReviewForm,
        stage="review",
        sample_index=sample_index,
        max_tokens=900,
    )
    return Review(model=gateway.settings.model, prompt_sha256=prompt_sha256(REVIEW_PROMPT), form=form)
