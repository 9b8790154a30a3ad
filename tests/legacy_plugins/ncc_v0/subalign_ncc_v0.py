# A plugin kept as it was written against subalign's documented API of 2026-11-24 (commit 6d193a9):
# the first plugin API: ``subalign.hookimpl``, ``subalign.errors``,
# ``subalign.fourier`` and ``subalign.scoring``; the score class is not a ``ConstrainedScore``.
# Only the registered name differs from the original (ncc_v0 instead of ncc), so that it
# installs beside the current example. tests/test_legacy_plugins.py checks it still works.
"""``ncc``: example third-party score, normalized cross-correlation of low-passed volumes.

Both spectra are multiplied by the transform of a Gaussian of ``lowpass_sigma_voxels``,
brought back to real space and scaled to unit norm; the residuals are their difference,
so the score is ``2 - 2 ncc``. Unlike ``rcs`` it ignores the missing wedges by default and
compares every frequency up to ``max_frequency`` (fine for full-range data; with wedges the
minimum is biased away from the true pose); ``constrained=true`` compares only over the
common wedge mask, as ``rcs`` does.
"""

from dataclasses import dataclass

import numpy as np

from subalign import hookimpl
from subalign.errors import ConfigError
from subalign.fourier import inverse
from subalign.scoring import ConstrainedObjective, ConstrainedScoreConfig


@dataclass
class NccConfig(ConstrainedScoreConfig):
    """Adds ``lowpass_sigma_voxels`` (Gaussian width, 0: no low-pass) and ``constrained``."""

    lowpass_sigma_voxels: float = 1.0
    constrained: bool = False

    def validate(self, score: str) -> None:
        super().validate(score)
        if not self.lowpass_sigma_voxels >= 0:
            raise ConfigError(f"score={score}: score.lowpass_sigma_voxels must be >= 0, "
                              f"found {self.lowpass_sigma_voxels}")


def _unit(v: np.ndarray) -> tuple[np.ndarray, float]:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v), norm


class NccObjective(ConstrainedObjective):
    """NCC prepared for one pair; real residuals of length N**3."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        fx, fy, fz = self.grid.frequency_xyz()
        sigma = self.config.lowpass_sigma_voxels
        self.lowpass = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2 + fz**2))

    def common_mask(self, rotation):
        return super().common_mask(rotation) if self.config.constrained else self.band

    def residual_parts(self, spectrum, mask):
        weights = self.lowpass * mask  # real, so derivatives are filtered the same way
        fixed, _ = _unit(inverse(self.fixed_spectrum * weights, self.shape).ravel())
        moving, norm = _unit(inverse(spectrum * weights, self.shape).ravel())
        return moving - fixed, (moving, norm, weights)

    def residual_derivative(self, context, spectrum_derivative):
        unit, norm, weights = context
        if norm == 0:
            return np.zeros_like(unit)
        change = inverse(spectrum_derivative * weights, self.shape).ravel()
        return (change - unit * (unit @ change)) / norm  # d(v / |v|) = (dv - u (u . dv)) / |v|


class NccScore:
    """NCC: 2 - 2 x correlation of Gaussian low-passed volumes (wedges ignored by default)."""

    def __init__(self, config: NccConfig) -> None:
        config.validate("ncc_v0")
        self.config = config

    def prepare(self, fixed, moving, fixed_tilt, moving_tilt) -> NccObjective:
        return NccObjective(fixed, moving, fixed_tilt, moving_tilt, self.config)


@hookimpl
def subalign_register_scores(register):
    register("ncc_v0", NccScore, NccConfig)
