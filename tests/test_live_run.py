"""A real research run on the embedded model, end to end, live (no recorded answers).

The run takes both routes a user has to a model, in the time of one run: the agent (ideas, novelty, experiment
edits, every paper section) talks to llama-cpp-python's OpenAI-compatible server serving the embedded GGUF over real
HTTP (litellm's `openai/` provider with `--api-base`, as to vLLM, Ollama or a hosted API), and the reviewer inside
the run uses the in-process embedded provider of the README's first command (`--role-model`). The in-process path
is live in tests/test_reviews_live.py, test_novelty.py and test_local_model.py too; a run with every call over HTTP
(`test_a_whole_run_over_the_server`) stays in `make test-live`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scientist.audit.log import AuditLog
from tests.conftest import chosen_sandbox, run_cli
from tests.llama_server import HAS_SERVER, SERVED_MODEL, SERVED_PROFILE, SERVER_API_KEY

LOCAL_MODEL = "local/smollm2-135m"
# ~3 min on an idle 2-core machine; llama.cpp slows 10x or more when other processes compete for the cores.
pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.mark.skipif(not HAS_SERVER, reason="needs the local build and the server extra (bash scripts/setup.sh)")
def test_live_smoke_run_on_the_embedded_model(isolated_env: Path, llama_server: str) -> None:
    pytest.importorskip("llama_cpp", reason="embedded runtime not built: run `make setup`")
    result = run_cli(
        "run", "specification gaming with a gameable proxy reward", "--num-ideas", "1", "--seed", "11",
        "--role-model", f"agent={SERVED_MODEL}", "--role-model", f"review={LOCAL_MODEL}", "--api-base", llama_server,
        env={
            "SCIENTIST_MODEL": LOCAL_MODEL,
            "SCIENTIST_MODELS": json.dumps({SERVED_MODEL: SERVED_PROFILE.model_dump(exclude_none=True)}),
            "SCIENTIST_API_KEY": SERVER_API_KEY,
            "SCIENTIST_SANDBOX": chosen_sandbox(),
            "SCIENTIST_REQUEST_TIMEOUT_S": "900",  # a call is ~25 s alone on 2 cores; a loaded machine, 10x that
            # Every stage, but one pass each: reflection rounds and the review ensemble are covered live by
            # tests/test_reviews_live.py and in replay elsewhere; here they only multiplied CI time (8 min -> ~3).
            "SCIENTIST_WRITE_REFLECTIONS": "0",
            "SCIENTIST_REVIEW_REFLECTIONS": "0",
            "SCIENTIST_REVIEW_ENSEMBLE": "1",
            # One edit, no re-asks: the 135M model's edits are unusable, so this still goes edit -> failed run ->
            # the config-only fallback; the K x (1 + F) loop is covered in replay (tests/test_experiment_loop.py).
            "SCIENTIST_EXPERIMENT_RUNS": "1",
            "SCIENTIST_FIX_ATTEMPTS": "0",
        },
        timeout=1700,
    )
    (run_dir,) = (isolated_env / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    # Seeded generation is deterministic (the provider resets llama's prompt cache), so this run is repeatable.
    assert result.returncode == 0, (info["status_detail"], result.stderr)
    calls = AuditLog(run_dir).find(kind="llm_call")
    assert calls and not any(call.payload["replayed"] for call in calls)
    assert all(call.payload["total_tokens"] > 0 and call.payload["cost_usd"] == 0 for call in calls)
    routes = {(call.payload["role"], call.payload["model"]) for call in calls}
    # every agent stage went over HTTP (structured ideas, plain edits and sections), the review form in-process
    assert {(role, SERVED_MODEL) for role in ("ideation", "experiment", "writeup")} <= routes, routes
    assert {model for role, model in routes if role == "review"} == {LOCAL_MODEL}, routes
    assert info["status"] == "completed"
    assert (run_dir / "paper" / "paper.tex").exists() and (run_dir / "review.json").exists()
    assert run_cli("audit", "verify", run_dir.name).returncode == 0
    if shutil.which("pdflatex") and shutil.which("pdftoppm"):  # CI installs both: the paper must be a real PDF
        check_page_one(run_dir, isolated_env)


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def check_page_one(run_dir: Path, scratch: Path) -> None:
    """Page 1 of the compiled paper, rendered to PNG: text on a white page, and the paper's own title on it."""
    from PIL import Image

    paper = json.loads((run_dir / "paper.json").read_text())
    assert paper["latex"]["status"] == "compiled" and paper["pdf"], paper["latex"]
    pdf = run_dir / paper["pdf"]
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(scratch / "page")], check=True)
    (png,) = scratch.glob("page*.png")
    histogram = Image.open(png).convert("L").histogram()  # pixel counts per grey level, 0 = black
    dark = sum(histogram[:128]) / sum(histogram)
    assert 0.005 < dark < 0.5, dark
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert _words(paper["title"]) in _words(text), (paper["title"], text[:500])
