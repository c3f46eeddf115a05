"""Read one run folder into plain records (no database here): what the importer writes, in one place.

Tolerant where a run is merely unfinished (no review yet, a failed sandbox run), strict where the folder is not a
run at all (no readable run.json): that is a `CorruptRunError` the importer reports and skips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from scientist.errors import CorruptRunError
from scientist.records import ExperimentResult
from scientist.reviews.form import SCORE_FIELDS
from scientist.runs import RunFolder, RunInfo
from scientist.sandbox.final_info import record_metrics

PAPER_CANDIDATES = tuple(f"{RunFolder.PAPER_DIR}/paper.{ext}" for ext in ("pdf", "tex", "md"))
# Settings that describe where things were, not how the run was scaffolded.
NOT_SCAFFOLD = ("runs_dir", "llm_cache_dir", "api_base", "api_key", "scientist_version")  # provenance, not scaffold


class CandidateRecord(BaseModel):
    stage: str
    index: int
    seed: int | None = None
    title: str = ""
    score: float | None = None
    winner: bool = False
    value: dict[str, Any] = Field(default_factory=dict)
    tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None


class ReviewRecord(BaseModel):
    ordinal: int
    kind: str
    model: str
    prompt_sha256: str = ""
    form_version: str = ""
    decision: str | None = None
    overall: float | None = None
    form: dict[str, Any] = Field(default_factory=dict)
    path: str | None = None


class ScoreRecord(BaseModel):
    metric: str
    source: str
    value: float


class ExperimentRecord(BaseModel):
    label: str
    ok: bool
    exit_code: int | None = None
    wall_time_s: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    final_info_path: str | None = None
    protected_violations: list[Any] = Field(default_factory=list)


class FlagRecord(BaseModel):
    monitor: str
    severity: str
    source_kind: str
    audit_seq: int | None = None
    node: str | None = None
    candidate_index: int | None = None
    evidence: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)


class JudgementRecord(BaseModel):
    """The judge's verdict on one run's final paper (`judge/<hash>/judgement.json`); score kind `judge`."""

    judge_hash: str
    model: str
    status: Literal["judged", "failed", "no_paper"]
    error: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict)
    overall: float | None = None
    decision: str | None = None
    cost_usd: float = 0.0
    total_tokens: int = 0
    path: str | None = None
    created_at: str = ""
    attempts: int = Field(default=1, ge=1, description="how many times the judge was asked (`--retry-failed`)")
    seed_offset: int = Field(default=0, description="added to the judge's seed on this attempt (`--reseed`)")


class RunRecord(BaseModel):
    """Everything the store keeps about one run folder."""

    info: RunInfo
    run_dir: str
    agent_model: str | None = None
    review_model: str | None = None
    variant: str = "default"
    seed: int | None = None
    temperature: float | None = None
    num_ideas: int | None = None
    llm_mode: str | None = None
    sandbox: str | None = None
    scaffold: dict[str, Any] = Field(default_factory=dict)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    paper_path: str | None = None
    review_path: str | None = None
    audit_records: int = 0
    audit_head: str | None = None
    candidates: list[CandidateRecord] = Field(default_factory=list)
    reviews: list[ReviewRecord] = Field(default_factory=list)
    scores: list[ScoreRecord] = Field(default_factory=list)
    experiments: list[ExperimentRecord] = Field(default_factory=list)
    flags: list[FlagRecord] = Field(default_factory=list)
    judgements: list[JudgementRecord] = Field(default_factory=list)


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptRunError(f"{what} {path} cannot be read: {type(err).__name__}: {err}") from err


def _optional_json(path: Path, what: str) -> Any:
    return _json(path, what) if path.exists() else None


def _audit_lines(run_dir: Path) -> list[dict[str, Any]]:
    """Every parseable audit record; damage is the chain check's business (see `_chain_flag`)."""
    path = RunFolder(run_dir).audit_log
    if not path.exists():
        return []
    records = []
    for line in path.read_bytes().split(b"\n"):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and isinstance(record.get("payload"), dict):
            records.append(record)
    return records


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read_run_folder(run_dir: Path) -> RunRecord:
    """Parse a run folder; raises `CorruptRunError` if it is not a readable run."""
    run_dir = run_dir.resolve()
    run_file = RunFolder(run_dir).run_file
    if not run_file.exists():
        raise CorruptRunError(
            f"{run_dir} has no {RunFolder.RUN}", hint="it was not created by scientist, or was damaged"
        )
    try:
        info = RunInfo.model_validate(_json(run_file, "run file"))
    except ValidationError as err:
        raise CorruptRunError(f"{run_file} is damaged: {err.errors()[0]['msg']}") from err
    config = _optional_json(RunFolder(run_dir).config, "config snapshot") or {}
    if not isinstance(config, dict):
        raise CorruptRunError(f"{RunFolder(run_dir).config} is not a JSON object")
    audit = _audit_lines(run_dir)
    agent_model, review_model = _role_models(config, info.model)
    record = RunRecord(
        info=info,
        run_dir=str(run_dir),
        agent_model=agent_model,
        review_model=review_model,
        variant=str(config.get("variant") or "default"),
        seed=config.get("seed"),
        temperature=_number(config.get("temperature")),
        num_ideas=config.get("num_ideas"),
        llm_mode=config.get("llm_mode"),
        sandbox=config.get("sandbox"),
        scaffold={key: value for key, value in sorted(config.items()) if key not in NOT_SCAFFOLD},
        audit_records=len(audit),
        audit_head=audit[-1].get("hash") if audit else None,
    )
    _spend(record, audit)
    _candidates(record, run_dir, audit)
    _reviews(record, run_dir)
    _experiments(record, run_dir)
    record.judgements = read_judgements(run_dir)
    record.flags = flags_from_audit(audit) + _chain_flag(run_dir)
    record.paper_path = next((name for name in PAPER_CANDIDATES if (run_dir / name).exists()), None)
    return record


