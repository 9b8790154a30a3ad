"""Wall time of a job over every run that worked on it (a resumed job adds its parts up).

Each run is a *part*. A part appends its time so far to ``clock.jsonl`` (a
:class:`~subalign.execution.store.RowLog` keyed by part number, the last line of a part
counting) whenever it commits a result, so a part that is killed keeps its time up to its
last committed result, and the work lost after it is done, and counted, again.
"""

from __future__ import annotations

import time
from pathlib import Path

from subalign.execution.store import RowLog

__all__ = ["JobClock"]


class JobClock:
    """The clock of one job directory.

    Parameters
    ----------
    path : Path
        ``clock.jsonl`` in the job directory; created on the first :meth:`tick`.
    """

    def __init__(self, path: Path) -> None:
        self.store = RowLog(path)
        self.part = max(self.store.rows, default=-1) + 1
        self.earlier = sum(float(row["seconds"]) for row in self.store.rows.values())
        self.started = time.perf_counter()

    def tick(self) -> float:
        """Record this part's time so far; returns the job's total as recorded."""
        seconds = time.perf_counter() - self.started
        self.store.add({"index": self.part, "seconds": seconds})
        return self.earlier + seconds

    @property
    def total(self) -> float:
        """Seconds of every earlier part plus this one so far."""
        return self.earlier + time.perf_counter() - self.started

    @property
    def parts(self) -> int:
        """How many runs worked on the job, this one included."""
        return self.part + 1
