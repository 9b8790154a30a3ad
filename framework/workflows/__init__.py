"""Workflows over particle sets: batch alignment on Dask (``subalign batch``), clustering.

:func:`~subalign.workflows.batch.run_batch` aligns a particle set to a reference, all
pairs of it, or a pair list, resumably, on any executor; its schema is
:class:`~subalign.workflows.config.BatchConfig`. :mod:`.clustering` clusters a
dissimilarity matrix and scores a partition against the truth.
"""

from importlib import import_module

__all__ = ["BatchConfig", "BatchRun", "adjusted_rand_index", "cluster", "run_batch"]

_LAZY = {"BatchConfig": "subalign.workflows.config", "BatchRun": "subalign.workflows.batch",
         "run_batch": "subalign.workflows.batch",
         "adjusted_rand_index": "subalign.workflows.clustering",
         "cluster": "subalign.workflows.clustering"}


def __getattr__(name: str):
    """The public names, imported on first access (the batch loads pandas and Dask)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