def _role_models(config: dict[str, Any], model: str) -> tuple[str, str]:
    """The agent's and the run's own reviewer's models, as `Settings.model_for` resolved them for the run."""
    roles = config.get("role_models")
    roles = roles if isinstance(roles, dict) else {}
    agent = str(roles.get("agent") or config.get("model") or model)
    return agent, str(roles.get("review") or agent)


def _spend(record: RunRecord, audit: list[dict[str, Any]]) -> None:
    for entry in audit:
        if entry.get("kind") != "llm_call":
            continue
        payload = entry["payload"]
        record.calls += 1
        record.prompt_tokens += int(payload.get("prompt_tokens") or 0)
        record.completion_tokens += int(payload.get("completion_tokens") or 0)
        record.total_tokens += int(payload.get("total_tokens") or 0)
        record.cost_usd += float(payload.get("cost_usd") or 0.0)


def _candidates(record: RunRecord, run_dir: Path, audit: list[dict[str, Any]]) -> None:
    """Every best-of-n pool in candidates/<stage>.json (ideas, plan, draft), else (older runs) the ideas.json ideas."""
    pools = sorted(RunFolder(run_dir).candidates.glob("*.json"))
    for path in pools:
        _pool(record, path)
    if not any(path.stem == "ideas" for path in pools):
        _idea_candidates(record, run_dir, audit)


def _pool(record: RunRecord, path: Path) -> None:
    pool = _json(path, "candidate pool")
    if not isinstance(pool, dict) or not isinstance(pool.get("candidates"), list):
        raise CorruptRunError(f"candidate pool {path} has no candidates list")
    stage = str(pool.get("stage") or path.stem)
    for candidate in pool["candidates"]:
        if not isinstance(candidate, dict):
            continue
        value = candidate.get("value")
        record.candidates.append(
            CandidateRecord(
                stage=stage,
                index=int(candidate.get("index", 0)),
                seed=candidate.get("seed"),
                title=str(value.get("title", "")) if isinstance(value, dict) else "",
                score=_number(candidate.get("score")),
                winner=bool(candidate.get("winner")),
                value=value if isinstance(value, dict) else {"value": value},
                tokens=candidate.get("tokens"),
                cost_usd=_number(candidate.get("cost_usd")),
                error=candidate.get("error"),
            )
        )


