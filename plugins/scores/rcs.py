"""``rcs``: the real-space constrained dissimilarity score (Xu & Alber 2012, eq. 1-6).

Both volumes are filtered in Fourier space by the common mask ``M_f . Lambda_R M_g`` (so
only coefficients measured in both count), brought back to real space, mean-subtracted
(the mask excludes DC) and scaled to unit norm: ``N f`` and ``N kappa_beta g``. The residual
vector is ``N kappa_beta g - N f`` over all voxels and the score is
``d = ||N f - N kappa_beta g||^2 = 2 - 2c`` with ``c`` the constrained correlation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subalign.api import ConstrainedObjective, ConstrainedScore, ConstrainedScoreConfig, hookimpl, inverse


@dataclass
class RcsConfig(ConstrainedScoreConfig):
    """Configuration of ``rcs`` (fields of :class:`~subalign.scoring.ConstrainedScoreConfig`)."""


def _unit(volume: np.ndarray) -> tuple[np.ndarray, float]:
    norm = float(np.linalg.norm(volume))
    return (volume / norm if norm > 0 else volume), norm


class RealSpaceObjective(ConstrainedObjective):
    """RCS prepared for one pair; residuals of length N**3 (real)."""

    is_complex = False
    _fixed_for_mask = (None, None)  # (mask, N f1): N f1 changes only with the mask

    def _normalized_fixed(self, mask):
        if mask is not self._fixed_for_mask[0]:
            unit, _ = _unit(inverse(self.fixed_spectrum * mask, self.shape).ravel())
            self._fixed_for_mask = (mask, unit)
        return self._fixed_for_mask[1]

    def residual_parts(self, spectrum, mask):
        normalized_fixed = self._normalized_fixed(mask)
        normalized_moving, norm = _unit(inverse(spectrum * mask, self.shape).ravel())
        return normalized_moving - normalized_fixed, (normalized_moving, norm, mask)

    def residual_derivative(self, context, spectrum_derivative):
        normalized, norm, mask = context
        if norm == 0:
            return np.zeros_like(normalized)
        change = inverse(spectrum_derivative * mask, self.shape).ravel()
        # d(v / |v|) = (dv - n (n . dv)) / |v|; dv has zero mean because DC is masked out.
        return (change - normalized * (normalized @ change)) / norm


class RealSpaceConstrainedScore(ConstrainedScore):
    """RCS: real-space constrained dissimilarity 2 - 2c (Xu & Alber 2012, eq. 1-6)."""

    name = "rcs"
    objective_class = RealSpaceObjective


@hookimpl
def subalign_register_scores(register):
    register("rcs", RealSpaceConstrainedScore, RcsConfig)
