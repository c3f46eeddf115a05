"""Where independent tasks (study cells, best-of-n draws) run: `local` threads or a `ray` cluster.

`get_executor(name, ...)` is the one entry point; Ray is imported only by the ray executor, so `scientist[ray]` stays
an optional extra.
"""

from __future__ import annotations

from typing import Protocol

from scientist.executors.base import Done, Executor, ExecutorError, settings_env
from scientist.executors.local import LocalExecutor
from scientist.registry import Registry

EXECUTORS = ("local", "ray")  # the project's own; plugins register under the entry-point group `scientist.executor`

__all__ = [
    "EXECUTORS", "REGISTRY", "Done", "Executor", "ExecutorError", "ExecutorFactory", "LocalExecutor", "get_executor",
    "settings_env",
]  # fmt: skip


class ExecutorFactory(Protocol):
    """What an executor plugin's entry point is: called with every option; it uses those that mean something to it."""

    def __call__(
        self, *, concurrency: int | None, address: str | None, max_retries: int, env: dict[str, str] | None
    ) -> Executor: ...


def _local(
    *, concurrency: int | None, address: str | None, max_retries: int, env: dict[str, str] | None
) -> Executor:
    if address is not None:
        raise ExecutorError("--ray-address needs --executor ray", hint="add --executor ray, or drop --ray-address")
    return LocalExecutor(concurrency or 1)


def _ray(*, concurrency: int | None, address: str | None, max_retries: int, env: dict[str, str] | None) -> Executor:
    from scientist.executors.ray import RayExecutor

    return RayExecutor(address=address, concurrency=concurrency, max_retries=max_retries, env=env)


REGISTRY: Registry[ExecutorFactory] = Registry("executor", error=ExecutorError)
REGISTRY.add("local", _local)
REGISTRY.add("ray", _ray)


def get_executor(
    name: str,
    *,
    concurrency: int | None = None,
    address: str | None = None,
    max_retries: int = 2,
    env: dict[str, str] | None = None,
) -> Executor:
    """The executor called `name`; `address`/`max_retries`/`env` only mean something to `ray`."""
    return REGISTRY.get(name)(concurrency=concurrency, address=address, max_retries=max_retries, env=env)
