"""A quick on-the-fly generator of subtomogram pairs with known relative transforms.

This is the light generator behind the demo and the tests: a density map is posed, its
spectrum is cut by a missing wedge, and wedge-filtered white noise is added. A realistic
simulator (tilt series, CTF, MTF, backprojection) is separate, planned work.

SNR here is ``var(signal) / var(noise)`` over the box, both after the wedge filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .fourier import forward, inverse
from .geometry import RigidTransform
from .transform import transform_volume
from .wedge import TiltRange, wedge_mask

__all__ = ["SyntheticPair", "four_gaussian_phantom", "make_subtomogram", "synthetic_pair"]

# Centre (x, y, z) and sigma as fractions of the box edge, amplitude. At N = 32 (1 nm
# voxels) the sigmas are 2.0, 1.3, 1.6 and 1.0 voxels: FWHM 2.4-4.7 nm, the detail of the
# paper's 4 nm maps. A blurrier model keeps its information within ~3 Fourier voxels of the
# origin, where a voxelized wedge boundary crosses most coefficients.
_GAUSSIANS = (
    ((-0.12, -0.09, -0.06), 0.0625, 1.0),
    ((0.16, -0.06, 0.03), 0.041, 0.8),
    ((-0.03, 0.16, 0.09), 0.05, 0.9),
    ((0.06, 0.06, -0.19), 0.031, 0.7),
)


def four_gaussian_phantom(size: int = 32) -> np.ndarray:
    """An asymmetric phantom of four 3-D Gaussians of different sizes (paper Figure 2a).

    Parameters
    ----------
    size : int
        Box edge N in voxels; the model scales with the box.

    Returns
    -------
    ndarray of shape (N, N, N)
        ``[z, y, x]`` density, maximum about 1, centred near the box centre.
    """
    z, y, x = np.indices((size,) * 3, dtype=float) - size // 2
    volume = np.zeros((size,) * 3)
    for (cx, cy, cz), sigma, amplitude in _GAUSSIANS:
        squared = (x - cx * size) ** 2 + (y - cy * size) ** 2 + (z - cz * size) ** 2
        volume += amplitude * np.exp(-squared / (2 * (sigma * size) ** 2))
    return volume


def make_subtomogram(
    density: np.ndarray,
    pose: RigidTransform,
    tilt: TiltRange,
    snr: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Pose a density, remove its missing wedge and add wedge-filtered noise.

    Parameters
    ----------
    density : ndarray of shape (N, N, N)
    pose : RigidTransform
        Applied as ``tau_a Lambda_R``.
    tilt : TiltRange
    snr : float
        ``var(signal) / var(noise)``; ``inf`` adds no noise.
    rng : numpy.random.Generator

    Returns
    -------
    volume : ndarray of shape (N, N, N)
        Signal plus noise.
    signal : ndarray of shape (N, N, N)
        The noise-free, wedge-filtered volume.
    """
    mask = wedge_mask(density.shape, tilt)
    signal = inverse(forward(transform_volume(density, pose)) * mask, density.shape)
    if not np.isfinite(snr):
        return signal, signal
    noise = inverse(forward(rng.standard_normal(density.shape)) * mask, density.shape)
    noise *= np.sqrt(signal.var() / (snr * noise.var()))
    return signal + noise, signal


@dataclass(frozen=True)
class SyntheticPair:
    """Two subtomograms of one density and the transform that maps ``moving`` onto ``fixed``.

    Attributes
    ----------
    fixed, moving : ndarray of shape (N, N, N)
    truth : RigidTransform
        ``tau_a Lambda_R`` of ``moving`` matches ``fixed`` (the ``alignment.json`` meaning).
    fixed_pose, moving_pose : RigidTransform
        Poses applied to the density.
    """

    fixed: np.ndarray
    moving: np.ndarray
    truth: RigidTransform
    fixed_pose: RigidTransform
    moving_pose: RigidTransform


def synthetic_pair(
    seed: int,
    *,
    size: int = 32,
    snr: float = np.inf,
    tilt: TiltRange = TiltRange(-60.0, 60.0),
    max_translation: float = 2.0,
    density: np.ndarray | None = None,
) -> SyntheticPair:
    """A seeded pair of randomly posed subtomograms of ``density`` (default: the phantom).

    Rotations are uniform on SO(3); translations uniform in ``[-max_translation,
    max_translation]`` per axis (voxels). The same seed gives the same pair.
    """
    rng = np.random.default_rng(seed)
    density = four_gaussian_phantom(size) if density is None else density
    poses = [
        RigidTransform(Rotation.random(random_state=rng).as_matrix(),
                       rng.uniform(-max_translation, max_translation, 3))
        for _ in range(2)
    ]
    fixed, _ = make_subtomogram(density, poses[0], tilt, snr, rng)
    moving, _ = make_subtomogram(density, poses[1], tilt, snr, rng)
    truth = poses[0].compose(poses[1].inverse())
    return SyntheticPair(fixed, moving, truth, poses[0], poses[1])
