"""The Hydra apps: ``subalign align``, ``simulate`` and ``experiment``.

Each is a Hydra app on its config in :mod:`subalign.conf` (``-m`` sweeps work). Everything
a command checks runs before Hydra makes a directory (:mod:`subalign.cli.checks`); an
interrupted ``simulate`` or ``experiment`` resumes when the same command runs again.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from subalign.align.pair import LOW_CONFIDENCE, align_pair
from subalign.align.config import resolve_tilts
from subalign.cli.checks import (
    CHECKS,
    CONFIG_NAMES,
    alignment_config_record,
    check_alignment_dir,
    check_command,
    demo_simulation,
)
from subalign.cli.commandline import fail, hydra_arguments, runs_the_task
from subalign.cli.compose import CONFIG_MODULE, prepare_config_store
from subalign.cli.help import command_help
from subalign.cli.progress import ProgressLog
from subalign.cli.rundirs import claim_runs_of, config_fingerprint, job_output_dir, release_claim
from subalign.errors import SubalignError
from subalign.execution import provenance
from subalign.io.files import write_json
from subalign.io.mrc import read_volume
from subalign.numerics.geometry import transform_errors
from subalign.plugin.manager import default_plugin_set
from subalign.simulation.simulate import load_density, simulate_pair

__all__ = ["RESUMABLE", "TASKS", "run_hydra_command"]

log = logging.getLogger("subalign")


def _demo_inputs(config: DictConfig):
    """The demo pair, its truth, and the config to align it with (the demo's own wedge)."""
    simulation = demo_simulation(config)
    pair = simulate_pair(simulation, load_density(simulation), 0)
    aligned = config.copy()
    aligned.fixed_wedge.tilt_range_deg = list(simulation.imaging.tilt_range_deg)
    aligned.moving_wedge.tilt_range_deg = list(simulation.imaging.tilt_range_deg)
    return pair.fixed, pair.moving, pair.truth, aligned


def _command(name: str) -> str:
    return " ".join([f"subalign {name}", *HydraConfig.get().overrides.task])


def _wedge_source(config: DictConfig) -> str:
    """``given`` when the command line sets a tilt range, else ``default`` (warned about)."""
    keys = [o.lstrip("+~").split("=")[0] for o in HydraConfig.get().overrides.task]
    if any(k.split(".")[0] in ("wedge", "fixed_wedge", "moving_wedge") for k in keys):
        return "given"
    print(f"subalign: warning: no tilt range given: assuming wedge.tilt_range_deg="
          f"{list(config.wedge.tilt_range_deg)} for both volumes (set wedge.tilt_range_deg="
          "[min,max] to your data's)", file=sys.stderr)
    return "default"


def _align_task(config: DictConfig) -> None:
    output_dir = job_output_dir(config.output_dir)
    CHECKS["align"](config, single_run=False)
    check_alignment_dir(config, output_dir)
    truth, aligned = None, config
    if config.fixed is None and config.moving is None:
        log.info("no fixed/moving given: aligning the built-in demo pair (%s)", dict(config.demo))
        fixed, moving, truth, aligned = _demo_inputs(config)
        wedge_source = "demo"
    else:
        fixed, moving = read_volume(config.fixed).data, read_volume(config.moving).data
        wedge_source = _wedge_source(config)
    result = align_pair(aligned, fixed, moving)
    record = result.to_json()
    fixed_tilt, moving_tilt = resolve_tilts(aligned)
    record["wedges"] = {"fixed": [fixed_tilt.min_deg, fixed_tilt.max_deg],
                        "moving": [moving_tilt.min_deg, moving_tilt.max_deg],
                        "source": wedge_source}
    record.update(provenance(alignment_config_record(config),
                             {"fixed": config.fixed, "moving": config.moving},
                             command=_command("align")))
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
    if result.confidence is not None:
        print(f"confidence {result.confidence:.3f}" + ("  (low: the result may be wrong)"
                                                      if result.confidence < LOW_CONFIDENCE else ""))
    path = write_json(output_dir / "alignment.json", record)
    print(f"wrote {path}")


def _guarded(task, debug: bool = False):
    def run(config: DictConfig) -> None:
        try:
            task(config)
        except SubalignError as exc:
            fail(exc, debug)
    return run


def _resume_hint(output_dir: Path) -> None:
    if HydraConfig.get().mode == RunMode.MULTIRUN:  # a sweep resumes from its own directory
        output_dir = output_dir.parent
    shown = Path(os.path.relpath(output_dir)) if output_dir.is_absolute() and \
        output_dir.resolve().is_relative_to(Path.cwd().resolve()) else output_dir
    log.info("results go to %s; if interrupted, rerun the same command (or add "
             "output_dir=%s) to resume this run", shown, shown)


def _simulate_task(config: DictConfig) -> None:
    output_dir = job_output_dir(config.output_dir)
    _resume_hint(output_dir)
    from subalign.simulation.output import write_simulation  # loads pandas

    record = write_simulation(config, output_dir, command=_command("simulate"))
    print(f"simulated {len(record['particles'])} subtomograms ({record['made']} new) in "
          f"{record['seconds']:.1f} s: {output_dir}")
    if config.figure:
        from subalign.simulation.figures import write_figure2b  # loads matplotlib

        print(f"wrote {write_figure2b(config, load_density(config), output_dir / 'figure2b.png')}")


def _experiment_task(config: DictConfig) -> None:
    output_dir = job_output_dir(config.output_dir)
    _resume_hint(output_dir)
    from subalign.experiments.jobs import run_experiment  # loads workflows and Dask

    record = run_experiment(config, output_dir, command=_command("experiment"))
    print(f"{record['experiment']} ({record['kind']}) {record['cell']}: "
          f"{record['seconds']:.1f} s; wrote {output_dir / 'result.json'}")


TASKS = {"align": _align_task, "simulate": _simulate_task, "experiment": _experiment_task}
#: Commands whose default directory a rerun of the same command resumes (cli.rundirs).
RESUMABLE = ("simulate", "experiment")


def run_hydra_command(command: str, rest: list[str], debug: bool) -> None:
    """Run ``subalign COMMAND`` (one of :data:`TASKS`) with its arguments ``rest``."""
    configs = []
    try:
        plugins = default_plugin_set()
        # experiments log per item instead; registered once per process
        if command == "align" and not plugins.manager.has_plugin("subalign-progress"):
            plugins.manager.register(ProgressLog(), name="subalign-progress")
        prepare_config_store(plugins)
        args, rest = hydra_arguments(command, rest)
        if args.help:
            print(command_help(command))
            return
        if runs_the_task(args):  # everything checked before Hydra makes a directory
            configs = check_command(command, args.overrides, multirun=args.multirun)
    except SubalignError as exc:
        fail(exc, debug)
    sys.argv = [f"subalign-{command}", *rest]
    app = hydra.main(config_path=f"pkg://{CONFIG_MODULE}", config_name=CONFIG_NAMES[command],
                     version_base="1.3")(_guarded(TASKS[command], debug))
    if not (configs and command in RESUMABLE):
        app()
        return
    claim_runs_of(command, args.overrides, args.multirun, config_fingerprint(configs))
    finished = False
    try:
        app()
        finished = True
    finally:
        release_claim(finished)
