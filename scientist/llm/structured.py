"""One place that turns a pydantic model into the structured-output request each provider documents.

- `grammar` (the embedded model): pydantic's schema unchanged, as the recorded replies were asked for; the
  embedded provider compiles it to a grammar, string lengths included.
- `json_schema` (OpenAI strict structured outputs): every object `additionalProperties: false`, every property
  required (optional ones are nullable already: pydantic writes `X | None` as anyOf [X, null]), `$ref`s inlined,
  only the keywords OpenAI supports (length limits move into the description, and the gateway's validation still
  enforces them), a name of [A-Za-z0-9_-]{1,64}.
- `tool` (Anthropic): litellm sends `response_format` as one forced tool whose `input_schema` is the schema;
  Anthropic accepts JSON Schema there, so it is the strict form without OpenAI's name rules mattering.
- `response_schema` (Gemini): litellm maps `response_format` to `responseSchema`, an OpenAPI subset: no `$ref`,
  no `additionalProperties`, `nullable` instead of a null type.
- `json_object_schema`: `{"type": "json_object", "schema": ...}`, the form llama.cpp-python's server turns into a
  grammar (it ignores `json_schema`).
- `json_object`: JSON mode plus the schema in the system prompt, for any model without schema support.
Whatever the mode, the answer is validated against the pydantic model and repaired by the gateway.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from pydantic import BaseModel

from scientist.config import StructuredMode

OPENAI_NAME = re.compile(r"[^A-Za-z0-9_-]")
# Keywords OpenAI's strict mode accepts (its "Supported schemas" list), per node kind; anything else is dropped.
OPENAI_COMMON = {"type", "description", "title", "enum", "const", "anyOf"}
OPENAI_BY_TYPE: dict[str, set[str]] = {
    "object": {"properties", "required", "additionalProperties"},
    "array": {"items", "minItems", "maxItems"},
    "string": {"pattern", "format"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "boolean": set(),
    "null": set(),
}
OPENAI_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
GEMINI_KEYWORDS = {
    "type", "format", "description", "nullable", "enum", "properties", "required", "items", "minItems", "maxItems",
    "minimum", "maximum", "minLength", "maxLength", "pattern", "anyOf", "propertyOrdering", "title",
}


def _inline_refs(node: Any, defs: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """The schema with every `#/$defs/X` replaced by X (the project's schemas are not recursive)."""
    if isinstance(node, list):
        return [_inline_refs(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        if name in seen:
            raise ValueError(f"recursive schema {name!r} cannot be inlined")
        target = _inline_refs(copy.deepcopy(defs[name]), defs, (*seen, name))
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return {**target, **_inline_refs(siblings, defs, seen)}
    return {key: _inline_refs(value, defs, seen) for key, value in node.items() if key != "$defs"}


def _limits_note(node: dict[str, Any]) -> str:
    notes = []
    if "minLength" in node:
        notes.append(f"at least {node['minLength']} characters")
    if "maxLength" in node:
        notes.append(f"at most {node['maxLength']} characters")
    if node.get("format") and node["format"] not in OPENAI_FORMATS:
        notes.append(f"format {node['format']}")
    return ", ".join(notes)


def _openai_node(node: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in node:
        out: dict[str, Any] = {key: node[key] for key in ("description", "title") if key in node}
        out["anyOf"] = [_openai_node(option) for option in node["anyOf"]]
        return out
    kind = node.get("type")
    allowed = OPENAI_COMMON | OPENAI_BY_TYPE.get(kind if isinstance(kind, str) else "", set())
    out = {str(key): value for key, value in node.items() if key in allowed}
    note = _limits_note(node)
    if note:
        out["description"] = f"{out['description']} ({note})" if out.get("description") else note.capitalize()
    if out.get("format") not in OPENAI_FORMATS:
        out.pop("format", None)
    if kind == "object":
        properties = {name: _openai_node(value) for name, value in node.get("properties", {}).items()}
        # OpenAI: "all fields must be required". A field with a default is asked for explicitly; one whose default
        # is None already admits null (pydantic writes anyOf [X, null]), which is how strict mode spells optional.
        out.update(properties=properties, required=list(properties), additionalProperties=False)
    if kind == "array" and isinstance(node.get("items"), dict):
        out["items"] = _openai_node(node["items"])
    return out


def openai_strict(schema: type[BaseModel]) -> dict[str, Any]:
    """pydantic's JSON schema in the subset OpenAI's strict structured outputs accept."""
    raw = schema.model_json_schema()
    return _openai_node(_inline_refs(raw, raw.get("$defs", {})))


def _gemini_node(node: Any) -> Any:
    if isinstance(node, list):
        return [_gemini_node(item) for item in node]
    if not isinstance(node, dict):
        return node
    options = node.get("anyOf")
    if options is not None:
        rest = [option for option in options if option.get("type") != "null"]
        if len(rest) == 1 and len(rest) < len(options):  # Optional[X] → X, nullable
            merged = {**{k: v for k, v in node.items() if k != "anyOf"}, **rest[0], "nullable": True}
            return _gemini_node(merged)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in GEMINI_KEYWORDS:
            continue
        out[key] = {name: _gemini_node(item) for name, item in value.items()} if key == "properties" else (
            _gemini_node(value)
        )
    if node.get("type") == "object" and node.get("properties"):
        out["propertyOrdering"] = list(node["properties"])
    return out


def gemini_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """pydantic's JSON schema as Gemini's responseSchema (OpenAPI subset) takes it."""
    raw = schema.model_json_schema()
    return dict(_gemini_node(_inline_refs(raw, raw.get("$defs", {}))))


def schema_name(schema: type[BaseModel]) -> str:
    return OPENAI_NAME.sub("_", schema.__name__)[:64] or "answer"


def response_format(schema: type[BaseModel], mode: StructuredMode) -> dict[str, Any]:
    """The `response_format` to send for `schema` in `mode` (see the module docstring)."""
    if mode == "grammar":  # byte-identical to what the embedded model's recorded requests carry
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": True},
        }
    if mode in ("json_schema", "tool"):
        return {
            "type": "json_schema",
            "json_schema": {"name": schema_name(schema), "schema": openai_strict(schema), "strict": True},
        }
    if mode == "response_schema":
        return {"type": "json_schema", "json_schema": {"name": schema_name(schema), "schema": gemini_schema(schema)}}
    if mode == "json_object_schema":
        raw = schema.model_json_schema()
        return {"type": "json_object", "schema": _inline_refs(raw, raw.get("$defs", {}))}
    return {"type": "json_object"}


def schema_instruction(schema: type[BaseModel]) -> str:
    """What JSON mode adds to the system prompt: the exact shape the answer must have."""
    raw = schema.model_json_schema()
    shape = json.dumps(_inline_refs(raw, raw.get("$defs", {})), separators=(",", ":"))
    return f"\n\nAnswer with one JSON object, nothing else, that matches this JSON Schema: {shape}"
