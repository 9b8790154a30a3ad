"""Realistic simulation of subtomograms with ground truth (paper section 2.6, Figure 2).

A density map (:mod:`subalign.simulation.density`) is posed at random, projected over a tilt series,
filtered by CTF and MTF and reconstructed by weighted backprojection
(:mod:`subalign.simulation.imaging`). Everything here returns arrays in memory; writing files is
:mod:`subalign.simulation.output`.

SNR definition. The imaging chain is linear, so the noise-free projections and unit white
projection noise go through the same chain (CTF, MTF, weighted backprojection) separately::

    SNR = var(reconstructed signal) / var(reconstructed noise)   (over the whole box)

The projection noise is scaled so that this holds exactly for each subtomogram, and the
subtomogram is their sum. ``snr=inf`` adds no noise.

Seeds. Particle ``i`` of a simulation with seed ``s`` draws from
``numpy.random.default_rng([s, i])``: first its pose (uniform rotation on SO(3), then a
translation uniform in ``[-t, t]`` per axis), then its noise. A particle is therefore the
same whatever ``n`` is, and particles can be made in any order or resumed.

Pose convention: the subtomogram holds ``tau_t Lambda_R`` of the density, i.e.
``v(x) = d(R^-1 (x - t))`` about the box centre ``N // 2`` (:mod:`subalign.numerics.geometry`). The
truth of a pair is ``pose_fixed o pose_moving^-1``: applied to ``moving`` it gives ``fixed``,
the meaning ``alignment.json`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, List, Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf
from scipy.spatial.transform import Rotation

from subalign.simulation.density import MAX_MASS_OUTSIDE, density_from_config
from subalign.errors import ConfigError, check_number
from subalign.numerics.geometry import RigidTransform
from subalign.simulation.imaging import (
    CTFParameters,
    TiltSeriesGeometry,
    ctf,
    filter_images,
    mtf,
    tilt_angles,
    tilt_series_geometry,
)
from subalign.simulation.mixture import check_mixture, structure_entries
from subalign.simulation.synthetic import SyntheticPair
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange

__all__ = [
    "MIN_BOX",
    "DensityConfig",
    "check_fits",
    "check_imaging",
    "check_simulation",
    "ImagingConfig",
    "SimulateConfig",
    "SimulatedParticle",
    "Subtomogram",
    "TiltSeriesMeasurement",
    "load_density",
    "measure_tilt_series",
    "particle_rng",
    "random_pose",
    "simulate_pair",
    "simulate_particle",
    "simulate_subtomogram",
    "simulation_config",
]

@dataclass
class DensityConfig:
    """Where the density map comes from.

    Attributes
    ----------
    source : {"phantom", "structure", "map"}
        The four-Gaussian phantom, an atomic model (PDB/mmCIF, needs gemmi), or an MRC map.
    path : str, optional
        File for ``structure`` and ``map``.
    resolution_nm : float, optional
        Low-pass of structures and maps (Gaussian, sigma = 0.225 x resolution, amplitude 1/e
        at the resolution; :mod:`subalign.simulation.density`); the paper uses 4 nm. Ignored by the
        phantom.
    blobs : list of dict, optional
        Phantom Gaussians as ``{centre: [x, y, z], sigma: s, amplitude: a}``, centre and
        sigma as fractions of the box edge; null: the paper-like default.
    """

    source: str = "phantom"
    path: Optional[str] = None
    resolution_nm: Optional[float] = 4.0
    blobs: Optional[List[Dict[str, Any]]] = None


@dataclass
class ImagingConfig:
    """The tilt series and microscope.

    Attributes
    ----------
    tilt_range_deg : list of float
        ``[min, max]`` tilt in degrees; ``[-90, 90]`` has no missing wedge.
    tilt_step_deg : float
    snr : float
        Target SNR (module docstring); ``inf`` for noise-free.
    ctf : CTFParameters, optional
        null: no CTF.
    mtf : bool
        Apply the detector MTF ``sinc(pi w / 2)``.
    """

    tilt_range_deg: List[float] = field(default_factory=lambda: [-60.0, 60.0])
    tilt_step_deg: float = 1.0
    snr: float = 0.5
    ctf: Optional[CTFParameters] = field(default_factory=CTFParameters)
    mtf: bool = True


@dataclass
class SimulateConfig:
    """``subalign simulate``: N subtomograms of one density, or of a mixture, with ground truth.

    Attributes
    ----------
    n : int
        Number of subtomograms.
    seed : int
    output_dir : str, optional
        Default: Hydra's run directory.
    size : int
        Box edge in voxels.
    voxel_size_nm : float
    max_translation_voxels : float
        Each particle's translation is uniform in ``[-t, t]`` per axis.
    pairs : {"consecutive", "all"}
        Pair list written next to the volumes: (0, 1), (2, 3), ... or every i < j.
    figure : bool
        Also write ``figure2b.png``: central slices of particle 0 at SNR inf, 1, 0.5, 0.1
        and tilt +-60, +-40 (needs matplotlib).
    stacks, stack_axis_deg : bool, float
        Also write a RELION 5 2-D stack set, its tilt axis turned this far from the
        tomogram's ``y`` (``relion5_stacks/``, :mod:`subalign.simulation.stacks`).
    density : DensityConfig
        The one structure, when ``structures`` is null.
    structures : list of DensityConfig, optional
        A mixture: particles of each, class ``k`` (1-based) being ``structures[k - 1]``
        (:mod:`subalign.simulation.mixture`); ``density`` is then unused.
    proportions : list of float, optional
        Share of each structure, non-negative, summing to 1; null: equal shares.
    imaging : ImagingConfig
    """

    n: int = 20
    seed: int = 0
    output_dir: Optional[str] = None
    size: int = 32
    voxel_size_nm: float = 1.0
    max_translation_voxels: float = 2.0
    pairs: str = "consecutive"
    figure: bool = False
    stacks: bool = False
    stack_axis_deg: float = 85.0
    density: DensityConfig = field(default_factory=DensityConfig)
    structures: Optional[List[DensityConfig]] = None
    proportions: Optional[List[float]] = None
    imaging: ImagingConfig = field(default_factory=ImagingConfig)


def simulation_config(overrides: Any = None) -> DictConfig:
    """A validated :class:`SimulateConfig` node, optionally merged with overrides.

    Parameters
    ----------
    overrides : dict, DictConfig or SimulateConfig, optional

    Returns
    -------
    DictConfig
    """
    base = OmegaConf.structured(SimulateConfig)
    if overrides is None:
        return base
    try:
        return OmegaConf.merge(base, overrides)
    except Exception as exc:  # omegaconf raises several types with a full path in the text
        raise ConfigError(f"simulate config: {exc}".splitlines()[0]) from None


@dataclass(frozen=True)
class Subtomogram:
    """A reconstructed subtomogram and its two linear parts.

    Attributes
    ----------
    signal : ndarray of shape (N, N, N)
        The noise-free reconstruction.
    noise : ndarray of shape (N, N, N) or None
        The reconstructed, scaled projection noise (None at ``snr=inf``).
    """

    signal: np.ndarray
    noise: np.ndarray | None

    @property
    def volume(self) -> np.ndarray:
        """What is written and aligned: ``signal + noise``, shape (N, N, N)."""
        return self.signal if self.noise is None else self.signal + self.noise


@dataclass(frozen=True)
class SimulatedParticle:
    """One simulated particle: its subtomogram and ground-truth pose."""

    index: int
    pose: RigidTransform
    subtomogram: Subtomogram


def load_density(config: DictConfig) -> np.ndarray:
    """The density map of structure 1: ``density``, or ``structures[0]`` in a mixture
    (:func:`subalign.simulation.mixture.load_densities` loads every structure's).

    Parameters
    ----------
    config : DictConfig
        A :class:`SimulateConfig` node (``density``, ``structures``, ``size``,
        ``voxel_size_nm`` are read).

    Returns
    -------
    ndarray of shape (N, N, N)
        ``[z, y, x]``.
    """
    name, entry = structure_entries(config)[0]
    return density_from_config(entry, size=int(config.size),
                               voxel_size_nm=float(config.voxel_size_nm), field=name)


def random_pose(rng: np.random.Generator, max_translation_voxels: float) -> RigidTransform:
    """A uniform random rotation and a translation uniform in ``[-t, t]`` per axis (voxels)."""
    rotation = Rotation.random(random_state=rng).as_matrix()
    translation = rng.uniform(-max_translation_voxels, max_translation_voxels, 3)
    return RigidTransform(rotation, translation)


def check_imaging(imaging: DictConfig, prefix: str = "") -> np.ndarray:
    """Validate an :class:`ImagingConfig` node (one-line errors naming the field).

    Parameters
    ----------
    imaging : DictConfig
    prefix : str
        Put before ``imaging.<field>`` in messages (``"simulation."`` in an experiment).

    Returns
    -------
    ndarray of shape (T,)
        The tilt angles in degrees.
    """
    field = f"{prefix}imaging."
    if not float(imaging.snr) > 0:
        raise ConfigError(f"{field}snr: expected a positive number or inf, found {imaging.snr}")
    if imaging.ctf is not None:
        try:
            CTFParameters(**imaging.ctf)
        except ConfigError as exc:
            raise ConfigError(f"{field}{exc}") from None
    tilt = TiltRange.parse(imaging.tilt_range_deg, field=f"{field}tilt_range_deg")
    step = check_number(imaging.tilt_step_deg, f"{field}tilt_step_deg", above=0, at_most=180)
    angles = tilt_angles(tilt.min_deg, tilt.max_deg, float(step))
    if len(angles) < 3:
        raise ConfigError(f"{field}tilt_step_deg: {float(step):g} degrees over [{tilt.min_deg:g}, "
                          f"{tilt.max_deg:g}] gives {len(angles)} tilt(s); expected at least 3")
    return angles


#: Smallest box ``simulate`` makes (a smaller one holds no particle ``align`` accepts).
MIN_BOX = 8


def check_simulation(config: DictConfig, prefix: str = "") -> None:
    """Validate every field of a :class:`SimulateConfig` node that needs no file.

    Parameters
    ----------
    config : DictConfig
    prefix : str
        Put before the field names in messages (``"simulation."`` in an experiment).

    Raises
    ------
    ConfigError
        Naming the field, what was found and what was expected.
    """
    check_number(config.n, f"{prefix}n", at_least=1, integer=True)
    check_number(config.seed, f"{prefix}seed", at_least=0, integer=True)
    check_number(config.size, f"{prefix}size", at_least=MIN_BOX, integer=True)
    check_number(config.voxel_size_nm, f"{prefix}voxel_size_nm", above=0)
    check_number(config.max_translation_voxels, f"{prefix}max_translation_voxels", at_least=0)
    check_mixture(config, prefix)
    check_imaging(config.imaging, prefix)


def check_fits(config: DictConfig, density: np.ndarray, *,
               field: str = "max_translation_voxels") -> float:
    """Refuse a translation range that would carry the particle over the box faces.

    Translations are periodic (:func:`subalign.numerics.volumes.shift_volume`): a particle
    shifted past a face re-enters at the opposite one. The particle's radius is the radius
    about the box centre holding all but ``MAX_MASS_OUTSIDE`` of its density; rotated
    anyhow and shifted by up to ``t`` per axis it stays inside while radius + t is at most
    the distance from the centre to the nearer face, ``N - 1 - N // 2``.

    Returns
    -------
    float
        The largest ``max_translation_voxels`` the box allows.

    Raises
    ------
    ConfigError
        ``max_translation_voxels`` is larger than that.
    """
    size = density.shape[0]
    offsets = np.indices(density.shape, dtype=float) - (size // 2)
    radius = np.sqrt((offsets ** 2).sum(axis=0)).ravel()
    mass = np.abs(density).ravel()
    order = np.argsort(radius)
    inside = np.cumsum(mass[order]) / mass.sum()
    particle = float(radius[order][np.searchsorted(inside, 1 - MAX_MASS_OUTSIDE)])
    allowed = (size - 1 - size // 2) - particle
    value = float(config.max_translation_voxels)
    if value > allowed:
        room = (f"at most {allowed:.1f} voxels" if allowed >= 0
                else "a bigger box (the particle alone reaches past the faces)")
        raise ConfigError(
            f"{field}: expected {room} in a {size}-voxel box holding a particle of radius "
            f"{particle:.1f} voxels (more moves it across the box faces, where it wraps "
            f"around), found {config.max_translation_voxels:g}")
    return allowed


def _optics(imaging: DictConfig, shape: tuple[int, int], voxel_size_nm: float) -> np.ndarray | None:
    ctf_fields = None if imaging.ctf is None else tuple(sorted(imaging.ctf.items()))
    return _transfer(tuple(shape), float(voxel_size_nm), ctf_fields, bool(imaging.mtf))


@lru_cache(maxsize=16)
def _transfer(shape: tuple[int, int], voxel_size_nm: float, ctf_fields: tuple | None,
              with_mtf: bool) -> np.ndarray | None:
    """CTF x MTF on the image ``fft2`` layout (None: neither), made once per setting."""
    transfer = None if ctf_fields is None else ctf(shape, voxel_size_nm,
                                                   CTFParameters(**dict(ctf_fields)))
    if with_mtf:
        transfer = mtf(shape) if transfer is None else transfer * mtf(shape)
    if transfer is not None:
        transfer.setflags(write=False)  # shared by every later call
    return transfer


def simulate_subtomogram(
    density: np.ndarray,
    pose: RigidTransform,
    imaging: DictConfig,
    rng: np.random.Generator,
    *,
    voxel_size_nm: float = 1.0,
) -> Subtomogram:
    """Pose a density and image it: tilt series, noise, CTF and MTF, weighted backprojection.

    Parameters
    ----------
    density : ndarray of shape (N, N, N)
    pose : RigidTransform
        Applied as ``tau_t Lambda_R`` about the box centre.
    imaging : DictConfig
        An :class:`ImagingConfig` node.
    rng : numpy.random.Generator
        Source of the projection noise (not drawn from at ``snr=inf``).
    voxel_size_nm : float
        Voxel and detector pixel size, for the CTF.

    Returns
    -------
    Subtomogram
    """
    measured = measure_tilt_series(density, pose, imaging, rng, voxel_size_nm=voxel_size_nm)
    return measured.subtomogram


@dataclass(frozen=True)
class TiltSeriesMeasurement:
    """What a particle's tilt series measured: its ``geometry``; the noise-free projections
    ``images`` and the projection ``noise`` scaled to the target SNR (None at ``snr=inf``),
    both ``[tilt, y, u]`` of shape (T, N, W), before the ``transfer`` (CTF x MTF on the image
    ``fft2`` layout, or None); and the ``subtomogram`` backprojected from them."""

    geometry: TiltSeriesGeometry
    images: np.ndarray
    noise: np.ndarray | None
    transfer: np.ndarray | None
    subtomogram: Subtomogram

    def measured_images(self) -> np.ndarray:
        """The recorded images (T, N, W): ``transfer`` applied to signal plus noise."""
        total = self.images if self.noise is None else self.images + self.noise
        return total if self.transfer is None else filter_images(total, self.transfer)


def measure_tilt_series(density: np.ndarray, pose: RigidTransform, imaging: DictConfig,
                        rng: np.random.Generator, *, voxel_size_nm: float = 1.0) -> TiltSeriesMeasurement:
    """:func:`simulate_subtomogram` with its tilt images kept (same parameters)."""
    angles = check_imaging(imaging)
    geometry = tilt_series_geometry(density.shape[0], tuple(angles))
    images = geometry.project(transform_volume(density, pose))
    transfer = _optics(imaging, images.shape[1:], voxel_size_nm)

    def reconstruct(stack: np.ndarray) -> np.ndarray:
        return geometry.backproject(stack if transfer is None else filter_images(stack, transfer))

    signal = reconstruct(images)
    snr = float(imaging.snr)
    if np.isinf(snr):
        return TiltSeriesMeasurement(geometry, images, None, transfer, Subtomogram(signal, None))
    noise_images = rng.standard_normal(images.shape)
    noise = reconstruct(noise_images)
    scale = np.sqrt(signal.var() / (snr * noise.var()))
    return TiltSeriesMeasurement(geometry, images, noise_images * scale, transfer,
                                 Subtomogram(signal, noise * scale))


def particle_rng(config: DictConfig, index: int) -> np.random.Generator:
    """The random stream of particle ``index``: its pose first, then its noise."""
    return np.random.default_rng([int(config.seed), int(index)])


def simulate_particle(config: DictConfig, density: np.ndarray, index: int) -> SimulatedParticle:
    """Particle ``index`` of a simulation (deterministic in ``config.seed`` and ``index``).

    Parameters
    ----------
    config : DictConfig
        A :class:`SimulateConfig` node (:func:`simulation_config`).
    density : ndarray of shape (N, N, N)
        From :func:`load_density`.
    index : int

    Returns
    -------
    SimulatedParticle
    """
    rng = particle_rng(config, index)
    pose = random_pose(rng, float(config.max_translation_voxels))
    subtomogram = simulate_subtomogram(density, pose, config.imaging, rng,
                                       voxel_size_nm=float(config.voxel_size_nm))
    return SimulatedParticle(index, pose, subtomogram)


def simulate_pair(config: DictConfig, density: np.ndarray, pair_index: int) -> SyntheticPair:
    """Pair ``k`` = particles ``(2k, 2k + 1)``, the ``consecutive`` pair list's k-th entry.

    Returns
    -------
    SyntheticPair
        ``fixed``, ``moving``, the truth ``pose_fixed o pose_moving^-1`` and both poses.
    """
    fixed = simulate_particle(config, density, 2 * pair_index)
    moving = simulate_particle(config, density, 2 * pair_index + 1)
    truth = fixed.pose.compose(moving.pose.inverse())
    return SyntheticPair(fixed.subtomogram.volume, moving.subtomogram.volume, truth,
                         fixed.pose, moving.pose)
