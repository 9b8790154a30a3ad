"""Results of an objective remembered per rotation (masks, rotated spectra)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["CACHE_BYTES", "RotationCache"]

#: Memory one objective may keep per kind of result.
CACHE_BYTES = 64 * 2**20


class RotationCache:
    """Results remembered per rotation (exact match), least recently used dropped first.

    An LM step evaluates its accepted trial and later takes the Jacobian at the same
    rotation, possibly after steps on other candidates; remembering results skips that
    second rotation. Entries (arrays, or tuples of them) are read-only so no caller can change
    what is remembered.

    Parameters
    ----------
    entry_bytes : int
        Size of one result; the cache keeps at most ``CACHE_BYTES`` of them (at least 2).
    """

    def __init__(self, entry_bytes: int) -> None:
        self._entries: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._capacity = max(2, CACHE_BYTES // max(entry_bytes, 1))

    def get(self, rotation: np.ndarray, compute) -> np.ndarray:
        key = np.asarray(rotation, dtype=float).tobytes()
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = compute()
        for array in (value if isinstance(value, tuple) else (value,)):
            if isinstance(array, np.ndarray):
                array.setflags(write=False)
        self._entries[key] = value
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return value
