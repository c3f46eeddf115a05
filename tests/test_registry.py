"""scientist.registry (issue 25): one way to name sandbox backends, executors, selectors and templates, open to
plugins.

The plugin tests install tests/plugins/example with pip (no index, no build isolation: offline) into a temporary
folder and run scientist in a new process with that folder on its path: the plugin's backend, selector and
experiment template are found through their entry points and used by name, with no change to the project.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scientist.errors import SandboxError, ScientistError, UnknownTemplateError
from scientist.executors import ExecutorError, get_executor
from scientist.measure.sampling import UnknownSelectorError, resolve_selector, selector_names
from scientist.registry import PluginError, Registry
from scientist.sandbox.base import BACKENDS, open_sandbox
from scientist.template import TEMPLATES, list_templates, load_template, templates_root
from tests.conftest import run_cli
from tests.test_sandbox_docker import require

PLUGIN = Path(__file__).parent / "plugins" / "example"


def test_entries_resolve_lazily_hidden_names_resolve_and_unknown_names_list_the_valid_ones() -> None:
    registry: Registry[object] = Registry("widget")
    registry.add("json-dumps", "json:dumps")
    registry.add("old-name", "json:dumps", hidden=True)

    @registry.register("doubler")
    def doubler(x: int) -> int:
        return 2 * x

    assert registry.names() == ["json-dumps", "doubler"]  # registration order; the hidden name is not listed
    assert registry.get("json-dumps") is json.dumps and registry.get("old-name") is json.dumps
    assert registry.get("doubler") is doubler and "doubler" in registry and "nothing" not in registry
    with pytest.raises(ScientistError, match="unknown widget 'nothing'") as raised:
        registry.get("nothing")
    assert raised.value.hint == "choose one of: json-dumps, doubler"
    registry.add("broken", "no_such_module_anywhere:thing")
    with pytest.raises(PluginError, match=r"'broken' .* cannot be loaded: ModuleNotFoundError"):
        registry.get("broken")


def test_each_kind_keeps_its_own_error_and_names() -> None:
    with pytest.raises(SandboxError, match="unknown sandbox backend 'vm'") as backend:
        open_sandbox("vm")
    assert backend.value.hint == "choose one of: docker, local, unsafe-subprocess"
    with pytest.raises(ExecutorError, match="unknown executor 'dask'"):
        get_executor("dask")
    with pytest.raises(UnknownSelectorError, match="unknown selector 'best'"):
        resolve_selector("best")
    assert "bwrap" not in BACKENDS.names() and BACKENDS.get("bwrap") is BACKENDS.get("local")


def test_no_plugin_is_loaded_when_none_is_installed() -> None:
    assert "labelled-local" not in BACKENDS.names() and "shortest" not in selector_names()
    assert "coin_bias" not in list_templates()


def test_bundled_templates_are_registry_entries_with_their_folders_and_error() -> None:
    bundled = sorted(path.name for path in templates_root().iterdir() if (path / "template.toml").is_file())
    assert list_templates() == bundled and "reward_misspec" in bundled  # same names, same (sorted) order
    template = load_template("reward_misspec")
    assert template.path == templates_root() / "reward_misspec" and TEMPLATES.origin("reward_misspec") is None
    for wrong in ("no_such_template", "../reward_misspec"):  # not a name at all reads the same as an unknown one
        with pytest.raises(UnknownTemplateError, match=f"unknown template {wrong!r}") as raised:
            load_template(wrong)
        assert raised.value.hint == f"available templates: {', '.join(bundled)}, or a folder with template.toml"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed as a package (a dist-info with its entry points) into its own folder."""
    site, source = tmp_path_factory.mktemp("plugin-site"), tmp_path_factory.mktemp("plugin-src") / "example"
    shutil.copytree(PLUGIN, source)  # pip builds in the source folder: never in the checkout
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "--target", str(site), str(source)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert list(site.glob("scientist_plugin_example-0.1.0.dist-info/entry_points.txt"))
    return site


