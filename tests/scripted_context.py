"""One experiment-stage context over a scripted model, for the template-contract tests (test_template_contract.py,
test_template_ports.py): the real sandbox, a recording gateway pointed at an OpenAI stub whose replies the test
scripts, one run and no fix attempt unless the test asks for more. The helpers read what the stage wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scientist.audit.log import AuditLog
from scientist.config import Settings
from scientist.context import RunContext
from scientist.llm.gateway import LLMGateway
from scientist.sandbox import get_sandbox
from scientist.template import load_template
from tests.conftest import quick_sandbox
from tests.openai_stub import OpenAIStub


def block(path: str, search: str, replace: str) -> str:
    """One SEARCH/REPLACE edit block, as the model writes it."""
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def scripted_context(tmp_path: Path, stub: OpenAIStub, template: str, *, run_id: str, **knobs: Any) -> RunContext:
    """A run context on `template` whose model is `stub`; `knobs` override the settings (monitor_policy, edit_mode,
    fix_attempts, ...)."""
    values: dict[str, Any] = {
        "model": "openai/gpt-4o-mini",
        "api_base": stub.base_url,
        "api_key": "sk-test-not-a-real-key-0000",
        "llm_cache_dir": tmp_path / "store",
        "llm_mode": "record",
        "transient_retries": 0,
        "sandbox": quick_sandbox(),
        "experiment_runs": 1,
        "fix_attempts": 0,
        **knobs,
    }
    settings = Settings(**values)
    run_dir = tmp_path / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    audit = AuditLog(run_dir)
    return RunContext(
        run_id=run_id,
        run_dir=run_dir,
        settings=settings,
        audit=audit,
        gateway=LLMGateway(settings, audit),
        sandbox=get_sandbox(settings.sandbox, run_label=run_id),
        template=load_template(template),
    )


def by_label(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["label"]: record for record in records}


def reported(ctx: RunContext, record: dict[str, Any]) -> dict[str, Any]:
    """The final_info.json a run's record reports (the evaluator's, under contract v2)."""
    info: dict[str, Any] = json.loads((ctx.run_dir / record["final_info_path"]).read_text())
    return info
