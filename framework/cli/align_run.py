"""``subalign align``: one pair, its record and what it prints.

A single alignment (no ``-m``, no ``hydra.*`` override, no Hydra flag) runs directly:
the config that :func:`subalign.cli.checks.check_command` composed and checked is used as
it is, the run directory is made here, and Hydra's job machinery, which composes the
config twice more, is skipped. The run directory holds the records a Hydra job's would
that subalign's users read: ``.hydra/config.yaml`` and ``.hydra/overrides.yaml`` (not
Hydra's own ``hydra.yaml``), the log ``align.log`` and ``alignment.json``. A sweep (``-m``)
runs as a Hydra job (:mod:`subalign.cli.apps`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from subalign.align.config import resolve_tilts
from subalign.align.pair import LOW_CONFIDENCE, align_pair
from subalign.cli.checks import alignment_config_record, check_alignment_dir, demo_simulation
from subalign.cli.rundirs import run_suffix
from subalign.execution import provenance
from subalign.io.files import write_json
from subalign.io.mrc import read_volume
from subalign.numerics.geometry import transform_errors
from subalign.plugin.manager import PluginSet

__all__ = ["align_directly", "command_line", "run_alignment", "runs_directly"]

log = logging.getLogger("subalign")

#: Hydra's console and file log format, kept so that both paths log alike.
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def command_line(name: str, overrides: list[str]) -> str:
    """``subalign NAME OVERRIDES...`` as recorded in provenance."""
    return " ".join([f"subalign {name}", *overrides])


def runs_directly(args: argparse.Namespace) -> bool:
    """True for a single run that needs nothing of Hydra's job machinery: no ``-m``, no
    ``hydra.*`` override, no other config directory, path or name, no rerun."""
    hydra_options = (args.config_dir, args.config_path, args.config_name,
                     getattr(args, "experimental_rerun", None))
    return not args.multirun and all(option is None for option in hydra_options) and not any(
        o.lstrip("+~").split("=")[0].split(".")[0].split("/")[0] == "hydra"
        for o in args.overrides)


def align_directly(config: DictConfig, overrides: list[str],
                   plugins: PluginSet | None = None) -> Path:
    """Run one checked ``align`` config into its run directory (``output_dir`` or
    ``outputs/<date>/<time>_<pid>-<random>``, as :mod:`subalign.cli.rundirs` names it);
    returns the directory."""
    if config.output_dir in (None, ""):
        output_dir = Path("outputs", time.strftime("%Y-%m-%d"),
                          f"{time.strftime('%H-%M-%S')}_{run_suffix()}").absolute()
    else:
        output_dir = Path(config.output_dir)
    (output_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, output_dir / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), output_dir / ".hydra" / "overrides.yaml")
    with _logging_to(output_dir / "align.log"):
        run_alignment(config, output_dir, list(overrides), plugins)
    return output_dir


@contextmanager
def _logging_to(path: Path):
    """INFO and above to stdout and to ``path``, formatted as Hydra's job log, while the
    block runs (the handlers are removed and closed after it)."""
    root = logging.getLogger()
    level, handlers = root.level, [logging.StreamHandler(sys.stdout), logging.FileHandler(path)]
    root.setLevel(logging.INFO)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)


def _demo_inputs(config: DictConfig):
    """The demo pair, its truth, and the config to align it with (the demo's own wedge)."""
    from subalign.simulation.simulate import load_density, simulate_pair

    simulation = demo_simulation(config)
    pair = simulate_pair(simulation, load_density(simulation), 0)
    aligned = config.copy()
    aligned.fixed_wedge.tilt_range_deg = list(simulation.imaging.tilt_range_deg)
    aligned.moving_wedge.tilt_range_deg = list(simulation.imaging.tilt_range_deg)
    return pair.fixed, pair.moving, pair.truth, aligned


def _wedge_source(config: DictConfig, overrides: list[str]) -> str:
    """``given`` when the command line sets a tilt range, else ``default`` (warned about)."""
    keys = [o.lstrip("+~").split("=")[0] for o in overrides]
    if any(k.split(".")[0] in ("wedge", "fixed_wedge", "moving_wedge") for k in keys):
        return "given"
    print(f"subalign: warning: no tilt range given: assuming wedge.tilt_range_deg="
          f"{list(config.wedge.tilt_range_deg)} for both volumes (set wedge.tilt_range_deg="
          "[min,max] to your data's)", file=sys.stderr)
    return "default"


def run_alignment(config: DictConfig, output_dir: Path, overrides: list[str],
                  plugins: PluginSet | None = None) -> None:
    """Align the pair of a checked ``align`` config (or the demo pair) with ``plugins``
    (default: the installed ones), print the result and write
    ``output_dir/alignment.json``."""
    check_alignment_dir(config, output_dir)
    truth, aligned = None, config
    if config.fixed is None and config.moving is None:
        log.info("no fixed/moving given: aligning the built-in demo pair (%s)", dict(config.demo))
        fixed, moving, truth, aligned = _demo_inputs(config)
        wedge_source = "demo"
    else:
        fixed, moving = read_volume(config.fixed).data, read_volume(config.moving).data
        wedge_source = _wedge_source(config, overrides)
    result = align_pair(aligned, fixed, moving, plugins=plugins)
    record = result.to_json()
    fixed_tilt, moving_tilt = resolve_tilts(aligned)
    record["wedges"] = {"fixed": [fixed_tilt.min_deg, fixed_tilt.max_deg],
                        "moving": [moving_tilt.min_deg, moving_tilt.max_deg],
                        "source": wedge_source}
    record.update(provenance(alignment_config_record(config),
                             {"fixed": config.fixed, "moving": config.moving},
                             command=command_line("align", overrides)))
    if truth is not None:
        rotation_error, translation_error = transform_errors(result.transform, truth)
        record["truth"] = {**truth.to_record(), "rotation_error_deg": rotation_error,
                           "translation_error_voxels": translation_error}
    _print_result(result, truth, record.get("truth"))
    print(f"wrote {write_json(output_dir / 'alignment.json', record)}")


def _print_result(result, truth, errors: dict | None) -> None:
    found = result.transform
    print(f"rotation ZYZ (deg)    found {np.round(found.euler_zyz_deg, 2)}")
    print(f"translation xyz (vox) found {np.round(found.translation, 3)}")
    if truth is not None:
        print(f"rotation ZYZ (deg)    true  {np.round(truth.euler_zyz_deg, 2)}")
        print(f"translation xyz (vox) true  {np.round(truth.translation, 3)}")
        print(f"error: rotation {errors['rotation_error_deg']:.2f} deg, translation "
              f"{errors['translation_error_voxels']:.3f} voxels")
    print(f"{result.score_name} = {result.score_value:.5g}; {result.lm_steps} LM steps over "
          f"{result.n_candidates} candidates; {result.seconds:.2f} s")
    if result.confidence is not None:
        low = result.confidence < LOW_CONFIDENCE
        print(f"confidence {result.confidence:.3f}"
              + ("  (low: the result may be wrong)" if low else ""))
