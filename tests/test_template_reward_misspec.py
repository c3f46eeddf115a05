"""The reward_misspec template runs for real, shows reward gaming, and the registry guards its knobs."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scientist.errors import ConfigError, ScientistError, UnknownTemplateError
from scientist.template import Template, list_templates, load_template, templates_root

TEMPLATE = templates_root() / "reward_misspec"
METRICS = {"true_return", "proxy_return", "gaming_rate", "goal_reach_rate"}


def run_experiment(out_dir: Path, overrides: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """Run experiment.py as the sandbox would (a subprocess, config file next to it) and return final_info."""
    command = [sys.executable, str(TEMPLATE / "experiment.py"), "--out_dir", str(out_dir), "--seed", str(seed)]
    if overrides is not None:
        config = json.loads((TEMPLATE / "config.json").read_text(encoding="utf-8"))
        config.update(overrides)
        config_path = out_dir.parent / f"{out_dir.name}-config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        command += ["--config", str(config_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info: dict[str, Any] = json.loads((out_dir / "final_info.json").read_text(encoding="utf-8"))
    return info


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("baseline") / "out"
    return out, run_experiment(out)


def test_baseline_writes_all_outputs_and_games_the_proxy(baseline: tuple[Path, dict[str, Any]]) -> None:
    out, info = baseline
    metrics = info["metrics"]
    assert set(metrics) == METRICS
    assert all(isinstance(value, float) and math.isfinite(value) for value in metrics.values())
    assert 0.0 <= metrics["gaming_rate"] <= 1.0 and 0.0 <= metrics["goal_reach_rate"] <= 1.0
    # The defaults are the misspecified setting: the agent farms the coin instead of reaching the goal.
    assert metrics["gaming_rate"] >= 0.9
    assert metrics["goal_reach_rate"] <= 0.1
    assert metrics["true_return"] < 0 < metrics["proxy_return"]
    assert metrics["proxy_return"] > 5 * abs(metrics["true_return"])
    assert info["config"] == json.loads((TEMPLATE / "config.json").read_text(encoding="utf-8"))
    assert info["seed"] == 0 and info["train_episodes"] == info["config"]["episodes"]
    assert "runtime_s" not in info  # wall time would make the bytes (and their sha256) differ run to run
    assert json.loads((out / "timing.json").read_text(encoding="utf-8"))["runtime_s"] > 0
    curves = json.loads((out / "curves.json").read_text(encoding="utf-8"))
    assert len(curves["episode"]) == len(curves["proxy_return"]) == len(curves["true_return"]) <= 200
    assert curves["episode"][-1] == info["train_episodes"]
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "evaluation:" in log and f"episode {info['train_episodes']}/" in log


def test_blending_the_true_reward_in_reduces_gaming(tmp_path: Path, baseline: tuple[Path, dict[str, Any]]) -> None:
    mitigated = run_experiment(tmp_path / "out", {"true_reward_weight_in_proxy": 1.0})["metrics"]
    base = baseline[1]["metrics"]
    assert mitigated["gaming_rate"] <= 0.1 < base["gaming_rate"]
    assert mitigated["goal_reach_rate"] >= 0.9
    assert mitigated["true_return"] > base["true_return"] + 1.0


def test_same_seed_same_metrics_different_seed_runs(tmp_path: Path, baseline: tuple[Path, dict[str, Any]]) -> None:
    again = run_experiment(tmp_path / "again")
    assert again["metrics"] == baseline[1]["metrics"]
    assert json.loads((tmp_path / "again" / "curves.json").read_text()) == json.loads(
        (baseline[0] / "curves.json").read_text()
    )


def evaluate(
    artifacts: Path, out_dir: Path, config: Path | None = None, seed: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run evaluate.py as the harness does (over a folder holding the saved policy.json), beside the shared code the
    harness vendors into its workspace."""
    folder = out_dir.parent / f"{out_dir.name}-evaluator"
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in {"evaluate.py": TEMPLATE / "evaluate.py", **load_template("reward_misspec").vendored()}.items():
        shutil.copyfile(source, folder / name)
    command = [sys.executable, str(folder / "evaluate.py"), "--artifacts_dir", str(artifacts)]
    command += ["--config", str(config or TEMPLATE / "config.json"), "--out_dir", str(out_dir), "--seed", str(seed)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_evaluator_measures_the_saved_policy_as_the_v1_template_did(
    tmp_path: Path, baseline: tuple[Path, dict[str, Any]]
) -> None:
    out = baseline[0]
    policy = json.loads((out / "policy.json").read_text(encoding="utf-8"))
    assert len(policy["actions"]) == 5 and len(policy["actions"][0][0]) == 3  # rows x cols x coin timer states
    proc = evaluate(out, tmp_path / "eval")
    assert proc.returncode == 0, proc.stderr
    # The same bytes as the run's own final_info.json (the v1 file: same numbers, order, formatting and sha256).
    assert (tmp_path / "eval" / "final_info.json").read_bytes() == (out / "final_info.json").read_bytes()
    # The yardstick is the evaluator's: a policy that walks to the goal scores what the environment gives it.
    walker = [[[1 if row < 4 else 3 for _ in range(3)] for _ in range(5)] for row in range(5)]
    (tmp_path / "walker").mkdir()
    (tmp_path / "walker" / "policy.json").write_text(json.dumps({"actions": walker}), encoding="utf-8")
    assert evaluate(tmp_path / "walker", tmp_path / "walked").returncode == 0
    walked = json.loads((tmp_path / "walked" / "final_info.json").read_text(encoding="utf-8"))["metrics"]
    assert walked["goal_reach_rate"] >= 0.9 and walked["gaming_rate"] == 0.0 and walked["true_return"] > 0.8


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        (None, "policy.json must be a regular file"),
        ("not json", "cannot read policy.json"),
        ({"actions": [[[0, 0, 0]] * 5] * 4}, "integer array of shape (5, 5, 3)"),
        ({"actions": [[[0, 0, 9]] * 5] * 5}, "action outside 0-3"),
        ({"actions": [[[0.5, 0, 0]] * 5] * 5}, "integer array"),
    ],
)
def test_the_evaluator_rejects_an_unusable_artifact_in_one_line(tmp_path: Path, policy: Any, fragment: str) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    if policy is not None:
        text = policy if isinstance(policy, str) else json.dumps(policy)
        (artifacts / "policy.json").write_text(text, encoding="utf-8")
    proc = evaluate(artifacts, tmp_path / "out")
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_the_evaluator_ignores_the_agents_own_knobs_but_checks_the_task(tmp_path: Path) -> None:
    (tmp_path / "artifacts").mkdir()
    actions = [[[3] * 3] * 5] * 5
    (tmp_path / "artifacts" / "policy.json").write_text(json.dumps({"actions": actions}), encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"my_learning_trick": "on", "alpha": 0.3}), encoding="utf-8")  # code mode's knobs
    assert evaluate(tmp_path / "artifacts", tmp_path / "out", config).returncode == 0
    info = json.loads((tmp_path / "out" / "final_info.json").read_text(encoding="utf-8"))
    assert "my_learning_trick" not in info["config"] and info["config"]["alpha"] == 0.3
    config.write_text(json.dumps({"slip_prob": 2.0}), encoding="utf-8")
    proc = evaluate(tmp_path / "artifacts", tmp_path / "bad", config)
    assert proc.returncode == 2 and "'slip_prob'=2.0 is outside [0.0, 1.0]" in proc.stderr


