"""``subalign batch``: align a whole particle set on Dask, resumably.

A run writes into ``output_dir``::

    job.json        the job's identity: every setting but where it runs, and each input's
                    SHA-256 (:mod:`subalign.execution.jobs`); another config is refused
    particle_files.json  the rest of it: each particle's files' size and modification time
                    (:mod:`subalign.workflows.particle_files`); a particle changed since is
                    aligned again, alone (its items are dropped from ``results.bin``)
    skipped.json    the particles left out by ``bad_particles=skip``, with why
    reference_matched.mrc, reference_spectrum.json
                    ``reference_spectrum=match``: the reference aligned to, and its shells'
                    gains (:mod:`subalign.workflows.reference_spectrum`)
    context.pkl     what the workers share, loaded once per worker (:mod:`.worker`)
    results.bin     one fixed-width record per finished item, appended as it lands
                    (:class:`subalign.execution.ArrayLog`)
    clock.jsonl     time of each run that worked on the job
    ...             the outputs of the mode (:mod:`.outputs`)
    summary.json    written last: counts, time, scores, files, provenance; ``status``
                    ``complete``

Rerunning the same command resumes: items in ``results.bin`` are not run again, and a run
killed at any moment (SIGKILL included) loses at most the items in flight. A rerun of a
complete job does nothing and says so. Results do not depend on the number of workers:
each item is a pure function of its inputs (:func:`subalign.align.align_pair` with fixed
seeds, one BLAS thread per worker).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Executor
from contextlib import nullcontext
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from subalign.execution import JobClock, map_resumable, provenance
from subalign.execution.arraylog import ArrayLog
from subalign.execution.cluster import dask_executor
from subalign.execution.jobs import check_claim, claim, run_lock
from subalign.io.files import write_json
from subalign.io.mrc import read_volume, write_volume
from subalign.workflows.batch.outputs import write_outputs
from subalign.workflows.batch.plan import BatchPlan, prepare_batch, reads_weights
from subalign.workflows.batch.worker import FIELDS, BatchTask, write_context
from subalign.workflows.particle_files import (changed_particles, describe_changed,
                                               record_particle_files)
from subalign.workflows.reference_spectrum import match_spectrum, shell_gain

__all__ = ["BatchRun", "completed_summary", "run_batch"]

log = logging.getLogger("subalign")


class BatchRun:
    """What :func:`run_batch` did: the summary record and whether it had anything to do."""

    def __init__(self, summary: dict, ran: int) -> None:
        self.summary, self.ran = summary, ran


def completed_summary(output_dir: Path, record: dict) -> dict | None:
    """The ``summary.json`` of a complete job with the settings ``record``, or None."""
    path = Path(output_dir) / "summary.json"
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = summary.get("status") == "complete" and summary.get("job") == json.loads(
        json.dumps(record, default=str))
    return summary if same else None


def _label(plan: BatchPlan) -> str:
    mode = plan.context.mode
    what = "particles" if mode == "reference" else "pairs"
    return f"batch {mode} ({plan.count} {what})"


def _forget_changed(plan: BatchPlan) -> None:
    """Drop from the results the items of particles whose files changed since the job's
    last run, so that they, and only they, are aligned again."""
    output_dir = plan.output_dir
    if not check_claim(output_dir / "job.json", plan.record, what="batch"):
        return  # a new job (another job's directory is refused here, untouched)
    changed = changed_particles(output_dir, plan.checked)
    if not changed.size:
        return
    (output_dir / "summary.json").unlink(missing_ok=True)
    items = plan.items_of(changed)
    with ArrayLog(output_dir / "results.bin", FIELDS, plan.count) as store:
        dropped = store.forget(items)
    log.info("%s: %s changed since the last run in %s; %d of their %d items are aligned again",
             _label(plan), describe_changed(plan.checked, changed), output_dir, dropped,
             len(items))


def _match_reference(plan: BatchPlan, config: DictConfig, resumed: bool) -> dict:
    """``reference_spectrum=match``: put the matched reference in the workers' context and
    return its files (role to path); else nothing. The gains are fitted once per job: a
    resumed job reads back the reference its first run aligned to, so every item of the job
    sees the same map."""
    if config.reference_spectrum != "match":
        return {}
    context, output_dir = plan.context, plan.output_dir
    files = {"reference_matched": str(output_dir / "reference_matched.mrc"),
             "reference_spectrum": str(output_dir / "reference_spectrum.json")}
    if resumed and all(Path(path).is_file() for path in files.values()):
        context.reference = read_volume(files["reference_matched"]).data
        log.info("reference_spectrum=match: the matched reference of this job's first run, "
                 "%s", files["reference_matched"])
        return files
    gain = shell_gain(context.particles, context.tilts, context.reference,
                      box_size=context.box_size, edge=context.edge,
                      refuse_transfers=reads_weights(context.align))
    log.info("reference_spectrum=match: %s", gain.summary())
    context.reference = match_spectrum(context.reference, gain)
    pixel = context.particles.pixel_size
    write_volume(files["reference_matched"], context.reference,
                 voxel_size=float(pixel) if pixel else 1.0)
    gain.write(files["reference_spectrum"])
    return files


def run_batch(config: DictConfig, *, executor: Executor | None = None, window: int | None = None,
              command: str | None = None) -> BatchRun:
    """Run (or resume, or find complete) the batch ``config`` describes.

    Parameters
    ----------
    config : DictConfig
        A composed :class:`~subalign.workflows.batch.config.BatchConfig`.
    executor : concurrent.futures.Executor, optional
        Where the items run; default: the cluster of ``config.executor``
        (:func:`subalign.execution.cluster.dask_executor`), started only if items remain.
    window : int, optional
        Tasks kept submitted with a given ``executor`` (default: all).
    command : str, optional
        The command line, for the record.

    Returns
    -------
    BatchRun
        ``summary`` (``summary.json``) and ``ran``, the items this call aligned (0: the job
        was complete).
    """
    plan = prepare_batch(config)
    output_dir = plan.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(output_dir, what="batch", wait=bool(config.wait)):
        return _run_claimed(plan, config, executor, window, command)


def _run_claimed(plan: BatchPlan, config: DictConfig, executor, window, command) -> BatchRun:
    """The batch in its claimed, locked directory: align what is missing, write the outputs."""
    output_dir = plan.output_dir
    _forget_changed(plan)
    done = completed_summary(output_dir, plan.record)
    if done is not None:
        log.info("%s: already complete in %s (%d items); nothing to do", _label(plan),
                 output_dir, done["count"])
        return BatchRun(done, 0)
    resumed = claim(output_dir / "job.json", plan.record, what="batch")
    record_particle_files(output_dir, plan.checked)
    matched = _match_reference(plan, config, resumed)
    task = BatchTask(str((output_dir / "context.pkl").resolve()),
                     write_context(plan.context, output_dir / "context.pkl"))
    clock = JobClock(output_dir / "clock.jsonl")
    with ArrayLog(output_dir / "results.bin", FIELDS, plan.count) as store:
        remaining = plan.count - len(store.rows)
        if resumed:
            log.info("%s: resuming in %s, %d of %d done", _label(plan), output_dir,
                     plan.count - remaining, plan.count)
        where = "this process" if executor is None else "the given executor"
        if remaining:
            cluster = nullcontext() if executor is not None else dask_executor(config.executor)
            with cluster as run:
                if run is not None:
                    executor, window, where = run.executor, run.window, run.description
                log.info("%s: %d to align on %s", _label(plan), remaining, where)
                map_resumable(task, range(plan.count), store, executor=executor, window=window,
                              label=_label(plan), clock=clock, collect=False)
        results = write_outputs(plan, store, classes=config.classes,
                                histogram=bool(config.histogram))
        results["files"].update(matched)
        duplicates = store.duplicates
    inputs = {role: config[role] for role in ("particles", "tomograms", "reference", "pair_list")}
    summary = {
        "status": "complete", "mode": plan.context.mode, "count": plan.count,
        "ran": remaining, "duplicates": duplicates, "skipped": len(plan.checked.skipped), "seconds": clock.tick(),
        "parts": clock.parts, "executor": where, **results, "job": plan.record,
        **provenance(OmegaConf.to_container(config, resolve=True), inputs, command=command),
    }
    write_json(output_dir / "summary.json", summary)
    return BatchRun(summary, remaining)
