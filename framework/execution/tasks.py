"""The execution seam: map a pure task over items with any executor, resumably.

:func:`map_resumable` is the one place where subalign runs many independent items (pairs,
particles, subtomograms): it skips items already in the store, submits the rest to an
executor, commits every result to the store as soon as it finishes (in whatever order), and
returns the results in the order of the items. Any object with the
:class:`concurrent.futures.Executor` ``submit`` method whose futures work with
:func:`concurrent.futures.wait` fits: ``None`` runs in this process, a
:class:`~concurrent.futures.ProcessPoolExecutor` on this machine's cores
(:func:`process_executor`), a Dask ``Client.get_executor()`` on a cluster
(:mod:`subalign.execution.cluster`). Progress is a bar on a terminal, a log line elsewhere
(:mod:`subalign.execution.progress`).

Tasks must be pure functions of their item (and picklable, with their bound arguments, for
executors in other processes): the result of an item never depends on where or when it ran,
so a resumed or redistributed run gives the same rows as an uninterrupted one.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Callable, Iterator, Sequence

from subalign.errors import SubalignError
from subalign.execution.arraylog import ArrayLog
from subalign.execution.clock import JobClock
from subalign.execution.progress import Progress
from subalign.execution.store import RowLog

__all__ = ["TaskError", "map_resumable", "process_executor"]


@dataclass(frozen=True)
class TaskError:
    """A task's failure as one line, *returned* instead of raised: an executor then logs no
    traceback (Dask's "Compute Failed" block), and :func:`map_resumable` raises it in the
    caller as a :class:`~subalign.errors.SubalignError` of the same message, after the rows
    committed before it."""

    message: str


def _committed(store, row) -> None:
    """Commit one task's row, or raise the failure it returned."""
    if isinstance(row, TaskError):
        raise SubalignError(row.message)
    store.add(row)

log = logging.getLogger("subalign")


@contextmanager
def process_executor(workers: int) -> Iterator[Executor | None]:
    """``workers`` spawned processes on this machine, or ``None`` (in process) for 1 or less."""
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield pool


def _tick(clock: JobClock | None) -> None:
    if clock is not None:
        clock.tick()


def map_resumable(
    task: Callable[[int], dict],
    items: Sequence[int],
    store: RowLog | ArrayLog,
    *,
    executor: Executor | None = None,
    label: str = "tasks",
    clock: JobClock | None = None,
    window: int | None = None,
    collect: bool = True,
) -> list[dict] | None:
    """``task(item)`` for every item not yet in ``store``; every row committed as it lands.

    Parameters
    ----------
    task : callable
        ``task(item) -> row``, a JSON-serializable dict whose ``"index"`` is ``item``, or a
        :class:`TaskError` (raised here as a ``SubalignError``).
    items : sequence of int
        The items of the whole run (finished ones included).
    store : RowLog or ArrayLog
        Where finished rows are kept; items already in it are not run again.
    executor : concurrent.futures.Executor, optional
        Where tasks run; ``None`` runs them here, one after the other.
    label : str
        Names the run in the progress log.
    clock : JobClock, optional
        Ticked after every committed row, so the job's time survives an interruption.
    window : int, optional
        Most tasks submitted and not yet committed at any time (default: all at once); a
        finished task makes room for the next. Bounds the executor's bookkeeping for runs
        of many items (a Dask scheduler holds every submitted task).
    collect : bool
        Return the rows; False returns None (the store has them), for runs whose rows would
        not fit in memory as dicts.

    Returns
    -------
    list of dict or None
        The rows of ``items``, in their order (None if not ``collect``).
    """
    todo = [item for item in items if not store.done(item)]
    if len(todo) < len(items):
        log.info("%s: resuming, %d of %d already done", label, len(items) - len(todo), len(items))
    progress = Progress(label, len(todo))
    try:
        if executor is None:
            for item in todo:
                _committed(store, task(item))
                _tick(clock)
                progress.advance()
        else:
            _run_submitted(task, todo, store, executor, window or len(todo) or 1,
                           lambda: (_tick(clock), progress.advance()))
    finally:
        progress.close()
    if not collect:
        return None
    return [store.rows[item] for item in items]


def _run_submitted(task, todo, store, executor: Executor, window: int, committed) -> None:
    """Keep up to ``window`` tasks submitted; commit each result as it lands."""
    queue = iter(todo)
    pending = set()
    try:
        for item in queue:
            pending.add(executor.submit(task, item))
            if len(pending) >= window:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                _committed(store, future.result())
                committed()
                item = next(queue, None)
                if item is not None:
                    pending.add(executor.submit(task, item))
    except BaseException:
        for future in pending:
            future.cancel()
        raise
