"""The default executor: tasks in this process, `concurrency` at a time (1: inline, exactly the sequential loop)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from scientist.executors.base import Done, Executor, ExecutorError, R, T, describe


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, concurrency: int = 1) -> None:
        super().__init__()
        if concurrency < 1:
            raise ExecutorError(f"concurrency must be at least 1, not {concurrency}", hint="use --concurrency 1+")
        self.concurrency = concurrency

    def describe(self) -> str:
        return f"local ({self.concurrency} at a time)"

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Generator[Done[R], None, None]:
        self.stopping.clear()
        if self.concurrency == 1:
            yield from self._inline(fn, items)
        else:
            yield from self._threads(fn, items)

    def _inline(self, fn: Callable[[T], R], items: Sequence[T]) -> Generator[Done[R], None, None]:
        for index, item in enumerate(items):
            if self.stopping.is_set():
                return
            try:
                value = fn(item)
            except Exception as err:
                yield Done(index, error=describe(err))
            else:
                yield Done(index, value=value)

    def _threads(self, fn: Callable[[T], R], items: Sequence[T]) -> Generator[Done[R], None, None]:
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, max(len(items), 1)), thread_name_prefix="cell")
        pending: dict[Future[R], int] = {pool.submit(fn, item): index for index, item in enumerate(items)}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, Exception):
                        yield Done(index, error=describe(error))
                    elif error is not None:  # KeyboardInterrupt raised inside a task (e.g. by its progress hook)
                        raise error
                    else:
                        yield Done(index, value=future.result())
        finally:
            # Ctrl-C, an error, or the caller closing the generator: drop what has not started and tell running
            # tasks to stop at their next checkpoint, then wait for them (a thread cannot be killed).
            self.stopping.set()
            pool.shutdown(wait=True, cancel_futures=True)
