"""A contract-v1 template for the tests that need one: no bundled template is v1 any more (issue 22 ported the last
two), but the harness still runs v1 templates (a plugin's, an old folder), so their path stays under test.

`contract_v1_copy` copies reward_misspec and takes its evaluator away: experiment.py protected again, config.json
the only editable file. Its experiment.py still writes the same final_info.json (the v1 bytes), now the result."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scientist.template import load_template

V1_FILES = 'protected = ["experiment.py", "plot.py", "template.toml"]\neditable = ["config.json"]\n'


def contract_v1_copy(tmp_path: Path, name: str = "reward_misspec_v1") -> Path:
    """A folder holding reward_misspec as a contract-v1 template (no [evaluator]); load it by its path."""
    folder = tmp_path / name
    shutil.copytree(load_template("reward_misspec").path, folder)
    (folder / "evaluate.py").unlink()
    toml = folder / "template.toml"
    text = toml.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^protected = .*?\n\[evaluator\]\n.*?\n\n", V1_FILES + "\n", text, count=1)
    text = re.sub(r'(?m)^name = "reward_misspec"$', f'name = "{name}"', text, count=1)
    toml.write_text(text, encoding="utf-8")
    template = load_template(str(folder))
    assert template.evaluator is None and template.protected[0] == "experiment.py", "the v1 copy lost its shape"
    return folder
