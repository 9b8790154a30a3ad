"""Density maps to align: an analytic phantom, and maps made from atomic models or EM maps.

Every function returns a cubic ``[z, y, x]`` float64 box of ``N`` voxels per edge with its
maximum scaled to 1. Coordinates are ``(x, y, z)``; the box centre is index ``N // 2`` on each
axis (:func:`subalign.numerics.volumes.box_centre`). Lengths are in nm: MRC headers and atomic models
give Angstrom, converted on reading.

Structures and maps are low-passed with a Gaussian of ``sigma = resolution_nm / (pi sqrt 2)``
(0.225 x the resolution, as Chimera's ``molmap``): its Fourier amplitude is ``1/e`` at the
stated resolution, so a "4 nm" map still carries 4 nm detail. The paper names Situs
``pdb2vol``, whose resolution = 2 sigma convention leaves 0.7% of the amplitude at 4 nm; with
the phase CTF on top, a 4 nm Situs map keeps only a band around 0.1-0.15/nm, and the four
shared complexes could not be told apart at SNR 0.5 (adjusted Rand index 0.21, 10 per
class). Maps are centred so that their centre of mass lies on the box centre.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage

from subalign.errors import ConfigError, MissingExtraError, VolumeError
from subalign.io.mrc import read_map

__all__ = [
    "MAX_MASS_OUTSIDE",
    "PAPER_PHANTOM",
    "GaussianBlob",
    "DENSITY_SOURCES",
    "check_blobs",
    "density_from_config",
    "density_from_map",
    "density_from_structure",
    "phantom",
]

logger = logging.getLogger(__name__)

# An atomic model may lose at most this fraction of its mass over the box faces: a larger
# loss means the box is too small for the structure, and the map would be truncated.
MAX_MASS_OUTSIDE = 0.01

# Offsets (z, y, x) of the 8 grid points around a position, for trilinear splatting.
_CORNERS = np.array(list(itertools.product((0, 1), repeat=3)))

_ANGSTROM_PER_NM = 10.0


# --- analytic phantom -----------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianBlob:
    """One 3-D Gaussian of a phantom, sized in units of the box edge so it scales with the box.

    Attributes
    ----------
    centre : tuple of 3 floats
        ``(x, y, z)`` offset from the box centre, as fractions of the box edge N.
    sigma : float
        Standard deviation as a fraction of N.
    amplitude : float
        Peak value.
    """

    centre: tuple[float, float, float]
    sigma: float
    amplitude: float


def check_blobs(blobs: tuple[GaussianBlob, ...], field: str = "density.blobs"
                ) -> tuple[GaussianBlob, ...]:
    """``blobs`` if each images as something: positive sigma, non-zero amplitude, centre
    inside the box; else a :class:`~subalign.errors.ConfigError` naming ``{field}[k]``."""
    for k, blob in enumerate(blobs):
        if not (np.isfinite(blob.sigma) and blob.sigma > 0):
            raise ConfigError(f"{field}[{k}].sigma: expected a positive fraction of the box, "
                              f"found {blob.sigma:g}")
        if not (np.isfinite(blob.amplitude) and blob.amplitude != 0):
            raise ConfigError(f"{field}[{k}].amplitude: expected a non-zero finite value, "
                              f"found {blob.amplitude:g}")
        if not all(np.isfinite(c) and abs(c) < 0.5 for c in blob.centre):
            raise ConfigError(f"{field}[{k}].centre: expected offsets inside the box "
                              f"(|c| < 0.5 of its edge), found {list(blob.centre)}")
    return blobs


def _blobs(entries, field: str) -> tuple[GaussianBlob, ...]:
    try:
        blobs = tuple(
            GaussianBlob(tuple(float(c) for c in b["centre"]), float(b["sigma"]),
                         float(b["amplitude"]))
            for b in entries
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{field}: expected a list of {{centre: [x, y, z], sigma: s, amplitude: a}}, "
            f"found an entry missing or mistyping {exc}"
        ) from None
    return check_blobs(blobs, field)


# At N = 32 (1 nm voxels) the sigmas are 2.0, 1.3, 1.6 and 1.0 voxels: FWHM 2.4-4.7 nm, the
# detail of the paper's 4 nm maps. A blurrier model keeps its information within ~3 Fourier
# voxels of the origin, where a voxelized wedge boundary crosses most coefficients.
PAPER_PHANTOM: tuple[GaussianBlob, ...] = (
    GaussianBlob((-0.12, -0.09, -0.06), 0.0625, 1.0),
    GaussianBlob((0.16, -0.06, 0.03), 0.041, 0.8),
    GaussianBlob((-0.03, 0.16, 0.09), 0.05, 0.9),
    GaussianBlob((0.06, 0.06, -0.19), 0.031, 0.7),
)


def phantom(size: int = 32, blobs: tuple[GaussianBlob, ...] = PAPER_PHANTOM) -> np.ndarray:
    """A sum of 3-D Gaussians; by default the asymmetric four-Gaussian phantom (paper Fig. 2a).

    Parameters
    ----------
    size : int
        Box edge N in voxels; the model scales with the box.
    blobs : tuple of GaussianBlob
        The Gaussians to add.

    Returns
    -------
    ndarray of shape (N, N, N)
        ``[z, y, x]`` density; the default has its maximum near 1 and sits near the box centre.
    """
    z, y, x = np.indices((size,) * 3, dtype=float) - size // 2
    volume = np.zeros((size,) * 3)
    for blob in blobs:
        cx, cy, cz = blob.centre
        squared = (x - cx * size) ** 2 + (y - cy * size) ** 2 + (z - cz * size) ** 2
        volume += blob.amplitude * np.exp(-squared / (2 * (blob.sigma * size) ** 2))
    return volume


# --- atomic models --------------------------------------------------------------------------


def density_from_structure(
    path: str | os.PathLike,
    *,
    voxel_size_nm: float = 1.0,
    resolution_nm: float | None = 4.0,
    size: int = 32,
) -> np.ndarray:
    """Mass density of an atomic model, made like Situs ``pdb2vol`` with a Gaussian kernel.

    Each atom's mass (element weight times occupancy, so alternative conformations share one
    atom's mass) is spread over the 8 surrounding voxels by trilinear weights, with the centre
    of mass on the box centre; the grid is then low-passed with a Gaussian. Only the first
    model is used, as written in the file (symmetry and assembly operators are not applied).
    Hydrogens are ignored, so models with and without them give the same map, and so are
    waters: ordered solvent has no contrast against the surrounding solvent.

    Parameters
    ----------
    path : str or path-like
        PDB or mmCIF file, gzip-compressed allowed. Reading needs gemmi (extra
        ``structures``).
    voxel_size_nm : float
        Edge of a voxel of the output grid.
    resolution_nm : float or None
        Low-pass Gaussian of ``sigma = 0.225 resolution_nm``; None: half a voxel, only
        against aliasing.
    size : int
        Box edge N in voxels.

    Returns
    -------
    ndarray of shape (N, N, N)
        ``[z, y, x]`` density, maximum 1.

    Raises
    ------
    MissingExtraError
        gemmi is not installed.
    VolumeError
        The file is missing or unreadable, holds no atoms with mass, or more than
        ``MAX_MASS_OUTSIDE`` of the mass falls outside the box (a smaller loss is logged as
        a warning).
    ConfigError
        ``voxel_size_nm``, ``resolution_nm`` or ``size`` is not positive.
    """
    sigma_nm = _filter_sigma_nm(voxel_size_nm, resolution_nm, size)
    path = Path(path)
    positions_nm, masses = _read_atoms(path)
    centre_of_mass = masses @ positions_nm / masses.sum()
    voxels_zyx = ((positions_nm - centre_of_mass) / voxel_size_nm + size // 2)[:, ::-1]
    grid, lost = _splat(voxels_zyx, masses, size)
    _check_mass_inside(lost, masses, path, size * voxel_size_nm)
    blurred = scipy.ndimage.gaussian_filter(grid, sigma_nm / voxel_size_nm, mode="constant")
    return _normalised(blurred, path)


def _import_gemmi():
    """The gemmi module, or a MissingExtraError that says how to install it."""
    try:
        import gemmi
    except ImportError:
        raise MissingExtraError(
            "reading atomic models needs gemmi: pip install 'subalign[structures]'"
        ) from None
    return gemmi


def _read_atoms(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Positions and masses of the non-hydrogen, non-water atoms of the first model.

    Returns
    -------
    positions : ndarray of shape (M, 3)
        ``(x, y, z)`` in nm.
    masses : ndarray of shape (M,)
        Element weight times occupancy, in Dalton; their sum is positive.
    """
    gemmi = _import_gemmi()
    if not path.is_file():
        raise VolumeError(f"{path}: no such file (expected an atomic model, PDB or mmCIF)")
    try:
        structure = gemmi.read_structure(str(path))
    except Exception as exc:  # gemmi raises RuntimeError, ValueError, OSError, ...
        raise VolumeError(f"{path}: expected a readable PDB or mmCIF file, found: {exc}") from None
    structure.remove_hydrogens()
    structure.remove_waters()
    atoms = [cra.atom for cra in structure[0].all()] if len(structure) else []
    positions = np.array([(a.pos.x, a.pos.y, a.pos.z) for a in atoms]).reshape(-1, 3)
    masses = np.array([a.element.weight * a.occ for a in atoms])
    if not masses.sum() > 0:
        raise VolumeError(
            f"{path}: expected atoms with mass (hydrogens and waters ignored), found "
            f"{len(atoms)} atom(s) of total mass {masses.sum():g} Da in the first model"
        )
    return positions / _ANGSTROM_PER_NM, masses


