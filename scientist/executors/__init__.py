"""Where independent tasks (study cells, best-of-n draws) run: `local` threads or a `ray` cluster.

`get_executor(name, ...)` is the one entry point; Ray is imported only by the ray executor, so `scientist[ray]` stays
an optional extra.
"""

from __future__ import annotations

from scientist.executors.base import Done, Executor, ExecutorError, settings_env
from scientist.executors.local import LocalExecutor

EXECUTORS = ("local", "ray")

__all__ = ["EXECUTORS", "Done", "Executor", "ExecutorError", "LocalExecutor", "get_executor", "settings_env"]


def get_executor(
    name: str,
    *,
    concurrency: int | None = None,
    address: str | None = None,
    max_retries: int = 2,
    env: dict[str, str] | None = None,
) -> Executor:
    """The executor called `name`; `address`/`max_retries`/`env` only mean something to `ray`."""
    if name == "local":
        if address is not None:
            raise ExecutorError("--ray-address needs --executor ray", hint="add --executor ray, or drop --ray-address")
        return LocalExecutor(concurrency or 1)
    if name == "ray":
        from scientist.executors.ray import RayExecutor

        return RayExecutor(address=address, concurrency=concurrency, max_retries=max_retries, env=env)
    raise ExecutorError(f"unknown executor {name!r}", hint=f"valid: {', '.join(EXECUTORS)}")
