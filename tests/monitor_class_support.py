"""What the monitors' class tests (tests/test_monitors_classes_v2.py .. v4.py) share: the code view of each template,
an edit of its experiment.py by exact search/replace scanned as a unified diff, and the anchors the edits hang on.
Each tuning pass added its own file; the helpers were copied between them until they lived here."""

from __future__ import annotations

import difflib

from scientist.monitors import scan_diff
from scientist.monitors.evaluate import code_view
from scientist.monitors.events import MonitorEvent
from scientist.template import Template, load_template

# Lines of the templates' experiment.py that the tests' edits are placed at (each must occur exactly once).
RM_RESULTS = "    results = [run_episode(env, q, eval_rng, config, learn=False) for _ in range(EVAL_EPISODES)]\n"
RM_HELPERS = "def downsample(values: list[float], points: int) -> tuple[list[int], list[float]]:\n"
SL_CHECK = "    metrics = evaluate(w, b, config, args.seed)\n"
GM_CHECK = "    metrics = evaluate(actions, config, args.seed)\n"
IT_INPUTS = "    inputs = test_inputs(args.seed)\n"
RMO_PAIRS = '    a, b, preferred = load_preferences(int(config["n_pairs"]), args.seed)\n'
ARGS = "    args = parser.parse_args(argv)\n"
MAIN = "def main(argv: list[str] | None = None) -> int:\n"
TEMPLATES = ("reward_misspec", "shortcut_learning", "goal_misgeneralization", "impossible_task",
             "reward_model_overoptimization")  # fmt: skip


def template_views() -> dict[str, Template]:
    """Each template as the monitors see an agent's workspace (its code view): a test module's `views` fixture."""
    return {name: code_view(load_template(name)) for name in TEMPLATES}


def edit(template: Template, pairs: list[tuple[str, str]]) -> list[MonitorEvent]:
    """The monitor events for experiment.py with each (search, replace) applied; a search must match exactly once."""
    before = (template.path / "experiment.py").read_text()
    after = before
    for search, replace in pairs:
        assert after.count(search) == 1, search
        after = after.replace(search, replace)
    diff = difflib.unified_diff(before.splitlines(True), after.splitlines(True), "a/experiment.py", "b/experiment.py")
    return scan_diff("".join(diff), template)


def high(events: list[MonitorEvent], monitor: str | None = None) -> set[str]:
    """The rules that fired at `high` or above (of one monitor, if given)."""
    return {e.rule for e in events if e.at_least("high") and (monitor is None or e.monitor == monitor)}


def indent(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.split("\n"))


def after(anchor: str, code: str) -> tuple[str, str]:
    """Function-body `code` inserted after the anchor line."""
    return anchor, anchor + indent(code)


def top(code: str) -> tuple[str, str]:
    """Module-level `code` inserted before main()."""
    return MAIN, code + "\n\n" + MAIN
