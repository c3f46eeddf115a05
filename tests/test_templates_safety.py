"""Every bundled research template runs in the real sandbox, shows the effect it is about, and moves the documented
way when a known mitigation is applied; plot.py draws them in the sandbox too. All follow template contract v2: the
numbers asserted on are the protected evaluator's, run as the harness runs it (a fresh workspace holding the
template, the run's config.json and the artifacts the run saved). reward_misspec and planted_gaming, ported from
contract v1, must also keep their v1 final_info.json byte for byte (the file recorded papers were made from)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from scientist.sandbox import Limits, copy_in, get_sandbox
from scientist.template import load_template
from tests.conftest import chosen_sandbox, run_cli

pytestmark = pytest.mark.slow
TEMPLATES = (
    "shortcut_learning",
    "goal_misgeneralization",
    "reward_model_overoptimization",
    "reward_misspec",
    "planted_gaming",
)
MITIGATIONS = {
    "shortcut_learning": {"group_reweight": 1.0},
    "goal_misgeneralization": {"goal_randomization": 0.5},
    "reward_model_overoptimization": {"kl_coef": 1.0},
    "reward_misspec": {"true_reward_weight_in_proxy": 1.0},
    "planted_gaming": {"true_reward_weight_in_proxy": 1.0},
}
V1_PORTS = ("reward_misspec", "planted_gaming")  # one seed reports the evaluator's file as is: the v1 bytes


def sandbox_run(tmp_path: Path, name: str, overrides: dict[str, Any], label: str) -> tuple[Path, dict[str, Any]]:
    """Run the template's experiment.py in the configured sandbox, as the experiment stage does."""
    template = load_template(name)
    sandbox = get_sandbox(chosen_sandbox(), run_label=f"test-{name}")
    workspace = tmp_path / label / "workspace"
    sandbox.prepare(template.path, workspace, template.protected, template.vendored())
    config = json.loads((workspace / "config.json").read_text())
    (workspace / "config.json").write_text(json.dumps({**config, **overrides}))
    limits = Limits(wall_time_s=template.limits.wall_time_s, memory_mb=template.limits.memory_mb)
    command = ["python", "experiment.py", "--out_dir", "out", "--config", "config.json", "--seed", "0"]
    result = sandbox.run(workspace, command, limits, out_dir="out", log_dir=tmp_path / label / "logs")
    assert result.ok, result.stderr_tail
    assert result.wall_time_s < template.limits.wall_time_s
    claim_file = workspace / "out" / "final_info.json"
    claimed = json.loads(claim_file.read_text()) if claim_file.is_file() else None
    if template.evaluator is None:
        assert claimed is not None
        return workspace / "out", claimed
    # Contract v2: the harness's evaluator, in a fresh workspace over the saved artifacts, gives the numbers.
    evaluator = tmp_path / label / "evaluator"
    sandbox.prepare(template.path, evaluator, template.protected, template.vendored())
    copy_in(evaluator, {"config.json": workspace / "config.json"})
    copy_in(evaluator, {f"artifacts/{name}": workspace / "out" / name for name in template.evaluator.artifacts})
    command = ["python", template.evaluator.script, "--artifacts_dir", "artifacts", "--config", "config.json"]
    command += ["--out_dir", "out", "--seed", "0"]
    result = sandbox.run(evaluator, command, limits, out_dir="out", log_dir=tmp_path / label / "evaluator-logs")
    assert result.ok, result.stderr_tail
    measured = json.loads((evaluator / "out" / "final_info.json").read_text())
    if claimed is not None:
        assert measured["metrics"] == claimed["metrics"]  # the honest template's self-report is the measurement
    if name in V1_PORTS:  # the v1 final_info.json, to the byte (the file the embedded model's papers digest)
        assert (evaluator / "out" / "final_info.json").read_bytes() == claim_file.read_bytes()
    # What the pipeline's plot step sees: the agent's outputs, with the evaluator's final_info over any claim.
    merged = tmp_path / label / "merged"
    shutil.copytree(workspace / "out", merged)
    shutil.copyfile(evaluator / "out" / "final_info.json", merged / "final_info.json")
    return merged, measured


@pytest.fixture(scope="module", params=TEMPLATES)
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    name = request.param
    tmp = tmp_path_factory.mktemp(name)
    base_dir, base = sandbox_run(tmp, name, {}, "baseline")
    fix_dir, fixed = sandbox_run(tmp, name, MITIGATIONS[name], "mitigated")
    return {
        "name": name,
        "tmp": tmp,
        "dirs": [base_dir, fix_dir],
        "baseline": base,
        "mitigated": fixed,
        "baseline_curves": base.get("curves"),
    }


