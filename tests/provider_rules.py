"""Anthropic's and Gemini's documented request rules, as checkers the loopback conformance stubs enforce.

Written from each provider's API reference, independently of scientist.llm.structured and of litellm's transforms,
so a request either of them gets wrong is refused here as the real API would refuse it (HTTP 400), not mirrored.

Anthropic Messages API (`POST /v1/messages`): headers `x-api-key` and `anthropic-version`; `model`, `max_tokens`
(>= 1) and a non-empty `messages` of `user`/`assistant` turns are required; the system prompt is the top-level
`system` (a string or text blocks), never a message; `temperature` in [0, 1]; a tool name matches
`^[a-zA-Z0-9_-]{1,64}$` and its `input_schema` is an object schema; a `tool_choice` of type `tool` names a tool
that is sent. Structured outputs (`output_format: {"type": "json_schema", "schema": ...}`) need the
`structured-outputs-2025-11-13` beta header and a schema in their subset: objects with `additionalProperties:
false`, no numeric constraints (minimum, maximum, exclusive bounds, multipleOf), no string length constraints, no
`maxItems`/`uniqueItems`, `minItems` only 0 or 1, no `oneOf`/`not`/`if`, no recursive or external `$ref`.

Gemini `generateContent` (`POST /models/{model}:generateContent`): header `x-goog-api-key`; a non-empty
`contents` of `user`/`model` turns made of parts; the system prompt in `system_instruction`; generation config
`temperature` in [0, 2], `max_output_tokens` >= 1; `response_schema` (an OpenAPI 3.0 Schema subset: no `$ref`,
`$defs`, `additionalProperties`, `const`, `oneOf`, `allOf`; `nullable` instead of a null type; upper- or lower-case
type names) or `response_json_schema` (JSON Schema), never both, and either only with
`response_mime_type: application/json`. The REST API accepts camelCase and snake_case field names alike.
"""

from __future__ import annotations

