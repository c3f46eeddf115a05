"""The judge: an independent reviewer that scores a finished run's final paper with fixed settings.

Why: a run's own review is part of the agent (a scaffold variant may reflect more, ensemble more, or simply inflate
its own grade), so comparing variants by it measures the reviewer as much as the scaffold. The judge's settings
(`[judge]`: model, ensemble, reflections, few-shot, form version, temperature, seed) are hashed together with the
review prompts; a verdict is kept per hash in the run folder (`judge/<hash>/judgement.json`, beside the judge's own
hash-chained audit log, so the run's audit log and its spend stay the agent's) and imported into the store as
score kind `judge`.

Resumable: each run's verdict is written atomically once its review is done, and a pass skips every run that has a
verdict for the same hash, so a pass killed with kill -9 loses at most the paper it was reviewing.
Everything that can be checked before a call is checked first (`check_judge`): the model's provider and API key,
a known price, an output cap large enough for the review form, and the form version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scientist.audit import events as audit_events
from scientist.audit.log import AuditLog, canonical_json
from scientist.batch import RESEED_STRIDE, BatchStoppedError, FailureLimit
from scientist.config import JudgeSettings, Settings
from scientist.errors import ConfigError, ScientistError, StructuredOutputError
from scientist.runs import RunFolder, RunInfo
from scientist.store.folder import PAPER_CANDIDATES, JudgementRecord

FINISHED = ("completed", "stopped")  # a run's own end; anything else may still produce a paper
# The review form is about 1,100 tokens at its longest (scientist.reviews.form: every text bounded); a model that
# may not write that much cannot fill it, whatever the paper.
FORM_OUTPUT_TOKENS = 1100
MAX_PAPER_BYTES = 4 * 1024 * 1024
JudgeProgress = Callable[[Path, str], None]
# A judge whose first papers all come back without a valid form cannot fill it: stop rather than score every run at
# the minimum (those verdicts would measure the judge, not the papers, so they are removed).
BROKEN_AFTER = 3
UNREADABLE = "the paper cannot be read safely"


class JudgeBrokenError(ConfigError):
    """The judge produced no valid review form for any of the first papers it was given."""


class Judge(BaseModel):
    """The resolved judge: every setting that changes a verdict, and the hash that names them."""

    model_config = ConfigDict(frozen=True)

    model: str
    ensemble: int
    reflections: int
    fewshot: int
    form_version: str
    temperature: float
    seed: int
    prompts: dict[str, str] = Field(default_factory=dict, description="sha256 of each review prompt template")

    @property
    def hash(self) -> str:
        return hashlib.sha256(canonical_json(self.model_dump(mode="json")).encode()).hexdigest()[:16]

    def describe(self) -> str:
        return (
            f"judge {self.model} (ensemble {self.ensemble}, reflections {self.reflections}, few-shot"
            f" {self.fewshot}, temperature {self.temperature:g}, seed {self.seed}; settings {self.hash})"
        )


def resolve_judge(base: Settings, table: JudgeSettings | None = None, model: str | None = None) -> Judge:
    """scientist.toml's [judge] < a study's [judge] (only the keys it sets) < `--judge-model`."""
    from scientist.prompts import prompt_sha256
    from scientist.reviews.reviewer import META_PROMPT, REVIEW_PROMPT

    fields = base.judge.model_dump()
    if table is not None:
        fields.update(table.model_dump(include=set(table.model_fields_set)))
    if model is not None:
        JudgeSettings.model_validate({"model": model})  # the same provider/name check as the config's
        fields["model"] = model
    fields["model"] = fields["model"] or base.model_for("judge")
    prompts = {name: prompt_sha256(name) for name in (REVIEW_PROMPT, META_PROMPT)}
    return Judge(**fields, prompts=prompts)


def judge_settings(base: Settings, judge: Judge) -> Settings:
    """The Settings the judge's calls run under: the environment of `base` (mode, cache, API base, prices,
    budget), the judge's model for every role, and the judge's temperature and seed."""
    return base.model_copy(
        update={"model": judge.model, "role_models": {}, "temperature": judge.temperature, "seed": judge.seed}
    )


def check_judge(settings: Settings, judge: Judge) -> None:
    """Refuse, before any call, a judge that cannot work: unknown form, unknown model or missing key, no price,
    an output cap too small for the review form."""
    from scientist.llm.gateway import check_model, resolve_profile
    from scientist.reviews.form import FORM_VERSION

    if judge.form_version != FORM_VERSION:
        raise ConfigError(
            f"judge form_version {judge.form_version!r} is not a form this scientist has",
            hint=f"set form_version = {FORM_VERSION!r} in [judge] (or leave it out)",
        )
    try:
        check_model(settings)
    except ScientistError as err:
        raise ConfigError(f"judge model {judge.model!r} cannot be used: {err.message}", hint=err.hint) from err
    profile = resolve_profile(judge.model, settings)
    if not profile.priced:
        raise ConfigError(
            f"no price is known for the judge model {judge.model!r}, so its spend could not be counted or capped",
            hint=f'give its price in scientist.toml: [models."{judge.model}"] input_usd_per_mtok = ...,'
            " output_usd_per_mtok = ... (0 for a model on your own server)",
        )
    if profile.max_output_tokens < FORM_OUTPUT_TOKENS:
        raise ConfigError(
            f"judge model {judge.model!r} may write at most {profile.max_output_tokens} tokens per answer; the review"
            f" form needs up to {FORM_OUTPUT_TOKENS}, so it cannot produce the form",
            hint="choose a judge model with a larger output limit (or correct max_output_tokens in"
            f' [models."{judge.model}"])',
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def judgement_path(run_dir: Path, judge: Judge) -> Path:
    return RunFolder(run_dir).judgement(judge.hash)


def existing_judgement(run_dir: Path, judge: Judge) -> JudgementRecord | None:
    path = judgement_path(run_dir, judge)
    if not path.is_file() or path.is_symlink():
        return None
    try:
        return JudgementRecord.model_validate_json(path.read_bytes())
    except ValueError:
        return None  # a damaged verdict is judged again (the write is atomic, so only tampering gets here)


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    RunFolder.write_json(path, data, indent=1, fsync=True)


def _paper(run_dir: Path) -> tuple[str, Any] | None:
    """The run's final paper (what its own reviewer read: Markdown first), read without following links."""
    from scientist.reviews.paper import from_markdown, load_paper
    from scientist.sandbox.reader import read_bytes

    for name in reversed(PAPER_CANDIDATES):  # paper.md, paper.tex, paper.pdf
        path = run_dir / name
        if not path.exists() and not path.is_symlink():
            continue
        if name.endswith(".md"):
            data = read_bytes(run_dir, name, max_bytes=MAX_PAPER_BYTES)
            return name, from_markdown(data.decode("utf-8", errors="replace"))
        if path.is_symlink() or not path.is_file():
            continue
        return name, load_paper(path)
    return None


