"""A tournament over candidates: pairwise comparisons, each pair asked in both orders, fitted to a Bradley-Terry rating.

Why Bradley-Terry and not Elo: Elo's ratings depend on the order the games were played in; Bradley-Terry fits every
outcome at once, so a replayed tournament rates the same whatever order its comparisons finished in. Why both
orders: judging models prefer one position (often the first); asking (a, b) and (b, a) turns a pure position
preference into a tie instead of a win. Why a prior: the maximum-likelihood strength of an undefeated candidate is
infinite, and that of a candidate that only ever tied is undetermined; `prior` virtual games against a fixed
reference of strength 1 (half won, half lost) keep every rating finite and pull thinly compared candidates towards
the middle.

Schedule (bounded): every pair when the pool has at most `all_pairs_max` candidates (n(n-1) comparisons), else
`rounds` Swiss rounds: each round pairs candidates adjacent in the current rating, avoiding rematches where it can
(odd one out sits the round out), so a round costs 2 * floor(n / 2) comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

Outcome = Literal["first", "second", "tie"]
Schedule = Literal["all_pairs", "swiss"]
DEFAULT_PRIOR = 1.0  # one virtual game against the reference: half a win, half a loss
_SHARE: dict[str, float] = {"first": 1.0, "second": 0.0, "tie": 0.5}


class Judgement(BaseModel):
    """What one comparison decided, and the comparer's stated reason."""

    outcome: Outcome
    reason: str = ""


class Comparison(BaseModel):
    """One asked comparison: which candidate was shown first, what came back (or why nothing did)."""

    number: int = Field(ge=0, description="order asked in (the comparer's sample index)")
    round: int = Field(ge=0)
    first: int = Field(description="candidate index shown in the first position (A)")
    second: int = Field(description="candidate index shown in the second position (B)")
    outcome: Outcome | None = None
    reason: str = ""
    error: str | None = Field(default=None, description="'Type: message' of a failed comparison (not counted)")

    @property
    def winner(self) -> int | None:
        if self.outcome == "first":
            return self.first
        if self.outcome == "second":
            return self.second
        return None


class TournamentResult(BaseModel):
    """Every comparison with its outcome, the fitted ratings (log-strengths) and the failure and position counts."""

    schedule: Schedule
    rounds: int
    prior: float
    candidates: list[int]
    comparisons: list[Comparison]
    ratings: dict[int, float]
    failed: int = Field(description="comparisons that raised one of the tolerated failures (left out of the fit)")
    first_position_wins: int = Field(description="decided comparisons won by the candidate shown first")
    second_position_wins: int
    ties: int


def bradley_terry(
    n: int,
    games: Sequence[tuple[int, int, float]],
    *,
    prior: float = DEFAULT_PRIOR,
    tolerance: float = 1e-12,
    max_iterations: int = 100_000,
) -> list[float]:
    """Bradley-Terry log-strengths of `n` players from `games` (i, j, i's share: 1 win, 0.5 tie, 0 loss).

    Hunter's MM (Zermelo) iteration: p_i <- W_i / sum_j n_ij / (p_i + p_j), where W_i is i's win share and n_ij the
    games between i and j. With `prior` > 0 every player also has `prior` games against a reference fixed at
    strength 1, half of them won, which anchors the scale and keeps every strength finite. With `prior` = 0 the fit
    is plain maximum likelihood, normalised to a geometric mean of 1; it exists only if every player has some win
    share and some loss share (else: ValueError).
    """
    if prior < 0:
        raise ValueError(f"prior must be >= 0, got {prior}")
    if n == 0:
        return []
    wins = [prior / 2] * n
    played: list[dict[int, float]] = [{} for _ in range(n)]
    for i, j, share in games:
        if i == j or not (0 <= i < n and 0 <= j < n) or not 0 <= share <= 1:
            raise ValueError(f"bad game ({i}, {j}, {share})")
        wins[i] += share
        wins[j] += 1 - share
        played[i][j] = played[i].get(j, 0.0) + 1
        played[j][i] = played[j].get(i, 0.0) + 1
    if prior == 0 and any(w <= 0 or w >= sum(played[i].values()) for i, w in enumerate(wins)):
        raise ValueError("without a prior every player needs some wins and some losses; use prior > 0")
    strength = [1.0] * n
    for _ in range(max_iterations):
        new = []
        for i in range(n):
            denominator = sum(count / (strength[i] + strength[j]) for j, count in played[i].items())
            denominator += prior / (strength[i] + 1.0)
            new.append(wins[i] / denominator if denominator > 0 else 1.0)
        if prior == 0:
            scale = math.exp(sum(math.log(p) for p in new) / n)
            new = [p / scale for p in new]
        change = max(abs(math.log(a) - math.log(b)) for a, b in zip(new, strength, strict=True)) if n else 0.0
        strength = new
        if change < tolerance:
            break
    return [math.log(p) for p in strength]


