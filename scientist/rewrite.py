"""`scientist write RUN`: run only the write stage again for a run whose experiments are finished.

Why through the checkpoint: the new paper is written into the graph's state as if the `write` node had produced
it, so the run's next step is `review` and `scientist resume RUN` reviews the new paper (nothing else re-runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scientist.audit import events as audit_events
from scientist.context import ProgressCallback
from scientist.errors import ScientistError
from scientist.runs import RunInfo, load_run

REFUSED = {
    "stopped": "start a new run instead",
    "waiting": "decide its pending approval first (`scientist approvals list`)",
}


def rewrite_paper(
    runs_dir: Path,
    run_id: str,
    feedback: str | None = None,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> tuple[RunInfo, Path, dict[str, Any]]:
    """Write the run's paper again from its recorded idea and experiments; returns (run info, folder, paper.json).

    The run's recorded settings apply, except `overrides` (as for `scientist resume`: repair_retries, max_tokens,
    the current config's `models` entries), which are audited with the rewrite."""
    from scientist.llm.gateway import check_model
    from scientist.monitors.hooks import check_paper
    from scientist.pipeline import build_graph, checkpointer, thread_config
    from scientist.runner import _context, _save, resume_settings
    from scientist.stages.writing import write_paper

    info, run_dir = load_run(runs_dir, run_id)
    if info.status in REFUSED:
        raise ScientistError(f"run {info.id} is {info.status}: {info.status_detail}", hint=REFUSED[info.status])
    settings = resume_settings(run_dir, **overrides)
    check_model(settings)
    context, _ = _context(info, run_dir, settings, progress)
    with checkpointer(run_dir) as saver:
        graph = build_graph(context, saver)
        config = thread_config(info.id)
        state = graph.get_state(config).values or {}
        if not state.get("experiments") or not state.get("selected"):
            raise ScientistError(
                f"run {info.id} has no finished experiments to write about",
                hint=f"`scientist resume {info.id}` runs them first (see `scientist runs show {info.id}`)",
            )
        feedback = (feedback or "").strip() or state.get("write_feedback")
        changed = {key: value for key, value in overrides.items() if value is not None}
        context.audit.emit(
            audit_events.WriteRerun(feedback=feedback is not None, previous_status=info.status, overrides=changed),
            "user",
        )  # fmt: skip
        context.audit.emit(audit_events.NodeStart(node="write", rerun=True), "pipeline")
        # No bound graph: a finding that needs a human stops this command (MonitorStopError); the checkpoint stays.
        try:
            context.gateway.warm_up()
            paper = write_paper(
                context, state["selected"], state["experiments"], state.get("figure"), feedback,
                novelty=state.get("novelty"),
            )  # fmt: skip
            check_paper(context, paper, state["experiments"])
        except BaseException as err:
            context.audit.emit(audit_events.NodeError(node="write", error=f"{type(err).__name__}: {err}"), "pipeline")
            raise
        graph.update_state(config, {"paper": paper, "write_feedback": feedback}, as_node="write")
        context.audit.emit(audit_events.NodeEnd(node="write", state_keys=["paper"], rerun=True), "pipeline")
    detail = f"paper re-written by `scientist write`; `scientist resume {info.id}` reviews it"
    info = info.model_copy(update={"status": "paused", "status_detail": detail})
    _save(context, info)
    return info, run_dir, paper
