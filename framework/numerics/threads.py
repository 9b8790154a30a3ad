"""Thread limits around the work, never in ``os.environ`` at import.

OpenBLAS and MKL sum in an order that depends on their thread count, which changes the
last digits of every optimizer step. subalign's BLAS work is small (6-column Jacobians),
so an alignment runs its BLAS calls on one thread and its results are bit-identical
whatever the machine's settings. The limit holds only inside :func:`single_blas_thread`;
the caller's settings are restored on exit.
"""

from __future__ import annotations

from functools import lru_cache

from threadpoolctl import ThreadpoolController

__all__ = ["single_blas_thread"]


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """The thread pools of the BLAS libraries loaded so far (found once: ~2 ms)."""
    return ThreadpoolController()


def single_blas_thread():
    """Context manager: BLAS libraries run on one thread inside it (threadpoolctl)."""
    return _controller().limit(limits=1, user_api="blas")
