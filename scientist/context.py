"""What every stage of one run shares: settings, folder, audit log, model gateway, sandbox, template."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scientist.audit.log import AuditLog
from scientist.config import Settings
from scientist.llm.gateway import LLMGateway
from scientist.runs import RunFolder
from scientist.sandbox import Sandbox
from scientist.template import Template

ProgressCallback = Callable[[str, str], None]


def _ignore_progress(stage: str, message: str) -> None:
    return None


@dataclass
class RunContext:
    run_id: str
    run_dir: Path
    settings: Settings
    audit: AuditLog
    gateway: LLMGateway
    sandbox: Sandbox
    template: Template
    progress: ProgressCallback = field(default=_ignore_progress)

    @property
    def folder(self) -> RunFolder:
        """The run folder's paths (`runs.RunFolder`: its docstring is the layout)."""
        return RunFolder(self.run_dir)
