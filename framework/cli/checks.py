"""What each command checks before Hydra makes a directory and before any work starts.

:func:`check_command` composes the config of a command line as Hydra will (every value of a
``-m`` sweep once, :func:`~subalign.cli.compose.sweep_variants`) and validates it: types,
ranges, plugin fields (each plugin checks its own when built), input files, and that the
output location can be written and does not hold another run's results. A bad input thus
fails in one line, with exit code 2, and leaves nothing behind.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from subalign.align.config import DEFAULT_PLUGINS, align_settings
from subalign.align.pair import race_score
from subalign.cli.compose import compose_config, sweep_variants
from subalign.cli.hydra_errors import describe
from subalign.cli.schemas import SCHEMAS
from subalign.errors import ConfigError, VolumeError, check_number
from subalign.execution.jobs import first_difference
from subalign.io.figures import pyplot
from subalign.io.files import check_output_dir, sha256_of
from subalign.io.mrc import read_volume
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import default_plugin_set
from subalign.simulation.simulate import (
    MIN_BOX,
    check_fits,
    check_simulation,
    load_density,
    simulation_config,
)
from subalign.simulation.mixture import load_densities

__all__ = ["CHECKS", "CONFIG_NAMES", "alignment_config_record", "check_alignment_dir",
           "check_command", "demo_simulation"]

#: Primary config of each Hydra command in subalign.conf.
CONFIG_NAMES = {"align": "align", "simulate": "simulate", "experiment": "run_experiment"}

#: Where results go when ``output_dir`` is not set (Hydra's run directory, under the cwd).
DEFAULT_OUTPUTS = Path("outputs")


def demo_simulation(config: DictConfig) -> DictConfig:
    """The simulation config of ``align``'s demo pair, its ``demo.*`` fields checked."""
    demo = config.demo
    check_number(demo.seed, "demo.seed", at_least=0, integer=True)
    check_number(demo.size, "demo.size", at_least=MIN_BOX, integer=True)
    if not float(demo.snr) > 0:
        raise ConfigError(f"demo.snr: expected a positive number or inf, found {demo.snr}")
    check_number(demo.max_translation_voxels, "demo.max_translation_voxels", at_least=0)
    tilt = TiltRange.parse(demo.tilt_range_deg, field="demo.tilt_range_deg")
    simulation = simulation_config({
        "seed": demo.seed, "size": demo.size,
        "max_translation_voxels": demo.max_translation_voxels,
        "imaging": {"snr": float(demo.snr), "tilt_range_deg": [tilt.min_deg, tilt.max_deg]},
    })
    check_fits(simulation, load_density(simulation), field="demo.max_translation_voxels")
    return simulation


def alignment_config_record(config: DictConfig) -> dict:
    """The resolved ``align`` config as ``alignment.json`` records it."""
    return OmegaConf.to_container(config, resolve=True)


def _alignment_identity(config: dict, inputs: dict) -> dict:
    """What makes two alignments the same: the config (wherever it ran) and the volumes."""
    config = {key: value for key, value in config.items() if key != "output_dir"}
    return {"config": config,
            "inputs": {role: (inputs.get(role) or {}).get("sha256") for role in ("fixed", "moving")}}