def _idea_candidates(record: RunRecord, run_dir: Path, audit: list[dict[str, Any]]) -> None:
    """The ideate node's ideas: all kept, scored by the selection rule, the selected one marked winner."""
    ideas = _optional_json(RunFolder(run_dir).ideas, "ideas file")
    if not isinstance(ideas, list):
        return
    selected = _optional_json(RunFolder(run_dir).selected_idea, "selected idea")
    winner = selected.get("index") if isinstance(selected, dict) else None
    spend: dict[int, tuple[int | None, float, int | None]] = {}
    for entry in audit:
        payload = entry["payload"]
        if entry.get("kind") == "llm_call" and payload.get("stage") == "ideate":
            index = int(payload.get("sample_index") or 0)
            tokens, cost, _ = spend.get(index, (0, 0.0, None))
            spend[index] = (
                (tokens or 0) + int(payload.get("total_tokens") or 0),
                cost + float(payload.get("cost_usd") or 0.0),
                payload.get("seed"),
            )
    for position, idea in enumerate(ideas):
        if not isinstance(idea, dict):
            continue
        index = int(idea.get("index", position))
        parts = [_number(idea.get("interestingness")), _number(idea.get("feasibility"))]
        tokens, cost, seed = spend.get(index, (None, 0.0, None))
        record.candidates.append(
            CandidateRecord(
                stage="ideas",
                index=index,
                seed=seed if seed is not None else (record.seed + index if record.seed is not None else None),
                title=str(idea.get("title", "")),
                score=sum(p for p in parts if p is not None) if all(p is not None for p in parts) else None,
                winner=index == winner,
                value=idea,
                tokens=tokens,
                cost_usd=cost if tokens is not None else None,
            )
        )


def _reviews(record: RunRecord, run_dir: Path) -> None:
    data = _optional_json(RunFolder(run_dir).review, "review")
    if not isinstance(data, dict) or not isinstance(data.get("form"), dict):
        return
    record.review_path = RunFolder.REVIEW
    members = data.get("reviews") if isinstance(data.get("reviews"), list) else None
    forms = [(0, "ensemble" if members is not None else "single", data)]
    forms += [(i, "member", member) for i, member in enumerate(members or [], 1) if isinstance(member, dict)]
    for ordinal, kind, review in forms:
        form: dict[str, Any] = review["form"] if isinstance(review.get("form"), dict) else {}
        record.reviews.append(
            ReviewRecord(
                ordinal=ordinal,
                kind=kind,
                model=str(review.get("model", "")),
                prompt_sha256=str(review.get("prompt_sha256", "")),
                form_version=str(review.get("form_version", "")),
                decision=form.get("decision"),
                overall=_number(form.get("overall")),
                form=form,
                path=RunFolder.REVIEW,
            )
        )
    for name in SCORE_FIELDS:
        value = _number(data["form"].get(name))
        if value is not None:
            record.scores.append(ScoreRecord(metric=name, source="review", value=value))


def read_judgements(run_dir: Path) -> list[JudgementRecord]:
    """Every judge's verdict kept in the run folder (an unreadable one is damage: CorruptRunError)."""
    judgements = []
    for path in sorted(RunFolder(run_dir).judge.glob(f"*/{RunFolder.JUDGEMENT}")):
        if path.is_symlink() or path.parent.is_symlink():
            raise CorruptRunError(f"judgement {path} is a symlink", hint="judgements are written by `scientist judge`")
        data = _json(path, "judgement")
        try:
            judgements.append(JudgementRecord.model_validate(data))
        except ValidationError as err:
            raise CorruptRunError(f"judgement {path} is damaged: {err.errors()[0]['msg']}") from err
    return judgements


