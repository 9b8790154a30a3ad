"""Thread limits around the work, never in ``os.environ`` at import.

OpenBLAS and MKL sum in an order that depends on their thread count, which changes the
last digits of every optimizer step. subalign's BLAS work is small (6-column Jacobians),
so alignments run their BLAS calls on one thread. The limit holds while any
:func:`single_blas_thread` block runs in the process (blocks may overlap in threads: the
first one in sets it, the last one out restores the caller's settings). threadpoolctl
sets OpenBLAS's count from the calling thread; whether another thread's calls follow it
depends on the OpenBLAS build, so the ``subalign`` command also sets
``OPENBLAS_NUM_THREADS=1`` (and MKL's, BLIS's, vecLib's) before numpy loads, for itself
and every worker it starts (:mod:`subalign.cli`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

__all__ = ["single_blas_thread"]

_lock = threading.Lock()
_active = 0
_limit = None  # threadpoolctl's limit object while any block runs


@contextmanager
def single_blas_thread():
    """Context manager: BLAS libraries run on one thread inside it (threadpoolctl), for
    every BLAS library loaded when the outermost block starts."""
    global _active, _limit
    with _lock:
        if _active == 0:
            # A fresh controller (~2 ms) sees every BLAS loaded so far, scipy's included.
            _limit = ThreadpoolController().limit(limits=1, user_api="blas")
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _limit.restore_original_limits()
                _limit = None
