"""``rcs``: the real-space constrained dissimilarity score (Xu & Alber 2012, eq. 1-6).

Both volumes are filtered in Fourier space by the common mask ``M_f . Lambda_R M_g`` (so
only coefficients measured in both count), brought back to real space, mean-subtracted
(the mask excludes DC) and scaled to unit norm: ``N f`` and ``N kappa_beta g``. The score is
``d = ||N f - N kappa_beta g||^2 = 2 - 2c`` with ``c`` the constrained correlation.

The residual vector ``N kappa_beta g - N f`` is formed without going back to real space:
its orthonormal spectrum over the common mask, as the real and imaginary parts of
``sqrt(w) (F(N kappa_beta g) - F(N f))`` with ``w`` the Hermitian weights of the half
spectrum. By Parseval this is an orthogonal change of basis of the ``N^3`` voxel
residuals, so the score, ``J^T J`` and ``J^T r`` of the LM step are those of the
real-space residuals (eq. 1-7), without an inverse FFT per evaluation.

Measurement models (:mod:`subalign.numerics.measurement`). With weighted models the two
volumes are compared as ``a F f`` and ``b F(kappa_beta g)`` on the support of both transfers,
``a`` and ``b`` the factors of ``score.measurement_weighting`` (by default each side gets the
other's transfer, ``a = h_g^R``, ``b = h_f``); normalizing both makes ``d = 2 - 2c`` with ``c``
the correlation of the two filtered volumes, so the overlap rule's uninformative value stays 2.
The factors, like the mask, are held at the current rotation in a Jacobian (eq. 15). With
binary models ``a = b = 1`` on the common mask: the paper's score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subalign.api import ConstrainedObjective, ConstrainedScore, ConstrainedScoreConfig, hookimpl


@dataclass
class RcsConfig(ConstrainedScoreConfig):
    """Configuration of ``rcs`` (fields of :class:`~subalign.scoring.ConstrainedScoreConfig`)."""


def _unit(vector: np.ndarray) -> tuple[np.ndarray, float]:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector), norm


class RealSpaceObjective(ConstrainedObjective):
    """RCS prepared for one pair; real residuals of length ``2 m`` for a common mask of
    ``m`` half-spectrum coefficients (module docstring)."""

    is_complex = False
    band_only = True
    _fixed_for_mask = (None, None, None)  # (mask, sqrt(w), N f1): they change with the mask

    def _for_mask(self, mask):
        """``sqrt(w)`` over the mask and the stacked, normalized fixed residual part."""
        if mask is not self._fixed_for_mask[0]:
            root = np.sqrt(self.band_weights[mask])
            unit, _ = _unit(_stacked(self.fixed_values(mask), root))
            self._fixed_for_mask = (mask, root, unit)
        return self._fixed_for_mask[1:]

    def residual_parts(self, spectrum, mask):
        root, normalized_fixed = self._for_mask(mask)
        normalized_moving, norm = _unit(_stacked(spectrum[mask], root))
        return normalized_moving - normalized_fixed, (normalized_moving, norm, mask, root)

    def residual_derivative(self, context, spectrum_derivative):
        normalized, norm, mask, root = context
        if norm == 0:
            return np.zeros_like(normalized)
        change = _stacked(spectrum_derivative[mask], root)
        # d(v / |v|) = (dv - n (n . dv)) / |v|; dv has zero mean because DC is masked out.
        return (change - normalized * (normalized @ change)) / norm


def _stacked(coefficients: np.ndarray, root: np.ndarray) -> np.ndarray:
    """``[sqrt(w) Re(c), sqrt(w) Im(c)]``, shape (2 m,): Parseval-weighted coefficients
    whose dot products are the real-space ones."""
    return np.concatenate([root * coefficients.real, root * coefficients.imag])


class RealSpaceConstrainedScore(ConstrainedScore):
    """RCS: real-space constrained dissimilarity 2 - 2c (Xu & Alber 2012, eq. 1-6)."""

    name = "rcs"
    objective_class = RealSpaceObjective
    accepts_measurement_models = True


@hookimpl
def subalign_register_scores(register):
    register("rcs", RealSpaceConstrainedScore, RcsConfig)
