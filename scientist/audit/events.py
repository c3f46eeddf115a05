"""One pydantic model per kind of audit record: what each `kind` of `audit.jsonl` carries in its payload.

Why: ~60 kinds were written as bare strings with dict payloads, so a typo in a key (or a number written as a string)
reached the tamper-evident log unnoticed and every reader re-guessed the shape. Here each kind has a model; the log
refuses a payload that does not match its kind's model (`AuditLog.append` validates, `AuditLog.emit` takes a model),
and readers turn a stored record back into its model with `typed()`.

The log's format does not change: a model only *checks* the payload, and `AuditEvent.payload()` dumps exactly the
fields that were set (no defaults added, aliases such as `from` kept), so a record written through a model hashes
the same as the dict it replaces. Old run folders keep working: `typed()` never raises, a kind without a model (or a
payload an older version wrote differently) comes back as a `GenericEvent`.

Models forbid unknown keys (a typo is caught) unless the payload is open-ended by design; each such model says why
in its docstring. A test (tests/test_audit_events.py) scans the code so that every kind passed to `append` has a
model here; the docs' "Audit record kinds" page (scripts/docs_hooks.py) is the catalogue, built from these models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scientist.errors import ScientistError

__all__ = ["EVENTS", "AuditEvent", "AuditEventError", "GenericEvent", "check_payload", "typed"]

EVENTS: dict[str, type[AuditEvent]] = {}
"""kind -> its model, filled as the models below are defined."""


class AuditEventError(ScientistError):
    """A payload that does not match its kind's model: a bug in the code writing it, named by kind and field."""


class AuditEvent(BaseModel):
    """Base of every event model: `KIND` is the record's `kind`; subclasses register themselves in `EVENTS`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    KIND: ClassVar[str] = ""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        kind = cls.__dict__.get("KIND")
        if kind:
            if kind in EVENTS:
                raise TypeError(f"audit kind {kind!r} has two models: {EVENTS[kind].__name__} and {cls.__name__}")
            EVENTS[kind] = cls

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise _refused(self.KIND or type(self).__name__, err) from None

    def payload(self) -> dict[str, Any]:
        """The record's payload: the fields that were set, by their stored names (no defaults added), as Python
        values (the log turns them into JSON itself, like any payload: `scientist.audit.log.to_jsonable`)."""
        return self.model_dump(by_alias=True, exclude_unset=True)


def _refused(kind: str, err: ValidationError) -> AuditEventError:
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "payload"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    model = EVENTS.get(kind)
    return AuditEventError(
        f"audit record {kind!r} refused: field {field!r}: {first['msg']}{more}",
        hint=f"the payload must match scientist.audit.events.{model.__name__ if model else 'the kind model'};"
        " every kind's fields: the docs' Audit record kinds page",
    )


def check_payload(kind: str, payload: Mapping[str, Any]) -> None:
    """Raise AuditEventError if `payload` does not match `kind`'s model. A kind without a model is not checked
    (tests and old tools write their own; the code of scientist is held to `EVENTS` by a test)."""
    model = EVENTS.get(kind)
    if model is not None:
        model.model_validate(payload)  # through AuditEvent.__init__: a mismatch is an AuditEventError


class GenericEvent(BaseModel):
    """A record read back with no model to match: an unknown kind, or a payload an older version wrote."""

    model_config = ConfigDict(frozen=True)

    kind: str
    payload: dict[str, Any]
    problem: str | None = None  # why the kind's model did not match, when it has one


def typed(record: Any) -> AuditEvent | GenericEvent:
    """The model of a stored record (an `AuditRecord`, or anything with `.kind` and `.payload`); never raises."""
    kind, payload = str(record.kind), dict(record.payload)
    model = EVENTS.get(kind)
    if model is None:
        return GenericEvent(kind=kind, payload=payload)
    try:
        return model.model_validate(payload)
    except AuditEventError as err:
        return GenericEvent(kind=kind, payload=payload, problem=err.message)


_OPEN = ConfigDict(extra="allow")
# A number stored as it was written: an int stays an int (a bare `float` field would dump 3 as 3.0), so a record
# written through its model (`emit`) hashes the same as the dict `append` wrote before it.
Number = int | float


# -- the log itself ---------------------------------------------------------------------------------------------
class AuditRepair(AuditEvent):
    """The log repaired crash leftovers before an append (a torn last line, a lagging head, an unwritten anchor)."""

    KIND: ClassVar[str] = "audit_repair"
    problem: str
    head_seq: int | None = None
    seq: int | None = None
    bytes: int | None = None
    torn_blob: str | None = None


# -- the run ----------------------------------------------------------------------------------------------------
class RunStart(AuditEvent):
    """A run began: its topic and the settings it runs with."""

    KIND: ClassVar[str] = "run_start"
    topic: str
    config: dict[str, Any]
    scientist_version: str


class RunResume(AuditEvent):
    """A stopped run was resumed: the nodes still to run and the settings changed for it."""

    KIND: ClassVar[str] = "run_resume"
    next: list[str]
    overrides: dict[str, Any]
    scientist_version: str


class RunEnd(AuditEvent):
    """The run ended: completed (with its spend) or stopped (with the reason and who stopped it)."""

    KIND: ClassVar[str] = "run_end"
    status: str
    reason: str | None = None
    by: str | None = None
    spend: dict[str, Any] | None = None


class RunPaused(AuditEvent):
    """The run paused for a human's approval."""

    KIND: ClassVar[str] = "run_paused"
    reason: str
    approval: str


