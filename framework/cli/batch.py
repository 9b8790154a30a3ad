"""``subalign batch [overrides]``: align a whole particle set (:mod:`subalign.workflows.batch.run`).

The config is composed from ``subalign.conf/batch.yaml`` with Hydra overrides, exactly as
:func:`subalign.compose_config` does (no Hydra run directory: results go to
``output_dir``, which is required, and rerunning the same command resumes there). The
progress is a bar on a terminal and a log line every 10% (or minute) elsewhere; a summary
ends the run.
"""

from __future__ import annotations

import logging
import shlex
import sys

from subalign.cli.commandline import set_overrides
from subalign.cli.compose import compose_config
from subalign.cli.help import fields_and_defaults
from subalign.workflows.batch.run import run_batch

__all__ = ["BATCH_HELP", "batch_main"]

BATCH_HELP = """usage: subalign batch particles=SET output_dir=DIR [mode=reference|all|pairs] [overrides]

Align a particle set (RELION 5 / 3-4 STAR, Dynamo .tbl, TOM/AV3 .em, STOPGAP) on Dask:
  mode=reference reference=ref.mrc [search=local]   every particle onto a map: new poses
  mode=all [classes=K]                               every pair: dissimilarity matrix (+ classes)
  mode=pairs pair_list=pairs.json                    the pairs of a list (subalign simulate's)

Any align setting applies (scan.keep=8, sampler.spacing_deg=45, score=fcs, ...); wedges
come from the set, tomograms=TABLE or particle_wedge.tilt_range_deg=[MIN,MAX]; the
reference's from reference_wedge.tilt_range_deg (default: none missing).

Where it runs: a local Dask cluster on this machine's cores (executor.workers=N),
executor.address=tcp://HOST:PORT (a running scheduler), or executor=slurm with
executor.slurm.* (queue, account, cores, memory, walltime, job_script_prologue).

Rerun the same command to resume an interrupted run; a complete one is not redone.

examples:
  subalign batch particles=sim/particles.star tomograms=sim/wedges.csv reference=ref.mrc output_dir=out
  subalign batch particles=sim/particles.star tomograms=sim/wedges.csv reference=ref.mrc search=local output_dir=local
  subalign batch mode=all particles=set.star tomograms=wedges.csv classes=2 scan.keep=4 output_dir=avsa
  subalign batch mode=pairs particles=sim/particles.star pair_list=sim/pairs.json tomograms=sim/wedges.csv output_dir=pairs
"""


def _log_to_stderr() -> None:
    logger = logging.getLogger("subalign")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _report(summary: dict, ran: int) -> None:
    count, mode = summary["count"], summary["mode"]
    if ran == 0:
        print(f"batch {mode}: all {count} items already done; nothing to do")
    else:
        print(f"batch {mode}: aligned {ran} of {count} items in {summary['seconds']:.1f} s "
              f"(over {summary['parts']} run(s)) on {summary['executor']}")
    scores, confidence = summary["scores"], summary["confidence"]
    median = "none" if confidence["median"] is None else f"{confidence['median']:.3f}"
    print(f"scores: median {scores['median']:.4g} (min {scores['min']:.4g}, max "
          f"{scores['max']:.4g}); confidence median {median}, {confidence['low']} below "
          f"{confidence['threshold']:g} (flagged as possibly wrong)")
    if "errors" in summary:
        errors = summary["errors"]
        print(f"against the pair list's truths: median rotation error "
              f"{errors['median_rotation_error_deg']:.2f} deg, translation "
              f"{errors['median_translation_error_voxels']:.3f} voxels, "
              f"{errors['gross_failures']} gross failures (> {errors['gross_failure_deg']:g} deg)")
    for name, path in summary["files"].items():
        if name not in ("format", "class_sizes"):
            print(f"wrote {path}")


def batch_main(argv: list[str]) -> None:
    """``subalign batch [overrides]`` (module docstring)."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(BATCH_HELP)
        print(fields_and_defaults("batch"))
        return
    config = compose_config("batch", set_overrides("batch", argv))
    _log_to_stderr()
    run = run_batch(config, command=shlex.join(["subalign", "batch", *argv]))
    _report(run.summary, run.ran)
