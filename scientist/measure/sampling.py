"""Best-of-n as a control: draw n candidates concurrently, score each, mark the winner, keep them all.

Why keep every candidate: a study measures how quality grows with n, and the unbiased E[max of k] for every k ≤ n
(`measure.stats`) needs the whole scored pool, not the survivor. Why seeds = seed + index and a fixed tie rule:
the pool and its winner must not depend on which thread finished first, so a replayed run picks the same winner.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, Field

from scientist.errors import BudgetExceededError, ScientistError
from scientist.executors.base import Executor
from scientist.executors.local import LocalExecutor
from scientist.files import write_text_atomic
from scientist.selector_registry import (
    SELECTORS,
    Selector,
    SelectorFactory,
    UnknownSelectorError,
    ranks_pool,
    register_selector,
    resolve_selector,
    selector_names,
)

if TYPE_CHECKING:
    from scientist.llm.gateway import LLMGateway

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
# Scores a whole pool at once (a tournament compares candidates with each other): eligible index -> value in,
# index -> score out. It runs after the per-value selector, which then only decides eligibility (monitor flags).
PoolRanker = Callable[[Mapping[int, Any]], Mapping[int, float]]


class AllCandidatesFailedError(ScientistError):
    """Every candidate of a best-of-n failed; `result` still holds them all with their errors."""

    def __init__(self, message: str, result: BestOfNResult[Any], hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.result = result


class SampleError(Exception):
    """Raised by a sample function that failed after spending tokens, so the pool's cost stays complete.

    Compute-matched comparisons charge a best-of-n for its failed draws too.
    """

    def __init__(self, cause: Exception, tokens: int | None = None, cost_usd: float | None = None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.tokens = tokens
        self.cost_usd = cost_usd


class Sampled(BaseModel, Generic[T]):
    """What a sample function returns when it knows its cost; returning a bare value is fine too."""

    value: T
    tokens: int | None = None
    cost_usd: float | None = None


class Candidate(BaseModel, Generic[T]):
    """One draw of a best-of-n: its value or error, its score, and what it cost."""

    index: int = Field(ge=0)
    seed: int
    value: T | None = None
    score: float | None = None
    error: str | None = Field(default=None, description="'Type: message' of the failure (sampling or scoring)")
    tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float = Field(default=0.0, description="wall time of sampling plus scoring (not deterministic)")
    winner: bool = False

    @property
    def scored(self) -> bool:
        return self.error is None and self.score is not None


class BestOfNResult(BaseModel, Generic[T]):
    """The full pool of one best-of-n, in index order, with the winner marked (the JSON studies read back)."""

    n: int
    temperature: float | None
    seed: int
    selector: str
    concurrency: int
    candidates: list[Candidate[T]]
    winner_index: int | None
    wall_time_s: float

    @property
    def winner(self) -> Candidate[T]:
        if self.winner_index is None:
            raise AllCandidatesFailedError(f"no winner: all {self.n} candidates failed", self)
        return self.candidates[self.winner_index]

    def scores(self) -> list[float]:
        """Scores of the successfully scored candidates in index order: the pool for `stats.best_of_k_curve`."""
        return [c.score for c in self.candidates if c.scored and c.score is not None]

    @property
    def total_tokens(self) -> int | None:
        known = [c.tokens for c in self.candidates if c.tokens is not None]
        return sum(known) if known else None

    @property
    def total_cost_usd(self) -> float | None:
        known = [c.cost_usd for c in self.candidates if c.cost_usd is not None]
        return sum(known) if known else None

    def write_json(self, path: Path) -> Path:
        """Write atomically (tmp + rename); values that are not JSON-able are stored as their repr."""
        return write_text_atomic(Path(path), self.model_dump_json(indent=1, fallback=repr))

    @classmethod
    def load(cls, path: Path) -> BestOfNResult[Any]:
        """Read a pool back; values come back as plain JSON (validate them with the sample's schema if needed)."""
        return BestOfNResult[Any].model_validate_json(Path(path).read_text(encoding="utf-8"))


# -- selectors: the registry is scientist.selector_registry (re-exported here) ------------------------------------
def _check_ranker(spec: str | Selector, ranker: PoolRanker | None) -> None:
    if ranks_pool(spec) and ranker is None:
        raise UnknownSelectorError(
            f"selector {spec!r} ranks candidates against each other and needs a ranker",
            hint="pass ranker= (e.g. a tournament over the pool), or choose a per-candidate selector",
        )


# -- best-of-n ------------------------------------------------------------------------------------------------------
class BestOfN(BaseModel):
    """n draws at seeds seed + index, up to `concurrency` at a time, scored by `selector`; ties go to the lowest index.

    A draw that raises is recorded with its error and the others go on, unless every draw fails
    (`AllCandidatesFailedError`) or the error is one of `fatal` (by default a spent budget: a best-of-3 silently
    standing in for a best-of-4 would corrupt a study), which is re-raised after the running draws finish.
    Each draw is scored in its worker thread as soon as it is drawn (a reviewer-score selector is itself slow), so a
    selector must be thread-safe.
    """

    model_config = {"arbitrary_types_allowed": True}

    n: int = Field(ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2, description="None: the gateway's default")
    seed: int = 0
    selector: str | Selector = "first"
    concurrency: int = Field(default=1, ge=1)
    fatal: tuple[type[BaseException], ...] = (BudgetExceededError,)
    # Draws through a scientist.executors executor instead of this control's own threads (then `concurrency` is the
    # executor's). In-process executors only: draws share the run's gateway, budget and sandbox.
    executor: Executor | None = None
    # Scores the drawn pool as a whole after the per-draw selector (required by, and only used with, a pool-level
    # selector such as "tournament"; see `register_selector`).
    ranker: PoolRanker | None = None

    def model_post_init(self, context: Any) -> None:
        resolve_selector(self.selector)  # fail on a bad name now, not after n model calls
        _check_ranker(self.selector, self.ranker)

    def seeds(self) -> list[int]:
        return [self.seed + index for index in range(self.n)]

    def run(self, sample: Callable[[int, int], T | Sampled[T]]) -> BestOfNResult[T]:
        """Call `sample(index, seed)` for every index, score, mark the winner; the order of completion is irrelevant."""
        label, scorer = resolve_selector(self.selector)
        started = time.perf_counter()
        executor = self.executor or LocalExecutor(self.concurrency)
        candidates = self._draw_on(executor, sample, scorer)
        if self.ranker is not None:
            _rank_pool(candidates, self.ranker)
        return self._finish(candidates, label, started)

    def _finish(self, candidates: list[Candidate[T]], label: str, started: float) -> BestOfNResult[T]:
        winner = _pick_winner(candidates)
        if winner is not None:
            candidates[winner].winner = True
        result: BestOfNResult[T] = BestOfNResult(
            n=self.n,
            temperature=self.temperature,
            seed=self.seed,
            selector=label,
            concurrency=self.concurrency,
            candidates=candidates,
            winner_index=winner,
            wall_time_s=time.perf_counter() - started,
        )
        if winner is None:
            first = next(c.error for c in candidates if c.error)
            raise AllCandidatesFailedError(
                f"all {self.n} best-of-n candidates failed; the first: {first}",
                result,
                hint="each candidate's error is in the result pool",
            )
        return result

    def _draw_on(
        self, executor: Executor, sample: Callable[[int, int], T | Sampled[T]], scorer: Selector
    ) -> list[Candidate[T]]:
        """The draws as executor tasks; a fatal error (a spent budget) comes back as a value and is re-raised here."""

        def draw(index: int) -> Candidate[T] | BaseException:
            try:
                return self._draw(sample, scorer, index)
            except self.fatal as err:
                return err

        drawn: dict[int, Candidate[T]] = {}
        for done in executor.map_unordered(draw, list(range(self.n))):
            if isinstance(done.value, BaseException):
                raise done.value  # leaving the map waits for the running draws (a thread cannot be killed)
            drawn[done.index] = done.value or Candidate(index=done.index, seed=self.seed + done.index, error=done.error)
        return [drawn[index] for index in range(self.n)]

    def run_structured(
        self,
        gateway: LLMGateway,
        prompt_name: str,
        variables: Mapping[str, Any],
        schema: type[M],
        *,
        stage: str,
        max_tokens: int | None = None,
    ) -> BestOfNResult[M]:
        """Best-of-n over `gateway.structured`, at this control's temperature, with each candidate's cost attached."""
        sampler = structured_sampler(
            gateway, prompt_name, variables, schema, stage=stage, temperature=self.temperature, max_tokens=max_tokens
        )
        return self.run(sampler)

    def _draw(self, sample: Callable[[int, int], T | Sampled[T]], scorer: Selector, index: int) -> Candidate[T]:
        seed = self.seed + index
        started = time.perf_counter()
        candidate: Candidate[T] = Candidate(index=index, seed=seed)
        try:
            drawn = sample(index, seed)
        except self.fatal:
            raise
        except SampleError as err:
            if isinstance(err.cause, self.fatal):
                raise err.cause from None
            candidate.error, candidate.tokens, candidate.cost_usd = _describe(err.cause), err.tokens, err.cost_usd
            candidate.latency_s = time.perf_counter() - started
            return candidate
        except Exception as err:
            candidate.error = _describe(err)
            candidate.latency_s = time.perf_counter() - started
            return candidate
        if isinstance(drawn, Sampled):
            candidate.value, candidate.tokens, candidate.cost_usd = drawn.value, drawn.tokens, drawn.cost_usd
        else:
            candidate.value = drawn
        try:
            score = float(scorer(candidate.value))
            if not math.isfinite(score):
                raise ValueError(f"selector returned a non-finite score ({score})")
            candidate.score = score
        except self.fatal:
            raise
        except Exception as err:
            candidate.error = f"selector: {_describe(err)}"
        candidate.latency_s = time.perf_counter() - started
        return candidate


def rescore(
    pool: BestOfNResult[T],
    selector: str | Selector,
    *,
    excluded: Mapping[int, str] | None = None,
    fatal: tuple[type[BaseException], ...] = (BudgetExceededError,),
    ranker: PoolRanker | None = None,
) -> BestOfNResult[T]:
    """The pool scored again by `selector` (in index order, in this thread), the winner re-marked; a new result.

    Why: some scores exist only after the draw — an idea's novelty verdict comes from a later node, an experiment
    plan's metric from running it in the sandbox (which must happen where approval gates can interrupt). Draws that
    failed keep their error; `excluded` (index → reason) turns further candidates into errors that cannot win, e.g.
    ideas the novelty check filtered out. Errors of a `fatal` type (a spent budget, a human being asked) propagate.
    Raises `AllCandidatesFailedError` when nothing is left to win. A `ranker` then scores the candidates the
    selector scored, as a whole (required by a pool-level selector).
    """
    label, scorer = resolve_selector(selector)
    _check_ranker(selector, ranker)
    excluded = excluded or {}
    candidates: list[Candidate[T]] = []
    for old in pool.candidates:
        candidate = old.model_copy(update={"score": None, "winner": False})
        drawn = old.value is not None and (old.error is None or old.error.startswith(("selector: ", "excluded: ")))
        if drawn:
            candidate.error = None
            if old.index in excluded:
                candidate.error = f"excluded: {excluded[old.index]}"
            else:
                try:
                    score = float(scorer(candidate.value))
                    if not math.isfinite(score):
                        raise ValueError(f"selector returned a non-finite score ({score})")
                    candidate.score = score
                except fatal:
                    raise
                except Exception as err:
                    candidate.error = f"selector: {_describe(err)}"
        candidates.append(candidate)
    if ranker is not None:
        _rank_pool(candidates, ranker)
    winner = _pick_winner(candidates)
    if winner is not None:
        candidates[winner].winner = True
    result = pool.model_copy(update={"selector": label, "candidates": candidates, "winner_index": winner})
    if winner is None:
        first = next((c.error for c in candidates if c.error), "no candidates")
        raise AllCandidatesFailedError(
            f"no eligible candidate among {pool.n}; the first: {first}",
            result,
            hint="each candidate's error is in the pool",
        )
    return result


def _pick_winner(candidates: list[Candidate[T]]) -> int | None:
    best: Candidate[T] | None = None
    for candidate in candidates:  # in index order, so a strict > leaves ties with the lowest index
        if candidate.scored and (best is None or (candidate.score or 0.0) > (best.score or 0.0)):
            best = candidate
    return None if best is None else best.index


def _rank_pool(candidates: list[Candidate[T]], ranker: PoolRanker) -> None:
    """Replace the scores of the scored candidates by `ranker`'s over all of them at once (in place).

    With fewer than two eligible candidates there is nothing to compare: the per-value scores stand (no model call).
    """
    eligible = {c.index: c.value for c in candidates if c.scored}
    if len(eligible) < 2:
        return
    scores = ranker(eligible)
    for candidate in candidates:
        if candidate.index in eligible:
            score = float(scores[candidate.index])
            if not math.isfinite(score):
                raise ValueError(f"ranker returned a non-finite score ({score}) for candidate {candidate.index}")
            candidate.score = score


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:2000]


