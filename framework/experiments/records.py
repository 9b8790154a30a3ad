"""A job's records on disk: rows appended as they finish, a final ``result.json``.

``rows.jsonl`` gets one JSON line per finished item (pair, subtomogram), flushed and
fsynced, so an interrupted job keeps its finished items; on a rerun in the same directory
the items already there are skipped (a torn last line is dropped). ``result.json`` is
written atomically at the end with ``"status": "complete"``; a directory without it holds
an unfinished job.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from ..io import atomic_path, write_json

__all__ = ["RowLog", "machine", "median_mad", "write_result"]


def median_mad(values) -> tuple[float, float]:
    """Median and median absolute deviation (unscaled) of finite and infinite values alike."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan")
    median = float(np.median(values))
    return median, float(np.median(np.abs(values - median)))


def machine() -> dict:
    """Where a job ran: platform, Python, CPU count, numpy/scipy versions."""
    import scipy

    return {"platform": platform.platform(), "processor": platform.processor() or "unknown",
            "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "numpy": np.__version__, "scipy": scipy.__version__}


class RowLog:
    """Append-only JSON-lines log of finished items, keyed by ``row["index"]``.

    Reading never changes the file; a torn last line is skipped, and removed by the next
    :meth:`add`.

    Parameters
    ----------
    path : Path
        ``rows.jsonl`` in the job directory.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: dict[int, dict] = {}
        self._torn = False
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self.rows[int(row["index"])] = row
                except (ValueError, KeyError, TypeError):
                    self._torn = True  # a line cut by an interruption; its item is redone

    def done(self, index: int) -> bool:
        return index in self.rows

    def add(self, row: dict) -> None:
        """Record a finished item durably."""
        if self._torn:  # drop the torn line before appending after it
            with atomic_path(self.path) as temporary:
                temporary.write_text("".join(json.dumps(r) + "\n" for r in self.rows.values()))
            self._torn = False
        self.rows[int(row["index"])] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def ordered(self) -> list[dict]:
        return [self.rows[i] for i in sorted(self.rows)]


def write_result(output_dir: Path, record: dict) -> Path:
    """Write ``result.json`` (atomically) with ``status: complete``."""
    return write_json(Path(output_dir) / "result.json", {"status": "complete", **record})