def check_alignment_dir(config: DictConfig, output_dir: Path) -> None:
    """Refuse an ``output_dir`` holding the alignment of another config or other inputs."""
    path = output_dir / "alignment.json"
    if not path.exists():
        return
    current = _alignment_identity(alignment_config_record(config), {
        role: None if config[role] is None else {"sha256": sha256_of(config[role])}
        for role in ("fixed", "moving")})
    try:
        previous = json.loads(path.read_text())
        recorded = _alignment_identity(previous["config"], previous["inputs"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: expected an alignment record, found an unreadable one "
                          f"({exc}); choose another output_dir") from None
    difference = first_difference(recorded, current)
    if difference is not None:
        name, old, new = difference
        raise ConfigError(f"{path}: holds an alignment made with {name}={old}, this command "
                          f"has {name}={new}; expected the same command to redo it (choose "
                          "another output_dir)")


def check_align(config: DictConfig, *, single_run: bool = True) -> None:
    """Everything ``subalign align`` needs, checked before the alignment starts."""
    settings = align_settings(config)
    plugins = default_plugin_set()
    for kind in DEFAULT_PLUGINS:
        plugins.create(kind, settings[kind])
    if settings.race_score is not None:
        race_score(plugins, settings.score, settings.race_score)
    if config.fixed is None and config.moving is None:
        demo_simulation(config)
    elif config.fixed is None or config.moving is None:
        missing = "fixed" if config.fixed is None else "moving"
        raise ConfigError(f"{missing}: expected a path to an MRC volume, found null "
                          "(give both fixed= and moving=, or neither for the demo)")
    else:
        fixed, moving = read_volume(config.fixed), read_volume(config.moving)
        if fixed.data.shape != moving.data.shape:
            raise VolumeError(f"{config.moving}: expected the shape of fixed ({config.fixed}) "
                              f"{fixed.data.shape}, found {moving.data.shape}")
    check_output_dir(config.output_dir or DEFAULT_OUTPUTS)
    if single_run and config.output_dir:
        check_alignment_dir(config, Path(config.output_dir))


def check_simulate(config: DictConfig, *, single_run: bool = True) -> None:
    """Everything ``subalign simulate`` needs, checked before a particle is made."""
    from subalign.simulation.output import check_directory, pair_indices  # loads pandas

    check_simulation(config)
    pair_indices(int(config.n), config.pairs)
    for density in load_densities(config):  # every structure of a mixture, before any folder
        check_fits(config, density)
    if config.figure:
        pyplot()
    check_output_dir(config.output_dir or DEFAULT_OUTPUTS)
    if single_run and config.output_dir:
        check_directory(config, config.output_dir)


def check_experiment_command(config: DictConfig, *, single_run: bool = True) -> None:
    """Everything ``subalign experiment`` needs, checked before the job starts."""
    check_output_dir(config.output_dir or DEFAULT_OUTPUTS)
    from subalign.experiments.jobs import check_job  # the runners load only for experiments

    check_job(config, config.output_dir if single_run and config.output_dir else None)


CHECKS = {"align": check_align, "simulate": check_simulate,
          "experiment": check_experiment_command}


def check_known_fields(command: str, config: DictConfig, overrides: list[str]) -> None:
    """Refuse fields the command's schema does not have (``+scroe.max_frequency=0.2``).

    Hydra lets ``+key=value`` add any key; a key no schema has would be ignored silently.
    Plugin nodes are left to their plugins, which refuse unknown fields when built.
    """
    plain = OmegaConf.to_container(config, resolve=False)
    for kind in DEFAULT_PLUGINS:
        plain.pop(kind, None)
    _, module, name = SCHEMAS[CONFIG_NAMES[command]]
    schema = OmegaConf.structured(getattr(import_module(module), name))
    try:
        OmegaConf.merge(schema, plain)
    except (ConfigKeyError, ConfigAttributeError) as exc:
        raise ConfigError(describe(exc, overrides, schema)) from exc


def check_command(command: str, overrides: list[str], *,
                  multirun: bool = False) -> list[DictConfig]:
    """Compose and check ``subalign <command> [-m] <overrides>`` without running it.

    Returns
    -------
    list of DictConfig
        The composed config of each job (one without ``-m``).

    Raises
    ------
    SubalignError
        The first problem, in one line naming the override, field or file.
    """
    configs = []
    for variant in (sweep_variants(overrides) if multirun else [list(overrides)]):
        config = compose_config(CONFIG_NAMES[command], variant)
        check_known_fields(command, config, variant)
        CHECKS[command](config, single_run=not multirun)
        configs.append(config)
    return configs
