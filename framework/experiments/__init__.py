"""The paper's experiments as Hydra jobs (``subalign experiment experiment=<name>``).

Each job runs one cell of one experiment and writes into its output directory
``job.json`` (its config, which guards the directory against another job), ``rows.jsonl``
(one line per finished item, resumable; :class:`subalign.execution.RowLog`),
``clock.jsonl`` (time of each run that worked on it), any volumes, and ``result.json``
(cell, summary, provenance: version, resolved config, input files with their SHA-256,
machine; command, wall time summed over every run) when it completes. Rerunning the same
command with the same ``output_dir`` resumes the job; the whole config is checked
(:func:`check_job`) before anything is written.
``subalign report <dirs>`` (:mod:`.report`) collects any number of jobs into tables and
figures.
"""

from subalign.lazy import lazy_attributes

__all__ = ["ExperimentConfig", "check_job", "check_job_dir", "run_experiment"]

_LAZY = {"ExperimentConfig": "subalign.experiments.config",
         "check_job": "subalign.experiments.jobs",
         "check_job_dir": "subalign.experiments.jobs",
         "run_experiment": "subalign.experiments.jobs"}

#: Imported on first access: the runners load the simulator, the workflows and Dask.
__getattr__ = lazy_attributes(__name__, _LAZY)