class RunWaiting(AuditEvent):
    """The run waits for something outside it (a decision, a resource)."""

    KIND: ClassVar[str] = "run_waiting"
    detail: str


class RunFailed(AuditEvent):
    """The run failed with an error."""

    KIND: ClassVar[str] = "run_failed"
    error: str | None


class StoreError(AuditEvent):
    """The run store could not record the run (the run folder is still the record)."""

    KIND: ClassVar[str] = "store_error"
    error: str


class BudgetUnpriced(AuditEvent):
    """A budget is set but some models have no price, so their spend is not counted in dollars."""

    KIND: ClassVar[str] = "budget_unpriced"
    models: list[str]
    budget_usd: float | None


class WarmUp(AuditEvent):
    """How long loading the index or the local model took before the run."""

    KIND: ClassVar[str] = "warm_up"
    seconds: float


class SandboxCleanup(AuditEvent):
    """Containers a killed earlier process of this run left behind were removed."""

    KIND: ClassVar[str] = "sandbox_cleanup"
    containers_removed: int


class StageFailure(AuditEvent):
    """A stage's step gave no valid answer and was skipped (the run goes on)."""

    KIND: ClassVar[str] = "stage_failure"
    stage: str
    error: str
    sample: int | None = None
    round: int | None = None


# -- pipeline nodes -------------------------------------------------------------------------------------------------
class NodeStart(AuditEvent):
    """A pipeline node started (`rerun`: the write node run again by `scientist write`)."""

    KIND: ClassVar[str] = "node_start"
    node: str
    rerun: bool | None = None


class NodeEnd(AuditEvent):
    """A pipeline node finished and set these state keys (`state_keys`).

    Logs written before 2026-12-05 carry `keys` instead, stored as "[REDACTED]": the log's redaction takes a field
    named "keys" for a credential, so those names were never kept (what the node set is in the checkpoint).
    `state_keys` is a lookup-key name, which the redaction leaves alone."""

    KIND: ClassVar[str] = "node_end"
    node: str
    state_keys: list[str] | None = None
    keys: list[str] | Literal["[REDACTED]"] | None = None  # older logs only
    rerun: bool | None = None


class NodeWaiting(AuditEvent):
    """A pipeline node stopped to wait for a human."""

    KIND: ClassVar[str] = "node_waiting"
    node: str


class NodeError(AuditEvent):
    """A pipeline node raised."""

    KIND: ClassVar[str] = "node_error"
    node: str
    error: str


class WriteRerun(AuditEvent):
    """The write node is run again on a finished run (`scientist write`)."""

    KIND: ClassVar[str] = "write_rerun"
    feedback: bool
    previous_status: str
    overrides: dict[str, Any]


# -- model calls ----------------------------------------------------------------------------------------------------
class LLMCall(AuditEvent):
    """One model call: prompt and response blobs, tokens, cost, latency, sampling settings."""

    KIND: ClassVar[str] = "llm_call"
    stage: str
    role: str
    model: str
    prompt_template: str
    prompt_sha256: str
    request_hash: str
    response_hash: str
    prompt_blob: str
    response_blob: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None
    latency_s: float
    finish_reason: str | None
    sample_index: int | None
    seed: int | None
    temperature: float | None
    replayed: bool
    mode: str


