"""What the run page `/runs/<id>` shows, gathered from the run folder the pipeline wrote (run.json, ideas.json,
novelty.json, candidates/, experiments/<label>/result.json and logs, paper.json, review.json, judge/, the audit
log and the approvals file), section by section.

Every file is read through `scientist.web.runread` (bounded, no link followed, cleaned); paths a run names
(a PDF, a figure, a log) are used only when they are plain relative paths to regular files inside the run folder.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scientist.approvals.store import ApprovalStore
from scientist.audit.log import verify
from scientist.display import clean
from scientist.errors import CorruptRunError
from scientist.records import ExperimentResult, Paper, StoredRecord
from scientist.reviews.form import RunReview
from scientist.runs import RunFolder, RunInfo, stored_run_path
from scientist.sandbox.final_info import record_metrics
from scientist.web.events import AuditView, Event, models_by_role, stage_costs
from scientist.web.runread import (
    MAX_AUDIT_BYTES,
    StampCache,
    cleaned,
    is_regular_file,
    list_names,
    read_json,
    read_record,
    read_text,
    safe_relative,
    stamp,
)

ARXIV_ID = re.compile(r"(?:\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(?:v\d+)?")
MAX_VERIFY_BLOB_BYTES = 512 * 1024 * 1024  # past this the page does not hash the blobs (the CLI does)
STREAMS = ("stdout", "stderr")


def arxiv_url(paper_id: Any) -> str | None:
    """An arXiv abstract URL built from a well-formed arXiv id only (never a URL the run wrote)."""
    if isinstance(paper_id, str) and ARXIV_ID.fullmatch(paper_id):
        return f"https://arxiv.org/abs/{paper_id}"
    return None


def load_info(run_dir: Path) -> RunInfo | None:
    data = read_json(run_dir, RunFolder.RUN)
    try:
        return RunInfo.model_validate(data)
    except ValueError:
        return None


@dataclass
class Verified:
    ok: bool | None  # None: not checked by the page (the reason says why)
    text: str


_verified: StampCache[Verified] = StampCache()


def verify_status(run_dir: Path) -> Verified:
    """`scientist audit verify`'s answer (kept while the log, its head and every blob are unchanged)."""
    blobs = tuple((name, stamp(run_dir, f"{RunFolder.BLOBS}/{name}")) for name in list_names(run_dir, RunFolder.BLOBS))
    key = (str(run_dir), stamp(run_dir, RunFolder.AUDIT_LOG), stamp(run_dir, RunFolder.AUDIT_HEAD), blobs)
    return _verified.get(key, lambda: _verify_now(run_dir))


def _verify_now(run_dir: Path) -> Verified:
    """`scientist audit verify`'s answer, when the page can afford it safely: the log and every blob must be
    regular files (a FIFO would block the hash, a symlink lead out of the run) and of bounded size."""
    if not is_regular_file(run_dir, RunFolder.AUDIT_LOG):
        return Verified(False, "no audit log (absent, or not a regular file)")
    if stamp(run_dir, RunFolder.AUDIT_HEAD) is not None and not is_regular_file(run_dir, RunFolder.AUDIT_HEAD):
        return Verified(False, "audit.head is not a regular file (a link or a special file)")
    if stamp(run_dir, RunFolder.BLOBS) is not None and not stat.S_ISDIR(RunFolder(run_dir).blobs.lstat().st_mode):
        return Verified(False, "blobs is not a folder (a link or a special file)")
    if RunFolder(run_dir).audit_log.lstat().st_size > MAX_AUDIT_BYTES:
        return Verified(None, "log too large to verify in the page: run `scientist audit verify`")
    total = 0
    for name in list_names(run_dir, RunFolder.BLOBS):
        if not is_regular_file(run_dir, f"blobs/{name}"):
            return Verified(False, f"blob {name} is not a regular file (a link or a special file)")
        total += (RunFolder(run_dir).blobs / name).lstat().st_size
    if total > MAX_VERIFY_BLOB_BYTES:
        return Verified(None, "blobs too large to hash in the page: run `scientist audit verify`")
    report = verify(run_dir)
    if report.ok:
        anchor = "matches its anchor outside the run folder" if report.anchored else "not anchored on this machine"
        return Verified(True, f"OK: {report.records_checked} records, chain intact, {anchor}")
    return Verified(False, cleaned(f"BROKEN at record {report.first_bad_seq}: {report.problem}"))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _last(events: list[Event], kind: str) -> dict[str, Any]:
    found = [event.payload for event in events if event.kind == kind]
    return found[-1] if found else {}


