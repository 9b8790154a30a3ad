"""``fcs``: the Fourier-space constrained dissimilarity score (Xu & Alber 2012, eq. 13-16).

``d = c * sum |F f(xi) - exp(-2 pi i a . xi) F(Lambda_R g)(xi)|^2`` over the frequencies of
the common mask ``M_f . Lambda_R M_g``, with ``c = 1 / (number of those frequencies)``
counted over the full spectrum. The Jacobian of a step holds the mask and ``c`` at the
current rotation (eq. 15); each trial evaluation uses the mask and ``c`` of its own rotation,
so every value compared is a proper mean over its own frequencies.

Contrast and scale: the paper notes FCS does not account for contrast differences. Both
volumes are therefore standardized (zero mean, unit variance over the box) when prepared,
and the DC term is excluded from the mask; spectra are orthonormal (``norm="ortho"``).
Residuals are complex: one per half-spectrum coefficient of the mask, weighted by
``sqrt(c * w)`` where ``w`` counts the Hermitian twin, so ``sum |r|^2`` is ``d`` exactly.

Measurement models (:mod:`subalign.numerics.measurement`): with weighted models the
difference is ``b F(tau Lambda g) - s a F f`` over the support of both transfers, with the
factors ``a``, ``b`` of ``score.measurement_weighting`` held at the current rotation in a
Jacobian, and ``c`` still one over the number of compared frequencies. ``s >= 0`` is the
least-squares scale of the fixed side at each evaluation: a map and a CTF-premultiplied,
noise-whitened particle have amplitudes that no standardization makes equal, and FCS compares
amplitudes. ``d`` is then the minimum over ``s``, so its gradient is the one with ``s`` held
(``dd/ds = 0`` there) and the Jacobian holds it. An unrelated pair fits ``s = 0``: the
uninformative value is the moving side's mean power. With binary models ``a = b = s = 1``:
the paper's score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subalign.api import ConstrainedObjective, ConstrainedScore, ConstrainedScoreConfig, hookimpl


@dataclass
class FcsConfig(ConstrainedScoreConfig):
    """Configuration of ``fcs`` (fields of :class:`~subalign.scoring.ConstrainedScoreConfig`)."""


class FourierSpaceObjective(ConstrainedObjective):
    """FCS prepared for one pair; complex residuals, one per masked coefficient."""

    is_complex = True
    band_only = True

    def residual_parts(self, spectrum, mask):
        weights = self.band_weights[mask]
        total = weights.sum()
        scale = np.sqrt(weights / total) if total > 0 else weights
        fixed = self.fixed_values(mask)
        if self.weighted:  # the fixed side's least-squares scale (module docstring)
            power = float((weights * np.abs(fixed) ** 2).sum())
            fit = float((weights * (spectrum[mask] * np.conj(fixed)).real).sum())
            fixed = fixed * (max(fit, 0.0) / power if power > 0 else 0.0)
        return scale * (spectrum[mask] - fixed), (mask, scale)

    def residual_derivative(self, context, spectrum_derivative):
        mask, scale = context
        return scale * spectrum_derivative[mask]

    def uninformative_value(self):
        """FCS of unrelated volumes: the mean power of both spectra over the band (the
        moving volume's unrotated; rotation keeps |xi|), each times its factor at the
        identity with weighted models."""
        if not hasattr(self, "_uninformative"):
            weights = self.band_weights
            fixed, moving = self.fixed_band, self.rotated_band(np.eye(3))
            if self.weighted:  # an unrelated pair's fitted scale is 0: only the moving side
                _, _, moving_factor, _ = self.weighting(np.eye(3))
                fixed, moving = np.zeros_like(fixed), moving * moving_factor
            power = [float((weights * np.abs(s) ** 2).sum() / weights.sum())
                     for s in (fixed, moving)]
            self._uninformative = sum(power)
        return self._uninformative


class FourierSpaceConstrainedScore(ConstrainedScore):
    """FCS: Fourier-space constrained squared difference (Xu & Alber 2012, eq. 13-16)."""

    name = "fcs"
    objective_class = FourierSpaceObjective
    accepts_measurement_models = True


@hookimpl
def subalign_register_scores(register):
    register("fcs", FourierSpaceConstrainedScore, FcsConfig)
