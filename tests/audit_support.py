"""Audit records for tests that plant a few fields a reader looks at: the rest of the kind's required fields are
filled with neutral values, so the record passes its model (scientist.audit.events) as a real one does."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from scientist.audit.events import EVENTS
from scientist.audit.log import AuditLog

_NEUTRAL: tuple[Any, ...] = (None, False, "", 0, 0.0, [], {})


def filled(kind: str, log: AuditLog | None = None, /, **given: Any) -> dict[str, Any]:
    """`given` (stored names: `from`, not `from_`) plus a neutral value for every other required field of `kind`;
    a missing `*_blob` field points at an empty blob of `log` (the log refuses a reference to no blob)."""
    payload = dict(given)
    for name, info in EVENTS[kind].model_fields.items():
        key = info.alias or name
        if key in payload or not info.is_required():
            continue
        if key.endswith("_blob"):
            if log is None:
                raise ValueError(f"{kind} needs {key}: pass the log to store an empty blob for it")
            payload[key] = log.put_blob("")
            continue
        adapter: TypeAdapter[Any] = TypeAdapter(info.annotation)
        for value in _NEUTRAL:
            try:
                adapter.validate_python(value, strict=True)  # strict: no 0 for a bool, no False for an int
            except ValidationError:
                continue
            payload[key] = value
            break
    return payload
