"""Operations on maps during refinement: soft masks, low-pass filters, C_n symmetry, centring.

Conventions: volumes are ``[z, y, x]`` arrays of a cubic box ``(N, N, N)``; the box centre is
index ``N // 2`` on every axis (:mod:`subalign.numerics.geometry`); frequencies are in
cycles/voxel (:mod:`subalign.numerics.fourier`). A C_n symmetry axis is the map's ``z``
axis through the box centre.
"""

from __future__ import annotations

import re

import numpy as np

from subalign.errors import ConfigError
from subalign.numerics.fourier import forward, fourier_grid, inverse
from subalign.numerics.geometry import RigidTransform
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


def parse_symmetry(text: str, field: str = "symmetry") -> int:
    """The order ``n`` of a ``C<n>`` point group (``"c1"``, ``"C7"``).

    Raises
    ------
    ConfigError
        Anything but C_n with n >= 1 (dihedral and higher groups are not supported).
    """
    match = re.fullmatch(r"[cC](\d+)", str(text).strip())
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(f"{field}: expected a cyclic point group C1, C2, ... (C_n about the "
                          f"map's z axis), found {text!r}")
    return int(match.group(1))


def symmetry_rotations(order: int) -> np.ndarray:
    """The ``n`` rotations of C_n about ``z``, shape (n, 3, 3), the identity first."""
    angles = 2 * np.pi * np.arange(order) / order
    rotations = np.zeros((order, 3, 3))
    rotations[:, 0, 0] = rotations[:, 1, 1] = np.cos(angles)
    rotations[:, 0, 1], rotations[:, 1, 0] = -np.sin(angles), np.sin(angles)
    rotations[:, 2, 2] = 1.0
    return rotations


def symmetrize(volume: np.ndarray, order: int) -> np.ndarray:
    """The mean of ``volume`` rotated by the ``order`` rotations of C_n about ``z``.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
    order : int
        ``n`` of C_n; 1 returns the volume unchanged.

    Returns
    -------
    ndarray of shape (N, N, N), float64
    """
    volume = np.asarray(volume, dtype=float)
    if order == 1:
        return volume
    total = volume.copy()
    for rotation in symmetry_rotations(order)[1:]:
        total += transform_volume(volume, RigidTransform(rotation, np.zeros(3)))
    return total / order


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
