"""Prompt templates: one Jinja2 file per prompt, each with a `system` and a `user` block.

Rendering returns the template's sha256 alongside the text so every model call can be traced in the audit log to
the exact prompt version that produced it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

PROMPTS_DIR = Path(__file__).parent


class RenderedPrompt(BaseModel):
    name: str
    sha256: str
    system: str
    user: str

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


@cache
def _environment() -> jinja2.Environment:
    # StrictUndefined: a missing variable is a bug in the caller, not an empty string sent to a paid model.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROMPTS_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def prompt_names() -> list[str]:
    return sorted(path.stem for path in PROMPTS_DIR.glob("*.j2"))


def prompt_sha256(name: str) -> str:
    return hashlib.sha256((PROMPTS_DIR / f"{name}.j2").read_bytes()).hexdigest()


def render(name: str, variables: Mapping[str, Any]) -> RenderedPrompt:
    """Render prompt `name` (file `<name>.j2`) with `variables`."""
    template = _environment().get_template(f"{name}.j2")
    context = template.new_context(dict(variables))
    blocks = {block: "".join(render_block(context)).strip() for block, render_block in template.blocks.items()}
    if "user" not in blocks:
        raise ValueError(f"prompt {name} has no 'user' block")
    return RenderedPrompt(name=name, sha256=prompt_sha256(name), system=blocks.get("system", ""), user=blocks["user"])
