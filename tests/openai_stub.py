"""A loopback server speaking the OpenAI chat-completions wire format, answering from a script.

Tests of the gateway use it so the real litellm client path runs end to end (HTTP, parsing, usage, errors)
without a network or a key. Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ScriptedReply:
    content: str = ""
    status: int = 200
    prompt_tokens: int = 50
    completion_tokens: int = 20
    finish_reason: str = "stop"
    delay_s: float = 0.0  # hold the answer, so concurrent calls overlap


@dataclass
class OpenAIStub:
    replies: list[ScriptedReply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    responder: Callable[[dict[str, Any]], ScriptedReply] | None = None  # answers by request, when set

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
            reply = stub.next_reply(body)
            time.sleep(reply.delay_s)
            if reply.status != 200:
                payload: dict[str, Any] = {"error": {"message": "scripted error", "type": "server_error"}}
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
            data = json.dumps(payload).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def serve(stub: OpenAIStub) -> Iterator[OpenAIStub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