def judgements(run_dir: Path) -> list[dict[str, Any]]:
    """Every judge's verdict on the run (`judge/<hash>/judgement.json`)."""
    found = []
    for name in list_names(run_dir, RunFolder.JUDGE):
        record = read_json(run_dir, f"judge/{name}/judgement.json")
        if isinstance(record, dict):
            found.append(record)
    return found


def summary(run_dir: Path, info: RunInfo | None, audit: AuditView) -> dict[str, Any]:
    review = _mapping(read_json(run_dir, RunFolder.REVIEW))
    events = audit.events
    return {
        "info": None if info is None else cleaned(info.model_dump()),
        "roles": models_by_role(events),
        "stages": stage_costs(events),
        "calls": sum(1 for event in events if event.kind == "llm_call"),
        "self_score": _mapping(review.get("form")).get("overall"),
        "self_decision": _mapping(review.get("form")).get("decision"),
        "judges": judgements(run_dir),
        "flags": [event for event in events if event.kind == "monitor_event"],
        "notes": read_text(run_dir, RunFolder.NOTES),
        "end": _last(events, "run_end"),
        "verified": verify_status(run_dir),
    }


def ideas(run_dir: Path, events: list[Event]) -> dict[str, Any]:
    """Every candidate idea with its self-rating and novelty verdict (and the papers it was judged against)."""
    verdicts = {item.get("index"): item for item in _dicts(read_json(run_dir, RunFolder.NOVELTY))}
    selected = read_json(run_dir, RunFolder.SELECTED_IDEA)
    chosen = selected.get("index") if isinstance(selected, dict) else None
    rows = []
    for idea in _dicts(read_json(run_dir, RunFolder.IDEAS)):
        verdict = verdicts.get(idea.get("index"), {})
        neighbours = [{**paper, "arxiv": arxiv_url(paper.get("id"))} for paper in _dicts(verdict.get("top_k"))]
        rows.append({"idea": idea, "verdict": verdict, "neighbours": neighbours, "won": idea.get("index") == chosen})
    return {"rows": rows, "selection": _last(events, "idea_selected"), "best_of_n": _last(events, "best_of_n")}


def _logs_folder(run_dir: Path, label: str, attempt: dict[str, Any]) -> str | None:
    """Where an attempt's logs are: the folder of the `stdout_path` its result.json stores (relative to the run
    folder; an old absolute one read by what follows the run's name, so a moved folder still opens them), else
    the usual `experiments/<label>/attempt_<n>/logs`."""
    stored = attempt.get("stdout_path")
    relative = stored_run_path(run_dir, stored) if isinstance(stored, str) else None
    relative = safe_relative(relative) if relative is not None else None
    if relative is not None and "/" in relative and is_regular_file(run_dir, relative):
        return relative.rpartition("/")[0]
    number = attempt.get("attempt")
    return f"{RunFolder.EXPERIMENTS}/{label}/attempt_{number}/logs" if isinstance(number, int) else None


def _attempt_logs(run_dir: Path, label: str, attempt: dict[str, Any]) -> list[tuple[str, str]]:
    folder = _logs_folder(run_dir, label, attempt)
    if folder is None:
        return []
    logs = []
    for stream in STREAMS:
        relative = f"{folder}/{stream}.log"
        if is_regular_file(run_dir, relative):
            logs.append((stream, relative))
    return logs


def _sandbox_runs(events: list[Event]) -> dict[tuple[str, Any], dict[str, Any]]:
    return {
        (str(event.payload.get("label")), event.payload.get("attempt")): event.payload
        for event in events
        if event.kind == "sandbox_run"
    }


def _record(
    run_dir: Path, relative: str, model: type[StoredRecord]
) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """(the record as written, None); (None, None) when the run has no such file; (None, the damage) when the file
    cannot be read or is not a valid `model`: {"file", "problem"}, which the page shows instead of the record."""
    data, problem = read_record(run_dir, relative)
    if problem is None and data is not None:
        try:
            model.checked(data, relative)
        except CorruptRunError as err:
            problem = clean(err.message)
    if problem is not None:
        return None, {"file": relative, "problem": problem}
    return data, None


