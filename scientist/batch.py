"""One per-item failure policy for every batch command: a failed item is recorded and the batch goes on.

Why: one paper a model cannot review (or one run, probe cell or file that breaks) used to end a 40-item batch, and
a resume asked the same seeded question again and failed again, so the batch could never finish. Here an item
that fails after its own retries becomes an `ItemFailure` record (with a short `reason`), the batch continues, and
the summary counts failures per reason. Errors that would hit every item alike (budget, configuration, a missing
key) still stop the batch: recording them per item would only burn the budget.

API (for `calibrate reviewer`, `review DIR`, and to reuse in `judge`, `study run`, `probe run`, imports):

    policy = BatchPolicy(max_failures=FailureLimit.parse("3"), retry_failed=False, reseed=False)
    results = ResultsFile(out / "results.jsonl", MyResult)        # MyResult has an `id: str` field
    done, failed = results.load()                                 # resume: what finished, what failed
    summary = run_batch(
        items, key=lambda item: item.id, work=do_one,             # do_one(item, seed_offset) -> MyResult
        done=done, failed=failed, policy=policy, label="calibrate",
        on_done=lambda item, result: results.append(result),
        on_failed=lambda item, failure: (results.append(failure), audit_it(failure)),
    )
    summary.lines()                                               # "2 of 40 failed: structured_output 2"

- Resume skips items already done *and* items already failed (a failure is a result: asking the same seeded
  question again gives the same answer); `retry_failed` re-runs only the failed ones; `reseed` gives each retry a
  fresh `seed_offset` (`RESEED_STRIDE` x earlier failures) for `work` to add to its base seed.
- `--max-failures N` tolerates N failures in this invocation and stops at the next one; `--max-failures 0.2`
  tolerates a fifth of the items this invocation attempts. The stop is a `BatchStoppedError` (exit 1) raised after
  the failure was recorded, so nothing is lost and the same command continues.
- `SCIENTIST_FAULT_KILL_AT=batch-item:K` SIGKILLs the process before the K-th item this invocation attempts
  (crash tests: a killed batch resumes without redoing finished items).
- `ResultsFile` appends one JSON line per outcome (fsynced); a line torn by a kill is dropped on load; the last
  line for an id wins (a retried item's result replaces its failure).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scientist.errors import (
    BudgetExceededError,
    ConfigError,
    ExitCode,
    MissingAPIKeyError,
    ModelRuntimeError,
    PricingUnknownError,
    ReplayMissError,
    SchemaRejectedError,
    ScientistError,
    StructuredOutputError,
    UnknownModelError,
)
from scientist.faults import kill_point

I = TypeVar("I")  # noqa: E741 - an item of the batch
R = TypeVar("R", bound=BaseModel)
RESEED_STRIDE = 1000  # a retry's seeds sit past any ensemble's or sample's own offsets
# Errors that would hit every item alike: the batch stops on them instead of recording each item as failed.
FATAL: tuple[type[BaseException], ...] = (
    BudgetExceededError,
    ConfigError,
    MissingAPIKeyError,
    UnknownModelError,
    SchemaRejectedError,
    PricingUnknownError,
)


class ItemFailure(BaseModel):
    """One item that failed after its retries: a line of the batch's results file, an audit event, a store row."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["failed"] = "failed"
    id: str
    reason: str = Field(description="Short cause to count by: truncated, structured_output, model_runtime, ...")
    error: str = Field(description="The one-line error message")
    error_type: str
    hint: str | None = Field(default=None, description="The error's own fix, when it gave one")
    attempts: int = Field(default=1, ge=1, description="How many times this item has failed so far")
    seed_offset: int = 0
    at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def reason_of(err: BaseException) -> str:
    """The short reason a failure is counted under."""
    if isinstance(err, StructuredOutputError):
        return "truncated" if "cut off at the token limit" in err.message else "structured_output"
    if isinstance(err, ReplayMissError):
        return "replay_miss"
    if isinstance(err, ModelRuntimeError):
        return "model_runtime"
    if isinstance(err, ScientistError):
        return type(err).__name__.removesuffix("Error").lower() or "error"
    return "error"


def is_item_failure(err: BaseException) -> bool:
    """True for an error that belongs to one item (record it, go on); False for one that must stop the batch."""
    return isinstance(err, Exception) and not isinstance(err, FATAL)


class FailureLimit(BaseModel):
    """`--max-failures`: a count (tolerate N) or a fraction of the items attempted (0 < f < 1)."""

    model_config = ConfigDict(frozen=True)

    count: int | None = Field(default=None, ge=0)
    fraction: float | None = Field(default=None, gt=0, lt=1)

    @classmethod
    def parse(cls, text: str | None, option: str = "--max-failures") -> FailureLimit | None:
        if text is None or not text.strip():
            return None
        value = text.strip()
        try:
            if value.isdigit():
                return cls(count=int(value))
            number = float(value)
        except ValueError:
            number = math.nan
        if 0 < number < 1:
            return cls(fraction=number)
        raise ConfigError(
            f"{option} {text!r} is neither a count nor a fraction",
            hint=f"pass {option} N (tolerate N failed items) or {option} 0.2 (tolerate a fifth of them)",
        )

    def tolerated(self, attempted: int) -> int:
        """How many failures the batch goes on after, out of `attempted` items."""
        if self.count is not None:
            return self.count
        return math.floor((self.fraction or 0.0) * attempted)

    def describe(self) -> str:
        return str(self.count) if self.count is not None else f"{self.fraction:g}"


class BatchPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_failures: FailureLimit | None = None
    retry_failed: bool = False
    reseed: bool = False
    resumable: bool = Field(default=True, description="The command has --retry-failed (its stop hint names it)")