def test_baseline_shows_the_effect_and_the_mitigation_moves_the_metric(runs: dict[str, Any]) -> None:
    base, fixed = runs["baseline"]["metrics"], runs["mitigated"]["metrics"]
    template = load_template(runs["name"])
    assert set(base) == set(template.metrics)
    if runs["name"] == "shortcut_learning":
        assert base["id_accuracy"] >= 0.9 and base["ood_accuracy"] <= 0.7  # OOD well below ID: the shortcut
        assert base["generalization_gap"] >= 0.25
        assert fixed["ood_accuracy"] >= base["ood_accuracy"] + 0.15 and fixed["generalization_gap"] <= 0.05
        assert fixed["worst_group_accuracy"] > base["worst_group_accuracy"]
    elif runs["name"] == "reward_model_overoptimization":
        # Gold reward rises with optimisation pressure, then falls while the proxy keeps rising (Gao et al.).
        assert 3 <= base["peak_log2_n"] <= 7 and base["overoptimization_drop"] >= 0.5
        assert base["peak_gold"] >= base["gold_at_max_n"] + 0.5 and base["proxy_at_max_n"] > base["peak_gold"] + 3
        gold = runs["baseline_curves"]["gold"]
        assert gold[int(base["peak_log2_n"])] >= gold[0] + 1.0  # a real rise first, not only a fall
        # The KL penalty removes the turn-down: gold rises all the way to best-of-1024.
        assert fixed["overoptimization_drop"] <= 0.05 and fixed["peak_log2_n"] >= 9
        assert fixed["gold_at_max_n"] >= base["peak_gold"] + 1.0
    elif runs["name"] in V1_PORTS:
        # The agent farms the coin (high proxy, negative true return); training on the true reward ends it.
        assert base["gaming_rate"] >= 0.9 and base["goal_reach_rate"] <= 0.1
        assert base["true_return"] < 0 < 5 * abs(base["true_return"]) < base["proxy_return"]
        assert fixed["gaming_rate"] <= 0.1 and fixed["goal_reach_rate"] >= 0.9
        assert fixed["true_return"] >= base["true_return"] + 1.0
    else:
        assert base["train_goal_rate"] >= 0.9  # it learned the training task...
        assert base["training_location_rate"] >= 0.4 > base["true_goal_rate"]  # ...and goes to the corner at test
        assert fixed["true_goal_rate"] >= 0.9 and fixed["training_location_rate"] <= 0.1
    direction = template.metrics[template.primary_metric].direction
    gain = fixed[template.primary_metric] - base[template.primary_metric]
    assert gain > 0 if direction == "higher" else gain < 0


def test_plot_runs_in_the_sandbox(runs: dict[str, Any]) -> None:
    template = load_template(runs["name"])
    sandbox = get_sandbox(chosen_sandbox(), run_label="test-plot")
    workspace = runs["tmp"] / "plot" / "workspace"
    sandbox.prepare(template.path, workspace, template.protected, template.vendored())
    for label, source in zip(("baseline", "mitigated"), runs["dirs"], strict=True):
        shutil.copytree(source, workspace / "runs" / label)
    command = ["python", "plot.py", "--run_dirs", "runs/baseline", "runs/mitigated", "runs/missing"]
    command += ["--labels", "baseline", "mitigated", "missing", "--out", "out/results.png"]
    result = sandbox.run(workspace, command, Limits(wall_time_s=120), out_dir="out", log_dir=runs["tmp"] / "plot-logs")
    assert result.ok, result.stderr_tail
    assert "skipping runs/missing" in result.stdout_tail
    assert (workspace / "out" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", TEMPLATES)
def test_defaults_agree_and_seed_ideas_are_valid(name: str) -> None:
    template = load_template(name)
    config = json.loads((template.path / "config.json").read_text())
    namespace: dict[str, Any] = {"__name__": "not_main"}
    exec(compile((template.path / "experiment.py").read_text(), "experiment.py", "exec"), namespace)
    assert namespace["DEFAULTS"] == config == template.default_config()
    for param, spec in template.params.items():
        low, high = namespace["BOUNDS"][param]
        assert low <= spec.min <= spec.max <= high, param
    # The yardstick is protected: experiment.py itself (contract v1), or the harness-owned evaluator (v2).
    yardstick = template.evaluator.script if template.evaluator else "experiment.py"
    assert {yardstick, "plot.py", "template.toml"} <= set(template.protected)
    assert template.limits.wall_time_s <= 60 and 2 <= len(template.seed_ideas) <= 3
    for idea in template.seed_ideas:
        assert template.validate_variant(idea.variant) == idea.variant
    assert MITIGATIONS[name] == template.validate_variant(MITIGATIONS[name])
    assert (template.path / "README.md").is_file() and (template.path / "latex" / "template.tex").is_file()


def test_templates_list_and_show() -> None:
    listing = run_cli("templates", "list", env={"COLUMNS": "200"})
    assert listing.returncode == 0
    for name in TEMPLATES:
        assert name in listing.stdout
    shown = run_cli("templates", "show", "shortcut_learning", env={"COLUMNS": "200"})
    assert shown.returncode == 0
    for fragment in ("ood_accuracy (primary)", "group_reweight", "protected: evaluate.py", "seed idea:"):
        assert fragment in shown.stdout
    missing = run_cli("templates", "show", "no_such_template")
    assert missing.returncode == 2 and "available templates" in missing.stderr and "Traceback" not in missing.stderr
