"""What the run folder keeps of one model call beyond its audit record: the prompt's messages and the response text
as plain text, each stored as a content-addressed blob (`AuditLog.put_blob`) and named in the `llm_call` record
(`prompt_blob`, `response_blob`), so the run page can open them and `scientist audit verify` checks them.

Why text and not JSON: the run page shows a blob's first bytes as they are; a readable header per message (with its
length, so a message that itself contains a header line cannot be confused with the next one) beats escaped JSON.
The exact request stays in the record/replay store under the record's `request_hash`, which the prompt text names.

Both are bounded (`Settings.model_call_blob_max_bytes`): a longer text is cut at a UTF-8 character boundary and a
marker line says how much was not kept. Everything here is a pure function of its input, so a killed and resumed
run writes byte-identical blobs. Redaction is the caller's (`scientist.audit.log.redact` before the cut, so a secret
is never cut in half past recognition; `put_blob` redacts again, which changes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

CAP_SETTING = "model_call_blob_max_bytes"


def truncated(text: str, max_bytes: int) -> str:
    """`text` whole when its UTF-8 form fits `max_bytes`, else its first `max_bytes` bytes and a marker line."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= max_bytes:
        return text
    kept = data[:max_bytes].decode("utf-8", errors="ignore")  # never half a character
    return (
        f"{kept}\n[... truncated by scientist: {len(kept.encode('utf-8'))} of {len(data)} bytes kept"
        f" ({CAP_SETTING} = {max_bytes})]\n"
    )


def prompt_text(messages: Sequence[Mapping[str, str]], request_hash: str) -> str:
    """The messages of one call as text: a first line naming the request, then per message a header
    `--- <role> (<n> characters) ---` and its content."""
    parts = [f"model call prompt · request {request_hash} · {len(messages)} messages\n"]
    for message in messages:
        content = str(message.get("content", ""))
        parts.append(f"--- {message.get('role', '?')} ({len(content)} characters) ---\n{content}\n")
    return "".join(parts)
