"""Loopback conformance servers for Anthropic's Messages API and Gemini's generateContent, answering from a script.

Hosted models are unreachable from here, so the gateway's real litellm path (HTTP, the provider's request and
reply shapes, usage, errors) is tested against these: each refuses a request that breaks its provider's documented
rules (tests/provider_rules.py) with HTTP 400 in that provider's error shape, answers a structured request the way
the provider does (Anthropic: a `tool_use` block for a forced tool, JSON text for `output_format`; Gemini: JSON
text), and replays the scripted failures the OpenAI stub has (429 with Retry-After, 5xx, truncation at the token
cap). Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.openai_stub import ScriptedReply, loopback
from tests.provider_rules import anthropic_request_errors, gemini_request_errors

Reply = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON payload, extra headers


@dataclass
class ProviderStub:
    """One provider's conformance server: the script, what was asked, and what was refused (with why)."""

    provider: str  # "anthropic" | "gemini"
    replies: list[ScriptedReply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    rejected: list[list[str]] = field(default_factory=list)
    base_url: str = ""

    def next_reply(self) -> ScriptedReply:
        return self.replies.pop(0) if self.replies else ScriptedReply(content="{}")


def _anthropic_reply(body: dict[str, Any], reply: ScriptedReply) -> Reply:
    if reply.status != 200:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(reply.status, "api_error")
        return reply.status, {"type": "error", "error": {"type": kind, "message": "scripted error"}}, reply.headers
    forced = (body.get("tool_choice") or {}).get("name")
    cut = reply.finish_reason == "length"
    if forced and not cut:
        try:
            arguments = json.loads(reply.content)
        except ValueError:
            arguments = {}
        content: list[dict[str, Any]] = [{"type": "tool_use", "id": "toolu_01", "name": forced, "input": arguments}]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": reply.content}]
        stop = "max_tokens" if cut else "end_turn"
    payload = {
        "id": "msg_01", "type": "message", "role": "assistant", "model": body.get("model"), "content": content,
        "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
    }
    return 200, payload, reply.headers


def _gemini_reply(body: dict[str, Any], reply: ScriptedReply) -> Reply:
    if reply.status != 200:
        status = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(reply.status, "INTERNAL")
        return reply.status, {"error": {"code": reply.status, "message": "scripted error", "status": status}}, (
            reply.headers
        )
    payload = {
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": reply.content}]},
            "finishReason": "MAX_TOKENS" if reply.finish_reason == "length" else "STOP", "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": reply.completion_tokens,
            "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
        },
        "modelVersion": "stub",
    }
    return 200, payload, reply.headers


def _refusal(provider: str, errors: list[str]) -> dict[str, Any]:
    if provider == "anthropic":
        return {"type": "error", "error": {"type": "invalid_request_error", "message": errors[0]}}
    return {"error": {"code": 400, "message": errors[0], "status": "INVALID_ARGUMENT"}}


CHECKS: dict[str, Callable[[dict[str, str], dict[str, Any]], list[str]]] = {
    "anthropic": anthropic_request_errors, "gemini": gemini_request_errors,
}
ANSWERS: dict[str, Callable[[dict[str, Any], ScriptedReply], Reply]] = {
    "anthropic": _anthropic_reply, "gemini": _gemini_reply,
}


def _handler(stub: ProviderStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            headers = dict(self.headers.items())
            stub.requests.append(body)
            stub.headers.append(headers)
            stub.paths.append(self.path)
            broken = CHECKS[stub.provider](headers, body)
            if broken:
                stub.rejected.append(broken)
                self._send(400, _refusal(stub.provider, broken), {})
                return
            status, payload, extra = ANSWERS[stub.provider](body, stub.next_reply())
            self._send(status, payload, extra)

        def _send(self, status: int, payload: dict[str, Any], extra: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    return Handler


def serve(stub: ProviderStub) -> Iterator[ProviderStub]:
    for origin in loopback(_handler(stub)):
        stub.base_url = origin
        yield stub