RETRY_HINT = (
    "finished items are kept; fix the cause (model, key, server) and run the same command again to continue,"
    " adding --retry-failed to retry the failed items"
)


class BatchStoppedError(ScientistError):
    """Too many items failed (`--max-failures`): the batch stopped early; what it did is kept."""

    exit_code = ExitCode.FAILED


class BatchSummary(BaseModel):
    """What one invocation of a batch did, and every failure now on record."""

    label: str
    total: int
    done_before: int = 0
    skipped_failed: int = 0
    attempted: int = 0
    succeeded: int = 0
    failures: list[ItemFailure] = Field(default_factory=list, description="Every item failed at the end, in order")

    @property
    def by_reason(self) -> dict[str, int]:
        return dict(Counter(failure.reason for failure in self.failures).most_common())

    def lines(self) -> list[str]:
        """One line for the counts, one per failure reason (for a CLI summary)."""
        reasons = ", ".join(f"{reason} {count}" for reason, count in self.by_reason.items())
        head = f"{self.label}: {self.total - len(self.failures)} of {self.total} done, {len(self.failures)} failed"
        head += f" ({reasons})" if reasons else ""
        if self.skipped_failed:
            head += f"; {self.skipped_failed} earlier failure(s) not retried (add --retry-failed)"
        return [head, *(f"failed {failure.id}: [{failure.reason}] {failure.error}" for failure in self.failures)]


def run_batch(
    items: Sequence[I],
    *,
    key: Callable[[I], str],
    work: Callable[[I, int], R],
    done: Mapping[str, object],
    failed: Mapping[str, ItemFailure],
    policy: BatchPolicy,
    label: str,
    on_done: Callable[[I, R], None],
    on_failed: Callable[[I, ItemFailure], None],
    on_start: Callable[[int, int, I], None] | None = None,
    item_errors: tuple[type[Exception], ...] = (Exception,),
) -> BatchSummary:
    """Run `work(item, seed_offset)` for each item not done yet, recording failures; see the module docstring.

    `item_errors` narrows what counts as one item's failure (anything else, and the `FATAL` errors, propagate)."""
    failures = {item_id: failure for item_id, failure in failed.items()}
    todo = [item for item in items if key(item) not in done and (policy.retry_failed or key(item) not in failed)]
    summary = BatchSummary(
        label=label,
        total=len(items),
        done_before=sum(key(item) in done for item in items),
        skipped_failed=0 if policy.retry_failed else sum(key(item) in failed for item in items),
    )
    failed_now = 0
    tolerated = policy.max_failures.tolerated(len(todo)) if policy.max_failures is not None else None
    for position, item in enumerate(todo, 1):
        kill_point(f"batch-item:{position}")
        item_id = key(item)
        previous = failures.get(item_id)
        offset = (
            previous.attempts * RESEED_STRIDE
            if previous is not None and policy.reseed
            else (previous.seed_offset if previous is not None else 0)
        )
        if on_start is not None:
            on_start(position, len(todo), item)
        summary.attempted += 1
        try:
            result = work(item, offset)
        except Exception as err:
            if not is_item_failure(err) or not isinstance(err, item_errors):
                raise
            failure = ItemFailure(
                id=item_id,
                reason=reason_of(err),
                error=_one_line(err),
                error_type=type(err).__name__,
                hint=err.hint if isinstance(err, ScientistError) else None,
                attempts=(previous.attempts + 1) if previous is not None else 1,
                seed_offset=offset,
            )
            on_failed(item, failure)
            failures[item_id] = failure
            failed_now += 1
            if tolerated is not None and failed_now > tolerated:
                summary.failures = [failures[key(i)] for i in items if key(i) in failures]
                assert policy.max_failures is not None
                raise BatchStoppedError(
                    f"{label} stopped: {failed_now} of {position} item(s) failed in this run, more than"
                    f" --max-failures {policy.max_failures.describe()} allows (last: {item_id}: [{failure.reason}]"
                    f" {failure.error[:160]})",
                    hint=RETRY_HINT if policy.resumable else "fix the cause and run the same command again",
                ) from err
            continue
        on_done(item, result)
        failures.pop(item_id, None)
        summary.succeeded += 1
    summary.failures = [failures[key(item)] for item in items if key(item) in failures]
    return summary


def _one_line(err: Exception) -> str:
    text = err.message if isinstance(err, ScientistError) else str(err)
    return (text.strip().splitlines() or [type(err).__name__])[0][:500]


class ResultsFile(Generic[R]):
    """An append-only JSONL of per-item outcomes: `model` lines for results, `ItemFailure` lines for failures."""

    def __init__(self, path: Path, model: type[R]) -> None:
        self.path = path
        self.model = model

    def load(self) -> tuple[dict[str, R], dict[str, ItemFailure]]:
        """(results by id, failures by id); the last line for an id wins. A torn line is dropped (file rewritten)."""
        if not self.path.exists():
            return {}, {}
        done: dict[str, R] = {}
        failed: dict[str, ItemFailure] = {}
        kept: list[str] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                raw = json.loads(line)
                if isinstance(raw, dict) and raw.get("status") == "failed":
                    failure = ItemFailure.model_validate(raw)
                    failed[failure.id] = failure
                    done.pop(failure.id, None)
                else:
                    result = self.model.model_validate(raw)
                    item_id = str(raw["id"])  # the result models all have an `id` (validated just above)
                    done[item_id] = result
                    failed.pop(item_id, None)
            except (ValueError, ValidationError):
                continue
            kept.append(line)
        if len(kept) != len(self.path.read_text(encoding="utf-8").splitlines()):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            tmp.replace(self.path)
        return done, failed

    def append(self, record: BaseModel) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(record.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