def _splat(
    positions_zyx: np.ndarray, masses: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spread point masses over their 8 neighbouring voxels with trilinear weights.

    The first moment is kept exactly: the voxels' centre of mass is that of the points.

    Parameters
    ----------
    positions_zyx : ndarray of shape (M, 3)
        Array indices ``(z, y, x)``, fractional.
    masses : ndarray of shape (M,)
    size : int
        Box edge N.

    Returns
    -------
    grid : ndarray of shape (N, N, N)
    lost : ndarray of shape (M,)
        The part of each mass that fell on voxels outside the box.
    """
    lower = np.floor(positions_zyx).astype(int)
    fraction = (positions_zyx - lower)[:, None, :]
    corners = lower[:, None, :] + _CORNERS  # (M, 8, 3)
    weights = masses[:, None] * np.prod(np.where(_CORNERS, fraction, 1 - fraction), axis=2)
    inside = np.all((corners >= 0) & (corners < size), axis=2)  # (M, 8)
    flat = np.ravel_multi_index(tuple(corners[inside].T), (size,) * 3)
    grid = np.bincount(flat, weights=weights[inside], minlength=size**3)
    return grid.reshape((size,) * 3), np.where(inside, 0.0, weights).sum(axis=1)


def _check_mass_inside(lost: np.ndarray, masses: np.ndarray, path: Path, edge_nm: float) -> None:
    """Log atoms outside the box; raise when they carry over ``MAX_MASS_OUTSIDE`` of the mass."""
    count = np.count_nonzero(lost)
    if count == 0:
        return
    fraction = lost.sum() / masses.sum()
    message = (
        f"{path}: {fraction:.2%} of the mass ({count} of {len(masses)} atoms) falls outside "
        f"the {edge_nm:g} nm box"
    )
    if fraction > MAX_MASS_OUTSIDE:
        raise VolumeError(
            f"{message}; expected at most {MAX_MASS_OUTSIDE:.0%}: increase size or voxel_size_nm"
        )
    logger.warning("%s; those atoms are cut off", message)


# --- EM maps --------------------------------------------------------------------------------


def density_from_map(
    path: str | os.PathLike,
    *,
    voxel_size_nm: float = 1.0,
    resolution_nm: float | None = 4.0,
    size: int = 32,
) -> np.ndarray:
    """An MRC map low-passed, centred and resampled onto a box of ``size`` voxels.

    The map is filtered on its own grid, taking it as 0 outside its box; the centre of mass of
    the filtered map's positive part is put on the box centre; cubic B-spline interpolation
    samples it at the new voxel size (anisotropic source voxels and any MRC axis order are
    allowed). Output voxels beyond the source map are 0.

    Parameters
    ----------
    path : str or path-like
        MRC/CCP4 map (gzip or bzip2 compressed allowed) whose header gives its voxel size.
    voxel_size_nm : float
        Edge of a voxel of the output grid.
    resolution_nm : float or None
        Low-pass Gaussian of ``sigma = 0.225 resolution_nm``; None: half an output voxel, only
        against aliasing when the map is downsampled.
    size : int
        Box edge N in voxels.

    Returns
    -------
    ndarray of shape (N, N, N)
        ``[z, y, x]`` density, maximum 1.

    Raises
    ------
    VolumeError
        The file is missing, not a readable 3-D MRC map, has non-finite values, a header voxel
        size of 0, or no positive density.
    ConfigError
        ``voxel_size_nm``, ``resolution_nm`` or ``size`` is not positive.
    """
    sigma_nm = _filter_sigma_nm(voxel_size_nm, resolution_nm, size)
    path = Path(path)
    data, source_voxel_nm = _read_map(path)
    filtered = scipy.ndimage.gaussian_filter(data, sigma_nm / source_voxel_nm, mode="constant")
    centre = _positive_centre_of_mass(filtered, path)
    # Output index o samples the source at centre + scale * (o - N // 2), per axis.
    scale = voxel_size_nm / source_voxel_nm
    resampled = scipy.ndimage.affine_transform(
        filtered,
        scale,
        offset=centre - scale * (size // 2),
        output_shape=(size,) * 3,
        order=3,
        mode="grid-constant",
        cval=0.0,
    )
    return _normalised(resampled, path)


def _read_map(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A 3-D MRC map ``[z, y, x]`` (float64) and its voxel size in nm along ``(z, y, x)``,
    which must be positive."""
    read = read_map(path)
    if not np.all(read.voxel_size > 0):
        raise VolumeError(
            f"{path}: expected a positive voxel size in the header, found (x, y, z) = "
            f"{tuple(float(v) for v in read.voxel_size[::-1])} Angstrom"
        )
    return read.data, read.voxel_size / _ANGSTROM_PER_NM


def _positive_centre_of_mass(volume: np.ndarray, path: Path) -> np.ndarray:
    """Centre of mass of ``max(volume, 0)`` as fractional indices ``(z, y, x)``, shape (3,)."""
    positive = np.clip(volume, 0.0, None)
    if not positive.sum() > 0:
        raise VolumeError(f"{path}: expected positive density, found none after the low-pass")
    return np.array(scipy.ndimage.center_of_mass(positive))


# --- shared ---------------------------------------------------------------------------------


RESOLUTION_TO_SIGMA = 1 / (np.pi * np.sqrt(2))


def _filter_sigma_nm(voxel_size_nm: float, resolution_nm: float | None, size: int) -> float:
    """Check the grid parameters; the low-pass sigma in nm (half a voxel when no resolution)."""
    named = {"voxel_size_nm": voxel_size_nm, "resolution_nm": resolution_nm, "size": size}
    for name, value in named.items():
        if value is not None and not value > 0:
            raise ConfigError(f"{name}: expected a positive number, found {value!r}")
    return voxel_size_nm / 2 if resolution_nm is None else resolution_nm * RESOLUTION_TO_SIGMA


def _normalised(volume: np.ndarray, path: Path) -> np.ndarray:
    """``volume`` scaled to maximum 1."""
    peak = volume.max()
    if not peak > 0:
        raise VolumeError(f"{path}: expected density inside the box, found maximum {peak:g}")
    return volume / peak


# --- from a config ------------------------------------------------------------------------


#: Where a density comes from (``DensityConfig.source``).
DENSITY_SOURCES = ("phantom", "structure", "map")


def density_from_config(entry, *, size: int, voxel_size_nm: float,
                        field: str = "density") -> np.ndarray:
    """The density a ``DensityConfig`` node names (:mod:`subalign.simulation.simulate`).

    Parameters
    ----------
    entry : DictConfig
        ``source``, ``path``, ``resolution_nm`` and ``blobs``.
    size : int
        Box edge ``N`` in voxels.
    voxel_size_nm : float
    field : str
        The entry's name in messages (``density``, ``structures[1]``).

    Returns
    -------
    ndarray of shape (N, N, N)
        ``[z, y, x]``.

    Raises
    ------
    ConfigError
        In one line naming ``{field}.<key>``.
    """
    if entry.source not in DENSITY_SOURCES:
        raise ConfigError(
            f"{field}.source: expected one of {', '.join(DENSITY_SOURCES)}, found {entry.source!r}")
    if entry.source == "phantom":
        if entry.blobs is None:
            return phantom(size)
        return phantom(size, _blobs(entry.blobs, f"{field}.blobs"))
    if entry.path is None:
        raise ConfigError(f"{field}.path: expected a file for source {entry.source}, found null")
    reader = density_from_structure if entry.source == "structure" else density_from_map
    return reader(entry.path, voxel_size_nm=voxel_size_nm, resolution_nm=entry.resolution_nm,
                  size=size)