def all_pairs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Every pair once, in index order: (0, 1), (0, 2), ..., (1, 2), ..."""
    ordered = sorted(indices)
    return [(a, b) for position, a in enumerate(ordered) for b in ordered[position + 1 :]]


def swiss_pairs(
    indices: Sequence[int], ratings: Mapping[int, float], played: set[frozenset[int]]
) -> list[tuple[int, int]]:
    """One Swiss round: the best-rated unpaired candidate meets the next-best one it has not met yet (else the
    next-best at all); ties in rating go by index, and with an odd count the last one left sits out."""
    waiting = sorted(indices, key=lambda index: (-ratings.get(index, 0.0), index))
    pairs = []
    while len(waiting) >= 2:
        top = waiting.pop(0)
        partner = next((other for other in waiting if frozenset((top, other)) not in played), waiting[0])
        waiting.remove(partner)
        pairs.append((top, partner))
    return pairs


def run_tournament(
    indices: Sequence[int],
    compare: Callable[[int, int, int], Judgement],
    *,
    all_pairs_max: int = 6,
    rounds: int = 3,
    prior: float = DEFAULT_PRIOR,
    failures: tuple[type[BaseException], ...] = (Exception,),
) -> TournamentResult:
    """Rate `indices` by `compare(first, second, number)`; every pair scheduled is asked as (a, b) and (b, a).

    An error of a `failures` type fails that one comparison (recorded with its error, left out of the fit);
    anything else propagates (a spent budget, a human being asked).
    """
    candidates = sorted(set(indices))
    schedule: Schedule = "all_pairs" if len(candidates) <= all_pairs_max else "swiss"
    comparisons: list[Comparison] = []
    played: set[frozenset[int]] = set()
    ratings = {index: 0.0 for index in candidates}

    def ask(round_number: int, first: int, second: int) -> None:
        number = len(comparisons)
        comparison = Comparison(number=number, round=round_number, first=first, second=second)
        try:
            judgement = compare(first, second, number)
            comparison.outcome, comparison.reason = judgement.outcome, judgement.reason
        except failures as err:
            comparison.error = f"{type(err).__name__}: {err}"[:2000]
        comparisons.append(comparison)

    def fit() -> dict[int, float]:
        position = {index: slot for slot, index in enumerate(candidates)}
        games = [
            (position[c.first], position[c.second], _SHARE[c.outcome]) for c in comparisons if c.outcome is not None
        ]
        fitted = bradley_terry(len(candidates), games, prior=prior)
        return {index: fitted[position[index]] for index in candidates}

    total_rounds = 1 if schedule == "all_pairs" else rounds
    for round_number in range(total_rounds):
        pairs = all_pairs(candidates) if schedule == "all_pairs" else swiss_pairs(candidates, ratings, played)
        for a, b in pairs:
            ask(round_number, a, b)
            ask(round_number, b, a)
            played.add(frozenset((a, b)))
        ratings = fit()
    decided = [c for c in comparisons if c.outcome is not None]
    return TournamentResult(
        schedule=schedule,
        rounds=total_rounds,
        prior=prior,
        candidates=candidates,
        comparisons=comparisons,
        ratings=ratings,
        failed=sum(1 for c in comparisons if c.error is not None),
        first_position_wins=sum(1 for c in decided if c.outcome == "first"),
        second_position_wins=sum(1 for c in decided if c.outcome == "second"),
        ties=sum(1 for c in decided if c.outcome == "tie"),
    )


def comparisons_needed(n: int, *, all_pairs_max: int, rounds: int) -> int:
    """How many comparisons (model calls before repairs) a tournament over n candidates asks: the cost bound."""
    if n < 2:
        return 0
    return n * (n - 1) if n <= all_pairs_max else rounds * 2 * (n // 2)


__all__ = [
    "Comparison",
    "Judgement",
    "TournamentResult",
    "all_pairs",
    "bradley_terry",
    "comparisons_needed",
    "run_tournament",
    "swiss_pairs",
]