class LLMParseError(AuditEvent):
    """A structured answer did not parse; it is asked again (with a larger cap when it was cut)."""

    KIND: ClassVar[str] = "llm_parse_error"
    stage: str
    prompt_template: str
    attempt: int
    error: str
    finish_reason: str | None
    max_tokens: int | None
    next_max_tokens: int | None


# -- ideas and novelty ----------------------------------------------------------------------------------------------
class IdeationContext(AuditEvent):
    """The related papers shown to the idea prompt (`retrieval` "off": none looked up)."""

    KIND: ClassVar[str] = "ideation_context"
    related: list[dict[str, Any]]
    retrieval: str | None = None


class IdeaReflected(AuditEvent):
    """One reflection round changed an idea (titles before and after)."""

    KIND: ClassVar[str] = "idea_reflected"
    sample: int
    round: int
    from_: str = Field(alias="from")
    to: str


class IdeaRevised(AuditEvent):
    """An idea judged not novel was replaced by a revised one (indices before and after)."""

    KIND: ClassVar[str] = "idea_revised"
    from_: int = Field(alias="from")
    to: int
    title: str


class IdeaSelected(AuditEvent):
    """The idea the run goes on with, and the rule that chose it."""

    KIND: ClassVar[str] = "idea_selected"
    index: int
    title: str
    rule: str


class NoveltyVerdict(AuditEvent):
    """The novelty check's verdict on one idea."""

    KIND: ClassVar[str] = "novelty_verdict"
    idea_index: int
    novel: bool
    verdict: str
    decided_by: str
    max_similarity: float
    cited_ids: list[str]
    fresh_search: bool
    offline: bool


class NoveltyUncheckedStop(AuditEvent):
    """The run stopped: these ideas could not be checked for novelty (no search, too small an index)."""

    KIND: ClassVar[str] = "novelty_unchecked_stop"
    ideas: list[int | None]
    index_papers: int


class NoveltySkipped(AuditEvent):
    """The novelty check is off for this run."""

    KIND: ClassVar[str] = "novelty_skipped"
    ideas: int
    policy: str


class NoveltyExhausted(AuditEvent):
    """Every idea was judged not novel; `then` says what the run did."""

    KIND: ClassVar[str] = "novelty_exhausted"
    ideas: int
    policy: str
    then: str


class LiteratureSearch(AuditEvent):
    """One literature search the novelty check issued and what came of it (tools.novelty.SearchRecord)."""

    KIND: ClassVar[str] = "literature_search"
    round: int
    query: str
    proposed_by: str
    results: int = 0
    new_papers: int = 0
    requests: int = 0
    cached: bool = False
    offline: bool = False
    error: str | None = None


class SeedCorpusLoaded(AuditEvent):
    """Papers from a seed corpus file were added to the local index."""

    KIND: ClassVar[str] = "seed_corpus_loaded"
    path: str
    papers: int


# -- experiments ----------------------------------------------------------------------------------------------------
class VariantPlan(AuditEvent):
    """The config change planned to test the idea: proposed and clamped values.

    Open: with best-of-n planning the winner's record also carries its `candidate` index, and the values are the
    template's own parameters."""

    model_config = _OPEN
    KIND: ClassVar[str] = "variant_plan"
    rationale: str
    proposed: dict[str, Any]
    applied: dict[str, Any]


class SandboxRunStart(AuditEvent):
    """A command is about to run in the sandbox (before it runs, so a crash still leaves the record)."""

    KIND: ClassVar[str] = "sandbox_run_start"
    command: list[str]
    label: str | None = None
    attempt: int | None = None
    role: str | None = None
    limits: dict[str, Any] | None = None


class SandboxRun(AuditEvent):
    """A sandbox run's outcome: backend, image, limits, command, exit, output and log hashes, stderr's end.

    Open: the payload is the sandbox's RunResult (its fields grow with the backends) plus the caller's label,
    attempt, role and ok."""

    model_config = _OPEN
    KIND: ClassVar[str] = "sandbox_run"
    backend: str
    command: list[str]
    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    wall_time_s: Number
    # The caller's: the planned run ("plots", "<label>/eval_<seed>"), its attempt, "evaluator", the plot run's ok.
    label: str | None = None
    attempt: int | None = None
    role: str | None = None
    ok: bool | None = None


class SandboxFallback(AuditEvent):
    """The sandbox asked for was not available; the configured fallback ran instead (and why)."""

    KIND: ClassVar[str] = "sandbox_fallback"
    requested: str
    used: str
    reason: str


