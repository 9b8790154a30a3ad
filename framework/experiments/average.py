"""Subtomogram averaging with missing-wedge compensation, and Fourier shell correlation."""

from __future__ import annotations

import numpy as np

from subalign.numerics.fourier import forward, fourier_grid, inverse
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange, wedge_mask

__all__ = ["fsc", "resolution_at", "wedge_compensated_average"]


def wedge_compensated_average(
    volumes: list[np.ndarray], transforms: list[RigidTransform], tilts: list[TiltRange]
) -> np.ndarray:
    """Average of aligned subtomograms, each Fourier coefficient over the volumes measuring it.

    ``A = F^-1[ sum_i Lambda_i M_i F(tau_i Lambda_i v_i) / max(sum_i Lambda_i M_i, 1) ]``:
    the sum of the aligned spectra, each kept only where its rotated wedge mask measured it,
    divided by the sum of those masks. Coefficients no volume measured stay 0; dividing by at
    least 1 keeps rarely measured ones from blowing up.

    Parameters
    ----------
    volumes : list of ndarray of shape (N, N, N)
    transforms : list of RigidTransform
        Each maps its volume onto the common frame (an alignment result).
    tilts : list of TiltRange
        Each volume's tilt range.

    Returns
    -------
    ndarray of shape (N, N, N)
    """
    shape = volumes[0].shape
    spectrum = np.zeros(fourier_grid(shape).spectrum_shape, dtype=complex)
    weight = np.zeros(spectrum.shape)
    for volume, transform, tilt in zip(volumes, transforms, tilts):
        mask = wedge_mask(shape, tilt, transform.rotation)
        spectrum += forward(transform_volume(volume, transform)) * mask
        weight += mask
    return inverse(spectrum / np.maximum(weight, 1.0), shape)


def fsc(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fourier shell correlation in one-voxel-wide shells up to Nyquist.

    Parameters
    ----------
    first, second : ndarray of shape (N, N, N)

    Returns
    -------
    frequency : ndarray of shape (N // 2,)
        Shell centres in cycles/voxel (shell ``s`` holds radii in ``[s, s + 1)`` voxels).
    correlation : ndarray of shape (N // 2,)
    """
    shape = first.shape
    grid = fourier_grid(shape)
    shells = np.floor(np.sqrt(grid.fx**2 + grid.fy**2 + grid.fz**2) * shape[0]).astype(int)
    a, b, w = forward(first), forward(second), grid.hermitian_weights
    count = shape[0] // 2
    keep = shells < count
    cross = np.bincount(shells[keep], (w * np.real(a * np.conj(b)))[keep], count)
    power_a = np.bincount(shells[keep], (w * np.abs(a) ** 2)[keep], count)
    power_b = np.bincount(shells[keep], (w * np.abs(b) ** 2)[keep], count)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = cross / np.sqrt(power_a * power_b)
    return (np.arange(count) + 0.5) / shape[0], np.nan_to_num(correlation)


def resolution_at(frequency: np.ndarray, correlation: np.ndarray, threshold: float,
                  voxel_size: float = 1.0) -> float:
    """Resolution (``voxel_size`` units) where the FSC first falls below ``threshold``.

    The crossing is interpolated linearly between shells, starting from shell 1 (shell 0
    holds the DC term). If the FSC never falls below, the Nyquist resolution ``2 *
    voxel_size`` is returned; if shell 1 is already below, ``inf``.
    """
    for shell in range(1, len(correlation)):
        if correlation[shell] < threshold:
            if shell == 1:
                return float("inf")
            high, low = correlation[shell - 1], correlation[shell]
            t = (high - threshold) / (high - low)
            crossing = frequency[shell - 1] + t * (frequency[shell] - frequency[shell - 1])
            return float(voxel_size / crossing)
    return float(2 * voxel_size)
