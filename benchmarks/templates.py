"""Template runtimes at the defaults, the way the experiment stage runs them, in the real sandbox.

For each template: the agent's run (`experiment.py`, one seed) and, for a contract-v2 template, the harness's
evaluator in a fresh workspace over the saved artifacts. Prints the wall time of each (median of `--repeats`) and
the whole run for `--seeds` seeds (what one experiment run costs in code mode), against the budget of 120 s per
run on 2 cores. The baseline in the same run is a `python -c pass` in the same sandbox (the start-up cost).

Usage: .venv/bin/python benchmarks/templates.py [--sandbox docker|local] [--repeats 3] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scientist.sandbox import Limits, copy_in, get_sandbox  # noqa: E402
from scientist.template import list_templates, load_template  # noqa: E402

BUDGET_S = 120.0


def run_once(name: str, sandbox_name: str, root: Path, seed: int) -> tuple[float, float | None]:
    """(agent run seconds, evaluator seconds or None) for one seed."""
    template = load_template(name)
    sandbox = get_sandbox(sandbox_name, run_label=f"bench-{name}")
    limits = Limits(wall_time_s=template.limits.wall_time_s, memory_mb=template.limits.memory_mb)
    workspace = root / "agent"
    sandbox.prepare(template.path, workspace, template.protected, template.vendored())
    command = ["python", "experiment.py", "--out_dir", "out", "--config", "config.json", "--seed", str(seed)]
    agent = sandbox.run(workspace, command, limits, out_dir="out", log_dir=root / "agent-logs")
    if not agent.ok:
        raise SystemExit(f"{name}: experiment.py failed: {agent.stderr_tail[-300:]}")
    if template.evaluator is None:
        return agent.wall_time_s, None
    evaluator = root / "evaluator"
    sandbox.prepare(template.path, evaluator, template.protected, template.vendored())
    copy_in(evaluator, {"config.json": workspace / "config.json"})
    copy_in(evaluator, {f"artifacts/{a}": workspace / "out" / a for a in template.evaluator.artifacts})
    command = ["python", template.evaluator.script, "--artifacts_dir", "artifacts", "--config", "config.json"]
    command += ["--out_dir", "out", "--seed", str(seed)]
    result = sandbox.run(evaluator, command, limits, out_dir="out", log_dir=root / "evaluator-logs")
    if not result.ok:
        raise SystemExit(f"{name}: evaluator failed: {result.stderr_tail[-300:]}")
    return agent.wall_time_s, result.wall_time_s


def startup(sandbox_name: str, root: Path) -> float:
    sandbox = get_sandbox(sandbox_name, run_label="bench-startup")
    template = load_template("reward_misspec")
    sandbox.prepare(template.path, root, template.protected, template.vendored())
    result = sandbox.run(root, ["python", "-c", "pass"], Limits(), out_dir="out", log_dir=root.parent / "logs")
    return result.wall_time_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sandbox", default="docker", choices=["docker", "local"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-templates-") as tmp:
        base = statistics.median(startup(args.sandbox, Path(tmp) / f"start{i}" / "ws") for i in range(args.repeats))
        print(f"sandbox start-up ({args.sandbox}, python -c pass): {base:.2f} s")
        for name in list_templates():
            times = [run_once(name, args.sandbox, Path(tmp) / f"{name}-{i}", seed=i) for i in range(args.repeats)]
            agent = statistics.median(t[0] for t in times)
            evaluator = statistics.median(t[1] for t in times) if times[0][1] is not None else None
            per_run = (agent + (evaluator or 0.0)) * (args.seeds if evaluator is not None else 1)
            rows.append({"template": name, "agent_s": agent, "evaluator_s": evaluator, "run_s": per_run})
            shown = f"{evaluator:.2f} s" if evaluator is not None else "-"
            verdict = "ok" if per_run < BUDGET_S else "OVER BUDGET"
            print(
                f"{name:32s} agent {agent:6.2f} s  evaluator {shown:>8s}  one run ({args.seeds if evaluator else 1}"
                f" seed(s)) {per_run:6.2f} s = {per_run / BUDGET_S:.2f} of the {BUDGET_S:.0f} s budget  {verdict}"
            )
    print(json.dumps(rows))
    return 0 if all(row["run_s"] < BUDGET_S for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
