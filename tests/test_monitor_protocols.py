"""The two what-is-measured passes describe pyscan's walker by protocols (so they need not import it): evalflow's
extend evalcalls' instead of repeating them (issue 25: `duplicates` found the two copies). A member added to one
copy and not the other went unnoticed before; now evalflow declares only what it reads beyond evalcalls."""

from __future__ import annotations

import ast
import dataclasses

from scientist.monitors import evalcalls, evalflow, pyscan


def _declared(protocol: type) -> set[str]:
    """The members a protocol class declares itself (not those it inherits)."""
    return {name for name, value in vars(protocol).items() if isinstance(value, property) or callable(value)} - {
        name for name in vars(protocol) if name.startswith("_")
    }


def test_evalflow_protocols_extend_evalcalls_instead_of_copying_them() -> None:
    assert evalcalls.CallsContext in evalflow._Context.__mro__
    assert evalcalls.Analyzer in evalflow.Analyzer.__mro__
    # evalclasses5 is typed against evalflow's protocols too: the graded artifacts are what it reads beyond them
    assert _declared(evalflow._Context) == {"yardstick", "evaluator_seeds", "artifacts"}
    assert _declared(evalflow.Analyzer) == {"context"}  # only narrowed: its context is the wider one


def test_pyscans_walker_provides_every_member_both_protocols_name() -> None:
    """The protocols are structural: pyscan's real context and walker must have what they declare."""
    context = pyscan.Context()
    fields = {field.name for field in dataclasses.fields(context)}
    assert _declared(evalcalls.CallsContext) | _declared(evalflow._Context) <= fields
    walker = pyscan.Analyzer(context)
    walker.visit(ast.parse("x = 1\n"))
    for name in _declared(evalcalls.Analyzer) | _declared(evalflow.Analyzer):
        assert hasattr(walker, name), name