def judge_run(
    run_dir: Path, settings: Settings, judge: Judge, *, retry: JudgementRecord | None = None, reseed: bool = False
) -> JudgementRecord | None:
    """Judge one run folder (None: the run has not finished). A verdict already there for this judge is returned,
    unless it is the failed verdict passed as `retry` (`judge --retry-failed`): that paper is asked again, with the
    judge's seed moved past every earlier attempt's when `reseed` (the same seeded question tends to fail the same
    way). The judge's settings hash stays the same: the seed offset is kept in the verdict instead."""
    from scientist.llm.gateway import LLMGateway
    from scientist.reviews.form import SCORE_FIELDS
    from scientist.reviews.reviewer import ReviewOptions, review_ensemble

    info = RunInfo.model_validate_json(RunFolder(run_dir).run_file.read_bytes())
    if info.status not in FINISHED:
        return None
    existing = existing_judgement(run_dir, judge)
    if existing is not None and not (retry is not None and existing.status == "failed"):
        return existing
    out_dir = RunFolder(run_dir).judge_dir(judge.hash)
    attempts = retry.attempts + 1 if retry is not None else 1
    seed_offset = RESEED_STRIDE * (attempts - 1) if reseed else (retry.seed_offset if retry is not None else 0)
    settings = settings.model_copy(update={"seed": judge.seed + seed_offset}) if seed_offset else settings
    record = JudgementRecord(judge_hash=judge.hash, model=judge.model, status="no_paper",
                             settings=judge.model_dump(mode="json"), created_at=_now(), attempts=attempts,
                             seed_offset=seed_offset)  # fmt: skip
    try:
        paper = _paper(run_dir)
    except ScientistError as err:  # a link, a special file, an unreadable PDF: this run's paper fails, not the pass
        record.status, record.error = "failed", f"{UNREADABLE}: {err.message}"
        _write_atomic(out_dir / RunFolder.JUDGEMENT, record.model_dump(mode="json"))
        return record
    if paper is None:
        record.error = f"the run ended ({info.status}) without a paper"
        _write_atomic(out_dir / RunFolder.JUDGEMENT, record.model_dump(mode="json"))
        return record
    name, text = paper
    audit = AuditLog(out_dir)
    audit.emit(
        audit_events.JudgeStart(
            run=info.id,
            paper=name,
            judge=record.settings,
            judge_hash=judge.hash,
            attempt=attempts,
            seed_offset=seed_offset,
        ),
        "judge",
    )  # fmt: skip
    gateway = LLMGateway(settings, audit)
    limits = gateway.limits_for("review")
    options = ReviewOptions(ensemble=judge.ensemble, reflections=judge.reflections, fewshot=judge.fewshot,
                            temperature=judge.temperature, max_paper_chars=limits.review_paper_chars,
                            max_tokens=limits.review_max_tokens)  # fmt: skip
    review: dict[str, Any] | None = None
    try:
        ensemble = review_ensemble(gateway, text, options)
    except StructuredOutputError as err:  # this paper got no valid form: an unscored run, counted as such
        record.status, record.error = "failed", err.message
    else:
        review = ensemble.model_dump(mode="json")
        record.status, record.scores = "judged", _scores(ensemble.form.model_dump(), SCORE_FIELDS)
        record.overall, record.decision = record.scores.get("overall"), ensemble.form.decision
    calls = audit.find(kind="llm_call")  # every attempt's calls: a retried verdict costs what all its tries did
    record.total_tokens = sum(int(call.payload.get("total_tokens") or 0) for call in calls)
    record.cost_usd = sum(float(call.payload.get("cost_usd") or 0.0) for call in calls)
    record.path = f"{RunFolder.JUDGE}/{judge.hash}/{RunFolder.JUDGEMENT}"
    blob = audit.put_blob(json.dumps(review)) if review else None
    verdict = audit_events.JudgeVerdict(
        status=record.status, error=record.error, scores=record.scores, review_blob=blob
    )
    audit.emit(verdict, "judge")
    _write_atomic(out_dir / RunFolder.JUDGEMENT, {**record.model_dump(mode="json"), "review": review})
    return record


