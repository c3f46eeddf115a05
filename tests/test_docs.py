"""The documentation site: `make docs` builds it with --strict, and its reference holds every command and setting
the code has (walked here independently of the generator in scripts/docs_hooks.py)."""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from scientist.cli import app
from scientist.config import ModelOverride, Settings
from scientist.errors import ExitCode
from tests.conftest import REPO
from tests.docs_support import page_steps, run_page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it (mkdocs.yml, --strict: any warning fails), into a temporary folder."""
    target = tmp_path_factory.mktemp("docs") / "site"
    mkdocs = Path(sys.executable).parent / "mkdocs"
    out = subprocess.run(
        [str(mkdocs), "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(target)],
        capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "WARNING" not in out.stderr, out.stderr
    return target


def _headings(page: Path) -> list[str]:
    """The text of a built page's h2/h3 headings (permalink marks and tags removed)."""
    found = re.findall(r"<h([23])[^>]*>(.*?)</h\1>", page.read_text(encoding="utf-8"), flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", text)).replace("¶", "").strip() for _, text in found]


def _command_paths(command: Any, path: list[str]) -> list[tuple[str, Any]]:
    found = [(" ".join(path), command)]
    if hasattr(command, "list_commands"):
        context = command.context_class(command, info_name=path[-1])
        for name in command.list_commands(context):
            child = command.get_command(context, name)
            if not child.hidden:
                found += _command_paths(child, [*path, name])
    return found


def test_the_cli_reference_has_every_command_and_option(site: Path) -> None:
    page = site / "reference" / "cli" / "index.html"
    headings = set(_headings(page))
    text = html.unescape(page.read_text(encoding="utf-8"))
    commands = _command_paths(typer.main.get_command(app), ["scientist"])
    assert len(commands) > 40  # the walk itself found the tree
    missing = [path for path, _ in commands if path not in headings]
    assert not missing, f"commands missing from the CLI reference: {missing}"
    for path, command in commands:
        for param in command.params:
            for name in getattr(param, "opts", []):
                if name.startswith("-") and name != "--help":
                    assert name in text, f"{path} {name} is missing from the CLI reference"


def test_the_settings_reference_has_every_setting(site: Path) -> None:
    page = site / "reference" / "settings" / "index.html"
    headings = _headings(page)
    text = html.unescape(page.read_text(encoding="utf-8"))
    missing = [name for name in [*Settings.model_fields, *ModelOverride.model_fields] if name not in headings]
    assert not missing, f"settings missing from the settings reference: {missing}"
    for name in Settings.model_fields:
        assert f"SCIENTIST_{name.upper()}" in text


def test_every_exit_code_is_documented(site: Path) -> None:
    page = site / "reference" / "exit-codes" / "index.html"
    cells = re.findall(r"<td[^>]*>(\d+)</td>", page.read_text(encoding="utf-8"))
    assert sorted(map(int, cells)) == sorted(code.value for code in ExitCode)


def test_every_audit_kind_a_real_run_writes_is_in_the_reference(site: Path, recorded_run: Path) -> None:
    """Checked against a run's actual audit log, not the scan that generates the page."""
    page = html.unescape((site / "reference" / "audit-kinds" / "index.html").read_text(encoding="utf-8"))
    listed = set(re.findall(r"<td><code>([a-z_]+)</code></td>", page))
    written = {json.loads(line)["kind"] for line in (recorded_run / "audit.jsonl").read_text().splitlines()}
    assert len(written) > 15 and not sorted(written - listed), sorted(written - listed)
    assert {"approval_decided", "audit_repair", "monitor_stop", "sandbox_unisolated"} <= listed  # not in that run


def test_the_file_formats_page_has_every_key_and_valid_examples(site: Path) -> None:
    import tomllib

    from scientist.probing.spec import ProbeSpec, SuiteSpec
    from scientist.study.spec import StudyBudget, StudySpec

    page = html.unescape((site / "reference" / "file-formats" / "index.html").read_text(encoding="utf-8"))
    for model in (StudySpec, StudyBudget, SuiteSpec, ProbeSpec):
        missing = [name for name in model.model_fields if f"<code>{name}</code>" not in page]
        assert not missing, f"{model.__name__} keys missing from the file formats page: {missing}"
    blocks = re.findall(r"<pre[^>]*>(?:<span></span>)?<code>(.*?)</code></pre>", page, flags=re.S)
    examples = [re.sub(r"<[^>]+>", "", block) for block in blocks]
    study, suite = (tomllib.loads(example) for example in examples[:2])
    StudySpec.model_validate(study)  # the examples the page shows are files the code accepts
    SuiteSpec.model_validate(suite)


def test_every_docs_page_and_the_changelog_are_in_the_site(site: Path) -> None:
    """The docs/ pages keep their paths (README and issues link to them) and are all in the site."""
    for page in (REPO / "docs").rglob("*.md"):
        relative = page.relative_to(REPO / "docs").with_suffix("")
        built = site / ("index.html" if relative.name == "index" else relative / "index.html")
        assert built.is_file(), f"{page} is not in the built site"
    changelog = (site / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "Keep a Changelog" in changelog and "Unreleased" in changelog
    assert 'id="getting-started"' in (site / "getting-started" / "index.html").read_text(encoding="utf-8")


TUTORIAL = REPO / "docs" / "tutorials" / "inspect-and-verify.md"


def test_the_tutorial_commands_print_what_the_page_shows(recorded_run: Path) -> None:
    """Every command of the tutorial, in order, from the docs source, on a recorded run (in its runs folder)."""
    steps = page_steps(TUTORIAL)
    assert len(steps) >= 7 and all(step.command.startswith(("scientist ", "sed ")) for step in steps)
    run_page(TUTORIAL, recorded_run.parent.parent, substitute=lambda arg: arg.replace("RUN", recorded_run.name))


CHROMIUM = os.environ.get("SCIENTIST_CHROMIUM", "/usr/bin/chromium")


@pytest.mark.slow
def test_the_home_and_tutorial_pages_render_in_headless_chromium(site: Path, tmp_path: Path) -> None:
    """Screenshots of the built site in Debian's chromium (Playwright never downloads a browser): the title is
    there and the page is not blank (the theme's CSS and the text rendered). Kept in test-artifacts/ on CI."""
    if shutil.which(CHROMIUM) is None:
        message = f"no chromium at {CHROMIUM} (scripts/system_deps.sh installs Debian's chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from PIL import Image
    from playwright.sync_api import sync_playwright

    folders = [tmp_path] + ([REPO / "test-artifacts"] if os.environ.get("CI") == "true" else [])
    pages = {  # screenshot name: (page, its title (from the nav), its heading)
        "docs-home": ("index.html", "scientist", "scientist"),
        "docs-tutorial": ("tutorials/inspect-and-verify/index.html", "Inspect, compare and verify a run - scientist",
                          "Tutorial: inspect, compare and verify a run"),
    }  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        for name, (path, title, heading) in pages.items():
            page.goto((site / path).as_uri())
            assert page.title() == title
            assert page.locator("h1").first.inner_text().replace("¶", "").strip() == heading
            shot = page.screenshot()
            image = Image.open(io.BytesIO(shot)).convert("L")
            histogram = image.histogram()
            dark = sum(histogram[:128]) / (image.width * image.height)
            assert 0.01 < dark < 0.9 and sum(1 for count in histogram if count) > 20, f"{name}: blank page?"
            header = Image.open(io.BytesIO(shot)).convert("RGB").getpixel((600, 20))
            assert header != (255, 255, 255), f"{name}: the theme's header bar is missing (CSS not loaded?)"
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{name}.png").write_bytes(shot)
        browser.close()
