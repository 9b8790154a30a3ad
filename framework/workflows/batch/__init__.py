"""``subalign batch``: a particle set aligned on any executor, resumably.

``config`` (schema) -> ``plan`` (everything checked and read before any work) -> ``run``
(items through :func:`subalign.execution.map_resumable` with the ``worker`` task) ->
``outputs`` (poses, matrices, histogram; ``clustering`` for classes).
:func:`run_batch`, :class:`BatchRun`, :func:`completed_summary` and :class:`BatchConfig` are
importable from here, as they were from the module this package replaces.
"""

from importlib import import_module

__all__ = ["BatchConfig", "BatchRun", "completed_summary", "run_batch"]

_LAZY = {"BatchConfig": "subalign.workflows.batch.config",
         "BatchRun": "subalign.workflows.batch.run",
         "completed_summary": "subalign.workflows.batch.run",
         "run_batch": "subalign.workflows.batch.run"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
