"""The ``align`` schema: the one owner of every default of a pair alignment.

:class:`AlignConfig` holds the defaults, the default plugin of each kind included
(:data:`DEFAULT_PLUGINS`); :func:`align_settings` merges any mapping onto it once, at the
entry of :func:`subalign.align.pair.align_pair`, so a composed config, a plain dict and a
partial dict with the same values align identically. The Hydra app reads the same schema
(``align_schema`` in the ConfigStore, stored by :mod:`subalign.cli.schemas`); the plugin
groups are filled from the plugin registries, and ``conf/align.yaml`` selects
:data:`DEFAULT_PLUGINS` (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from subalign.errors import ConfigError
from subalign.numerics.wedge import TiltRange

__all__ = [
    "DEFAULT_PLUGINS",
    "AlignConfig",
    "DemoConfig",
    "WedgeConfig",
    "align_settings",
    "resolve_tilts",
]

#: The plugin each kind uses when a config does not name one.
DEFAULT_PLUGINS = {
    "score": "rcs",
    "optimizer": "lm",
    "sampler": "euler_grid",
    "constraint": "full",
    "refiner": "stochastic_parallel",
}


@dataclass
class WedgeConfig:
    """Attributes: ``tilt_range_deg``, ``[min, max]`` in degrees within [-90, 90], or null."""

    tilt_range_deg: Optional[List[float]] = None


@dataclass
class DemoConfig:
    """The built-in demo pair, used when ``fixed`` and ``moving`` are not given.

    Pair 0 of the realistic simulator (:mod:`subalign.simulation.simulate`: phantom, tilt series in
    1-degree steps, CTF and MTF, weighted backprojection) with these settings.

    Attributes
    ----------
    seed : int
        Seed of the pose, the noise and nothing else.
    size : int
        Box edge in voxels.
    snr : float
        var(reconstructed signal) / var(reconstructed noise) inside the box; ``inf`` for no
        noise (``demo.snr=inf``).
    tilt_range_deg : list of float
        Tilt range of both demo volumes.
    max_translation_voxels : float
        Largest component of each volume's random shift.
    """

    seed: int = 0
    size: int = 32
    snr: float = 0.5
    tilt_range_deg: List[float] = field(default_factory=lambda: [-60.0, 60.0])
    max_translation_voxels: float = 2.0


@dataclass
class AlignConfig:
    """``subalign align``: align ``moving`` onto ``fixed``.

    Attributes
    ----------
    fixed, moving : str, optional
        MRC files; both null runs the demo pair of ``demo``.
    output_dir : str, optional
        Where ``alignment.json`` goes; default Hydra's run directory.
    wedge : WedgeConfig
        Tilt range of both volumes.
    fixed_wedge, moving_wedge : WedgeConfig
        Per-volume overrides of ``wedge``.
    max_shift_voxels : float, optional
        Longest translation the FFT search may return; null: the whole box.
    initial_translation : {"centroid", "fft"}
        Each candidate's starting translation: the one that puts the moving particle's
        centre (:func:`subalign.numerics.volumes.particle_centre`) onto the fixed one's, or the
        score's FFT search at the candidate's rotation.
    search_score : dict
        Overrides of the score's fields for the global search; the best transform found is
        then polished with the score as configured. The default compares up to 0.15
        cycles/voxel with a 0.5-voxel wedge margin: a wider basin than the configured
        score's. ``null``: one stage, the score as is
        (an override ``search_score={}`` would merge, not replace).
    search_binning : int
        The global search runs on volumes binned by this factor (Fourier cropping; it
        must divide the box and leave at least 16 voxels, else the search is not binned).
        Binned by 2, a 32-voxel box holds frequencies to 0.25 cycles/voxel, all the
        default search score compares, in an eighth of the voxels (accuracy and time
        against an unbinned search: ``docs/benchmarks.md``).
    polish_max_steps : int
        Cap on the optimizer steps of the polish.
    seed : int
        Seed of stochastic refiners.
    """

    fixed: Optional[str] = None
    moving: Optional[str] = None
    output_dir: Optional[str] = None
    wedge: WedgeConfig = field(default_factory=lambda: WedgeConfig([-60.0, 60.0]))
    fixed_wedge: WedgeConfig = field(default_factory=WedgeConfig)
    moving_wedge: WedgeConfig = field(default_factory=WedgeConfig)
    max_shift_voxels: Optional[float] = None
    initial_translation: str = "centroid"
    search_score: Optional[Dict[str, Any]] = field(
        default_factory=lambda: {"max_frequency": 0.15, "wedge_margin_voxels": 0.5}
    )
    search_binning: int = 2
    polish_max_steps: int = 100
    seed: int = 0
    demo: DemoConfig = field(default_factory=DemoConfig)
    score: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["score"]})
    optimizer: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["optimizer"]})
    sampler: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["sampler"]})
    constraint: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["constraint"]})
    refiner: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["refiner"]})


def resolve_tilts(config) -> tuple[TiltRange, TiltRange]:
    """Tilt ranges of (fixed, moving): the per-volume field if set, else ``wedge``."""
    def pick(side: str) -> TiltRange:
        own = config[f"{side}_wedge"]["tilt_range_deg"]
        if own is not None:
            return TiltRange.parse(own, field=f"{side}_wedge.tilt_range_deg")
        shared = config["wedge"]["tilt_range_deg"]
        if shared is None:
            raise ConfigError("wedge.tilt_range_deg: expected [min, max] degrees, found null")
        return TiltRange.parse(shared, field="wedge.tilt_range_deg")

    return pick("fixed"), pick("moving")


def _plugin_node(kind: str, node: Any) -> dict:
    """A plugin node as ``{"name": ..., field: value}``; a bare name or None allowed."""
    if node is None:
        return {"name": DEFAULT_PLUGINS[kind]}
    if isinstance(node, str):
        return {"name": node}
    if isinstance(node, Mapping) and "name" in node:
        return dict(node)
    raise ConfigError(f"{kind}: expected a plugin name or a mapping with 'name', found {node!r}")


def align_settings(config: Mapping[str, Any] | DictConfig | None = None) -> DictConfig:
    """``config`` merged onto :class:`AlignConfig`: every field present, types checked.

    Parameters
    ----------
    config : mapping, DictConfig or None
        Any subset of the ``align`` fields. Plugin nodes (``score``, ``optimizer``,
        ``sampler``, ``constraint``, ``refiner``) replace the default node whole: a node
        names its plugin, and fields it leaves out take that plugin's defaults when the
        plugin is built.

    Returns
    -------
    DictConfig
        The merged config (struct mode: reading an unknown key raises).

    Raises
    ------
    ConfigError
        A field the schema does not have, or a value of the wrong type.
    """
    if isinstance(config, DictConfig):
        plain = OmegaConf.to_container(config, resolve=True)
    else:
        plain = dict(config or {})
    nodes = {kind: _plugin_node(kind, plain.pop(kind, None)) for kind in DEFAULT_PLUGINS}
    try:
        merged = OmegaConf.merge(OmegaConf.structured(AlignConfig), plain)
    except OmegaConfBaseException as exc:
        reason = str(exc.msg).split("\n")[0]
        raise ConfigError(f"{exc.full_key or 'align'}: {reason}") from None
    with open_dict(merged):
        for kind, node in nodes.items():
            merged[kind] = node
    return merged
