"""The execution seam: map a pure task over items with any executor, resumably.

:func:`map_resumable` is the one place where subalign runs many independent items (pairs,
particles, subtomograms): it skips items already in the store, submits the rest to an
executor, commits every result to the store as soon as it finishes (in whatever order), and
returns the results in the order of the items. Any object with the
:class:`concurrent.futures.Executor` ``submit`` method whose futures work with
:func:`concurrent.futures.as_completed` fits: ``None`` runs in this process, a
:class:`~concurrent.futures.ProcessPoolExecutor` on this machine's cores
(:func:`process_executor`), a Dask ``Client.get_executor()`` on a cluster.

Tasks must be pure functions of their item (and picklable, with their bound arguments, for
executors in other processes): the result of an item never depends on where or when it ran,
so a resumed or redistributed run gives the same rows as an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Callable, Iterator, Sequence

from subalign.execution.store import RowLog

__all__ = ["map_resumable", "process_executor"]

log = logging.getLogger("subalign")


@contextmanager
def process_executor(workers: int) -> Iterator[Executor | None]:
    """``workers`` spawned processes on this machine, or ``None`` (in process) for 1 or less."""
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield pool


class _Progress:
    """A log line every ~10% of the items and at the end, with elapsed and remaining time."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.count = label, total, 0
        self.every = max(1, total // 10)
        self.started = time.perf_counter()

    def advance(self) -> None:
        self.count += 1
        if self.count % self.every == 0 or self.count == self.total:
            elapsed = time.perf_counter() - self.started
            log.info("%s: %d/%d done, %.0f s elapsed, ~%.0f s left", self.label, self.count,
                     self.total, elapsed, elapsed / self.count * (self.total - self.count))


def map_resumable(
    task: Callable[[int], dict],
    items: Sequence[int],
    store: RowLog,
    *,
    executor: Executor | None = None,
    label: str = "tasks",
) -> list[dict]:
    """``task(item)`` for every item not yet in ``store``; every row committed as it lands.

    Parameters
    ----------
    task : callable
        ``task(item) -> row``, a JSON-serializable dict whose ``"index"`` is ``item``.
    items : sequence of int
        The items of the whole run (finished ones included).
    store : RowLog
        Where finished rows are kept; items already in it are not run again.
    executor : concurrent.futures.Executor, optional
        Where tasks run; ``None`` runs them here, one after the other.
    label : str
        Names the run in the progress log.

    Returns
    -------
    list of dict
        The rows of ``items``, in their order.
    """
    todo = [item for item in items if not store.done(item)]
    if len(todo) < len(items):
        log.info("%s: resuming, %d of %d already done", label, len(items) - len(todo), len(items))
    progress = _Progress(label, len(todo))
    if executor is None:
        for item in todo:
            store.add(task(item))
            progress.advance()
    else:
        futures = [executor.submit(task, item) for item in todo]
        try:
            for future in as_completed(futures):
                store.add(future.result())
                progress.advance()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return [store.rows[item] for item in items]
