"""``subalign average`` and ``subalign classify``: refinement of particle sets in rounds
(:mod:`subalign.workflows.rounds.average`, :mod:`subalign.workflows.rounds.classify`).

The config is composed from ``subalign.conf/average.yaml`` or ``classify.yaml`` with Hydra
overrides, as ``subalign batch`` does (:mod:`subalign.cli.batch`): no Hydra run directory,
``output_dir`` is required, and rerunning the same command resumes there (a finished run is
not redone; a larger ``rounds=`` continues it).
"""

from __future__ import annotations

import shlex

from subalign.cli.batch import _log_to_stderr
from subalign.cli.commandline import set_overrides
from subalign.cli.compose import compose_config
from subalign.cli.help import fields_and_defaults
from subalign.workflows.rounds.classify import run_classify
from subalign.workflows.rounds.average import run_average

__all__ = ["AVERAGE_HELP", "CLASSIFY_HELP", "average_main", "classify_main"]

AVERAGE_HELP = """usage: subalign average particles=SET output_dir=DIR [reference=MAP] [overrides]

Refine a particle set (RELION 5 / 3-4 STAR, Dynamo .tbl, TOM/AV3 .em, STOPGAP) against
gold-standard half sets (the file's, else random with half_set_seed=, written back), on Dask:
  reference=MAP                 start from a map, low-passed to initial_lowpass_angstrom (60)
  start=particle                no map: average of the particles aligned to one
                                (start_particle=0), the paper's Figure 5 protocol (default
                                without reference=)
  start=poses rounds=0          the half maps and FSC of the set's own poses

Each round aligns every particle to its half's reference (local.global_rounds global
rounds, then local around each pose: cone and shift shrink with the resolution, local.*),
averages each half with missing-wedge compensation and measures the FSC (0.143 and 0.5)
between the masked half maps; references are low-passed to the resolution reached.
rounds=N (8) at most; stops when a round improves the resolution by less than
min_improvement (0.01). mask.radius_angstrom= / mask.file=MASK.mrc; symmetry=C7.

Per round in DIR/round_NNN: particle set, half maps and map (MRC), fsc.csv, fsc.png,
slices.png, round.json; DIR/rounds.log (a line per round), DIR/report.md, the best round's
files at the top. truth=SET (simulations) adds pose errors. Any align setting applies
(scan.keep=8, sampler.spacing_deg=20, ...); executor.* as for subalign batch.

examples:
  subalign average particles=sim/particles.star tomograms=sim/wedges.csv reference=ref.mrc output_dir=avg
  subalign average particles=sim/particles.star tomograms=sim/wedges.csv output_dir=noref executor.workers=2
  subalign average particles=avg/particles.star tomograms=sim/wedges.csv start=poses rounds=0 output_dir=rec
"""

CLASSIFY_HELP = """usage: subalign classify particles=SET output_dir=DIR [mode=multiref|all] [overrides]

Sort a particle set into classes; the classes are written back to the set (per round and
at the top of DIR):
  mode=multiref references=[a.mrc,b.mrc,c.mrc]   multi-reference refinement: each round
                  every particle is aligned to every class average and joins the best;
                  start=classes takes the file's classes and poses instead of maps
  mode=all classes=K     all-vs-all matrix (subalign batch mode=all in DIR/all_vs_all),
                           average-linkage clustering, class averages in each medoid's frame

rounds=N (8), min_changes=0.01 (stop when fewer change class), initial_lowpass_angstrom=60,
local.*, mask.*, truth=SET (adds the adjusted Rand index against its classes); any align
setting; executor.* as for subalign batch. DIR/report.md shows the class averages.

examples:
  subalign classify particles=mix.star tomograms=wedges.csv references=[a.mrc,b.mrc,c.mrc] output_dir=cls
  subalign classify particles=mix.star tomograms=wedges.csv mode=all classes=3 output_dir=avsa
"""


def _describe_average(summary: dict) -> str:
    resolution = summary["resolution"]
    return (f"average: {summary['stop']}; final round {summary['final_round']}" + (
        f": FSC 0.143 at {resolution['0.143']:.1f} Å, 0.5 at {resolution['0.5']:.1f} Å"
        if resolution else "") + f"; {summary['ran']} round(s) computed now, "
        f"{summary['seconds']:.0f} s in all")


def _describe_classify(summary: dict) -> str:
    truth = summary.get("truth")
    return (f"classify ({summary['mode']}): class sizes {summary['classes']}"
            + (f"; adjusted Rand index against truth= {truth['adjusted_rand_index']:.3f}"
               if truth else "") + f"; {summary['seconds']:.0f} s in all")


def _command(name: str, argv: list[str], usage: str, run, describe) -> None:
    """Compose ``subalign <name> <argv>``, run it, print what it did and wrote."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(usage)
        print(fields_and_defaults(name))
        return
    config = compose_config(name, set_overrides(name, argv))
    _log_to_stderr()
    summary = run(config, command=shlex.join(["subalign", name, *argv])).summary
    print(describe(summary))
    print(f"in {config.output_dir}:")
    for written in sorted(set(summary["files"].values())):
        print(f"wrote {written}")


def average_main(argv: list[str]) -> None:
    """``subalign average [overrides]`` (module docstring)."""
    _command("average", argv, AVERAGE_HELP, run_average, _describe_average)


def classify_main(argv: list[str]) -> None:
    """``subalign classify [overrides]`` (module docstring)."""
    _command("classify", argv, CLASSIFY_HELP, run_classify, _describe_classify)