def test_an_installed_plugin_backend_and_selector_are_found_and_used_by_name(plugin_site: Path, tmp_path: Path) -> None:
    require("local")
    script = tmp_path / "hello.py"
    script.write_text("import os\nprint('hello from', os.getuid() != 0 or 'root')\n")
    env = {"PYTHONPATH": str(plugin_site)}
    result = run_cli("sandbox", "run", str(script), "--backend", "labelled-local", "--json", "--workdir",
                     str(tmp_path / "work"), env=env, isolated=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran["backend"] == "labelled-local" and "hello from" in ran["stdout_tail"]
    unknown = run_cli("sandbox", "run", str(script), "--backend", "vm", env=env, isolated=True)
    assert unknown.returncode == 2 and "labelled-local" in unknown.stderr  # the plugin is among the choices
    assert "Traceback" not in unknown.stderr
    probe = ("from scientist.measure.sampling import resolve_selector, selector_names\n"
             "label, score = resolve_selector('shortest')\n"
             "print(label, 'shortest' in selector_names(), max(['a long one', 'short'], key=score))")  # fmt: skip
    picked = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False,
                            env={**_clean_env(), **env})  # fmt: skip
    assert picked.returncode == 0, picked.stderr
    assert picked.stdout.split() == ["shortest", "True", "short"]


def test_an_installed_plugin_selector_is_a_valid_stage_setting(plugin_site: Path, isolated_env: Path) -> None:
    """The settings check a stage's selector against the registry when they load: a plugin's is accepted (and the
    stage scores with it), and an unknown name's error lists it among the valid ones."""
    env = {**_clean_env(), "PYTHONPATH": str(plugin_site), "HOME": str(isolated_env)}
    probe = ("from scientist.config import Settings\n"
             "from scientist.stages.bestofn import stage_selector\n"
             "settings = Settings(ideas_selector='shortest', plan_selector='shortest', draft_selector='shortest')\n"
             "score = stage_selector(settings.draft_selector, {})\n"
             "print(settings.ideas_selector, max(['a long one', 'short'], key=score))")  # fmt: skip
    picked = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False,
                            env=env, cwd=isolated_env)  # fmt: skip
    assert picked.returncode == 0, picked.stderr
    assert picked.stdout.split() == ["shortest", "short"]
    (isolated_env / "scientist.toml").write_text('ideas_selector = "shortes"\n')
    typo = run_cli("config", "show", env={**env, "SCIENTIST_CONFIG": str(isolated_env / "scientist.toml")},
                   isolated=True)  # fmt: skip
    assert typo.returncode == 2 and "Traceback" not in typo.stderr, typo.stderr
    error = " ".join(typo.stderr.split())
    assert "unknown ideas_selector (selector) 'shortes'" in error and "shortest" in error and "self_rating" in error


def test_an_installed_plugin_template_is_listed_with_its_package_and_loads(plugin_site: Path) -> None:
    env = {"PYTHONPATH": str(plugin_site), "COLUMNS": "250"}
    listing = run_cli("templates", "list", env=env, isolated=True)
    assert listing.returncode == 0, listing.stderr
    assert "coin_bias (plugin: scientist-plugin-example)" in listing.stdout and "reward_misspec" in listing.stdout
    assert "reward_misspec (plugin" not in listing.stdout  # bundled templates are not marked
    probe = ("import json\n"
             "from scientist.template import list_templates, load_template\n"
             "t = load_template('coin_bias')\n"
             "print(json.dumps({'names': list_templates(), 'name': t.name, 'path': str(t.path), "
             "'metric': t.primary_metric, 'config': t.default_config(), "
             "'variant': t.validate_variant({'flips': 7})}))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False,
                            env={**_clean_env(), **env})  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    found = json.loads(loaded.stdout)
    assert found["names"][-1] == "coin_bias" and "reward_misspec" in found["names"]  # plugins after the bundled
    assert found["name"] == "coin_bias" and found["metric"] == "abs_error"
    assert Path(found["path"]) == plugin_site / "scientist_plugin_example" / "templates" / "coin_bias"
    assert found["config"] == {"bias": 0.7, "flips": 100} and found["variant"] == {"flips": 7}
    unknown = run_cli("templates", "show", "no_such_template", env=env, isolated=True)
    assert unknown.returncode == 2 and "coin_bias" in unknown.stderr and "available templates" in unknown.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
