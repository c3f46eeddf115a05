"""Terminal-safe display of anything a model or a sandbox run wrote (issue 21, item 10).

Run output and model text are attacker-controlled. Printed raw, they reach the operator's terminal emulator:
OSC 52 writes the clipboard, OSC 8 hides a link behind harmless text, OSC 0 retitles the window, CSI sequences
clear the screen or move the cursor to overwrite what the harness printed (a forged "ok"), and bidi overrides
reorder a line. Printed through rich, `[link=...]`/`[bold]` in model text is interpreted as markup.

`clean(text)` removes every escape sequence and control character but newline and tab (and the Unicode bidi
controls); `safe(text)` also escapes rich markup, for text placed inside a rich `print`. Every CLI path that shows
run- or model-derived text calls one of them.
"""

from __future__ import annotations

import re

from rich.markup import escape

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (terminated by BEL or ST, or
# unterminated to the end), and two-character escapes; then the 8-bit C1 forms; then lone C0/C1 controls.
_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    """`text` without escape sequences or control characters (newline and tab kept): safe to print raw."""
    return _CONTROLS.sub("", _SEQUENCES.sub("", str(text)))


def safe(text: object) -> str:
    """`clean(text)` with rich markup escaped: safe inside a rich `print` or a table cell."""
    return escape(clean(text))
