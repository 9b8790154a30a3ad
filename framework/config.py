"""Structured config schemas of the ``subalign`` commands, stored in Hydra's ConfigStore.

The plugin groups (``score``, ``optimizer``, ``sampler``, ``constraint``, ``refiner``) are
filled from the plugin registries (:meth:`subalign.manager.PluginSet.store_configs`); the
YAML presets in ``subalign.conf`` pick their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from .errors import ConfigError
from .wedge import TiltRange

__all__ = ["AlignConfig", "DemoConfig", "WedgeConfig", "resolve_tilts", "store_schemas"]


@dataclass
class WedgeConfig:
    """Attributes: ``tilt_range_deg``, ``[min, max]`` in degrees within [-90, 90], or null."""

    tilt_range_deg: Optional[List[float]] = None


@dataclass
class DemoConfig:
    """The built-in demo pair, used when ``fixed`` and ``moving`` are not given.

    Pair 0 of the realistic simulator (:mod:`subalign.simulate`: phantom, tilt series in
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
        centre (:func:`subalign.transform.particle_centre`) onto the fixed one's, or the
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
        default search score compares, in an eighth of the voxels. Noise-free, 20 pairs
        (+-60, rcs): 17/20 within 1 degree at 1.0 s per pair, against 18/20 at 2.5-2.9 s
        unbinned with trilinear rotation.
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
    score: Any = MISSING
    optimizer: Any = MISSING
    sampler: Any = MISSING
    constraint: Any = MISSING
    refiner: Any = MISSING


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


def store_schemas(config_store: ConfigStore | None = None) -> None:
    """Store the command schemas (``align_schema``, ``simulate_schema``,
    ``experiment_schema``) in Hydra's ConfigStore."""
    from .experiments.config import ExperimentConfig
    from .simulate import SimulateConfig

    store = config_store or ConfigStore.instance()
    store.store(name="align_schema", node=AlignConfig)
    store.store(name="simulate_schema", node=SimulateConfig)
    store.store(name="experiment_schema", node=ExperimentConfig)
