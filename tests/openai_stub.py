"""A loopback server speaking the OpenAI chat-completions wire format, answering from a script.

Tests of the gateway use it so the real litellm client path runs end to end (HTTP, parsing, usage, errors)
without a network or a key. Only 127.0.0.1 is ever bound.

As a conformance server (`strict=True`) it enforces OpenAI's documented strict structured-output rules
(tests/openai_rules.py) and answers a breaking request with HTTP 400 in OpenAI's error shape, as the real API does.
Replies can inject 429 with Retry-After, 5xx, a slow answer (client timeout) and truncated or garbage bodies.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.openai_rules import strict_schema_errors


@dataclass
class ScriptedReply:
    content: str = ""
    status: int = 200
    prompt_tokens: int = 50
    completion_tokens: int = 20
    finish_reason: str = "stop"
    delay_s: float = 0.0  # hold the answer, so concurrent calls overlap
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"Retry-After": "1"} with status 429
    raw_body: bytes | None = None  # sent as is instead of a completion (garbage or a truncated JSON body)
    error: dict[str, Any] | None = None  # with a 4xx status: the provider's own error object (e.g. context length)


@dataclass
class OpenAIStub:
    replies: list[ScriptedReply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    responder: Callable[[dict[str, Any]], ScriptedReply] | None = None  # answers by request, when set
    strict: bool = True  # enforce OpenAI's strict structured-output schema rules (400 when broken)
    rejected: list[list[str]] = field(default_factory=list)  # the rule violations of each refused request

    def next_reply(self, request: dict[str, Any] | None = None) -> ScriptedReply:
        if self.responder is not None and request is not None:
            return self.responder(request)
        return self.replies.pop(0) if self.replies else ScriptedReply(content="{}")


def _handler(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            stub.requests.append(body)
            broken = strict_schema_errors(body.get("response_format")) if stub.strict else []
            if broken:
                stub.rejected.append(broken)
                name = (body["response_format"].get("json_schema") or {}).get("name")
                reply = ScriptedReply(status=400)
                payload: dict[str, Any] = {
                    "error": {
                        "message": f"Invalid schema for response_format '{name}': {broken[0]}",
                        "type": "invalid_request_error",
                        "param": "response_format",
                        "code": None,
                    }
                }
                self._send(reply, json.dumps(payload).encode())
                return
            reply = stub.next_reply(body)
            time.sleep(reply.delay_s)
            if reply.raw_body is not None:
                self._send(reply, reply.raw_body)
                return
            if reply.status != 200 and reply.error is not None:
                payload = {"error": reply.error}
            elif reply.status != 200:
                kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
                payload = {"error": {"message": "scripted error", "type": kind, "param": None, "code": kind}}
            else:
                payload = {
                    "id": f"chatcmpl-{len(stub.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "stub"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": reply.prompt_tokens,
                        "completion_tokens": reply.completion_tokens,
                        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                    },
                }
            self._send(reply, json.dumps(payload).encode())

        def _send(self, reply: ScriptedReply, data: bytes) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                self.wfile.write(data)

    return Handler


def loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 (a free port) in a thread; yields the origin, stops the server after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serve(stub: OpenAIStub) -> Iterator[OpenAIStub]:
    for origin in loopback(_handler(stub)):
        stub.base_url = f"{origin}/v1"
        yield stub