def _experiments(record: RunRecord, run_dir: Path) -> None:
    for result_path in RunFolder(run_dir).results():
        result = ExperimentResult.read(result_path)  # damage: a CorruptRunError naming the file (import skips the run)
        label = result.label
        metrics: dict[str, Any] = {}
        if result.ok and result.final_info_path:
            metrics = record_metrics(run_dir, result.model_dump())
        record.experiments.append(
            ExperimentRecord(
                label=label,
                ok=result.ok,
                exit_code=result.exit_code,
                wall_time_s=_number(result.wall_time_s),
                metrics=metrics,
                final_info_path=result.final_info_path,
                protected_violations=list(result.protected_violations),
            )
        )
        for name, value in metrics.items():
            number = _number(value)
            if number is not None:
                record.scores.append(ScoreRecord(metric=f"{label}.{name}", source=f"experiment:{label}", value=number))


def _evidence(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)[:2000]


def flags_from_audit(audit: list[dict[str, Any]]) -> list[FlagRecord]:
    """Monitor flags from what the audit log holds today.

    - `monitor*` records (the monitors issue: payload monitor, severity, evidence, node, candidate);
    - `sandbox_violation*` records, and sandbox runs that changed a protected file or left escaping symlinks;
    - reviewer-injection flags on the paper the reviewer read;
    - runs whose code ran unisolated (`sandbox_unisolated`).
    """
    flags: list[FlagRecord] = []
    for entry in audit:
        kind = str(entry.get("kind", ""))
        payload: dict[str, Any] = entry["payload"]
        seq = entry.get("seq") if isinstance(entry.get("seq"), int) else None

        def add(
            monitor: str, severity: str, evidence: Any, kind: str = kind, seq: int | None = seq,
            payload: dict[str, Any] = payload,
        ) -> None:
            candidate = payload.get("candidate", payload.get("candidate_index"))
            flags.append(
                FlagRecord(
                    monitor=monitor,
                    severity=severity,
                    source_kind=kind,
                    audit_seq=seq,
                    node=payload.get("node") if isinstance(payload.get("node"), str) else None,
                    candidate_index=candidate if isinstance(candidate, int) else None,
                    evidence=_evidence(evidence),
                    payload=payload,
                )
            )

        if kind.startswith("monitor"):
            add(str(payload.get("monitor") or kind), str(payload.get("severity") or "warn"),
                payload.get("evidence", payload))  # fmt: skip
        elif kind.startswith("sandbox_violation"):
            add(str(payload.get("monitor") or "sandbox_violation"), "critical", payload)
        elif kind == "sandbox_run":
            if payload.get("protected_violations"):
                add("protected_file", "critical", payload["protected_violations"])
            if payload.get("escaping_symlinks"):
                add("escaping_symlink", "critical", payload["escaping_symlinks"])
        elif kind == "review_input" and payload.get("injection_flags"):
            add("reviewer_injection", "critical", payload["injection_flags"])
        elif kind == "sandbox_unisolated":
            add("sandbox_unisolated", "info", f"experiment code ran unisolated ({payload.get('backend')})")
    return flags


def _chain_flag(run_dir: Path) -> list[FlagRecord]:
    """A broken audit chain means the record of what happened was edited: every score of the run is suspect."""
    from scientist.audit.log import verify

    if not RunFolder(run_dir).audit_log.exists():
        return [FlagRecord(monitor="audit_missing", severity="critical", source_kind="audit", evidence="no audit log")]
    report = verify(run_dir)
    if report.ok:
        return []
    return [
        FlagRecord(
            monitor="audit_chain",
            severity="critical",
            source_kind="audit",
            audit_seq=report.first_bad_seq,
            evidence=report.problem or "audit chain broken",
        )
    ]
