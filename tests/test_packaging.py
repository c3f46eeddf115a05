"""One distribution, one namespace: folders map into `scientist.*` from an editable install and from a wheel; the
wheel `python -m build` makes installs and runs in a fresh venv outside the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

import scientist
from tests.conftest import FIXTURE_TOPIC, LLM_FIXTURES, REPO, replay_env

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


def _sources(target: Path) -> Path:
    """A copy of what the distribution is built from (pyproject, README, the mapped folders): the build writes its
    egg-info and build/ there, never into the checkout another test may be reading."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    for folder in sorted(set(config["tool"]["setuptools"]["package-dir"].values())):
        shutil.copytree(REPO / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` as a release runs it: an sdist, then the wheel built from that sdist (so a file missing from
    the sdist is missing from the wheel too). No isolation: the build tools come from this environment, offline."""
    base = tmp_path_factory.mktemp("build")
    source = _sources(base / "src")
    out = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(base / "dist"), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (built,) = (base / "dist").glob("scientist-*.whl")
    return built


@pytest.mark.slow
def test_wheel_install_maps_the_folders(tmp_path: Path, wheel: Path) -> None:
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
    # Every tracked file of a mapped folder ships (prompts, templates, review data, the sandbox image, migrations...):
    # a new data file that package-data does not name fails here, not on a user's machine.
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    folders = {folder: package.replace(".", "/") for package, folder in mapping.items() if folder != package}
    folders["scientist"] = "scientist"
    tracked = subprocess.run(["git", "ls-files", *folders], capture_output=True, text=True, check=True, cwd=REPO)
    shipped = {f"{folders[path.split('/', 1)[0]]}/{path.split('/', 1)[1]}" for path in tracked.stdout.split()}
    assert shipped and not sorted(shipped - set(names)), sorted(shipped - set(names))
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


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the wheel installed (no editable install): its `bin/` folder.

    The dependencies are this environment's, reached through a path line rather than downloaded again: a line in a
    .pth file only adds the folder, it runs none of the .pth files in it, so the checkout's editable finder stays off
    and `scientist` can only come from the wheel."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "pip", "install", "-q", "--offline", "--no-deps", "--python", str(python), str(wheel)],
                   check=True, capture_output=True)  # fmt: skip
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    ours = sysconfig.get_paths()
    (Path(fresh_site) / "zz_dependencies.pth").write_text(f"{ours['purelib']}\n{ours['platlib']}\n")
    return venv / "bin"


def _outside(
    bin_dir: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`scientist ARGS` from the fresh venv, in a folder outside the checkout, with no path leading back into it."""
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(bin_dir / "scientist"), *args], capture_output=True, text=True, cwd=cwd,
                          env={**clean, **(env or {})}, timeout=600)  # fmt: skip


@pytest.mark.slow
def test_the_wheel_runs_from_a_fresh_venv_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(installed / "python"), "-c", "import scientist; print(scientist.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()  # fmt: skip
    assert where.startswith(str(installed.parent)) and not where.startswith(str(REPO)), where

    version = _outside(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"scientist {scientist.__version__}", version

    templates = _outside(installed, "templates", "list", cwd=tmp_path)
    assert templates.returncode == 0, templates.stderr
    for name in ("reward_misspec", "shortcut_learning", "goal_misgeneralization", "planted_gaming"):
        assert name in templates.stdout

    doctor = _outside(installed, "doctor", cwd=tmp_path)
    assert doctor.returncode in (0, 1), doctor.stderr  # 1: a part is missing on this machine, said with its fix
    for check in ("python", "model", "latex", "disk", "sandbox:docker", "sandbox:local"):
        assert check in doctor.stdout, doctor.stdout
    assert "Traceback" not in doctor.stdout + doctor.stderr


@pytest.mark.slow
def test_a_replayed_run_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    """The whole pipeline on the recorded model replies, from the wheel: prompts, templates, review form and corpus
    come from the installed package (a file left out of it, or a prompt that changed with the install location,
    fails here)."""
    store = tmp_path / "llm"
    shutil.copytree(LLM_FIXTURES, store)
    env = replay_env(store, SCIENTIST_RUNS_DIR=str(tmp_path / "runs"))
    result = _outside(installed, "run", FIXTURE_TOPIC, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "review.json").is_file()
    assert json.loads((run_dir / "config.json").read_text())["scientist_version"] == scientist.__version__


def test_each_missing_optional_part_names_the_one_command_that_adds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """As installed from the wheel (no build script beside the package) with no extras: the doctor's model row and
    the store's error each say the pip command that adds the part."""
    import importlib.util

    from scientist.commands.doctor import check_model_runtime
    from scientist.config import Settings
    from scientist.llm import local_model
    from scientist.store import StoreError, resolve_url

    real_find_spec = importlib.util.find_spec
    absent = {"llama_cpp", "psycopg"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *rest: None if name in absent else real_find_spec(name, *rest)
    )
    monkeypatch.setattr(local_model, "_checkout_script", lambda: None)
    check = check_model_runtime(Settings())
    assert check.status == "fail" and "llama-cpp-python" in check.detail
    assert check.fix == f"CMAKE_ARGS=\"{local_model.PORTABLE_CMAKE_ARGS}\" pip install 'scientist[local]'"
    with pytest.raises(StoreError) as raised:
        resolve_url("postgresql://scientist@127.0.0.1:5432/scientist")
    assert raised.value.hint == "pip install 'scientist[postgres]'"
    assert resolve_url("sqlite:///store.sqlite").get_backend_name() == "sqlite"  # SQLite needs no extra


def test_the_extras_are_declared_and_locked() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    extras = config["project"]["optional-dependencies"]
    assert {"local", "ray", "postgres", "docs"} <= set(extras)
    assert not [dep for dep in config["project"]["dependencies"] if dep.startswith(("psycopg", "mkdocs", "ray"))]
    lock = (REPO / "requirements" / "lock.txt").read_text(encoding="utf-8")
    for extra in ("ray", "postgres", "docs"):
        for requirement in extras[extra]:
            name = requirement.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip()
            assert f"\n{name}==" in lock, f"{name} (extra {extra}) is not in requirements/lock.txt: run `make lock`"