import re
from typing import Any

ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ANTHROPIC_BETA_STRUCTURED = "structured-outputs-2025-11-13"
ANTHROPIC_UNSUPPORTED = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "maxItems", "uniqueItems", "contains", "minContains", "maxContains", "prefixItems", "minProperties",
    "maxProperties", "patternProperties", "propertyNames", "oneOf", "not", "if", "then", "else",
    "dependentRequired", "dependentSchemas", "unevaluatedProperties",
}
GEMINI_SCHEMA_KEYWORDS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
    "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
    "default", "items", "minimum", "maximum",
}
GEMINI_TYPES = {"string", "number", "integer", "boolean", "array", "object"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _get(mapping: dict[str, Any], snake_name: str) -> Any:
    """A field under its snake_case or camelCase spelling (the proto JSON mapping takes both)."""
    for key, value in mapping.items():
        if _snake(key) == snake_name:
            return value
    return None


def anthropic_request_errors(headers: dict[str, str], body: dict[str, Any]) -> list[str]:
    """Every rule a Messages API request breaks (empty: the API would accept it)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    errors = [f"header {name}: field required" for name in ("x-api-key", "anthropic-version") if name not in lowered]
    if not isinstance(body.get("model"), str):
        errors.append("model: field required")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        errors.append("max_tokens: field required (an integer >= 1)")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        errors.append("messages: at least one message is required")
    else:
        for index, message in enumerate(messages):
            if message.get("role") not in ("user", "assistant"):
                errors.append(f"messages.{index}.role: {message.get('role')!r} is not one of 'user', 'assistant' "
                              "(the system prompt is the top-level system parameter)")
    system = body.get("system")
    if system is not None and not isinstance(system, str) and not (
        isinstance(system, list) and all(isinstance(block, dict) and block.get("type") == "text" for block in system)
    ):
        errors.append("system: must be a string or a list of text blocks")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        errors.append(f"temperature: {temperature} is not in [0, 1]")
    tools = body.get("tools") or []
    names = set()
    for index, tool in enumerate(tools):
        names.add(tool.get("name"))
        if not ANTHROPIC_TOOL_NAME.match(str(tool.get("name", ""))):
            errors.append(f"tools.{index}.name: must match ^[a-zA-Z0-9_-]{{1,64}}$")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            errors.append(f"tools.{index}.input_schema: type must be 'object'")
    choice = body.get("tool_choice")
    if choice is not None:
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            errors.append(f"tool_choice.type: {choice.get('type')!r} is not supported")
        if choice.get("type") == "tool" and choice.get("name") not in names:
            errors.append(f"tool_choice.name: no tool named {choice.get('name')!r} was sent")
    output_format = body.get("output_format")
    if output_format is not None:
        if ANTHROPIC_BETA_STRUCTURED not in lowered.get("anthropic-beta", ""):
            errors.append(f"output_format: needs the anthropic-beta header {ANTHROPIC_BETA_STRUCTURED}")
        if output_format.get("type") != "json_schema" or not isinstance(output_format.get("schema"), dict):
            errors.append("output_format: must be {'type': 'json_schema', 'schema': {...}}")
        else:
            errors.extend(anthropic_schema_errors(output_format["schema"]))
    return errors


def anthropic_schema_errors(schema: dict[str, Any]) -> list[str]:
    """The structured-outputs subset: what a schema uses that Anthropic's grammar cannot enforce."""
    errors: list[str] = []
    if schema.get("type") != "object":
        errors.append("output_format.schema: the root must be an object")
    defs = schema.get("$defs", schema.get("definitions", {}))
    _anthropic_walk(schema, "output_format.schema", defs, (), errors)
    return errors


def _anthropic_walk(node: Any, path: str, defs: dict[str, Any], refs: tuple[str, ...], errors: list[str]) -> None:
    if isinstance(node, list):
        for index, item in enumerate(node):
            _anthropic_walk(item, f"{path}.{index}", defs, refs, errors)
        return
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        ref = str(node["$ref"])
        name = ref.rsplit("/", 1)[-1]
        if not ref.startswith(("#/$defs/", "#/definitions/")) or name not in defs:
            errors.append(f"{path}: external or unresolved $ref {ref!r} is not supported")
        elif name in refs:
            errors.append(f"{path}: recursive schemas are not supported")
        else:
            _anthropic_walk(defs[name], path, defs, (*refs, name), errors)
        return
    for key in sorted(set(node) & ANTHROPIC_UNSUPPORTED):
        if key in {"then", "else"} and "if" not in node:
            continue
        errors.append(f"{path}: For {node.get('type', 'this')!r} type, property {key!r} is not supported")
    if node.get("minItems", 0) not in (0, 1):
        errors.append(f"{path}: minItems {node['minItems']} is not supported (only 0 or 1)")
    if node.get("type") == "object" and node.get("additionalProperties") is not False:
        errors.append(f"{path}: objects must set additionalProperties to false")
    for name, sub in (node.get("properties") or {}).items():
        _anthropic_walk(sub, f"{path}.properties.{name}", defs, refs, errors)
    for key in ("items", "anyOf", "allOf"):
        if key in node:
            _anthropic_walk(node[key], f"{path}.{key}", defs, refs, errors)


def gemini_request_errors(headers: dict[str, str], body: dict[str, Any]) -> list[str]:
    """Every rule a generateContent request breaks (empty: the API would accept it)."""
    errors = [] if "x-goog-api-key" in {key.lower() for key in headers} else ["API key not valid: none was sent"]
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        errors.append("contents is not specified")
    else:
        for index, turn in enumerate(contents):
            if turn.get("role") not in ("user", "model"):
                errors.append(f"contents[{index}].role: please use a valid role: user, model")
            if not turn.get("parts"):
                errors.append(f"contents[{index}].parts: must not be empty")
    config = _get(body, "generation_config") or {}
    temperature = _get(config, "temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        errors.append(f"generation_config.temperature: {temperature} is not in [0, 2]")
    max_tokens = _get(config, "max_output_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        errors.append("generation_config.max_output_tokens: must be a positive integer")
    schema, json_schema = _get(config, "response_schema"), _get(config, "response_json_schema")
    if schema is not None and json_schema is not None:
        errors.append("response_schema and response_json_schema cannot both be set")
    if (schema is not None or json_schema is not None) and _get(config, "response_mime_type") != "application/json":
        errors.append("a response schema needs response_mime_type application/json")
    if schema is not None:
        _gemini_walk(schema, "generation_config.response_schema", errors)
    if json_schema is not None and not isinstance(json_schema, dict):
        errors.append("generation_config.response_json_schema: must be a JSON Schema object")
    return errors


def _gemini_walk(node: Any, path: str, errors: list[str]) -> None:
    if not isinstance(node, dict):
        errors.append(f"{path}: must be a Schema object")
        return
    unknown = sorted(set(node) - GEMINI_SCHEMA_KEYWORDS)
    if unknown:
        errors.append(f"{path}: Invalid JSON payload received. Unknown name {unknown[0]!r} at 'Schema'")
    kind = node.get("type")
    if kind is not None and str(kind).lower() not in GEMINI_TYPES:
        errors.append(f"{path}.type: {kind!r} is not a valid Type (no null type: use nullable)")
    if kind is None and "anyOf" not in node:
        errors.append(f"{path}: type must be specified")
    for name, sub in (node.get("properties") or {}).items():
        _gemini_walk(sub, f"{path}.properties.{name}", errors)
    missing = [name for name in node.get("required", []) if name not in (node.get("properties") or {})]
    if missing:
        errors.append(f"{path}.required: {missing} are not properties")
    if "items" in node:
        _gemini_walk(node["items"], f"{path}.items", errors)
    for index, option in enumerate(node.get("anyOf", [])):
        _gemini_walk(option, f"{path}.anyOf[{index}]", errors)
