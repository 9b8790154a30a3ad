"""Running one experiment job: its checks, its directory claim, its runner, its record."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from subalign.errors import ConfigError
from subalign.experiments.averaging import run_averaging
from subalign.experiments.classification import run_classification
from subalign.experiments.config import ExperimentConfig
from subalign.experiments.pairs import run_pairs
from subalign.experiments.checks import check_experiment, input_files
from subalign.experiments.records import write_result
from subalign.execution import JobClock, provenance
from subalign.execution.jobs import check_claim, claim

__all__ = ["ExperimentConfig", "check_job", "check_job_dir", "run_experiment"]

RUNNERS = {"pairs": run_pairs, "convergence": run_pairs, "speedup": run_pairs,
           "averaging": run_averaging, "classification": run_classification}


def _job_record(config: DictConfig) -> dict:
    """What identifies a job: its config but for where it runs and on how many workers."""
    record = OmegaConf.to_container(config, resolve=True)
    record.pop("workers", None)
    record.pop("output_dir", None)  # a job begun in Hydra's directory resumes with output_dir=
    return record


def check_job_dir(config: DictConfig, output_dir: str | Path) -> None:
    """Refuse a directory whose ``job.json`` holds another job's config (reads only).

    A rerun with the same config (``workers`` and ``output_dir`` aside) resumes from
    ``rows.jsonl``.
    """
    check_claim(Path(output_dir) / "job.json", _job_record(config))


def check_job(config: DictConfig, output_dir: str | Path | None = None) -> None:
    """Validate a job's config before anything is written (:func:`check_experiment`).

    Parameters
    ----------
    config : DictConfig
    output_dir : str or Path, optional
        Also refuse it if it holds another job (:func:`check_job_dir`).

    Raises
    ------
    SubalignError
        In one line naming the field, what was found and what was expected.
    """
    if config.kind not in RUNNERS:
        raise ConfigError(f"kind: expected one of {', '.join(RUNNERS)}, found {config.kind!r}")
    check_experiment(config)
    if output_dir is not None:
        check_job_dir(config, output_dir)


def run_experiment(config: DictConfig, output_dir: str | Path, *, command: str = "") -> dict:
    """Run the job ``config`` describes into ``output_dir``; returns its ``result.json``.

    Parameters
    ----------
    config : DictConfig
        A composed :class:`ExperimentConfig`.
    output_dir : str or Path
    command : str
        The command line that made the job, recorded for the report.
    """
    check_job(config)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    claim(output_dir / "job.json", _job_record(config))
    clock = JobClock(output_dir / "clock.jsonl")
    record = RUNNERS[config.kind](config, output_dir, clock=clock)
    record.update(experiment=str(config.name), kind=str(config.kind),
                  description=str(config.description),
                  **provenance(OmegaConf.to_container(config, resolve=True),
                               input_files(config), command=command or None),
                  seconds=clock.tick(), parts=clock.parts, workers=int(config.workers))
    write_result(output_dir, record)
    return record