def experiments(run_dir: Path, events: list[Event]) -> dict[str, Any]:
    """The run tree (baseline, edited runs or tree nodes, the variant) with, per run, its config, diff, metrics,
    attempts (sandbox limits and outcome, paged logs) and the plots."""
    sandbox = _sandbox_runs(events)
    runs, damaged = [], []
    for label in list_names(run_dir, RunFolder.EXPERIMENTS):
        if is_regular_file(run_dir, f"{RunFolder.EXPERIMENTS}/{label}"):
            continue  # plan.json, notes.md: the folder's own files, not runs
        result, damage = _record(run_dir, f"{RunFolder.EXPERIMENTS}/{label}/{RunFolder.RESULT}", ExperimentResult)
        if damage is not None:  # the page shows the runs it can read, and names each record it cannot
            damaged.append({"label": label, **damage})
        if result is None:  # damaged, or no record yet (a run stopped before it finished)
            continue
        attempts = []
        for attempt in _dicts(result.get("attempts")):
            number = attempt.get("attempt")
            attempts.append({
                **attempt, "logs": _attempt_logs(run_dir, label, attempt),
                "sandbox": sandbox.get((label, number), {}),
            })  # fmt: skip
        diff_blob = result.get("code_diff_blob")
        diff = read_text(run_dir, f"blobs/{diff_blob}") if isinstance(diff_blob, str) else None
        runs.append({
            "label": label, "result": result, "attempts": attempts, "diff": diff,
            "diff_blob": diff_blob if diff is not None else None, "metrics": cleaned(record_metrics(run_dir, result)),
        })  # fmt: skip
    runs.sort(key=lambda run: (run["result"].get("depth") if isinstance(run["result"].get("depth"), int) else 99,
                               run["label"]))  # fmt: skip
    plots_dir = f"{RunFolder.PLOTS}/workspace/out"
    plots = [
        f"{plots_dir}/{name}"
        for name in list_names(run_dir, plots_dir)
        if name.endswith(".png") and is_regular_file(run_dir, f"{plots_dir}/{name}")
    ]
    return {
        "runs": runs,
        "damaged": damaged,
        "plan": read_json(run_dir, RunFolder.PLAN),
        "tree": read_json(run_dir, RunFolder.TREE),
        "plots": plots,
    }


def _run_file(run_dir: Path, value: Any) -> str | None:
    """A path the run names, when it is a plain relative path to a regular file of the run."""
    relative = safe_relative(value) if isinstance(value, str) else None
    return relative if relative is not None and is_regular_file(run_dir, relative) else None


def paper(run_dir: Path) -> dict[str, Any] | None:
    """The paper section: None without a paper.json, {"damaged": {"file", "problem"}} when it is damaged."""
    info, damage = _record(run_dir, RunFolder.PAPER_JSON, Paper)
    if damage is not None:
        return {"damaged": damage}
    if info is None:
        return None
    figure = info.get("figure")
    return {
        "info": info,
        "pdf": _run_file(run_dir, info.get("pdf")),
        "text": _run_file(run_dir, info.get("md")),
        "html": _run_file(run_dir, info.get("html")),
        "figure": _run_file(run_dir, f"paper/{figure}") if isinstance(figure, str) else None,
        "removed_numbers": _dicts(info.get("removed_numbers")),
        "removed_citations": info.get("removed_citations") if isinstance(info.get("removed_citations"), list) else [],
        # None: the run did not check its references (citation_check off); else the ones a source did not confirm
        "unconfirmed_citations": (
            [check for check in _dicts(info.get("citation_checks")) if check.get("status") != "verified"]
            if isinstance(info.get("citation_checks"), list)
            else None
        ),
    }


def reviews(run_dir: Path) -> dict[str, Any] | None:
    """The reviews section: None without a review.json, {"damaged": {"file", "problem"}} when it is damaged."""
    review, damage = _record(run_dir, RunFolder.REVIEW, RunReview)
    if damage is not None:
        return {"damaged": damage}
    if review is None:
        return None
    scores = _mapping(review.get("scores"))
    meta = _mapping(review.get("meta"))
    return {
        "review": review,
        "scores": {name: value for name, value in scores.items() if isinstance(value, dict)},
        "reviewers": _dicts(review.get("reviews")),
        "meta": meta.get("form") if isinstance(meta.get("form"), dict) else None,
    }


def approvals(run_dir: Path) -> list[dict[str, Any]]:
    """The gates' history; only an approvals file the run already has is opened (the page creates none)."""
    if not is_regular_file(run_dir, RunFolder.APPROVALS_DB):
        return []
    try:
        return [cleaned(item.model_dump()) for item in ApprovalStore(run_dir).all()]
    except Exception:  # a damaged sqlite file: the page shows no history rather than failing
        return []
