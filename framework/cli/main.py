"""The ``subalign`` console script.

``subalign align [overrides]``
    Hydra app on ``subalign.conf/align.yaml``. With no ``fixed``/``moving`` it aligns the
    built-in demo pair and compares the result with the known truth. Multirun (``-m``) works.
``subalign simulate [overrides]``
    Hydra app on ``subalign.conf/simulate.yaml``: N simulated subtomograms with ground truth
    (:mod:`subalign.simulation.output` describes the files).
``subalign experiment [overrides]``
    Hydra app on ``subalign.conf/run_experiment.yaml``: one cell of one of the paper's
    experiments per job (:mod:`subalign.experiments`); ``-m`` runs the preset's sweep.
``subalign report DIR [DIR ...] [--output FILE]``
    Collects experiment jobs into Markdown tables and PNG figures.
``subalign plugins``
    Lists every registered plugin by kind, with the distribution it came from.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from subalign.align.pair import align_pair
from subalign.cli.compose import CONFIG_MODULE, prepare_config_store
from subalign.align.config import DemoConfig
from subalign.errors import ConfigError, SubalignError
from subalign.numerics.geometry import transform_errors
from subalign.io.mrc import read_volume
from subalign.io.files import write_json
from subalign.plugin.manager import default_plugin_set
from subalign.experiments import run_experiment
from subalign.experiments.report import main as report_main
from subalign.cli.particles import PARTICLE_COMMANDS
from subalign.cli.batch import batch_main
from subalign.cli.average import average_main, classify_main
from subalign.simulation.figures import write_figure2b
from subalign.cli.progress import ProgressLog
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config
from subalign.simulation.output import write_simulation
from subalign.numerics.wedge import TiltRange

log = logging.getLogger("subalign")

USAGE = """usage: subalign COMMAND [hydra overrides]

commands:
  align      align moving onto fixed (no files: built-in demo pair); -m for multirun
  simulate   simulate subtomograms with ground-truth poses and pair lists
  experiment run one of the paper's experiments (experiment=<name>; -m for its sweep)
  report     collect experiment jobs into Markdown tables and PNG figures
  plugins    list registered plugins by kind with their origin
  convert    convert a particle set: RELION 5 / 3-4 STAR, Dynamo .tbl, TOM/AV3 .em, STOPGAP
  show       summarize a particle set (tomograms, wedges, poses)
  aligned    write a particle or an alignment result as an aligned MRC (for ChimeraX)
  batch      align a particle set on Dask: to a reference, all-vs-all or a pair list
  average    refine a particle set in rounds: gold-standard half maps, FSC, report
  classify   sort a particle set into classes: multi-reference refinement or all-vs-all

examples:
  subalign align
  subalign align fixed=a.mrc moving=b.mrc wedge.tilt_range_deg=[-60,60]
  subalign align -m score=rcs,fcs
  subalign simulate n=10 imaging.snr=0.5 imaging.tilt_range_deg=[-60,60] figure=true
  subalign experiment experiment=table1_2 -m n_pairs=10 snr=0.5 tilt=60,40
  subalign report multirun/table1_2 --output report.md