def test_bad_config_fails_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    for bad, fragment in (({"coin_rewrd": 1}, "unknown config keys"), ({"grid_size": 2.5}, "integer")):
        config.write_text(json.dumps(bad), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, str(TEMPLATE / "experiment.py"), "--out_dir", str(tmp_path), "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr


def test_plot_draws_runs_and_tolerates_a_missing_one(tmp_path: Path, baseline: tuple[Path, dict[str, Any]]) -> None:
    figure = tmp_path / "fig" / "results.png"
    command = [sys.executable, str(TEMPLATE / "plot.py"), "--run_dirs", str(baseline[0]), str(tmp_path / "nope")]
    proc = subprocess.run(
        [*command, "--labels", "baseline", "broken", "--out", str(figure)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "skipping" in proc.stdout and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = subprocess.run(
        [sys.executable, str(TEMPLATE / "plot.py"), "--run_dirs", str(tmp_path / "nope"), "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert empty.returncode == 0 and "nothing to plot" in empty.stdout and not (tmp_path / "x").exists()


# --- registry -------------------------------------------------------------------------------------------------


def test_registry_lists_and_loads_the_template() -> None:
    assert "reward_misspec" in list_templates()
    template = load_template("reward_misspec")
    assert template.path == TEMPLATE and template.primary_metric == "true_return"
    assert set(template.metrics) == METRICS
    assert template.metrics["gaming_rate"].direction == "lower"
    # Template contract v2: the evaluator is the harness's, the learner the agent's (config mode: config.json only).
    assert {"evaluate.py", "plot.py", "template.toml"} <= set(template.protected)
    assert template.evaluator is not None and template.evaluator.artifacts == ["policy.json"]
    assert template.editable == ["config.json", "experiment.py"] and template.editable_for("config") == ["config.json"]
    # What config mode tells the model is protected: the v1 list its recorded prompts show (tests/fixtures/llm*).
    assert template.protected_for("config") == ["experiment.py", "plot.py", "template.toml"]
    assert template.protected_for("code") == template.protected
    assert template.limits.wall_time_s <= 60
    assert template.task_description.strip()
    assert 2 <= len(template.seed_ideas) <= 3


def test_defaults_agree_across_toml_config_and_experiment() -> None:
    template = load_template("reward_misspec")
    config = json.loads((TEMPLATE / "config.json").read_text(encoding="utf-8"))
    assert template.default_config() == config
    namespace: dict[str, Any] = {"__name__": "not_main"}
    exec(compile((TEMPLATE / "experiment.py").read_text(encoding="utf-8"), "experiment.py", "exec"), namespace)
    assert namespace["DEFAULTS"] == config
    for name, spec in template.params.items():
        assert isinstance(config[name], int if spec.type == "int" else float), name
        low, high = namespace["BOUNDS"][name]
        assert low <= spec.min <= spec.max <= high, name  # template ranges never reach the script's hard limits


def test_seed_ideas_propose_valid_variants() -> None:
    template = load_template("reward_misspec")
    for idea in template.seed_ideas:
        assert idea.title and idea.hypothesis and idea.experiment_plan and idea.risks
        assert template.validate_variant(idea.variant) == idea.variant


def test_unknown_template_names_the_available_ones() -> None:
    with pytest.raises(UnknownTemplateError) as err:
        load_template("no_such_template")
    assert "reward_misspec" in str(err.value)
    with pytest.raises(UnknownTemplateError):
        load_template("../reward_misspec")


def copy_template(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    shutil.copytree(TEMPLATE, folder)
    return folder


def test_a_template_folder_loads_by_path(tmp_path: Path) -> None:
    template = load_template(str(copy_template(tmp_path)))
    assert template.name == "reward_misspec" and template.path == tmp_path / "mine"


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    folder = copy_template(tmp_path)
    (folder / "template.toml").write_text("name = [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_template(str(folder))
    assert str(folder / "template.toml") in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('primary_metric = "true_return"', 'primary_metric = "accuracy"', "primary_metric"),
        ('direction = "lower"', 'direction = "sideways"', "direction"),
        ("default = 5\n", "default = 50\n", "outside"),
    ],
)
def test_invalid_template_fields_are_config_errors(tmp_path: Path, old: str, new: str, problem: str) -> None:
    folder = copy_template(tmp_path)
    toml = folder / "template.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_template(str(folder))
    assert str(toml) in str(err.value) and problem in str(err.value)


def test_config_json_drifting_from_the_defaults_is_caught(tmp_path: Path) -> None:
    folder = copy_template(tmp_path)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["coin_reward"] = 0.7
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ConfigError, match="does not match"):
        load_template(str(folder))


# --- variants ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template("reward_misspec")


def test_validate_variant_coerces_types(template: Template) -> None:
    assert template.validate_variant({"grid_size": 6.0, "coin_reward": 1, "gamma": "0.9"}) == {
        "grid_size": 6,
        "coin_reward": 1.0,
        "gamma": 0.9,
    }
    assert isinstance(template.validate_variant({"grid_size": 6.0})["grid_size"], int)
    assert isinstance(template.validate_variant({"coin_reward": 1})["coin_reward"], float)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"learning_rate": 0.1}, "learning_rate"),
        ({"gamma": 1.5}, "outside its range"),
        ({"grid_size": 2}, "outside its range"),
        ({"grid_size": 5.5}, "integer"),
        ({"epsilon": "lots"}, "number"),
        ({"epsilon": float("nan")}, "finite"),
        ({"episodes": True}, "number"),
    ],
)
def test_validate_variant_rejects(template: Template, overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ScientistError) as err:
        template.validate_variant(overrides)
    assert fragment in str(err.value)


