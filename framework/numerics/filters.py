"""Volume filters shared by scores, the rotation scan and the simulator.

Every filter acts on ``[z, y, x]`` volumes about the box centre (index ``N // 2``); radii
in Fourier space are ``|xi|`` in cycles/voxel (:attr:`subalign.numerics.fourier.FourierGrid.radius`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from subalign.numerics.fourier import forward, fourier_grid, inverse
from subalign.numerics.volumes import box_centre

__all__ = ["ROLL_OFF", "band_limited", "soft_sphere", "standardize"]

#: Width in cycles/voxel of the cosine roll-off above a band's ``max_frequency``.
ROLL_OFF = 0.05


@lru_cache(maxsize=16)
def soft_sphere(shape: tuple[int, int, int], edge: float) -> np.ndarray:
    """Spherical mask about the box centre: 1 to radius ``N/2 - edge``, cosine to 0 at ``N/2``
    (kept per shape and edge, read-only).

    Parameters
    ----------
    shape : tuple of int
        ``(N, N, N)``.
    edge : float
        Width of the cosine edge in voxels; 0 gives all ones.

    Returns
    -------
    ndarray of shape (N, N, N)
    """
    if edge <= 0:
        mask = np.ones(shape)
    else:
        z, y, x = np.indices(shape, dtype=float) - box_centre(shape)[:, None, None, None]
        radius = np.sqrt(x**2 + y**2 + z**2)
        outer = shape[0] / 2.0
        inner = outer - edge
        ramp = 0.5 + 0.5 * np.cos(np.pi * np.clip((radius - inner) / edge, 0.0, 1.0))
        mask = np.where(radius <= inner, 1.0, ramp)
    mask.setflags(write=False)
    return mask


def standardize(volume: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (a constant volume only loses its mean); any shape."""
    centred = volume - volume.mean()
    spread = centred.std()
    return centred / spread if spread > 0 else centred


def band_limited(volume: np.ndarray, max_frequency: float, mask_edge_voxels: float) -> np.ndarray:
    """A volume as constrained scores compare it: standardized, low-passed to
    ``max_frequency`` (cosine roll-off over :data:`ROLL_OFF`) and under the soft spherical
    mask.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
    max_frequency : float
        Cycles/voxel.
    mask_edge_voxels : float
        Edge of :func:`soft_sphere`.

    Returns
    -------
    ndarray of shape (N, N, N)
    """
    shape = volume.shape
    radius = fourier_grid(shape).radius
    lowpass = 0.5 + 0.5 * np.cos(np.pi * np.clip((radius - max_frequency) / ROLL_OFF, 0.0, 1.0))
    return inverse(forward(standardize(volume)) * lowpass, shape) * soft_sphere(shape, mask_edge_voxels)
