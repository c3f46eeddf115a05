"""llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`, the `server` extra) serving the
embedded GGUF on 127.0.0.1: the real HTTP path a user takes to vLLM, Ollama or a hosted API. One server per test
session (`llama_server` in conftest.py): the live smoke run and the single-call server tests share it."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scientist.config import ModelOverride

HAS_SERVER = all(importlib.util.find_spec(name) is not None for name in ("llama_cpp", "fastapi", "sse_starlette"))
SERVED_MODEL = "openai/smollm2-served"
SERVER_API_KEY = "sk-local-server-needs-none"
# What a user writes in scientist.toml for a llama.cpp server: its window, free, and the grammar route it documents.
SERVED_PROFILE = ModelOverride(
    context_window=4096, max_output_tokens=4096, input_usd_per_mtok=0.0, output_usd_per_mtok=0.0,
    structured_output="json_object_schema",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_embedded_model(scratch: Path) -> Iterator[str]:
    """The server's `/v1` base URL while it runs (its log in `scratch`); stopped on exit."""
    from scientist.llm.local_model import model_path

    port = _free_port()
    log = scratch / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path()), "--model_alias",
             SERVED_MODEL.removeprefix("openai/"), "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
             "--n_threads", "2", "--seed", "0"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
