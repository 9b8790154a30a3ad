"""An append-only store of finished results: one JSON line per item, durable as it lands.

``rows.jsonl`` gets one line per finished item, flushed and fsynced, so an interrupted run
keeps every item it finished; a rerun skips the items already there. A torn last line (the
run was killed while writing it) is ignored on reading and dropped by the next write, so its
item is simply done again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from subalign.io.files import atomic_path

__all__ = ["RowLog"]


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
