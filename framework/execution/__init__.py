"""Execution: running many independent items resumably, on any executor.

:func:`~subalign.execution.tasks.map_resumable` is the seam; the store of finished rows is
:class:`~subalign.execution.store.RowLog`; a job's time over resumed runs is
:class:`~subalign.execution.clock.JobClock`; what every result records about how it was made
is :func:`~subalign.execution.provenance.provenance`.
"""

from subalign.execution.clock import JobClock
from subalign.execution.provenance import machine, provenance
from subalign.execution.store import RowLog
from subalign.execution.tasks import map_resumable, process_executor

__all__ = ["JobClock", "RowLog", "machine", "map_resumable", "process_executor", "provenance"]