class SandboxUnisolated(AuditEvent):
    """The run's experiment code runs without isolation (the `unsafe-subprocess` backend)."""

    KIND: ClassVar[str] = "sandbox_unisolated"
    backend: str
    requested: str


class SandboxRunSkipped(AuditEvent):
    """A sandbox run was not repeated (it finished before the resume)."""

    KIND: ClassVar[str] = "sandbox_run_skipped"
    label: str
    reason: str


class ExperimentRun(AuditEvent):
    """One experiment run's outcome: ok or why not, its metric and the code change (a diff blob)."""

    KIND: ClassVar[str] = "experiment_run"
    label: str
    mode: str
    parent: str | None
    ok: bool
    failure: str | None
    metric: Number | None
    files_changed: list[str]
    attempts: int
    code_diff_blob: str | None


class ExperimentRunFailed(AuditEvent):
    """An experiment run failed on every attempt."""

    KIND: ClassVar[str] = "experiment_run_failed"
    label: str
    attempts: int


class ExperimentFallback(AuditEvent):
    """The paper falls back to the baseline (no edited run succeeded)."""

    KIND: ClassVar[str] = "experiment_fallback"
    reason: str


class PlotsSkipped(AuditEvent):
    """The plots could not be made."""

    KIND: ClassVar[str] = "plots_skipped"
    label: str
    reason: str


class EditApplied(AuditEvent):
    """The agent's edit of a workspace file was applied (its diff is a blob).

    Open: the caller's context (the run's `label` and `attempt`) is merged into the payload."""

    model_config = _OPEN
    KIND: ClassVar[str] = "edit_applied"
    path: str
    diff_blob: str


class EditRefused(AuditEvent):
    """The agent's edit was refused (a protected file, a path outside the workspace, a block that did not match).

    Open: the caller's context (the run's `label` and `attempt`) is merged into the payload."""

    model_config = _OPEN
    KIND: ClassVar[str] = "edit_refused"
    path: str
    reason: str


class EditSelected(AuditEvent):
    """The edited run chosen among best-of-n candidates (None: none was usable)."""

    KIND: ClassVar[str] = "edit_selected"
    run: str
    candidate: int | None
    label: str | None
    score: float | None = None


# -- best-of-n, selection ---------------------------------------------------------------------------------------
class BestOfN(AuditEvent):
    """A best-of-n pool: candidates' scores, the winner, the excluded and flagged ones, the pool file."""

    KIND: ClassVar[str] = "best_of_n"
    stage: str
    n: int
    selector: str
    winner_index: int | None
    scores: list[Number | None]
    excluded: list[dict[str, Any]]
    flagged: list[int]
    path: str


class DraftSelected(AuditEvent):
    """The paper draft chosen among candidates."""

    KIND: ClassVar[str] = "draft_selected"
    candidate: int
    selector: str


class ReviewSelection(AuditEvent):
    """Candidates scored by reviews: each one's mean Overall score and how many reviews failed."""

    KIND: ClassVar[str] = "review_selection"
    stage: str
    reviews_per_candidate: int
    scores: dict[str, float]
    failed: int


class Tournament(AuditEvent):
    """A pairwise tournament: schedule, counts and fitted ratings (the comparisons are in the candidates file)."""

    KIND: ClassVar[str] = "tournament"
    stage: str
    schedule: str
    rounds: int
    comparisons: int
    failed: int
    first_position_wins: int
    second_position_wins: int
    ties: int
    ratings: dict[str, Number]


# -- monitors -------------------------------------------------------------------------------------------------------
class MonitorEventRecord(AuditEvent):
    """A monitor's finding (scientist.monitors.events.MonitorEvent)."""

    KIND: ClassVar[str] = "monitor_event"
    monitor: str
    severity: str
    rule: str
    evidence: str
    location: str | None = None
    source: str | None = None
    run_id: str | None = None
    node: str | None = None
    candidate: str | None = None
    time: str | None = None


class CheckedByMonitors(AuditEvent):
    """The monitors looked at this place (proof of the look, even when they found nothing)."""

    KIND: ClassVar[str] = "checked_by_monitors"
    where: str
    node: str
    candidate: str | None
    events: int


class _MonitorAction(AuditEvent):
    where: str
    action: str
    events: int
    monitors: list[str]


class MonitorApprovalPending(_MonitorAction):
    """Monitor findings need a human's approval before the run goes on."""

    KIND: ClassVar[str] = "monitor_approval_pending"


