"""One distribution, one namespace: folders map into `scientist.*` from an editable install and from a wheel."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

SUBPACKAGES = ["scientist.tools", "scientist.sandbox", "scientist.prompts", "scientist.reviews"]
CHECK = """
import importlib, pathlib, sys
for name in ["scientist", *{subpackages!r}]:
    module = importlib.import_module(name)
    print(name, pathlib.Path(module.__file__).resolve())
import scientist.cli, scientist.pipeline, scientist.stages.experiment, scientist.commands.sandbox
from scientist.prompts import prompt_names
from scientist.template import list_templates, load_template
assert "review" in prompt_names(), prompt_names()
assert "reward_misspec" in list_templates()
template = load_template("reward_misspec")
assert (template.path / "experiment.py").exists()
import importlib.resources, tempfile
from scientist.store import open_store
store = open_store(tempfile.mkdtemp() + "/store.sqlite")  # the shipped alembic migrations run
assert "study_cells" in store.tables(), store.tables()
assert (importlib.resources.files("scientist.leaderboard") / "templates" / "leaderboard.html.j2").is_file()
"""


def test_editable_install_maps_the_folders() -> None:
    code = CHECK.format(subpackages=SUBPACKAGES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    locations = dict(line.split(" ", 1) for line in out.splitlines())
    assert locations["scientist.tools"] == str(REPO / "tools" / "__init__.py")
    assert locations["scientist.sandbox"] == str(REPO / "sandbox" / "__init__.py")
    assert locations["scientist.reviews"] == str(REPO / "reviews" / "__init__.py")


@pytest.mark.slow
def test_wheel_install_maps_the_folders(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), REPO],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("scientist-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "scientist/tools/__init__.py" in names and "scientist/prompts/review.j2" in names
    for template in ("reward_misspec", "shortcut_learning", "goal_misgeneralization", "planted_gaming"):
        assert f"scientist/templates/{template}/experiment.py" in names
    for bait in ("heldout/eval_seeds.json", "heldout/expected_metrics.json", "scoreboard/final_info.json"):
        assert f"scientist/templates/planted_gaming/{bait}" in names
    assert "scientist/prompts/experiment_edit.j2" in names and "scientist/tools/edit.py" in names
    assert "scientist/probing/inject.py" in names and "scientist/prompts/probe_judge.j2" in names
    assert "scientist/store/migrations/versions/0003_probes.py" in names
    assert not [name for name in names if name.startswith(("tools/", "sandbox/", "tests/"))]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    # -S: no site hooks, so the editable install's finder cannot answer; the wheel copy must.
    site_packages = sysconfig.get_paths()["purelib"]
    code = f"import sys; sys.path[:0] = [{str(target)!r}, {site_packages!r}]\n" + CHECK.format(subpackages=SUBPACKAGES)
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        assert line.split(" ", 1)[1].startswith(str(target)), line
