"""The ray executor: each task is a Ray task on the cluster, retried when its worker or node dies.

Ray is imported here only (`pip install 'scientist[ray]'`). What makes a retry safe is the task, not Ray: a study
cell resumes its runs from their folders and replaces its rows in the store (see scientist.study.execute). Ray's
`max_retries` covers system failures only (a killed worker process, a lost node); an exception of the function comes
back as `Done.error` without a retry, because a deterministic error would only fail again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from typing import Any
from urllib.parse import urlparse

from scientist.executors.base import Done, Executor, ExecutorError, R, T, carries_credentials, describe

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_INSTALL_HINT = "install it on the driver and on every node: pip install 'scientist[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ExecutorError("--executor ray needs Ray, which is not installed here", hint=_INSTALL_HINT) from err
    return ray


def _call(fn: Callable[[Any], Any], item: Any, env: dict[str, str]) -> tuple[bool, Any]:
    """The body of every Ray task: the driver's settings environment around `fn(item)`; errors come back as text."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return True, fn(item)
    except Exception as err:
        return False, describe(err)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class RayExecutor(Executor):
    name = "ray"
    in_process = False

    def __init__(
        self,
        address: str | None = None,
        concurrency: int | None = None,
        max_retries: int = 2,
        env: dict[str, str] | None = None,
        num_cpus: float = 1,
    ) -> None:
        super().__init__()
        if concurrency is not None and concurrency < 1:
            raise ExecutorError(f"concurrency must be at least 1, not {concurrency}", hint="use --concurrency 1+")
        self.ray = _import_ray()
        self.address, self.concurrency, self.max_retries = address, concurrency, max_retries
        from scientist.audit.log import is_secret_name

        # Never a secret in a task's arguments, even when a caller passes one (settings_env leaves them out too).
        self.env = {
            name: value for name, value in (env or {}).items()
            if not is_secret_name(name) and not carries_credentials(value)
        }
        self.num_cpus = num_cpus
        self._owns = False
        self._remote: Any = None

    def start(self) -> None:
        """Connect to the cluster (or start a local instance when no address is given); idempotent."""
        ray = self.ray
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING"}
            if self.address is None:
                options["num_cpus"] = self.concurrency or os.cpu_count() or 1
            try:
                ray.init(address=self.address, **options)
            except Exception as err:  # ConnectionError, a timeout, a version mismatch between driver and cluster
                where = self.address or "a new local instance"
                raise ExecutorError(
                    f"cannot start Ray at {where}: {describe(err)}",
                    hint="check `ray status` on the head node and that driver and cluster run the same Ray and"
                    " Python versions; --ray-address auto joins the cluster this machine belongs to",
                ) from err
            self._owns = True
        if self._remote is None:
            self._remote = ray.remote(_call).options(
                max_retries=self.max_retries, retry_exceptions=False, num_cpus=self.num_cpus
            )

    def spans_machines(self) -> bool:
        """True when tasks may run on another machine than this one (then a SQLite file is no shared store)."""
        if self.address is not None and self.address not in ("auto", "local"):
            host = urlparse(self.address if "://" in self.address else f"ray://{self.address}").hostname
            if host not in LOOPBACK:
                return True
        self.start()
        return sum(1 for node in self.ray.nodes() if node.get("Alive")) > 1

    def describe(self) -> str:
        limit = f", {self.concurrency} at a time" if self.concurrency else ""
        return f"ray ({self.address or 'local instance'}{limit}, {self.max_retries} retries per task)"

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Generator[Done[R], None, None]:
        self.start()
        self.stopping.clear()
        ray, fn_ref = self.ray, self.ray.put(fn)
        queue = list(enumerate(items))
        queue.reverse()
        running: dict[Any, int] = {}
        limit = self.concurrency or len(queue)
        try:
            while queue or running:
                while queue and len(running) < limit:
                    index, item = queue.pop()
                    running[self._remote.remote(fn_ref, item, self.env)] = index
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    index = running.pop(ref)
                    try:
                        ok, value = ray.get(ref)
                    except Exception as err:  # the worker died more often than max_retries, or the task was cancelled
                        yield Done(index, error=describe(err))
                        continue
                    yield Done(index, value=value) if ok else Done(index, error=value)
        finally:
            self.stopping.set()
            for ref in running:  # Ctrl-C or an early stop: running tasks get KeyboardInterrupt, queued ones never start
                ray.cancel(ref)

    def close(self) -> None:
        if self._owns and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns = False