"""


def _demo_inputs(config: DictConfig):
    demo = DemoConfig(**config.demo)
    TiltRange.parse(demo.tilt_range_deg, field="demo.tilt_range_deg")
    simulation = simulation_config({
        "seed": demo.seed, "size": demo.size,
        "max_translation_voxels": demo.max_translation_voxels,
        "imaging": {"snr": float(demo.snr), "tilt_range_deg": list(demo.tilt_range_deg)},
    })
    pair = simulate_pair(simulation, load_density(simulation), 0)
    # The demo volumes carry the demo's own wedge, whatever wedge.* says.
    config.fixed_wedge.tilt_range_deg = list(demo.tilt_range_deg)
    config.moving_wedge.tilt_range_deg = list(demo.tilt_range_deg)
    return pair.fixed, pair.moving, pair.truth


def _align_task(config: DictConfig) -> None:
    output_dir = Path(config.output_dir or HydraConfig.get().runtime.output_dir)
    truth = None
    if config.fixed is None and config.moving is None:
        log.info("no fixed/moving given: aligning the built-in demo pair (%s)", dict(config.demo))
        fixed, moving, truth = _demo_inputs(config)
    elif config.fixed is None or config.moving is None:
        missing = "fixed" if config.fixed is None else "moving"
        raise ConfigError(f"{missing}: expected a path to an MRC volume, found null "
                          "(give both fixed= and moving=, or neither for the demo)")
    else:
        fixed, moving = read_volume(config.fixed).data, read_volume(config.moving).data
    result = align_pair(config, fixed, moving)
    record = result.to_json()
    record["inputs"] = {"fixed": config.fixed, "moving": config.moving}
    found = result.transform
    print(f"rotation ZYZ (deg)    found {np.round(found.euler_zyz_deg, 2)}")
    print(f"translation xyz (vox) found {np.round(found.translation, 3)}")
    if truth is not None:
        rotation_error, translation_error = transform_errors(found, truth)
        record["truth"] = {
            **truth.to_record(),
            "rotation_error_deg": rotation_error,
            "translation_error_voxels": translation_error,
        }
        print(f"rotation ZYZ (deg)    true  {np.round(truth.euler_zyz_deg, 2)}")
        print(f"translation xyz (vox) true  {np.round(truth.translation, 3)}")
        print(f"error: rotation {rotation_error:.2f} deg, translation {translation_error:.3f} voxels")
    print(f"{result.score_name} = {result.score_value:.5g}; {result.lm_steps} LM steps over "
          f"{result.n_candidates} candidates; {result.seconds:.2f} s")
    path = write_json(output_dir / "alignment.json", record)
    print(f"wrote {path}")


def _guarded(task):
    def run(config: DictConfig) -> None:
        try:
            task(config)
        except SubalignError as exc:
            print(f"subalign: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    return run


def _simulate_task(config: DictConfig) -> None:
    output_dir = Path(config.output_dir or HydraConfig.get().runtime.output_dir)
    record = write_simulation(config, output_dir)
    print(f"simulated {len(record['particles'])} subtomograms ({record['made']} new) in "
          f"{record['seconds']:.1f} s: {output_dir}")
    if config.figure:
        print(f"wrote {write_figure2b(config, load_density(config), output_dir / 'figure2b.png')}")


def _experiment_task(config: DictConfig) -> None:
    hydra_config = HydraConfig.get()
    output_dir = Path(hydra_config.runtime.output_dir)
    command = " ".join(["subalign experiment", *hydra_config.overrides.task])
    record = run_experiment(config, output_dir, command=command)
    print(f"{record['experiment']} ({record['kind']}) {record['cell']}: "
          f"{record['seconds']:.1f} s; wrote {output_dir / 'result.json'}")


TASKS = {"align": _align_task, "simulate": _simulate_task, "experiment": _experiment_task}
# Primary config of each command in subalign.conf.
CONFIG_NAMES = {"align": "align", "simulate": "simulate", "experiment": "run_experiment"}


def _list_plugins() -> None:
    rows = default_plugin_set().rows()
    widths = [max(len(row[i]) for row in rows + [("kind", "name", "origin", "")]) for i in range(3)]
    print(f"{'kind':<{widths[0]}}  {'name':<{widths[1]}}  {'origin':<{widths[2]}}  summary")
    for kind, name, origin, summary in rows:
        print(f"{kind:<{widths[0]}}  {name:<{widths[1]}}  {origin:<{widths[2]}}  {summary}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``subalign`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    try:
        if command == "plugins":
            _list_plugins()
            return
        if command == "report":
            report_main(rest)
            return
        if command in PARTICLE_COMMANDS:  # convert, show, aligned
            PARTICLE_COMMANDS[command](rest)
            return
        if command == "batch":
            batch_main(rest)
            return
        if command in ("average", "classify"):
            (average_main if command == "average" else classify_main)(rest)
            return
        if command not in TASKS:
            raise ConfigError(f"command {command!r}: expected one of align, simulate, experiment, report, plugins")
        plugins = default_plugin_set()
        if command == "align":  # experiments log per item instead
            plugins.manager.register(ProgressLog(), name="subalign-progress")
        prepare_config_store(plugins)
    except SubalignError as exc:
        print(f"subalign: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    sys.argv = [f"subalign-{command}", *rest]
    app = hydra.main(config_path=f"pkg://{CONFIG_MODULE}", config_name=CONFIG_NAMES[command],
                     version_base="1.3")(_guarded(TASKS[command]))
    app()
