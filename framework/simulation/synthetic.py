"""A quick on-the-fly generator of subtomogram pairs with known relative transforms.

This is the light generator behind most tests: a density map is posed, its spectrum is cut
by a missing wedge, and wedge-filtered white noise is added. No tilt series, CTF or MTF:
the realistic simulator is :mod:`subalign.simulation.simulate` (the demo and the experiments use it).

SNR here is ``var(signal) / var(noise)`` over the box, both after the wedge filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from subalign.simulation.density import phantom
from subalign.numerics.fourier import forward, inverse
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange, wedge_mask

__all__ = ["SyntheticPair", "make_subtomogram", "synthetic_pair"]


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
    """A seeded pair of randomly posed subtomograms of ``density``.

    ``density`` defaults to :func:`subalign.simulation.density.phantom` of ``size``. Rotations are
    uniform on SO(3); translations uniform in ``[-max_translation, max_translation]`` per
    axis (voxels). The same seed gives the same pair.
    """
    rng = np.random.default_rng(seed)
    density = phantom(size) if density is None else density
    poses = [
        RigidTransform(Rotation.random(random_state=rng).as_matrix(),
                       rng.uniform(-max_translation, max_translation, 3))
        for _ in range(2)
    ]
    fixed, _ = make_subtomogram(density, poses[0], tilt, snr, rng)
    moving, _ = make_subtomogram(density, poses[1], tilt, snr, rng)
    truth = poses[0].compose(poses[1].inverse())
    return SyntheticPair(fixed, moving, truth, poses[0], poses[1])
