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

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from subalign.errors import ConfigError, check_number, did_you_mean
from subalign.numerics.symmetry import parse_symmetry
from subalign.numerics.wedge import TiltRange
from subalign.search.stage import INITIAL_TRANSLATIONS, SearchSettings

__all__ = [
    "DEFAULT_PLUGINS",
    "AlignConfig",
    "AlignSettings",
    "DemoConfig",
    "ScanConfig",
    "WedgeConfig",
    "align_settings",
    "check_align_fields",
    "resolve_tilts",
    "search_settings",
]

#: The plugin each kind uses when a config does not name one.
DEFAULT_PLUGINS = {
    "score": "rcs",
    "optimizer": "lm",
    "sampler": "so3_uniform",
    "constraint": "full",
    "refiner": "stochastic_parallel",
    "measurement": "ctf",
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
class ScanConfig:
    """The rotation scan that picks the candidates the refiner starts from
    (:mod:`subalign.search.scan`).

    Every rotation the constraint draws from the sampler is scored by the normalized
    constrained correlation at its best FFT translation, on the search volumes; the best
    ``keep`` rotations at least ``separation_deg`` apart, each with its translation, are
    refined.

    Attributes
    ----------
    keep : int, optional
        Candidates handed to the refiner; null: no scan, every sampler rotation is refined
        from ``initial_translation`` (the paper's scheme).
    separation_deg : float
        Smallest rotation angle between two kept candidates.
    max_frequency : float
        Band the scan compares, cycles/voxel of the input volumes (scaled with the
        binning of the search).
    wedge_margin_voxels : float
        Erosion of the wedge masks, Fourier voxels.
    """

    keep: Optional[int] = 32
    separation_deg: float = 15.0
    max_frequency: float = 0.15
    wedge_margin_voxels: float = 0.5


@dataclass
class AlignSettings:
    """How a pair is aligned: the search, the polish, the plugins and their settings.

    The settings every command that aligns shares: ``subalign align`` adds the pair
    (:class:`AlignConfig`); ``batch``, ``average`` and ``classify`` add a particle set,
    whose particles carry their own wedges.

    Attributes
    ----------
    max_shift_voxels : float, optional
        Longest translation the FFT search may return; null: the whole box.
    initial_translation : {"centroid", "fft"}
        Each candidate's starting translation: the one that puts the moving particle's
        centre (:func:`subalign.numerics.volumes.particle_centre`) onto the fixed one's, or the
        score's FFT search at the candidate's rotation.
    scan : ScanConfig
        The rotation scan that picks and starts the refiner's candidates.
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
        Cap on the optimizer steps of the polish (of each basin).
    polish_basins : int
        How many of the search's best distinct basins (more than 20 degrees apart) are
        polished at full size. They race: each gets a few steps, and the lowest (see
        ``race_score``) is polished on.
    race_score : dict
        Overrides of the score's fields for a second opinion in the race: the winner is the
        basin with the lowest sum of the score's and this second score's values at the end
        of its race steps, each relative to an unrelated pair's. The default compares up
        to 0.25 cycles/voxel, where the score compares to 0.3: at SNR 0.5 the shell between
        carries mostly noise and ranked a wrong basin first in 4 of 60 pairs of two real
        structures at +-50 and +-60 degrees (docs/benchmarks.md). ``null``: the score
        alone.
    seed : int
        Seed of stochastic refiners.
    symmetry : str
        Point group of the fixed volume (a reference) about its box centre, in its own axes,
        as RELION names it: ``C1`` (none, the default), ``C7``, ``D7``, ``T``, ``O``, ``I``
        (:mod:`subalign.numerics.symmetry`). Transforms ``T`` and ``S T`` for ``S`` in the group
        then count as one basin: a symmetric copy of the best basin is not its runner-up in
        the confidence, nor another basin to polish. ``average`` and ``classify`` set it to
        the run's ``symmetry``.
    score, optimizer, sampler, constraint, refiner : dict
        The plugin of each kind and its settings (``{"name": ..., field: value}``).
    measurement : dict
        How each particle of a set was measured (``measurement`` plugins:
        :mod:`subalign.numerics.measurement`); ``ctf`` by default, which is each particle's
        tilt range where its set says nothing more (a single pair of volumes always has
        the config's wedges).
    """

    max_shift_voxels: Optional[float] = None
    initial_translation: str = "centroid"
    scan: ScanConfig = field(default_factory=ScanConfig)
    search_score: Optional[Dict[str, Any]] = field(
        default_factory=lambda: {"max_frequency": 0.15, "wedge_margin_voxels": 0.5}
    )
    search_binning: int = 2
    polish_max_steps: int = 100
    polish_basins: int = 3
    race_score: Optional[Dict[str, Any]] = field(default_factory=lambda: {"max_frequency": 0.25})
    seed: int = 0
    symmetry: str = "C1"
    score: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["score"]})
    optimizer: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["optimizer"]})
    sampler: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["sampler"]})
    constraint: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["constraint"]})
    refiner: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["refiner"]})
    measurement: Any = field(default_factory=lambda: {"name": DEFAULT_PLUGINS["measurement"]})


