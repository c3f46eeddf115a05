"""A responder for the OpenAI stub that answers any structured request with a valid instance of its JSON schema.

Why: a whole run asks many prompts (ideate, novelty, plan, write, review, ...); scripting each reply in order is
brittle. This answers by the schema the request carries, so the real pipeline runs end to end on loopback. The
`overall` review score is a deterministic function of the request (seed and prompt), so runs differ and the study
statistics have something to measure. Requests for a model named in `failing_models` get an HTTP 400.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from tests.openai_stub import ScriptedReply

TEXT = "A concise note on reward hacking in a small gridworld with a respawning coin and a distant goal tile. "


def _text(schema: dict[str, Any]) -> str:
    # OpenAI's strict form has no length keywords: scientist.llm.structured moves them into the description.
    note = str(schema.get("description", ""))
    least, most = re.search(r"at least (\d+) characters", note), re.search(r"at most (\d+) characters", note)
    low = int(schema.get("minLength", least.group(1) if least else 0))
    high = int(schema.get("maxLength", most.group(1) if most else 80))
    text = (TEXT * (1 + low // len(TEXT)))[: max(low, min(high, 60))]
    return text.rstrip() if len(text.rstrip()) >= low else text


def _number(schema: dict[str, Any], preferred: float) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", preferred))
    high = schema.get("maximum", schema.get("exclusiveMaximum", preferred))
    return min(max(preferred, low), high)


def instance(schema: dict[str, Any], root: dict[str, Any], overall: int, name: str = "") -> Any:
    """A value valid under `schema` (refs resolved against `root`)."""
    if "$ref" in schema:
        return instance(root["$defs"][schema["$ref"].split("/")[-1]], root, overall, name)
    for combiner in ("allOf", "anyOf", "oneOf"):
        if combiner in schema:
            options = [option for option in schema[combiner] if option.get("type") != "null"] or schema[combiner]
            return instance(options[0], root, overall, name)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        choices = schema["enum"]
        return overall if name == "overall" and overall in choices else choices[0]
    kind = schema.get("type")
    if kind == "object":
        return {key: instance(sub, root, overall, key) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 0)), 1)
        count = min(count, int(schema.get("maxItems", count)))
        return [instance(schema.get("items", {"type": "string"}), root, overall, name) for _ in range(count)]
    if kind == "string":
        return _text(schema)
    if kind == "integer":
        return int(_number(schema, overall if name == "overall" else 3))
    if kind == "number":
        return float(_number(schema, 0.5))
    if kind == "boolean":
        return name != "ethical_concerns"
    return None


def requested_schema(request: dict[str, Any]) -> dict[str, Any] | None:
    """The schema a request asks for, in whichever form its structured-output mode sends it (None: free text)."""
    response_format = request.get("response_format") or {}
    if "json_schema" in response_format:
        return dict(response_format["json_schema"]["schema"])
    if "schema" in response_format:  # json_object_schema (llama.cpp's server)
        return dict(response_format["schema"])
    if response_format.get("type") == "json_object":  # JSON mode: the schema is in the system prompt
        system = str(request["messages"][0]["content"])
        return dict(json.loads(system.rsplit("JSON Schema: ", 1)[1]))
    return None


class SchemaResponder:
    """Callable for `OpenAIStub.responder`; counts what it answered."""

    def __init__(self, failing_models: tuple[str, ...] = ()) -> None:
        self.failing_models = failing_models
        self.answered = 0

    def __call__(self, request: dict[str, Any]) -> ScriptedReply:
        if request.get("model") in self.failing_models:
            return ScriptedReply(status=400)
        self.answered += 1
        digest = hashlib.sha256(json.dumps([request.get("seed"), request.get("messages")]).encode()).digest()
        overall = 1 + digest[0] % 10
        schema = requested_schema(request)
        if schema is None:
            return ScriptedReply(content="No change is needed.")
        return ScriptedReply(content=json.dumps(instance(schema, schema, overall)))
