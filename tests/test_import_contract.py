"""The import contract ([tool.importlinter] in pyproject.toml, run by `make lint`) holds, and it has teeth.

Each planted violation goes into a fresh copy of the installed layout (scripts/lint_imports.build_tree), never the
repository: an upward import, a cycle inside a package, a library imported outside its package, and a new module
nobody gave a layer. The banned-API rules (ruff) are checked the same way on a planted file read from stdin.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO


def _lint_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lint_imports", REPO / "scripts" / "lint_imports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LINT = _lint_module()


def _check(tree: Path) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = LINT.lint(tree, "--no-cache")
    return done


def test_the_installed_tree_keeps_every_contract(tmp_path: Path) -> None:
    done = _check(LINT.build_tree(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 kept, 0 broken" in done.stdout  # the layers, one per grouped package, no cycles, libraries
    # the copy is the installed layout: the folders mapped into the namespace are there, templates are not
    assert (tmp_path / "scientist" / "sandbox" / "docker.py").is_file()
    assert (tmp_path / "scientist" / "reviews" / "reviewer.py").is_file()
    assert not (tmp_path / "scientist" / "templates").exists()


# (file to plant in, line appended, what the report must say)
PLANTS = {
    "upward import": (
        "scientist/llm/gateway.py",
        "from scientist.runner import start_run\n",
        "scientist.llm is not allowed to import scientist.runner",
    ),
    "upward import inside a grouped package": (
        "scientist/llm/profiles.py",
        "def _planted() -> None:\n    from scientist.llm import gateway  # noqa: F401\n",
        "scientist.llm.profiles is not allowed to import scientist.llm.gateway",
    ),
    "lazy upward import": (
        "scientist/monitors/policy.py",
        "def _planted() -> None:\n    from scientist.stages import experiment  # noqa: F401\n",
        "scientist.monitors is not allowed to import scientist.stages",
    ),
    "cycle inside a package": (
        "scientist/stages/search.py",
        "def _planted() -> None:\n    from scientist.stages import experiment  # noqa: F401\n",
        "No cycles are allowed in scientist.stages",
    ),
    "library outside its package": (
        "scientist/stages/review.py",
        "def _planted() -> None:\n    import litellm  # noqa: F401\n",
        "scientist.stages.review -> litellm",
    ),
    "docker outside the sandbox": (
        "scientist/runner.py",
        "import docker  # noqa: F401\n",
        "scientist.runner -> docker",
    ),
}


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_a_planted_violation_breaks_the_contract(tmp_path: Path, name: str) -> None:
    path, line, expected = PLANTS[name]
    tree = LINT.build_tree(tmp_path)
    target = tree / path
    assert target.is_file(), f"{path} moved: update the plant"
    target.write_text(target.read_text(encoding="utf-8") + "\n\n" + line, encoding="utf-8")
    done = _check(tree)
    assert done.returncode != 0, done.stdout
    assert expected in done.stdout, done.stdout


def test_a_new_module_must_be_given_a_layer(tmp_path: Path) -> None:
    tree = LINT.build_tree(tmp_path)
    (tree / "scientist" / "planted.py").write_text('"""Nobody placed me."""\n', encoding="utf-8")
    done = _check(tree)
    assert done.returncode != 0
    assert "scientist.planted" in done.stdout, done.stdout


def test_the_script_reports_a_broken_tree_as_failure(tmp_path: Path) -> None:
    """`make lint` runs the script: its exit status must carry the failure."""
    tree = LINT.build_tree(tmp_path)
    (tree / "scientist" / "errors.py").write_text(
        (tree / "scientist" / "errors.py").read_text(encoding="utf-8") + "\nimport scientist.cli  # noqa: F401\n",
        encoding="utf-8",
    )
    script = [sys.executable, str(REPO / "scripts" / "lint_imports.py"), "--tree", str(tree)]
    done = subprocess.run(script, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "scientist.errors is not allowed to import scientist.cli" in done.stdout


# name -> (planted library code, the rule that must catch it)
BANNED = {
    "os.system": ("import os\n\nos.system('ls')\n", "TID251"),
    "os.popen": ("import os\n\nos.popen('ls')\n", "TID251"),
    "subprocess.getoutput": ("import subprocess\n\nsubprocess.getoutput('ls')\n", "TID251"),
    "shell=True": ("import subprocess\n\nsubprocess.run('ls', shell=True)\n", "S602"),
    "exec": ("exec('x = 1')\n", "S102"),
    "print": ("def f() -> None:\n    print('hello')\n", "T201"),
    "pickle.loads": ("import pickle\n\npickle.loads(b'')\n", "TID251"),
    "tempfile.mktemp": ("import tempfile\n\ntempfile.mktemp()\n", "TID251"),
}


def _ruff(filename: str, source: str) -> subprocess.CompletedProcess[str]:
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff), "check", "--no-cache", "--stdin-filename", filename, "-"]
    return subprocess.run(command, input=source, cwd=REPO, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("name", sorted(BANNED))
def test_ruff_bans_the_api_in_library_code(name: str) -> None:
    source, rule = BANNED[name]
    done = _ruff("scientist/planted.py", source)
    assert done.returncode == 1, done.stdout + done.stderr
    assert rule in done.stdout, done.stdout


def test_ruff_allows_what_the_code_legitimately_needs() -> None:
    argument_list = "import subprocess\n\nsubprocess.run(['ls'], check=False)\n"
    done = _ruff("scientist/planted.py", argument_list)
    assert done.returncode == 0, done.stdout
    # experiment templates are programs run inside the sandbox: they print their results
    done = _ruff("scientist/templates/reward_misspec/planted.py", BANNED["print"][0])
    assert done.returncode == 0, done.stdout
