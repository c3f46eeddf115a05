"""OpenAI's documented rules for strict structured outputs ("Supported schemas"), as a checker the conformance
stub enforces. Written from the documentation, independently of scientist.llm.structured, so a transform that breaks
a rule is caught rather than mirrored.

Rules: the root is an object (not anyOf); every object has `additionalProperties: false` and lists every property
in `required`; only supported keywords (strings: pattern, format; numbers: minimum, maximum, exclusiveMinimum,
exclusiveMaximum, multipleOf; arrays: items, minItems, maxItems; objects: properties, required,
additionalProperties; any: type, description, title, enum, const, anyOf, $ref, $defs); `$ref` points into `$defs`
or at the root; at most 10 levels of object nesting, 5000 object properties, 1000 enum values; property names,
definition names, enum and const values at most 120,000 characters in total; the schema name matches
[a-zA-Z0-9_-] and is at most 64 characters.
"""

from __future__ import annotations

import re
from typing import Any

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TYPES = {"string", "number", "boolean", "integer", "object", "array", "null"}
ANY_KEYWORDS = {"type", "description", "title", "enum", "const", "anyOf", "$ref", "$defs"}
TYPE_KEYWORDS = {
    "string": {"pattern", "format"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "integer": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
    "boolean": set(),
    "null": set(),
}
FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
MAX_DEPTH, MAX_PROPERTIES, MAX_ENUM_VALUES, MAX_STRING_TOTAL = 10, 5000, 1000, 120_000


def strict_schema_errors(response_format: Any) -> list[str]:
    """Every broken rule in a `response_format` of type json_schema with strict: true (empty: accepted)."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return []
    wrapper = response_format.get("json_schema") or {}
    if not wrapper.get("strict"):
        return []
    errors: list[str] = []
    if not NAME.match(str(wrapper.get("name", ""))):
        errors.append(f"name {wrapper.get('name')!r} must match ^[a-zA-Z0-9_-]{{1,64}}$")
    schema = wrapper.get("schema")
    if not isinstance(schema, dict):
        return [*errors, "schema must be an object"]
    if schema.get("type") != "object" or "anyOf" in schema:
        errors.append("root schema must be an object and not anyOf")
    counts = {"properties": 0, "enum": 0, "chars": 0}
    defs = schema.get("$defs", {})
    for name in defs:
        counts["chars"] += len(name)
    _walk(schema, "#", 0, defs, errors, counts)
    for name, sub in defs.items():
        _walk(sub, f"#/$defs/{name}", 0, defs, errors, counts)
    if counts["properties"] > MAX_PROPERTIES:
        errors.append(f"{counts['properties']} object properties, more than {MAX_PROPERTIES}")
    if counts["enum"] > MAX_ENUM_VALUES:
        errors.append(f"{counts['enum']} enum values, more than {MAX_ENUM_VALUES}")
    if counts["chars"] > MAX_STRING_TOTAL:
        errors.append(f"{counts['chars']} characters of names and enum values, more than {MAX_STRING_TOTAL}")
    return errors


def _walk(node: Any, path: str, depth: int, defs: dict[str, Any], errors: list[str], counts: dict[str, int]) -> None:
    if not isinstance(node, dict):
        errors.append(f"{path}: schema must be an object")
        return
    if "$ref" in node:
        ref = str(node["$ref"])
        if not (ref == "#" or (ref.startswith("#/$defs/") and ref.split("/")[-1] in defs)):
            errors.append(f"{path}: $ref {ref!r} does not resolve into $defs")
        return
    if "anyOf" in node:
        for index, option in enumerate(node["anyOf"]):
            _walk(option, f"{path}/anyOf/{index}", depth, defs, errors, counts)
        extra = set(node) - {"anyOf", "description", "title"}
        if extra:
            errors.append(f"{path}: keywords {sorted(extra)} are not permitted beside anyOf")
        return
    kind = node.get("type")
    if kind not in TYPES and "enum" not in node and "const" not in node:
        errors.append(f"{path}: type {kind!r} is not supported")
    allowed = ANY_KEYWORDS | TYPE_KEYWORDS.get(kind if isinstance(kind, str) else "", set())
    unsupported = sorted(set(node) - allowed)
    if unsupported:
        errors.append(f"{path}: keywords {unsupported} are not permitted")
    if node.get("format") is not None and node["format"] not in FORMATS:
        errors.append(f"{path}: format {node['format']!r} is not supported")
    if "enum" in node:
        counts["enum"] += len(node["enum"])
        counts["chars"] += sum(len(str(value)) for value in node["enum"])
    if "const" in node:
        counts["chars"] += len(str(node["const"]))
    if kind == "object":
        if depth + 1 > MAX_DEPTH:
            errors.append(f"{path}: more than {MAX_DEPTH} levels of nesting")
        properties = node.get("properties", {})
        if node.get("additionalProperties") is not False:
            errors.append(f"{path}: 'additionalProperties' is required to be supplied and to be false")
        missing = [name for name in properties if name not in node.get("required", [])]
        if missing:
            errors.append(f"{path}: 'required' must include every key in properties; missing {missing}")
        counts["properties"] += len(properties)
        for name, sub in properties.items():
            counts["chars"] += len(name)
            _walk(sub, f"{path}/properties/{name}", depth + 1, defs, errors, counts)
    if kind == "array" and "items" in node:
        _walk(node["items"], f"{path}/items", depth, defs, errors, counts)
