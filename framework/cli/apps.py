"""The Hydra apps: ``subalign align``, ``simulate`` and ``experiment``.

Each is a Hydra app on its config in :mod:`subalign.conf` (``-m`` sweeps work); a single
``align`` runs without Hydra's job machinery (:mod:`subalign.cli.align_run`). Everything
a command checks runs before Hydra makes a directory (:mod:`subalign.cli.checks`); an
interrupted ``simulate`` or ``experiment`` resumes when the same command runs again.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import partial
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from subalign.cli.align_run import align_directly, command_line, run_alignment, runs_directly
from subalign.cli.checks import CHECKS, CONFIG_NAMES, check_command
from subalign.cli.commandline import fail, hydra_arguments, runs_the_task
from subalign.cli.compose import CONFIG_MODULE, prepare_config_store
from subalign.cli.help import command_help
from subalign.cli.progress import ProgressLog
from subalign.cli.rundirs import claim_runs_of, config_fingerprint, job_output_dir, release_claim
from subalign.errors import SubalignError
from subalign.plugin.manager import PluginSet, build_plugin_set, default_plugin_set
from subalign.simulation.mixture import density_of, load_densities, particle_classes

__all__ = ["RESUMABLE", "TASKS", "run_hydra_command"]

log = logging.getLogger("subalign")


def _command(name: str) -> str:
    return command_line(name, list(HydraConfig.get().overrides.task))


def _align_task(config: DictConfig, plugins: PluginSet | None = None) -> None:
    """``subalign align`` as a Hydra job (multiruns, ``hydra.*`` overrides)."""
    output_dir = job_output_dir(config.output_dir)
    CHECKS["align"](config, single_run=False)
    run_alignment(config, output_dir, list(HydraConfig.get().overrides.task), plugins)


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

        particle0 = density_of(load_densities(config), particle_classes(config), 0)  # its class's map
        print(f"wrote {write_figure2b(config, particle0, output_dir / 'figure2b.png')}")


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
        # align logs its progress (experiments log per item instead): its own plugin set,
        # passed down; the process-wide one stays as installed
        plugins = (build_plugin_set(extra_plugins=[ProgressLog()]) if command == "align"
                   else default_plugin_set())
        prepare_config_store(plugins, [CONFIG_NAMES[command]])
        args, rest = hydra_arguments(command, rest)
        if args.help:
            print(command_help(command))
            return
        if runs_the_task(args):  # everything checked before Hydra makes a directory
            configs = check_command(command, args.overrides, multirun=args.multirun)
        if command == "align" and configs and runs_directly(args):
            align_directly(configs[0], args.overrides, plugins)
            return
    except SubalignError as exc:
        fail(exc, debug)
    sys.argv = [f"subalign-{command}", *rest]
    app = hydra.main(config_path=f"pkg://{CONFIG_MODULE}", config_name=CONFIG_NAMES[command],
                     version_base="1.3")(_guarded(
                         partial(_align_task, plugins=plugins) if command == "align"
                         else TASKS[command], debug))
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
