"""Operations on maps during refinement: soft masks, low-pass filters, point-group symmetry,
centring.

Conventions: volumes are ``[z, y, x]`` arrays of a cubic box ``(N, N, N)``; the box centre is
index ``N // 2`` on every axis (:mod:`subalign.numerics.geometry`); frequencies are in
cycles/voxel (:mod:`subalign.numerics.fourier`). Point groups (C_n, D_n, T, O, I) and their
axes through the box centre are RELION's (:mod:`subalign.numerics.symmetry`); an int ``n``
still means C_n about ``z``.
"""

from __future__ import annotations

import numpy as np

from subalign.numerics.fourier import forward, fourier_grid, inverse
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.symmetry import PointGroup, parse_symmetry, point_group
from subalign.numerics.volumes import box_centre, particle_centre, shift_volume, transform_volume

__all__ = ["centre_map", "lowpass", "parse_symmetry", "soft_sphere_mask", "symmetrize",
           "symmetry_rotations"]

#: Width of the cosine edge of :func:`lowpass`, in Fourier shells (1 / N cycles/voxel).
LOWPASS_EDGE_SHELLS = 2.0


def soft_sphere_mask(size: int, radius: float, edge: float) -> np.ndarray:
    """A sphere about the box centre: 1 to ``radius``, a cosine edge to 0 at ``radius + edge``.

    Parameters
    ----------
    size : int
        Box edge ``N``.
    radius : float
        Voxels.
    edge : float
        Width of the cosine edge in voxels (0: a hard edge).

    Returns
    -------
    ndarray of shape (N, N, N)
        float64 in [0, 1].
    """
    shape = (size,) * 3
    offsets = np.indices(shape, dtype=float) - box_centre(shape)[:, None, None, None]
    distance = np.sqrt((offsets ** 2).sum(axis=0))
    if edge <= 0:
        return (distance <= radius).astype(float)
    fraction = np.clip((distance - radius) / edge, 0.0, 1.0)
    return 0.5 + 0.5 * np.cos(np.pi * fraction)


def lowpass(volume: np.ndarray, cutoff: float) -> np.ndarray:
    """Keep frequencies below ``cutoff`` (cycles/voxel), with a cosine edge centred on it.

    The edge is :data:`LOWPASS_EDGE_SHELLS` shells wide: gain 1 up to ``cutoff - w / 2``,
    0.5 at ``cutoff``, 0 from ``cutoff + w / 2`` (``w = LOWPASS_EDGE_SHELLS / N``). A cutoff
    at or beyond Nyquist (0.5) returns the volume unchanged.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
    cutoff : float
        Cycles/voxel; a resolution ``d`` Angstrom at pixel ``p`` Angstrom is ``p / d``.

    Returns
    -------
    ndarray of shape (N, N, N), float64
    """
    if cutoff >= 0.5:
        return np.asarray(volume, dtype=float)
    grid = fourier_grid(volume.shape)
    radius = grid.radius
    width = LOWPASS_EDGE_SHELLS / volume.shape[0]
    fraction = np.clip((radius - (cutoff - width / 2)) / width, 0.0, 1.0)
    return inverse(forward(volume) * (0.5 + 0.5 * np.cos(np.pi * fraction)), volume.shape)


def symmetry_rotations(symmetry: "int | str | PointGroup") -> np.ndarray:
    """The rotations of a point group, shape (n, 3, 3), the identity first.

    Parameters
    ----------
    symmetry : int, str or PointGroup
        An int ``n`` is C_n about ``z`` (as before point groups); a name (``"D7"``) or a
        group from :func:`parse_symmetry`.
    """
    return np.array(point_group(symmetry).rotations)


def symmetrize(volume: np.ndarray, symmetry: "int | str | PointGroup") -> np.ndarray:
    """The mean of ``volume`` rotated about the box centre by every rotation of a point group.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
    symmetry : int, str or PointGroup
        The group (an int ``n``: C_n about ``z``); C1 returns the volume unchanged.

    Returns
    -------
    ndarray of shape (N, N, N), float64
    """
    volume = np.asarray(volume, dtype=float)
    rotations = point_group(symmetry).rotations
    if len(rotations) == 1:
        return volume
    total = volume.copy()
    for rotation in rotations[1:]:
        total += transform_volume(volume, RigidTransform(rotation, np.zeros(3)))
    return total / len(rotations)


def centre_map(volume: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift a map so that its structure's centre (:func:`particle_centre`) is the box centre.

    Returns
    -------
    ndarray of shape (N, N, N)
        The shifted map.
    ndarray of shape (3,)
        The shift applied, ``(x, y, z)`` voxels.
    """
    shift = -particle_centre(volume)
    return shift_volume(volume, shift), shift
