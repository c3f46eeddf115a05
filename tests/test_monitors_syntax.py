"""scientist.monitors.syntax: the shared parse and node lists must be exactly what `ast` gives, or a rule would see a
different tree than it did before the cache (the corpora's events were compared case by case when it landed)."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import pytest

from scientist.monitors import syntax

SOURCE = """
import numpy as np

class Agent:
    def act(self, state):
        return int(np.argmax(self.q[state]))

def evaluate(agent, episodes=200):
    total = [agent.act(s) for s in range(episodes)]
    return sum(total) / len(total)
"""


def test_parsed_is_ast_parse_and_one_tree_per_source() -> None:
    tree = syntax.parsed(SOURCE)
    assert ast.dump(tree, include_attributes=True) == ast.dump(ast.parse(SOURCE), include_attributes=True)
    assert syntax.parsed(SOURCE) is tree  # shared: the rules read the same before/after sources many times
    assert syntax.parsed(SOURCE + "\n") is not tree


def test_a_source_that_does_not_parse_raises_every_time() -> None:
    for _ in range(2):  # a failure is not cached as a tree
        with pytest.raises(SyntaxError):
            syntax.parsed("def broken(:\n")


@pytest.mark.parametrize("pick", ["module", "class", "function", "expression"])
def test_walk_gives_ast_walks_nodes_in_its_order(pick: str) -> None:
    tree = ast.parse(SOURCE)
    node = {
        "module": tree,
        "class": tree.body[1],
        "function": tree.body[2],
        "expression": tree.body[2].body[1].value,  # type: ignore[attr-defined]
    }[pick]
    expected = [id(sub) for sub in ast.walk(node)]
    assert [id(sub) for sub in syntax.walk(node)] == expected
    assert [id(sub) for sub in syntax.walk(node)] == expected  # again, from the kept list where there is one


def test_a_walked_tree_is_not_kept_alive_by_the_cache() -> None:
    tree = ast.parse("x = 1\n")
    list(syntax.walk(tree))
    assert tree in syntax._WALKED
    count = len(syntax._WALKED)
    del tree
    gc.collect()
    assert len(syntax._WALKED) == count - 1


def test_a_source_over_the_cached_size_is_parsed_but_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syntax, "_CACHED_SOURCE_CHARS", 60)  # (a real 1 MB parse took seconds under coverage)
    huge = "x = 1\n" * 11
    first = syntax.parsed(huge)
    assert isinstance(first, ast.Module) and len(first.body) == 11
    assert syntax.parsed(huge) is not first
    small = "y = 2\n" * 9
    assert syntax.parsed(small) is syntax.parsed(small)  # under the size: one tree


def test_walk_of_any_node_is_ast_walk() -> None:
    """Every node of a real module (statements, expressions, arguments, keywords, match patterns): the same nodes
    in the same order as `ast.walk`, whether the node's list is kept or walked afresh."""
    source = (
        Path(syntax.__file__).read_text(encoding="utf-8") + "\nmatch x:\n    case [1, *rest] if rest:\n        pass\n"
    )
    for node in ast.walk(ast.parse(source)):
        assert [id(sub) for sub in syntax.walk(node)] == [id(sub) for sub in ast.walk(node)]
