"""Execution: running many independent items resumably, on any executor.

:func:`~subalign.execution.tasks.map_resumable` is the seam; the store of finished rows is
:class:`~subalign.execution.store.RowLog`.
"""

from subalign.execution.store import RowLog
from subalign.execution.tasks import map_resumable, process_executor

__all__ = ["RowLog", "map_resumable", "process_executor"]
