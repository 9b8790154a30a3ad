"""Progress of a run of many items: a bar on a terminal, a periodic log line elsewhere.

On a terminal (standard error is a TTY) :class:`Progress` draws a ``tqdm`` bar with the
count, rate and estimated time left. Elsewhere (a log file, a batch job's output) it logs a
line ``<label>: <done>/<total> done, <rate>/s, <elapsed> s elapsed, ~<left> s left`` every
``every`` items (default a tenth of the run) or ``interval`` seconds, whichever comes first,
and at the end.
"""

from __future__ import annotations

import logging
import sys
import time

__all__ = ["Progress"]

log = logging.getLogger("subalign")


class Progress:
    """Counts finished items of one run.

    Parameters
    ----------
    label : str
        Names the run.
    total : int
        Items this run will do.
    bar : bool, optional
        Draw a bar (default: when standard error is a terminal).
    interval : float
        Longest time between two log lines when there is no bar, seconds.
    """

    def __init__(self, label: str, total: int, *, bar: bool | None = None,
                 interval: float = 60.0) -> None:
        self.label, self.total, self.count = label, total, 0
        self.every = max(1, total // 10)
        self.interval = interval
        self.started = self.logged = time.perf_counter()
        self._bar = None
        if bar if bar is not None else sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="item", dynamic_ncols=True,
                             smoothing=0.1)

    def advance(self) -> None:
        """One more item finished."""
        self.count += 1
        if self._bar is not None:
            self._bar.update(1)
            if self.count == self.total:
                self.close()
            return
        now = time.perf_counter()
        if self.count % self.every == 0 or self.count == self.total or (
                now - self.logged >= self.interval):
            self.logged = now
            elapsed = now - self.started
            log.info("%s: %d/%d done, %.3g/s, %.0f s elapsed, ~%.0f s left", self.label,
                     self.count, self.total, self.count / max(elapsed, 1e-9), elapsed,
                     elapsed / self.count * (self.total - self.count))

    def close(self) -> None:
        """Remove the bar (a no-op without one)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
