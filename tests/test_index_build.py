"""`scientist index build` end to end: loopback arXiv and OpenAlex servers, the real embedder, a real chromadb folder.

Resumability is checked where it matters: a build killed (-9) between writing a query's papers and journaling it is
re-run, and neither asks the sources again for that query (disk cache) nor embeds its papers again (known ids); a
finished build re-run sends no request at all.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from scientist.tools.build import preset_queries
from scientist.tools.index import PaperIndex
from tests.arxiv_stub import ArxivStub, serve
from tests.cli_runner import run_cli
from tests.scholarly_stubs import JsonStub, json_answer, serve_json

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fresh_breakers")]  # slow: the embedding model's load


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[ArxivStub, JsonStub]]:
    for arxiv in serve(ArxivStub()):
        for openalex in serve_json(JsonStub("openalex")):
            monkeypatch.setenv("SCIENTIST_ARXIV_URL", arxiv.base_url)
            monkeypatch.setenv("SCIENTIST_ARXIV_MIN_INTERVAL_S", "0")
            monkeypatch.setenv("SCIENTIST_OPENALEX_URL", openalex.base_url)
            monkeypatch.setenv("SCIENTIST_OPENALEX_MIN_INTERVAL_S", "0")
            monkeypatch.setenv("SCIENTIST_LITERATURE_SOURCES", "arxiv,openalex")
            yield arxiv, openalex


QUERIES = ("reward hacking", "scalable oversight")


def test_build_fetches_embeds_and_adds_then_a_rerun_sends_nothing(
    stubs: tuple[ArxivStub, JsonStub], tmp_path: Path
) -> None:
    arxiv, openalex = stubs
    where = ["--index-dir", str(tmp_path / "index")]
    built = run_cli("index", "build", *QUERIES, "--max", "6", *where)
    assert built.returncode == 0, built.stderr
    # arXiv's five fixtures, then OpenAlex: its arXiv paper and its misgeneralization paper are arXiv's; one is new
    assert "6 paper(s) added, 0 query(ies) done before, 0 failed; papers now has 6" in built.stdout
    assert "index build" in built.stderr and "+6 new of 6" in built.stderr and "+0 new of 6" in built.stderr
    sent = (len(arxiv.requests), len(openalex.requests))
    assert sent[1] == 2  # one OpenAlex page per query

    index = PaperIndex(tmp_path / "index")
    hits = index.search("recursive debate for scalable oversight", k=1)
    assert hits[0].paper.id == "openalex:W0000000003" and hits[0].paper.source == "openalex"
    merged = index.get(["0000.00003"])[0]
    assert merged.source == "arxiv" and merged.abstract.startswith("CONSTRUCTED TEST RECORD, not a real paper")
    del index

    again = run_cli("index", "build", *QUERIES, "--max", "6", *where)
    assert again.returncode == 0, again.stderr
    assert "0 paper(s) added, 2 query(ies) done before" in again.stdout and "papers now has 6" in again.stdout
    assert (len(arxiv.requests), len(openalex.requests)) == sent

    other = run_cli("index", "build", "reward hacking", "--max", "2", "--since", "2021", *where)
    assert other.returncode == 0 and "0 query(ies) done before" in other.stdout  # other settings: a new query


def test_doctor_reports_the_index_size_and_how_to_build_it(
    stubs: tuple[ArxivStub, JsonStub], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scientist.commands.doctor import check_index

    monkeypatch.setenv("SCIENTIST_INDEX_DIR", str(tmp_path / "index"))
    empty = check_index()
    assert empty.status == "warn" and "index build --preset ai-safety" in empty.fix
    assert not (tmp_path / "index").exists()  # the doctor creates nothing
    assert run_cli("index", "build", "reward hacking", "--max", "3").returncode == 0
    filled = check_index()
    assert filled.status == "ok" and filled.detail.startswith("3 papers at")
    (tmp_path / "index" / "chroma.sqlite3").write_bytes(b"not a database")
    damaged = check_index()
    assert damaged.status == "warn" and "cannot be read" in damaged.detail and "untouched" in damaged.fix


def test_a_build_killed_after_writing_a_query_resumes_without_fetching_or_embedding_it_again(
    stubs: tuple[ArxivStub, JsonStub], tmp_path: Path
) -> None:
    arxiv, openalex = stubs
    where = ["--index-dir", str(tmp_path / "index")]
    env = {"SCIENTIST_FAULT_KILL_AT": "index-build:after-upsert", "SCIENTIST_FAULT_ONCE": str(tmp_path / "killed")}
    killed = run_cli("index", "build", *QUERIES, "--max", "6", *where, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    journal = tmp_path / "index" / ".index-build" / "papers.jsonl"
    assert not journal.exists()  # killed before the query was journaled
    first_query = len(arxiv.requests), len(openalex.requests)

    resumed = run_cli("index", "build", *QUERIES, "--max", "6", *where, env=env)  # the fault fires only once
    assert resumed.returncode == 0, resumed.stderr
    assert "0 paper(s) added" in resumed.stdout and "papers now has 6" in resumed.stdout  # nothing embedded twice
    assert [json.loads(line)["query"] for line in journal.read_text().splitlines()] == list(QUERIES)
    # the killed query came from the disk cache; only the second query reached the servers
    assert [q for q in arxiv.queries[first_query[0] :] if "reward" in q] == []
    assert len(openalex.requests) == first_query[1] + 1


def test_no_source_answering_fails_cleanly_and_leaves_the_index_alone(
    stubs: tuple[ArxivStub, JsonStub], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, openalex = stubs
    openalex.always = json_answer({"error": "Invalid query parameters error.", "message": "bad"}, 400)
    where = ["--index-dir", str(tmp_path / "index")]
    failed = run_cli("index", "build", "reward hacking", "--source", "openalex", *where)
    assert failed.returncode == 1
    assert "failed: 'reward hacking'" in failed.stderr and "HTTP 400: bad" in failed.stderr
    assert "0 paper(s) added" in failed.stdout and "papers now has 0" in failed.stdout
    assert not (tmp_path / "index" / ".index-build" / "papers.jsonl").exists()  # a failed query is tried again
    asked = len(openalex.requests)
    stopped = run_cli("index", "build", "reward hacking", "scalable oversight", "--source", "openalex",
                      "--max-failures", "0", *where)  # fmt: skip
    assert stopped.returncode == 1 and "index build stopped: 1 of 2 queries failed (--max-failures 0)" in " ".join(
        stopped.stderr.split())  # fmt: skip
    assert "scalable oversight" not in stopped.stderr and len(openalex.requests) == asked + 1  # the second: never asked
    bad = run_cli("index", "build", "reward hacking", "--max-failures", "lots", *where)
    assert bad.returncode == 2 and "--max-failures" in bad.stderr and "Traceback" not in bad.stderr


def test_presets_and_bad_input(tmp_path: Path) -> None:
    queries = preset_queries("ai-safety")
    assert len(queries) >= 25 and len(set(queries)) == len(queries)
    for topic in ("reward hacking", "goal misgeneralization", "corrigibility", "evaluation awareness language models"):
        assert topic in queries
    unknown = run_cli("index", "build", "--preset", "nope", "--index-dir", str(tmp_path / "i"))
    assert unknown.returncode == 2 and "unknown preset 'nope'" in unknown.stderr and "ai-safety" in unknown.stderr
    empty = run_cli("index", "build", "--index-dir", str(tmp_path / "i"))
    assert empty.returncode == 2 and "no query" in empty.stderr
    bad_source = run_cli("index", "build", "x", "--source", "google", "--index-dir", str(tmp_path / "i"))
    assert bad_source.returncode == 2 and "unknown literature source" in bad_source.stderr
    assert not (tmp_path / "i").exists()  # nothing was opened or created before the input was checked
