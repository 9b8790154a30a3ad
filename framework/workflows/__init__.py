"""Workflows over particle sets.

- :mod:`subalign.workflows.batch`: ``subalign batch``, a particle set aligned on Dask (to
  a reference, all pairs, or a pair list), resumably: its schema (``config``), the plan
  checked before any work (``plan``), the worker-side task (``worker``), the run
  (``run``), its files (``outputs``) and average-linkage clustering (``clustering``);
- :mod:`subalign.workflows.rounds`: ``subalign average`` and ``subalign classify``,
  refinement in rounds through the batch worker: schema (``config``), inputs, the round
  loop (``loop``), alignment passes, class averages, all-vs-all classification, the
  per-round files and report;
- beside them, the maps maths both use: wedge-compensated averaging (``averaging``), FSC
  (``fsc``), masks, low-pass and symmetry (``maps``).
"""

from subalign.lazy import lazy_attributes

__all__ = ["BatchConfig", "BatchRun", "adjusted_rand_index", "cluster", "run_batch"]

_LAZY = {"BatchConfig": "subalign.workflows.batch.config",
         "BatchRun": "subalign.workflows.batch.run",
         "run_batch": "subalign.workflows.batch.run",
         "adjusted_rand_index": "subalign.workflows.batch.clustering",
         "cluster": "subalign.workflows.batch.clustering"}

#: Imported on first access: the batch loads pandas and Dask.
__getattr__ = lazy_attributes(__name__, _LAZY)