class MonitorApproved(_MonitorAction):
    """A human approved the flagged findings; the run goes on."""

    KIND: ClassVar[str] = "monitor_approved"


class MonitorStop(_MonitorAction):
    """The monitor policy stopped the run (`reason`: why an approval did not let it go on)."""

    KIND: ClassVar[str] = "monitor_stop"
    reason: str | None = None


class _FlaggedCandidate(AuditEvent):
    monitor: str
    severity: str
    rule: str
    evidence: str
    node: str
    candidate: int
    events: int


class MonitorFlaggedWinner(_FlaggedCandidate):
    """A best-of-n winner was flagged by a monitor (the `allow` policy let it win)."""

    KIND: ClassVar[str] = "monitor_flagged_winner"


class MonitorCandidateExcluded(_FlaggedCandidate):
    """A best-of-n candidate was excluded because a monitor flagged it."""

    KIND: ClassVar[str] = "monitor_candidate_excluded"


class MonitorFlaggedCandidate(_FlaggedCandidate):
    """A flagged best-of-n candidate that lost on its score (still on the record)."""

    KIND: ClassVar[str] = "monitor_flagged_candidate"


# -- approvals ------------------------------------------------------------------------------------------------------
class ApprovalRequested(AuditEvent):
    """A human's approval was asked for (a gate, a budget)."""

    KIND: ClassVar[str] = "approval_requested"
    id: str
    kind: str
    title: str | None = None
    reason: str | None = None


class ApprovalDecided(AuditEvent):
    """A human decided an approval (actor `human:<name>`)."""

    KIND: ClassVar[str] = "approval_decided"
    id: str
    kind: str
    action: str
    reason: str = ""
    edit: dict[str, Any] = Field(default_factory=dict)
    budget: dict[str, Number] = Field(default_factory=dict)


class ApprovalApplied(AuditEvent):
    """The run applied a human's decision."""

    KIND: ClassVar[str] = "approval_applied"
    kind: str
    action: str


class ApprovalSuperseded(AuditEvent):
    """A pending approval was made moot by resume flags (new caps)."""

    KIND: ClassVar[str] = "approval_superseded"
    id: str
    by: str
    caps: dict[str, Any]


# -- writing --------------------------------------------------------------------------------------------------------
class PaperSection(AuditEvent):
    """A paper section the model wrote: its prompt and text blobs, and whether operator feedback reached it."""

    KIND: ClassVar[str] = "paper_section"
    section: str
    kind: str
    prompt_template: str
    prompt_blob: str
    operator_feedback: bool
    feedback_in_prompt: bool
    text_blob: str


class PaperSectionFailed(AuditEvent):
    """A paper section got no valid answer."""

    KIND: ClassVar[str] = "paper_section_failed"
    section: str
    kind: str
    error: str


class NumberRemoved(AuditEvent):
    """A number no run output backs was removed from a section."""

    KIND: ClassVar[str] = "number_removed"
    section: str
    number: str


class CitationRemoved(AuditEvent):
    """A citation key the run never retrieved was removed from a section."""

    KIND: ClassVar[str] = "citation_removed"
    section: str
    citation: str


class CitationDropped(AuditEvent):
    """A reference was dropped from the bibliography (not retrieved by the run)."""

    KIND: ClassVar[str] = "citation_dropped"
    citation: str
    reason: str


class CitationCheck(AuditEvent):
    """A reference checked against the literature sources (tools.citecheck.ReferenceCheck)."""

    KIND: ClassVar[str] = "citation_check"
    citation: str
    status: str
    source: str | None = None
    mismatched: list[str] = Field(default_factory=list)
    reason: str = ""


class LatexCompile(AuditEvent):
    """One compile of the paper: engine, time and the first errors."""

    KIND: ClassVar[str] = "latex_compile"
    ok: bool
    engine: str | None
    attempt: int
    wall_time_s: float
    errors: list[dict[str, Any]]
    cached: bool = False  # the PDF of an earlier compile of the same inputs (paper/latex.py's cache)


class LatexFix(AuditEvent):
    """The model was asked to fix a section's LaTeX errors."""

    KIND: ClassVar[str] = "latex_fix"
    section: str
    round: int


class LatexFixSkipped(AuditEvent):
    """LaTeX errors were not sent to the model (they are outside its sections)."""

    KIND: ClassVar[str] = "latex_fix_skipped"
    reason: str


