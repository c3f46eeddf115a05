"""A real research run on the embedded model, end to end, live (no recorded answers)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scientist.audit import AuditLog
from tests.conftest import chosen_sandbox, run_cli

# ~3 min on an idle 2-core machine; llama.cpp slows 10x or more when other processes compete for the cores.
pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.timeout(1800)]


def test_live_smoke_run_on_the_embedded_model(isolated_env: Path) -> None:
    pytest.importorskip("llama_cpp", reason="embedded runtime not built: run `make setup`")
    result = run_cli(
        "run", "specification gaming with a gameable proxy reward", "--num-ideas", "1", "--seed", "11",
        env={
            "SCIENTIST_MODEL": "local/smollm2-135m",
            "SCIENTIST_SANDBOX": chosen_sandbox(),
            # Every stage, but one pass each: reflection rounds and the review ensemble are covered live by
            # tests/test_reviews_live.py and in replay elsewhere; here they only multiplied CI time (8 min -> ~3).
            "SCIENTIST_WRITE_REFLECTIONS": "0",
            "SCIENTIST_REVIEW_REFLECTIONS": "0",
            "SCIENTIST_REVIEW_ENSEMBLE": "1",
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