def _scores(form: dict[str, Any], fields: Iterable[str]) -> dict[str, float]:
    return {name: float(form[name]) for name in fields if isinstance(form.get(name), int | float)}


def run_folders_under(path: Path) -> list[Path]:
    """`path` if it is a run folder, else every run folder below it (study runs sit a few levels down)."""
    if (path / RunFolder.RUN).is_file():
        return [path]
    if not path.is_dir():
        raise ScientistError(f"{path} is neither a run folder nor a folder of runs", hint="pass RUN or runs/")
    found = []
    for run_file in sorted(path.rglob(RunFolder.RUN)):
        parts = run_file.relative_to(path).parts
        if RunFolder.JUDGE in parts[:-1] or any(part.startswith(".") for part in parts):
            continue
        found.append(run_file.parent)
    return found


class JudgePass(BaseModel):
    """What one judging pass did, run by run."""

    judge: Judge
    judged: list[str] = Field(default_factory=list)
    kept: list[str] = Field(default_factory=list, description="already judged by this judge: not asked again")
    failed: list[str] = Field(default_factory=list, description="the judge produced no valid form")
    no_paper: list[str] = Field(default_factory=list)
    unfinished: list[str] = Field(default_factory=list, description="still going: judged by a later pass")
    run_failed: list[str] = Field(default_factory=list, description="the run itself failed: nothing to judge")
    cost_usd: float = 0.0