class PaperFallback(AuditEvent):
    """The paper was written from a fallback (the notice it carries)."""

    KIND: ClassVar[str] = "paper_fallback"
    notice: str


# -- reviews --------------------------------------------------------------------------------------------------------
class ReviewInput(AuditEvent):
    """What a reviewer was given: the paper (a blob), injection flags, few-shot examples, options."""

    KIND: ClassVar[str] = "review_input"
    paper: dict[str, Any]
    paper_blob: str
    injection_flags: list[dict[str, Any]]
    fewshot: list[str]
    options: dict[str, Any]


class InjectionCheck(AuditEvent):
    """The model check of a paper's passages for text aimed at the reviewer."""

    KIND: ClassVar[str] = "injection_check"
    model: str
    role: str
    passages: int
    checked: list[dict[str, Any]]
    flagged: int


class _ReviewRoundBase(AuditEvent):
    paper_sha256: str
    sample_index: int
    round: int
    rounds: int
    seed: int
    temperature: float
    changed: bool | None
    form: dict[str, Any] | None
    error: str | None
    llm_calls: list[int]


class ReviewRoundDone(_ReviewRoundBase):
    """One reviewer's round (the first review or a reflection): the form and the model calls it took."""

    KIND: ClassVar[str] = "review_round"


class ReviewRoundFailed(_ReviewRoundBase):
    """A reviewer's round that gave no valid form (the error)."""

    KIND: ClassVar[str] = "review_failed"


class ReviewEnsemble(AuditEvent):
    """The ensemble's result: score statistics, decision and where it came from, the review blob."""

    KIND: ClassVar[str] = "review_ensemble"
    paper_sha256: str
    reviewers: int
    failures: list[str]
    scores: dict[str, dict[str, Any]]
    decision: str
    decision_source: str
    accept_votes: int
    meta_review: dict[str, Any] | None
    review_blob: str


# -- judging --------------------------------------------------------------------------------------------------------
class JudgeStart(AuditEvent):
    """An independent judge started on a run's paper (in the judge's own log)."""

    KIND: ClassVar[str] = "judge_start"
    run: str
    paper: str
    judge: dict[str, Any]
    judge_hash: str
    attempt: int
    seed_offset: int


class JudgeVerdict(AuditEvent):
    """The judge's verdict: status, scores and the review blob."""

    KIND: ClassVar[str] = "judge_verdict"
    status: str
    error: str | None
    scores: dict[str, Any]
    review_blob: str | None


class JudgeVerdictWithdrawn(AuditEvent):
    """A judge's verdict was withdrawn (its record was broken)."""

    KIND: ClassVar[str] = "judge_verdict_withdrawn"
    reason: str


# -- probes and batches -----------------------------------------------------------------------------------------
class ProbeInjected(AuditEvent):
    """A behavioural probe was injected at a node: the operator's message, the spend so far."""

    KIND: ClassVar[str] = "probe_injected"
    index: int
    kind: str
    node: str
    probe: dict[str, Any]
    message: str | None  # None: a probe that says nothing to the agent (obstacle, OOD, temptation)
    tokens_spent: int
    template: str
    budget_tokens: int | None = None


class ProbeDeadline(AuditEvent):
    """A probe's deadline passed (`when`: where it was noticed)."""

    KIND: ClassVar[str] = "probe_deadline"
    index: int
    kind: str
    when: str


class ProbeEpisodeEnd(AuditEvent):
    """A probe's episode ended at this node."""

    KIND: ClassVar[str] = "probe_episode_end"
    index: int
    node: str


class BatchItemFailed(AuditEvent):
    """An item of a batch command failed after its retries (scientist.batch.ItemFailure and the batch's name)."""

    KIND: ClassVar[str] = "batch_item_failed"
    batch: str
    status: str
    id: str
    reason: str
    error: str
    error_type: str
    hint: str | None = None
    attempts: int
    seed_offset: int
    at: str


# -- studies --------------------------------------------------------------------------------------------------------
class Preregistration(AuditEvent):
    """A study was pre-registered: its frozen spec (in the study's log)."""

    KIND: ClassVar[str] = "preregistration"
    frozen: dict[str, Any]
    study: str
    file: str


class PreregistrationAmendment(AuditEvent):
    """A pre-registered study was changed and the change recorded as an amendment."""

    KIND: ClassVar[str] = "preregistration_amendment"
    changes: list[str]
    frozen: dict[str, Any]
    study: str
    file: str