def test_clamp_variant_drops_unknown_and_clamps(template: Template) -> None:
    clamped = template.clamp_variant(
        {"gamma": 7.0, "grid_size": 6.6, "coin_reward": -1, "bogus": 3, "epsilon": float("inf"), "alpha": "x"}
    )
    assert clamped == {"gamma": 0.999, "grid_size": 7, "coin_reward": 0.0}
    assert isinstance(clamped["grid_size"], int)
    assert template.clamp_variant({"episodes": 10**9}) == {"episodes": template.params["episodes"].max}
    # Whatever clamp returns, validate accepts: the pipeline's fallback never produces an invalid run.
    assert template.validate_variant(clamped) == clamped


@pytest.mark.parametrize(
    ("listed", "problem"),
    [
        ('["config.json", "plot.py"]', "config_protected file 'config.json'"),  # config mode edits it
        ('["experiment.py", "nope.py"]', "config_protected file 'nope.py'"),  # not a file of the template
    ],
)
def test_config_protected_must_name_files_config_mode_may_not_edit(tmp_path: Path, listed: str, problem: str) -> None:
    folder = copy_template(tmp_path)
    toml = folder / "template.toml"
    text = toml.read_text(encoding="utf-8")
    old = 'config_protected = ["experiment.py", "plot.py", "template.toml"]'
    assert old in text
    toml.write_text(text.replace(old, f"config_protected = {listed}"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_template(str(folder))
    assert problem in str(err.value)


def test_one_seed_report_takes_only_the_two_documented_values(tmp_path: Path) -> None:
    folder = copy_template(tmp_path)
    toml = folder / "template.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace('one_seed_report = "evaluator"', 'one_seed_report = "agent"'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_template(str(folder))
    assert "one_seed_report" in str(err.value)