def judge_runs(
    run_dirs: Iterable[Path],
    settings: Settings,
    judge: Judge,
    *,
    record: Callable[[Path], object] | None = None,
    progress: JudgeProgress | None = None,
    max_failures: FailureLimit | None = None,
    retry_failed: bool = False,
    reseed: bool = False,
) -> JudgePass:
    """Judge every finished run in `run_dirs` (the judge checked first); `record` stores each verdict at once.

    `max_failures` (scientist.batch's `--max-failures`): once more papers of this pass got no valid form than it
    tolerates (a count, or a fraction of the runs not judged before), the pass stops with every verdict kept.
    A failed verdict is a result (asked again, the same seeded question fails again): `retry_failed` asks only
    those papers again, `reseed` with a fresh seed each."""
    check_judge(settings, judge)
    result = JudgePass(judge=judge)
    failed_first: list[Path] = []  # new verdicts without a form, while this judge has filled none
    worked = False
    earlier = {run_dir: existing_judgement(run_dir, judge) for run_dir in run_dirs}
    retried = {run_dir: verdict for run_dir, verdict in earlier.items()
               if retry_failed and verdict is not None and verdict.status == "failed"}  # fmt: skip
    earlier = {run_dir: None if run_dir in retried else verdict for run_dir, verdict in earlier.items()}
    to_judge = sum(verdict is None for verdict in earlier.values())
    for run_dir, before in earlier.items():
        worked = worked or (before is not None and before.status == "judged")
        if progress is not None:
            progress(run_dir, "kept" if before is not None else "retrying" if run_dir in retried else "judging")
        verdict = before or judge_run(run_dir, settings, judge, retry=retried.get(run_dir), reseed=reseed)
        if verdict is None:
            status = RunInfo.model_validate_json(RunFolder(run_dir).run_file.read_bytes()).status
            (result.run_failed if status == "failed" else result.unfinished).append(run_dir.name)
            continue
        if record is not None:
            record(run_dir)
        if before is not None:
            result.kept.append(run_dir.name)
            continue
        result.cost_usd += verdict.cost_usd - (retried[run_dir].cost_usd if run_dir in retried else 0.0)
        {"judged": result.judged, "failed": result.failed, "no_paper": result.no_paper}[verdict.status].append(
            run_dir.name
        )
        worked = worked or verdict.status == "judged"
        if not worked and verdict.status == "failed" and not (verdict.error or "").startswith(UNREADABLE):
            failed_first.append(run_dir)
            if len(failed_first) >= BROKEN_AFTER:
                _broken(judge, failed_first, verdict.error or "no valid form", record)
        if max_failures is not None and len(result.failed) > max_failures.tolerated(to_judge):
            raise BatchStoppedError(
                f"{len(result.failed)} of the {to_judge} papers this pass judges got no valid form from {judge.model}"
                f" (--max-failures {max_failures.describe()}): the pass stopped; every verdict so far is kept",
                hint="see the failed verdicts' errors (judge/HASH/judgement.json in each run folder); the same"
                " command continues with the runs not judged yet, or --judge-model judges them all with another",
            )
    return result


def _broken(judge: Judge, failed: list[Path], error: str, record: Callable[[Path], object] | None) -> None:
    for run_dir in failed:
        judgement_path(run_dir, judge).unlink(missing_ok=True)
        AuditLog(RunFolder(run_dir).judge_dir(judge.hash)).emit(
            audit_events.JudgeVerdictWithdrawn(reason="broken"),
            "judge",
        )
        if record is not None:
            record(run_dir)
    raise JudgeBrokenError(
        f"the judge {judge.model} filled no valid review form for the first {len(failed)} papers (last: {error});"
        " it cannot produce the form, so no run was scored by it",
        hint="choose another judge model ([judge] model, or --judge-model), then run the same command again",
    )
