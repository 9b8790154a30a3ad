"""``subalign batch``: a particle set aligned on any executor, resumably.

``config`` (schema) -> ``plan`` (everything checked and read before any work) -> ``run``
(items through :func:`subalign.execution.map_resumable` with the ``worker`` task) ->
``outputs`` (poses, matrices, histogram; ``clustering`` for classes).
:func:`run_batch`, :class:`BatchRun`, :func:`completed_summary` and :class:`BatchConfig` are
importable from here, as they were from the module this package replaces.
"""

from subalign.lazy import lazy_attributes

__all__ = ["BatchConfig", "BatchRun", "completed_summary", "run_batch"]

_LAZY = {"BatchConfig": "subalign.workflows.batch.config",
         "BatchRun": "subalign.workflows.batch.run",
         "completed_summary": "subalign.workflows.batch.run",
         "run_batch": "subalign.workflows.batch.run"}

#: Imported on first access: the batch loads pandas and Dask.
__getattr__ = lazy_attributes(__name__, _LAZY)
