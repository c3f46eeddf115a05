"""The suite's parallel phase relies on pytest-xdist's `--dist loadgroup` to keep each ONE_WORKER_MODULES module on
one worker (its module fixtures are expensive). pytest 9.2 silently broke xdist's way of grouping; tests/conftest.py
`group_for_xdist` restores it. This fails if grouping is lost again (it runs only under loadgroup, as `make test`'s
parallel phase does)."""

from __future__ import annotations

import pytest


def test_a_grouped_modules_tests_carry_their_group_under_loadgroup(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not under pytest-xdist --dist loadgroup (the parallel phase of `make test` runs it so)")
    assert request.node.nodeid.endswith("_under_loadgroup@test_xdist_grouping"), request.node.nodeid
