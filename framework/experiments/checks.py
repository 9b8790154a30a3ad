"""Validation of an experiment job's config, all of it before any work starts.

:func:`check_experiment` refuses what would fail, or give meaningless numbers, later in a
job: every field the experiment schema adds, the simulation, the align part and its
plugins (each plugin checks its own fields when built), the input files. Every error names
the field, what was found and what was expected, in one line.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from omegaconf import DictConfig

from subalign.align.config import align_settings
from subalign.align.pair import race_score
from subalign.errors import ConfigError, VolumeError, check_number
from subalign.experiments.averaging import TEMPLATES
from subalign.experiments.pairs import align_config, job_simulation
from subalign.numerics.geometry import RigidTransform
from subalign.plugin.manager import default_plugin_set
from subalign.simulation.simulate import check_fits, check_simulation, load_density

__all__ = ["check_experiment", "input_files"]


def _structure_paths(config: DictConfig) -> list[Path]:
    directory = Path(config.classification.structures_dir)
    return [Path(p) if Path(p).is_absolute() else directory / p
            for p in config.classification.structures]


def input_files(config: DictConfig) -> dict[str, str | None]:
    """The files a job reads, by the field that names them (for its provenance)."""
    files: dict[str, str | None] = {}
    if config.kind == "classification":
        files.update({f"classification.structures[{i}]": str(path)
                      for i, path in enumerate(_structure_paths(config))})
    elif config.simulation.density.source != "phantom":
        files["simulation.density.path"] = config.simulation.density.path
    return files


def check_experiment(config: DictConfig) -> None:
    """Validate a composed :class:`~subalign.experiments.config.ExperimentConfig`.

    ``kind`` is checked by :func:`subalign.experiments.check_job`, which owns the runners.

    Raises
    ------
    ConfigError, VolumeError, PluginError
        The first problem found, in one line naming the field.
    """
    if not float(config.snr) > 0:
        raise ConfigError(f"snr: expected a positive number or inf, found {config.snr}")
    check_number(config.tilt, "tilt", above=0, at_most=90)
    check_number(config.n_pairs, "n_pairs", at_least=1, integer=True)
    check_number(config.first_pair, "first_pair", at_least=0, integer=True)
    check_number(config.workers, "workers", at_least=1, integer=True)
    plugins = default_plugin_set()
    plugins.registries["refiner"].get(str(config.speedup_baseline))
    simulation = job_simulation(config)
    check_simulation(simulation, "simulation.")
    # Jobs constrained to each pair's true axes get them per pair; any axes check the rest.
    axes = SimpleNamespace(fixed_pose=RigidTransform.identity(),
                           moving_pose=RigidTransform.identity())
    settings = align_settings(align_config(config, axes if config.axis_from_truth else None))
    for kind in ("score", "optimizer", "sampler", "constraint", "refiner"):
        plugins.create(kind, settings[kind])
    if settings.race_score is not None:
        race_score(plugins, settings.score, settings.race_score)
    if config.kind == "averaging":
        if config.averaging.template not in TEMPLATES:
            raise ConfigError(f"averaging.template: expected one of {', '.join(TEMPLATES)}, "
                              f"found {config.averaging.template!r}")
        check_number(config.averaging.n, "averaging.n", at_least=2, integer=True)
        check_number(config.averaging.iterations, "averaging.iterations", at_least=1,
                     integer=True)
    if config.kind != "classification":
        check_fits(simulation, load_density(simulation), field="simulation.max_translation_voxels")
    else:
        check_number(config.classification.per_class, "classification.per_class", at_least=1,
                     integer=True)
        check_number(config.classification.resolution_nm, "classification.resolution_nm",
                     above=0)
        paths = _structure_paths(config)
        if len(paths) < 2:
            raise ConfigError("classification.structures: expected at least 2 atomic models, "
                              f"found {len(paths)}")
        for index, path in enumerate(paths):
            if not path.is_file():
                raise VolumeError(f"classification.structures[{index}]: expected an atomic "
                                  f"model (PDB or mmCIF), found no file {path}")
