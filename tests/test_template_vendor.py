"""Shared template code, vendored: the coin gridworld's evaluator is written once (scientist/templates/_shared) and
the harness copies it into the workspace of each template that names it under `vendor` (reward_misspec,
planted_gaming). In the workspace it is the template's own, protected like evaluate.py: read-only, hashed, an edit
of it refused and a change of it flagged. The agent's prompts do not list it (they stay the recorded ones)."""

from __future__ import annotations

import difflib
import json
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from scientist.errors import ConfigError
from scientist.monitors import scan_workspace
from scientist.sandbox import Limits, get_sandbox
from scientist.sandbox.base import PROTECTED_MANIFEST, sha256_file
from scientist.stages.experiment import run_experiments
from scientist.template import SHARED_DIR, list_templates, load_template, templates_root
from tests.conftest import chosen_sandbox, run_cli
from tests.openai_stub import OpenAIStub, ScriptedReply, serve
from tests.scripted_context import block, by_label, scripted_context

SHARED = "coin_grid_evaluator.py"
VENDORING = ("reward_misspec", "planted_gaming")
# The longest run of code lines two templates' evaluators may share (a few argparse lines are alike in any
# evaluator; the coin gridworld's 200-line body must not be copied into a template again).
MAX_SHARED_EVALUATOR_LINES = 20


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


@pytest.mark.slow
@pytest.mark.parametrize("name", VENDORING)
def test_the_vendored_evaluator_is_in_the_workspace_identical_and_protected(tmp_path: Path, name: str) -> None:
    template = load_template(name)
    source = templates_root() / SHARED_DIR / SHARED
    assert template.vendor == [SHARED] and template.vendored() == {SHARED: source}
    assert not (template.path / SHARED).exists()  # one source: the template folder holds no copy
    shown = run_cli("templates", "show", name)
    assert shown.returncode == 0 and f"vendored (protected, shared): {SHARED}" in shown.stdout
    sandbox = get_sandbox(chosen_sandbox(), run_label=f"test-vendor-{name}")
    workspace = tmp_path / "workspace"
    sandbox.prepare(template.path, workspace, template.protected, template.vendored())
    copy = workspace / SHARED
    assert copy.read_bytes() == source.read_bytes()
    assert not copy.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    manifest = json.loads((workspace / PROTECTED_MANIFEST).read_text())
    assert manifest["files"][SHARED] == sha256_file(source) and SHARED in manifest["entries"]
    # The static monitor compares it with its source, not with the template folder (where it is absent).
    assert not [event for event in scan_workspace(workspace, template) if event.location == SHARED]
    # A run that changes it is caught as a protected-file violation (or the sandbox stopped the write).
    script = f"import os\ntry:\n    os.chmod({SHARED!r}, 0o644)\n    open({SHARED!r}, 'a').write('EVAL_EPISODES = 1')\n"
    script += "except OSError:\n    pass\n"
    limits = Limits(wall_time_s=30, memory_mb=256)
    result = sandbox.run(workspace, ["python", "-c", script], limits, out_dir="out", log_dir=tmp_path / "logs")
    if copy.read_bytes() != source.read_bytes():
        assert SHARED in result.protected_violations and not result.ok
    else:
        assert result.exit_code == 0  # the write was refused; the file is as vendored


@pytest.mark.slow
def test_an_edit_of_the_vendored_evaluator_is_refused_as_protected_and_not_listed(
    tmp_path: Path, stub: OpenAIStub
) -> None:
    edit = block(SHARED, "EVAL_EPISODES = 200", "EVAL_EPISODES = 20")
    plan = json.dumps({"rationale": "slower coin", "changes": [{"param": "coin_respawn_steps", "value": 10}]})
    stub.replies = [ScriptedReply(content=edit), ScriptedReply(content=plan)]  # the plan: the config fallback's
    knobs = {"monitor_policy": {"high": "log"}, "edit_mode": "code", "seeds_per_run": 1}
    ctx = scripted_context(tmp_path, stub, "reward_misspec", run_id="test-vendor", **knobs)
    records = by_label(run_experiments(ctx, {"title": "t", "hypothesis": "h", "experiment_plan": "p", "risks": "r"}))
    assert records["baseline"]["ok"]  # the evaluator ran from the vendored file
    assert SHARED not in records["run_1"]["files_changed"]
    (refused,) = [event.payload for event in ctx.audit.find(kind="edit_refused")]
    assert refused["path"] == SHARED and refused["reason"] == "is protected"
    prompt = "\n".join(message["content"] for message in stub.requests[0]["messages"])
    assert SHARED not in prompt  # what the agent is shown stays the template's recorded lists


def _code_lines(path: Path) -> list[str]:
    """The code lines of a Python file (docstrings, comments, blank lines and imports left out)."""
    text = re.sub(r'"""[\s\S]*?"""', "", path.read_text(encoding="utf-8"))
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith(("import ", "from "))]


def test_no_two_templates_carry_the_same_evaluator_body() -> None:
    """Shared evaluator code lives in templates/_shared and is vendored; a copy in a template fails here."""
    evaluators = {}
    for name in list_templates():
        template = load_template(name)
        if template.evaluator is not None:
            evaluators[name] = _code_lines(template.path / template.evaluator.script)
    evaluators.update(
        {f"{SHARED_DIR}/{path.name}": _code_lines(path) for path in (templates_root() / SHARED_DIR).glob("*.py")}
    )
    assert len(evaluators) >= 6
    names = sorted(evaluators)
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            a, b = evaluators[first], evaluators[second]
            match = difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
            assert match.size <= MAX_SHARED_EVALUATOR_LINES, (
                f"{first} and {second} share {match.size} lines from {a[match.a]!r}: put shared code in "
                f"templates/{SHARED_DIR} and vendor it"
            )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    shutil.copytree(templates_root() / "reward_misspec", folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _set_vendor(folder: Path, line: str) -> None:
    toml = folder / "template.toml"
    text = toml.read_text(encoding="utf-8")
    assert f'vendor = ["{SHARED}"]' in text
    toml.write_text(text.replace(f'vendor = ["{SHARED}"]', line), encoding="utf-8")


def test_a_vendored_file_that_is_not_shared_is_an_error_at_load(copy: Path) -> None:
    _set_vendor(copy, 'vendor = ["no_such_file.py"]')
    with pytest.raises(ConfigError, match=re.escape("vendors 'no_such_file.py', which is not in")):
        load_template(str(copy))


def test_a_template_holding_its_own_copy_of_a_vendored_file_is_an_error_at_load(copy: Path) -> None:
    shutil.copyfile(templates_root() / SHARED_DIR / SHARED, copy / SHARED)
    with pytest.raises(ConfigError, match="also holds its own copy"):
        load_template(str(copy))


@pytest.mark.parametrize("line", [f'vendor = ["../{SHARED}"]', 'vendor = ["evaluate.py"]', 'vendor = ["config.json"]'])
def test_a_vendored_name_must_be_a_plain_shared_file(copy: Path, line: str) -> None:
    _set_vendor(copy, line)
    with pytest.raises(ConfigError, match="must be a plain file name"):
        load_template(str(copy))
