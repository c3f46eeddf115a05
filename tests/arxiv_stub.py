"""A loopback server speaking the arXiv API's wire format, answering from the Atom fixtures in tests/fixtures/arxiv.

The real `arxiv` client path runs end to end (URL building, paging, HTTP, Atom parsing) without a network. By default
a request is answered by its `start` parameter (page_0.xml, page_2.xml, ...); `script` queues one-off answers
(status, body, headers) that are used first, in order. Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ARXIV_FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"


def fixture(name: str) -> bytes:
    return (ARXIV_FIXTURES / name).read_bytes()


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering


@dataclass
class ArxivStub:
    script: list[Answer] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    default_pages: bool = True

    def answer_for(self, params: dict[str, list[str]]) -> Answer:
        if self.script:
            return self.script.pop(0)
        if not self.default_pages:
            return Answer(body=fixture("empty.xml"))
        start = params.get("start", ["0"])[0]
        page = ARXIV_FIXTURES / f"page_{start}.xml"
        return Answer(body=page.read_bytes()) if page.exists() else Answer(body=fixture("empty.xml"))

    @property
    def queries(self) -> list[str]:
        return [request["params"].get("search_query", [""])[0] for request in self.requests]


def _handler(stub: ArxivStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            params = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
            stub.requests.append({"path": self.path, "params": params, "at": time.monotonic()})
            answer = stub.answer_for(params)
            if answer.delay_s:
                time.sleep(answer.delay_s)
            if answer.drop:
                self.close_connection = True
                return
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

    return Handler


def serve(stub: ArxivStub) -> Iterator[ArxivStub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/api/query"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once, like a machine without network."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/query"
