"""An append-only store of many numeric results: fixed-width binary records, one per item.

:class:`~subalign.execution.store.RowLog` keeps one JSON line, and one dict in memory, per
item: right for hundreds of items, heavy for the ~500,000 pairs of an all-vs-all run of
1,000 particles. :class:`ArrayLog` keeps the same promise (every finished item committed
as it lands, a rerun skips it) in fixed-width records: an ``int64`` item index, the
item's ``float64`` values in the order of ``fields``, and a CRC-32 of both. 500,000 items of
17 values take 74 MB on disk and as much in memory (numpy arrays, no Python object per item).

Each record is written with one ``write`` call as soon as its item finishes, so a process
killed at any moment keeps every record it wrote; the file is fsynced at most once a second
(and on :meth:`close`), so a power cut may lose the last second. A torn last record (shorter
than a record, or failing its CRC) is ignored on reading, and cut off by the next
:meth:`add`, so its item is simply done again. Appending never changes an earlier record;
the one rewrite is :meth:`forget`, which drops the records of items whose inputs changed,
atomically (the old file or the new one, never a mix).
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from subalign.io.files import atomic_path

__all__ = ["ArrayLog"]

#: Seconds between two fsyncs of the file.
SYNC_INTERVAL = 1.0


class _Rows(Mapping):
    """The finished items as ``{index: {"index": i, field: value, ...}}``, built on access."""

    def __init__(self, log: "ArrayLog") -> None:
        self._log = log

    def __getitem__(self, index: int) -> dict:
        if not self._log.done(index):
            raise KeyError(index)
        values = self._log.values[index]
        return {"index": int(index), **{f: float(v) for f, v in zip(self._log.fields, values)}}

    def __iter__(self) -> Iterator[int]:
        return iter(np.flatnonzero(self._log.present).tolist())

    def __len__(self) -> int:
        return int(self._log.present.sum())


class ArrayLog:
    """Append-only log of ``count`` items' numeric results (module docstring).

    Parameters
    ----------
    path : Path
        The log file; created by the first :meth:`add`.
    fields : sequence of str
        Names of each item's values, in their order on disk.
    count : int
        Items are ``0 .. count - 1``.

    Attributes
    ----------
    values : ndarray of shape (count, len(fields))
        float64; NaN where the item is not done.
    present : ndarray of shape (count,)
        bool, True for finished items.
    duplicates : int
        Records of an item already read (0 unless the file was appended to twice).
    """

    def __init__(self, path: str | os.PathLike, fields: Sequence[str], count: int) -> None:
        self.path = Path(path)
        self.fields = tuple(fields)
        self.dtype = np.dtype([("index", "<i8"), ("values", "<f8", (len(self.fields),)),
                               ("crc", "<u4")])
        self._payload = struct.Struct(f"<q{len(self.fields)}d")
        self.values = np.full((count, len(self.fields)), np.nan)
        self.present = np.zeros(count, dtype=bool)
        self.duplicates = 0
        self._valid_bytes = 0
        self._handle = None
        self._synced = time.monotonic()
        if self.path.exists():
            self._read()

    @property
    def record_bytes(self) -> int:
        return self.dtype.itemsize

    def _checksums(self, records: np.ndarray) -> np.ndarray:
        payload = records.view(np.uint8).reshape(len(records), self.record_bytes)
        payload = payload[:, : self.record_bytes - 4]  # (0, bytes) for no record
        return np.array([zlib.crc32(row.tobytes()) for row in payload], dtype=np.uint32)

    def _read(self) -> None:
        data = self.path.read_bytes()
        whole = len(data) // self.record_bytes
        records = np.frombuffer(data, dtype=self.dtype, count=whole)
        good = (records["crc"] == self._checksums(records)) & (records["index"] >= 0) & (
            records["index"] < len(self.present))
        valid = whole if good.all() else int(np.argmin(good))  # records after a bad one are dropped
        for record in records[:valid]:
            index = int(record["index"])
            if self.present[index]:
                self.duplicates += 1
                continue
            self.present[index] = True
            self.values[index] = record["values"]
        self._valid_bytes = valid * self.record_bytes

    @property
    def rows(self) -> Mapping:
        """Finished items as dicts (``index`` and each field), built when read."""
        return _Rows(self)

    def done(self, index: int) -> bool:
        return bool(self.present[index])

    def add(self, row: Mapping) -> None:
        """Record a finished item: ``row["index"]`` and a number for every field."""
        index = int(row["index"])
        values = [float(row[f]) for f in self.fields]
        payload = self._payload.pack(index, *values)
        record = payload + struct.pack("<I", zlib.crc32(payload))
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "ab")
            if self._handle.tell() != self._valid_bytes:  # cut a torn or foreign tail off
                self._handle.truncate(self._valid_bytes)
                self._handle.seek(self._valid_bytes)
        self._handle.write(record)
        self._handle.flush()
        self._valid_bytes += self.record_bytes
        self.present[index] = True
        self.values[index] = values
        if time.monotonic() - self._synced >= SYNC_INTERVAL:
            os.fsync(self._handle.fileno())
            self._synced = time.monotonic()

    def forget(self, indices) -> int:
        """Drop the records of items ``indices``, so that they are done again.

        Parameters
        ----------
        indices : array_like of int

        Returns
        -------
        int
            Records dropped (items of ``indices`` that were done).
        """
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        gone = indices[self.present[indices]]
        if gone.size == 0:
            return 0
        self.close()
        self.present[gone] = False
        self.values[gone] = np.nan
        kept = np.flatnonzero(self.present)
        records = np.zeros(len(kept), dtype=self.dtype)
        records["index"], records["values"] = kept, self.values[kept]
        records["crc"] = self._checksums(records)
        with atomic_path(self.path) as temporary:
            temporary.write_bytes(records.tobytes())
        self._valid_bytes = records.nbytes
        self.duplicates = 0
        return int(gone.size)

    def close(self) -> None:
        """Sync and close the file (reading stays possible)."""
        if self._handle is not None:
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "ArrayLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def column(self, field: str) -> np.ndarray:
        """One field of every item, shape (count,), NaN where not done."""
        return self.values[:, self.fields.index(field)]