@dataclass
class AlignConfig(AlignSettings):
    """``subalign align``: align ``moving`` onto ``fixed`` (the pair's inputs; how it is
    aligned is :class:`AlignSettings`).

    Attributes
    ----------
    fixed, moving : str, optional
        MRC files; both null runs the demo pair of ``demo``.
    output_dir : str, optional
        Where ``alignment.json`` goes; default a new run directory under ``outputs/``
        (:mod:`subalign.cli.rundirs`).
    wedge : WedgeConfig
        Tilt range of both volumes.
    fixed_wedge, moving_wedge : WedgeConfig
        Per-volume overrides of ``wedge``.
    demo : DemoConfig
        The simulated pair aligned when neither ``fixed`` nor ``moving`` is given.
    """

    fixed: Optional[str] = None
    moving: Optional[str] = None
    output_dir: Optional[str] = None
    wedge: WedgeConfig = field(default_factory=lambda: WedgeConfig([-60.0, 60.0]))
    fixed_wedge: WedgeConfig = field(default_factory=WedgeConfig)
    moving_wedge: WedgeConfig = field(default_factory=WedgeConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)


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


def search_settings(config) -> SearchSettings:
    """The search stage's settings from an ``align`` config (merged by :func:`align_settings`)."""
    return SearchSettings(
        score_overrides=config.search_score, binning=config.search_binning,
        initial_translation=config.initial_translation,
        max_shift_voxels=config.max_shift_voxels, scan_keep=config.scan.keep,
        scan_separation_deg=config.scan.separation_deg,
        scan_max_frequency=config.scan.max_frequency,
        scan_wedge_margin_voxels=config.scan.wedge_margin_voxels)


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
        The merged config (struct mode: reading an unknown key raises), read-only: calls
        with equal inputs share one merged config.

    Raises
    ------
    ConfigError
        A field the schema does not have, a value of the wrong type, or out of range
        (:func:`check_align_fields`).
    """
    if isinstance(config, DictConfig):
        plain = OmegaConf.to_container(config, resolve=True)
    else:
        plain = dict(config or {})
    try:
        key = json.dumps(plain, sort_keys=True)
    except TypeError:  # values JSON cannot spell (arrays, objects): merged every time
        key = None
    if key in _MERGED:
        return _MERGED[key]
    merged = _merge(plain)
    if key is not None:
        if len(_MERGED) >= _MERGED_KEPT:
            _MERGED.clear()
        _MERGED[key] = merged
    return merged


#: Merged configs by their input's JSON (read-only, so one can be shared by every call
#: with the same input: merging costs ~40 ms, a tenth of a 32^3 alignment).
_MERGED: dict[str, DictConfig] = {}
_MERGED_KEPT = 64


def _merge(plain: dict) -> DictConfig:
    """``plain`` merged onto :class:`AlignConfig`, checked and made read-only."""
    nodes = {kind: _plugin_node(kind, plain.pop(kind, None)) for kind in DEFAULT_PLUGINS}
    try:
        merged = OmegaConf.merge(OmegaConf.structured(AlignConfig), plain)
    except ConfigKeyError as exc:
        known = [f.name for f in dataclasses.fields(AlignConfig)]
        raise ConfigError(f"{exc.full_key}: expected one of the align fields, found "
                          f"{exc.key!r}, which is none of them{did_you_mean(exc.key, known)}"
                          ) from None
    except OmegaConfBaseException as exc:
        reason = str(exc.msg).split("\n")[0]
        raise ConfigError(f"{exc.full_key or 'align'}: {reason}") from None
    check_align_fields(merged)
    with open_dict(merged):
        for kind, node in nodes.items():
            merged[kind] = node
    OmegaConf.set_readonly(merged, True)
    return merged



def check_align_fields(config: DictConfig) -> None:
    """Range checks of the ``align`` fields this layer owns (plugins check their own).

    Raises
    ------
    ConfigError
        Naming the field, what was found and what was expected.
    """
    check_number(config.polish_max_steps, "polish_max_steps", at_least=0, integer=True)
    check_number(config.polish_basins, "polish_basins", at_least=1, integer=True)
    check_number(config.search_binning, "search_binning", at_least=1, integer=True)
    check_number(config.seed, "seed", at_least=0, integer=True)
    parse_symmetry(config.symmetry)
    if config.max_shift_voxels is not None:
        check_number(config.max_shift_voxels, "max_shift_voxels", above=0)
    if config.initial_translation not in INITIAL_TRANSLATIONS:
        raise ConfigError(f"initial_translation: expected one of "
                          f"{', '.join(INITIAL_TRANSLATIONS)}, found {config.initial_translation!r}")
    if config.scan.keep is not None:
        check_number(config.scan.keep, "scan.keep", at_least=1, integer=True)
    check_number(config.scan.separation_deg, "scan.separation_deg", at_least=0)
    check_number(config.scan.max_frequency, "scan.max_frequency", above=0)
    check_number(config.scan.wedge_margin_voxels, "scan.wedge_margin_voxels", at_least=0)
    for side in ("wedge", "fixed_wedge", "moving_wedge"):
        if config[side].tilt_range_deg is not None:
            TiltRange.parse(config[side].tilt_range_deg, field=f"{side}.tilt_range_deg")
