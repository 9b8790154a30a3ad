"""Workflows over particle sets: batch alignment on Dask (``subalign batch``), clustering.

:func:`~subalign.workflows.batch.run_batch` aligns a particle set to a reference, all
pairs of it, or a pair list, resumably, on any executor; its schema is
:class:`~subalign.workflows.config.BatchConfig`. :mod:`.clustering` clusters a
dissimilarity matrix and scores a partition against the truth.
"""

from subalign.workflows.batch import BatchRun, run_batch
from subalign.workflows.clustering import adjusted_rand_index, cluster
from subalign.workflows.config import BatchConfig

__all__ = ["BatchConfig", "BatchRun", "adjusted_rand_index", "cluster", "run_batch"]
