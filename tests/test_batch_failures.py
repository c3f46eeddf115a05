"""Issue 29: a batch never dies on one item. The shared policy (scientist.batch) on its own, then `calibrate reviewer`
and `review DIR` on a scripted model that fails on chosen papers: they finish, record and report the failures,
`--max-failures` stops early, `--retry-failed` re-runs only the failed papers, and a kill -9 resumes without
redoing finished papers."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from scientist.audit.log import AuditLog
from scientist.batch import (
    RESEED_STRIDE,
    BatchPolicy,
    BatchStoppedError,
    BatchSummary,
    FailureLimit,
    ItemFailure,
    ResultsFile,
    run_batch,
)
from scientist.errors import BudgetExceededError, ConfigError, StructuredOutputError
from scientist.reviews.form import FolderReview
from tests.cli_runner import run_cli
from tests.conftest import FIXTURES
from tests.openai_stub import ScriptedReply
from tests.reviews_support import (
    CLEAN_MARKDOWN,
    Request,
    ReviewStub,
    form_json,
    fresh_stub,
    is_meta,
    meta_json,
    stub_env,
    user_text,
)

TINY = FIXTURES / "reviews" / "tiny_calibration.jsonl"  # valid papers t1, t2, t3, t5 (lines 3, 5, 7 are bad)
CUT = '{"summary": "The paper studies reward hacking in a small gri'  # an answer cut at the token limit


class Item(BaseModel):
    """A result: any pydantic model with an `id` works."""

    id: str


def _work(fail: set[str], calls: list[tuple[str, int]]) -> Callable[[str, int], Item]:
    def work(item: str, offset: int) -> Item:
        calls.append((item, offset))
        if item in fail:
            raise StructuredOutputError(f"'review' gave no valid ReviewForm after 3 tries: {item}")
        return Item(id=item)

    return work


def _run(
    items: list[str], fail: set[str], policy: BatchPolicy, results: ResultsFile[Item]
) -> tuple[BatchSummary, list[tuple[str, int]]]:
    calls: list[tuple[str, int]] = []
    done, failed = results.load()
    summary = run_batch(
        items,
        key=lambda item: item,
        work=_work(fail, calls),
        done=done,
        failed=failed,
        policy=policy,
        label="test batch",
        on_done=lambda item, result: results.append(result),
        on_failed=lambda item, failure: results.append(failure),
    )
    return summary, calls


def test_failure_limit_parses_counts_and_fractions() -> None:
    assert FailureLimit.parse(None) is None and FailureLimit.parse(" ") is None
    assert FailureLimit.parse("3") == FailureLimit(count=3) and FailureLimit(count=3).tolerated(100) == 3
    assert FailureLimit.parse("0") == FailureLimit(count=0)
    fifth = FailureLimit.parse("0.2")
    assert fifth is not None and fifth.tolerated(40) == 8 and fifth.tolerated(4) == 0
    for bad in ("-1", "1.5", "half", "0.0", "1e9x"):
        with pytest.raises(ConfigError, match="--max-failures") as caught:
            FailureLimit.parse(bad)
        assert caught.value.hint is not None and "--max-failures 0.2" in caught.value.hint


def test_batch_records_failures_goes_on_and_resumes_without_redoing(tmp_path: Path) -> None:
    results: ResultsFile[Item] = ResultsFile(tmp_path / "results.jsonl", Item)
    items = ["a", "b", "c", "d"]
    summary, calls = _run(items, {"b", "d"}, BatchPolicy(), results)
    assert [item for item, _ in calls] == items  # the batch went on after b
    assert summary.succeeded == 2 and [f.id for f in summary.failures] == ["b", "d"]
    assert summary.by_reason == {"structured_output": 2}
    assert summary.lines()[0] == "test batch: 2 of 4 done, 2 failed (structured_output 2)"
    done, failed = results.load()
    assert set(done) == {"a", "c"} and set(failed) == {"b", "d"}
    # resume: a failure is a result; nothing is asked again
    summary, calls = _run(items, set(), BatchPolicy(), results)
    assert calls == [] and summary.skipped_failed == 2
    assert "add --retry-failed" in summary.lines()[0]
    # --retry-failed re-runs only the failed items, same seed; d fails again and its attempts count up
    summary, calls = _run(items, {"d"}, BatchPolicy(retry_failed=True), results)
    assert calls == [("b", 0), ("d", 0)]
    done, failed = results.load()
    assert set(done) == {"a", "b", "c"} and failed["d"].attempts == 2
    # --reseed: a fresh seed offset per retry
    summary, calls = _run(items, {"d"}, BatchPolicy(retry_failed=True, reseed=True), results)
    assert calls == [("d", 2 * RESEED_STRIDE)]
    assert results.load()[1]["d"].seed_offset == 2 * RESEED_STRIDE


def test_max_failures_stops_after_recording_and_fatal_errors_stop_at_once(tmp_path: Path) -> None:
    results: ResultsFile[Item] = ResultsFile(tmp_path / "results.jsonl", Item)
    with pytest.raises(BatchStoppedError, match=r"2 of 3 item\(s\) failed .* --max-failures 1 allows") as caught:
        _run(["a", "b", "c", "d", "e"], {"a", "c", "d"}, BatchPolicy(max_failures=FailureLimit(count=1)), results)
    assert caught.value.exit_code == 1 and "--retry-failed" in str(caught.value.hint)
    done, failed = results.load()
    assert set(done) == {"b"} and set(failed) == {"a", "c"}  # the stopping failure was recorded first
    with pytest.raises(BatchStoppedError, match=r"--max-failures 0\.25"):  # 4 to do: tolerates 1
        _run(
            ["a", "b", "c", "d", "e"],
            {"a", "c", "d", "e"},
            BatchPolicy(max_failures=FailureLimit(fraction=0.25), retry_failed=True),
            results,
        )

    def broke(item: str, offset: int) -> Item:
        raise BudgetExceededError("token budget reached")

    with pytest.raises(BudgetExceededError):  # a budget hits every item alike: not an item failure
        run_batch(
            ["x", "y"],
            key=lambda i: i,
            work=broke,
            done={},
            failed={},
            policy=BatchPolicy(),
            label="t",
            on_done=lambda i, r: None,
            on_failed=lambda i, f: pytest.fail("recorded a fatal error"),
        )


def test_results_file_drops_a_torn_line_and_the_last_line_wins(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    results: ResultsFile[Item] = ResultsFile(path, Item)
    results.append(ItemFailure(id="a", reason="truncated", error="cut", error_type="StructuredOutputError"))
    results.append(Item(id="a"))
    with path.open("a") as handle:
        handle.write('{"id": "b", "stat')
    done, failed = results.load()
    assert set(done) == {"a"} and failed == {}
    assert len(path.read_text().splitlines()) == 2


# -- the commands on a scripted model ----------------------------------------------------------------------------
FAIL_TITLES: set[str] = set()


def scripted(request: Request) -> str | ScriptedReply:
    if is_meta(request):
        return meta_json("accept")
    text = user_text(request)
    if any(title in text for title in FAIL_TITLES):
        return ScriptedReply(content=CUT, finish_reason="length")
    return form_json(
        7 if "strong" in text or "Another accepted" in text else 3, "accept" if "strong" in text else "reject"
    )


@pytest.fixture
def stub(review_server: ReviewStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReviewStub:
    server = fresh_stub(review_server, scripted)
    FAIL_TITLES.clear()
    for name, value in stub_env(server, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")
    return server


def calibrate(out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "calibrate",
        "reviewer",
        "--dataset",
        str(TINY),
        "--ensemble",
        "1",
        "--fewshot",
        "0",
        "--out",
        str(out),
        "--resamples",
        "20",
        "--repair-retries",
        "1",
        *extra,
        env=env,
    )


def test_calibrate_records_a_paper_it_cannot_review_and_reports_both_metrics(stub: ReviewStub, tmp_path: Path) -> None:
    FAIL_TITLES.add("Another accepted illustrative paper")  # t3
    out = tmp_path / "cal"
    result = calibrate(out, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["n_papers"], report["n_reviewed"], report["n_failed"]) == (4, 3, 1)
    assert report["failures_by_reason"] == {"truncated": 1}
    assert [paper["id"] for paper in report["failed_papers"]] == ["t3"]
    assert "cut off at the token limit" in report["failed_papers"][0]["error"]
    # reviewed only: t1 accept (TP), t2 reject (TN), t5 reject (TN); with t3 as a rejection it becomes a FN
    assert report["rules"][0]["n"] == 3 and report["rules"][0]["accuracy"]["value"] == 1.0
    as_reject = report["rules_failures_as_reject"]
    assert [rule["rule"] for rule in as_reject] == [
        "decision field, failures as reject",
        "overall >= 6, failures as reject",
    ]
    assert as_reject[0]["n"] == 4 and as_reject[0]["accuracy"]["value"] == 0.75 and as_reject[0]["fnr"]["value"] == 0.5
    assert report["roc_auc_failures_as_reject"]["value"] == 0.5  # t1 (7) > t2, t5 (3) > t3 (failed: 0)
    # recorded in the results file and the audit log (2 tries: --repair-retries 1 reached the gateway)
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [line.get("status") for line in lines] == [None, None, "failed", None]
    (event,) = AuditLog(out).find(kind="batch_item_failed")
    assert event.payload["id"] == "t3" and event.payload["reason"] == "truncated"
    assert len(AuditLog(out).find(kind="llm_parse_error")) == 2
    # the table shows both, and the counts
    table = calibrate(out)
    assert table.returncode == 0, table.stderr
    assert "3 reviewed, 1 failed" in table.stdout and "failures as reject" in table.stdout
    assert "1 earlier failure(s) not retried (add --retry-failed)" in table.stderr
    # --retry-failed asks again only for t3 (now answerable)
    FAIL_TITLES.clear()
    before = len(stub.requests)
    retried = calibrate(out, "--json", "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["n_failed"] == 0
    asked = stub.requests[before:]
    assert len(asked) == 1 and "Another accepted illustrative paper" in user_text(asked[0])


def test_calibrate_max_failures_stops_early_with_a_clear_message(stub: ReviewStub, tmp_path: Path) -> None:
    FAIL_TITLES.update({"A strong illustrative paper", "A weak illustrative paper"})
    out = tmp_path / "cal"
    stopped = calibrate(out, "--max-failures", "1")
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    message = stopped.stderr
    assert "calibrate reviewer stopped: 2 of 2 item(s) failed" in message and "--max-failures 1" in message
    assert "--retry-failed" in message
    assert len(stub.requests) == 4  # two papers x two tries, then nothing more
    bad = calibrate(out, "--max-failures", "lots")
    assert bad.returncode == 2 and "neither a count nor a fraction" in bad.stderr
    # --reseed retries the failed papers with a new seed (base 0 + 1000 x earlier failures)
    FAIL_TITLES.clear()
    before = len(stub.requests)
    resumed = calibrate(out, "--json", "--retry-failed", "--reseed")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(request["seed"] for request in stub.requests[before:]) == [0, 0, RESEED_STRIDE, RESEED_STRIDE]


def test_review_folder_goes_on_past_a_failing_paper(stub: ReviewStub, tmp_path: Path) -> None:
    papers = tmp_path / "papers"
    papers.mkdir()
    for name, title in (("a.md", "A strong method"), ("b.md", "Broken paper"), ("c.md", "Careful study")):
        (papers / name).write_text(CLEAN_MARKDOWN.replace("Reward Hacking in a Respawning-Coin Gridworld", title))
    (papers / "notes.json").write_text("{}")  # not a paper: ignored
    FAIL_TITLES.add("Broken paper")
    out = tmp_path / "out"
    args = ("review", str(papers), "--out", str(out), "--fewshot", "0", "--repair-retries", "0", "--max-tokens", "900")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "review: 2 of 3 done, 1 failed (truncated 1)" in result.stderr
    assert "failed b.md: [truncated]" in result.stderr
    assert all(request["max_tokens"] == 900 for request in stub.requests)  # --max-tokens reached the model
    done, failed = ResultsFile(out / "results.jsonl", FolderReview).load()
    assert sorted(done) == ["a.md", "c.md"] and list(failed) == ["b.md"]
    assert (out / done["a.md"].review_file).is_file()
    assert AuditLog(out).find(kind="batch_item_failed")[0].payload["id"] == "b.md"
    FAIL_TITLES.clear()
    before = len(stub.requests)
    retried = run_cli(*args, "--retry-failed", "--json")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["failures"] == [] and len(stub.requests) - before == 1
    mixed = run_cli(*args, "--ensemble", "2")  # resuming with other settings would mix two kinds of review
    assert mixed.returncode == 2 and "changed: options" in mixed.stderr and "--out" in mixed.stderr


def test_a_killed_calibration_resumes_without_redoing_finished_papers(stub: ReviewStub, tmp_path: Path) -> None:
    out = tmp_path / "cal"
    killed = calibrate(out, env={"SCIENTIST_FAULT_KILL_AT": "batch-item:3"})  # a real process, SIGKILLed
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [json.loads(line)["id"] for line in (out / "results.jsonl").read_text().splitlines()] == ["t1", "t2"]
    before = len(stub.requests)
    resumed = calibrate(out, "--json")
    assert resumed.returncode == 0, resumed.stderr
    asked = [user_text(request) for request in stub.requests[before:]]
    assert len(asked) == 2 and "Another accepted" in asked[0] and "Another rejected" in asked[1]
    assert json.loads(resumed.stdout)["n_reviewed"] == 4


def test_calibrate_with_every_paper_failed_says_so_instead_of_an_empty_report(stub: ReviewStub, tmp_path: Path) -> None:
    FAIL_TITLES.update({"illustrative paper"})
    result = calibrate(tmp_path / "cal", "--repair-retries", "0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no paper could be reviewed: calibrate reviewer: 0 of 4 done, 4 failed (truncated 4)" in result.stderr
    assert "--retry-failed" in result.stderr and len(stub.requests) == 4
