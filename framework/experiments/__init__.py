"""The paper's experiments as Hydra jobs (``subalign experiment experiment=<name>``).

Each job runs one cell of one experiment and writes into its output directory
``rows.jsonl`` (one line per finished item, resumable; :mod:`.records`), any volumes, and
``result.json`` (cell, summary, command, machine, wall time) when it completes.
``subalign report <dirs>`` (:mod:`.report`) collects any number of jobs into tables and
figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from subalign.errors import ConfigError
from subalign.io.files import write_json
from subalign.experiments.averaging import run_averaging
from subalign.experiments.classification import run_classification
from subalign.experiments.config import ExperimentConfig
from subalign.experiments.pairs import run_pairs
from subalign.experiments.records import machine, write_result

__all__ = ["ExperimentConfig", "run_experiment"]

RUNNERS = {"pairs": run_pairs, "convergence": run_pairs, "speedup": run_pairs,
           "averaging": run_averaging, "classification": run_classification}


def _claim(config: DictConfig, output_dir: Path) -> None:
    """Record the job's config in ``job.json``; refuse a directory holding another job's.

    A rerun with the same config (``workers`` aside) resumes from ``rows.jsonl``.
    """
    record = OmegaConf.to_container(config, resolve=True)
    record.pop("workers", None)
    path = output_dir / "job.json"
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = None
        if previous != record:
            raise ConfigError(f"{path}: holds a different job; expected the same config to "
                              "resume (choose another output directory)")
    else:
        write_json(path, record)


def _earlier_seconds(output_dir: Path) -> float:
    """Time spent by earlier runs of this job (a rerun resumes it and adds its own)."""
    try:
        return float(json.loads((output_dir / "result.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError):
        return 0.0


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
    if config.kind not in RUNNERS:
        raise ConfigError(f"kind: expected one of {', '.join(RUNNERS)}, found {config.kind!r}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    _claim(config, output_dir)
    earlier = _earlier_seconds(output_dir)
    started = time.perf_counter()
    record = RUNNERS[config.kind](config, output_dir)
    record.update(experiment=str(config.name), kind=str(config.kind),
                  description=str(config.description), command=command, machine=machine(),
                  seconds=earlier + time.perf_counter() - started, workers=int(config.workers))
    write_result(output_dir, record)
    return record
