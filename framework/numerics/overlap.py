"""How much two wedges let a comparison see: the overlap rule of constrained scores.

The *overlap* of a rotation is the fraction of a band's coefficients (``0 < |xi| <=
max_frequency``, Hermitian weights) that both wedge masks keep; the *expected overlap* of
a pair is its mean over :func:`overlap_rotations`. A comparison over less than
``min_overlap`` times the expected overlap counts only in proportion
(:func:`overlap_weight`); ``subalign.scoring.constrained`` explains why.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from subalign.numerics.fourier import fourier_grid
from subalign.numerics.measurement import model_overlaps, rotated_weights
from subalign.numerics.wedge import TiltRange, wedge_mask

__all__ = ["expected_model_overlap", "expected_overlap", "overlap_rotations", "overlap_weight"]


@lru_cache(maxsize=1)
def overlap_rotations() -> np.ndarray:
    """The 48 rotations (48, 3, 3) over which the expected overlap is averaged (fixed,
    seeded, read-only)."""
    from scipy.spatial.transform import Rotation  # scipy loads on first use

    rotations = Rotation.random(48, random_state=20121128).as_matrix()
    rotations.setflags(write=False)
    return rotations


@lru_cache(maxsize=64)
def expected_overlap(shape: tuple[int, int, int], fixed_tilt: TiltRange, moving_tilt: TiltRange,
                     max_frequency: float, margin: float) -> float:
    """Mean overlap of the two wedges' common mask over :func:`overlap_rotations`.

    Returns
    -------
    float
        In [0, 1]; 1 without missing wedges.
    """
    grid = fourier_grid(shape)
    band = (grid.radius <= max_frequency) & (grid.radius > 0)
    weights = grid.hermitian_weights * band
    fixed_mask = wedge_mask(shape, fixed_tilt, margin=margin)
    kept = [(weights * (fixed_mask & wedge_mask(shape, moving_tilt, r, margin=margin))).sum()
            for r in overlap_rotations()]
    return float(np.mean(kept) / weights.sum())


def expected_model_overlap(shape: tuple[int, int, int], fixed_model, moving_model,
                           max_frequency: float, margin: float) -> float:
    """:func:`expected_overlap` of two measurement models
    (:mod:`subalign.numerics.measurement`): the mean over :func:`overlap_rotations` of
    :func:`~subalign.numerics.measurement.model_overlaps`; two tilt ranges give
    :func:`expected_overlap` (cached)."""
    if isinstance(fixed_model, TiltRange) and isinstance(moving_model, TiltRange):
        return expected_overlap(tuple(shape), fixed_model, moving_model, max_frequency, margin)
    grid = fourier_grid(tuple(shape))
    band = (grid.radius <= max_frequency) & (grid.radius > 0)
    xi = np.stack([f[band] for f in grid.frequency_xyz()], axis=-1)
    weights = grid.hermitian_weights[band]
    fixed = rotated_weights(fixed_model, xi, None, shape[0], margin)
    return float(np.mean([model_overlaps(fixed, rotated_weights(moving_model, xi, r, shape[0],
                                                                margin), weights)
                          for r in overlap_rotations()]))


def overlap_weight(overlap, expected: float, min_overlap: float = 0.2):
    """``w = min(1, overlap / (min_overlap * expected))``: how much a comparison over this
    overlap counts. ``overlap``: a float or an array of them; ``min_overlap <= 0`` gives 1."""
    if min_overlap <= 0:
        return np.ones_like(np.asarray(overlap, dtype=float))
    return np.clip(np.asarray(overlap, dtype=float) / (min_overlap * expected), 0.0, 1.0)