def structured_sampler(
    gateway: LLMGateway,
    prompt_name: str,
    variables: Mapping[str, Any],
    schema: type[M],
    *,
    stage: str,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> Callable[[int, int], Sampled[M]]:
    """A `sample(index, seed)` that asks the gateway for one `schema` instance at that seed.

    Tokens and cost come from the run's audit log (the gateway writes one `llm_call` per call, repairs included),
    matched by stage, seed and sample index among the records written during this draw; without an audit log they
    are None. A failed draw raises `SampleError` carrying what it spent (a spent budget passes through as is).
    """

    def spend(before: int, index: int, seed: int) -> tuple[int | None, float | None]:
        if gateway.audit is None:
            return None, None
        calls = [
            record.payload
            for record in gateway.audit.records()[before:]
            if record.kind == "llm_call"
            and record.payload.get("stage") == stage
            and record.payload.get("seed") == seed
            and record.payload.get("sample_index") == index
        ]
        tokens = sum(int(call.get("total_tokens", 0)) for call in calls)
        costs = [call.get("cost_usd") for call in calls]
        known = [float(cost) for cost in costs if cost is not None]
        return tokens, sum(known) if len(known) == len(costs) else None  # None: some price was unknown

    def sample(index: int, seed: int) -> Sampled[M]:
        before = len(gateway.audit.records()) if gateway.audit is not None else 0
        try:
            value = gateway.structured(
                prompt_name,
                variables,
                schema,
                stage=stage,
                sample_index=index,
                seed=seed,
                temperature=temperature,
                max_tokens=max_tokens,
            )
        except BudgetExceededError:
            raise
        except Exception as err:
            raise SampleError(err, *spend(before, index, seed)) from err
        tokens, cost = spend(before, index, seed)
        return Sampled(value=value, tokens=tokens, cost_usd=cost)

    return sample


__all__ = [
    "SELECTORS",
    "AllCandidatesFailedError",
    "BestOfN",
    "BestOfNResult",
    "Candidate",
    "PoolRanker",
    "SampleError",
    "Sampled",
    "Selector",
    "SelectorFactory",
    "UnknownSelectorError",
    "ranks_pool",
    "register_selector",
    "rescore",
    "resolve_selector",
    "selector_names",
    "structured_sampler",
]
