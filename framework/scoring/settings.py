"""The settings every constrained score shares: :class:`ConstrainedScoreConfig`.

A third-party score's config subclasses it (adding fields with defaults); the framework
then knows how to search the score on binned volumes (:meth:`ConstrainedScoreConfig.binned`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from subalign.errors import ConfigError
from subalign.numerics.measurement import WEIGHTINGS

__all__ = ["JACOBIAN_METHODS", "ROTATION_METHODS", "ConstrainedScoreConfig"]

JACOBIAN_METHODS = ("numerical", "analytic")
ROTATION_METHODS = ("fourier", "spline")


@dataclass
class ConstrainedScoreConfig:
    """Fields shared by the built-in constrained scores.

    Attributes
    ----------
    rotation : {"fourier", "spline"}
        How the moving volume is rotated. ``fourier``: its spectrum is sampled at the
        band's rotated frequencies (:mod:`subalign.numerics.spectral`; about 4e-4 relative
        error, a third of a cubic spline's, and the cost of the band, not of the box).
        ``spline``: interpolation in real space at ``interpolation_order``, then a forward
        FFT (the paper's scheme).
    interpolation_order : int
        Spline order of ``rotation=spline`` (1 trilinear, 3 cubic).
    jacobian : {"numerical", "analytic"}
        Rotation columns by central differences (paper) or by the chain rule through the
        rotated volume's spectral gradient. Translation columns are always analytic.
    fd_step_deg : float
        Step of the central differences, degrees.
    max_frequency : float
        Highest spatial frequency compared, cycles/voxel (0 < f <= 0.5, the largest band a
        rotation maps onto itself and in which every term has a derivative). The
        default 0.3 (3.3 voxels) keeps what 4 nm subtomograms at 1 nm/voxel carry and drops
        the noise-only band; 0.5 compares up to Nyquist.
    mask_edge_voxels : float
        Width of the cosine edge of the spherical mask that ends at the box faces; 0 turns
        the mask off.
    wedge_margin_voxels : float
        Compare only frequencies this many Fourier voxels inside both wedges
        (see :mod:`subalign.numerics.wedge`); 0 uses the exact masks.
    min_overlap : float
        Fraction of the expected overlap below which the score is pulled towards the
        uninformative value (module docstring); 0 turns the rule off.
    measurement_weighting : {"both", "matched", "one", "support", "wiener"}
        How weighted measurement models enter the comparison
        (:mod:`subalign.numerics.measurement`); binary models (tilt ranges, planes) are
        compared on their common mask whatever it says.
    """

    rotation: str = "fourier"
    interpolation_order: int = 3
    jacobian: str = "analytic"
    fd_step_deg: float = 0.5
    max_frequency: float = 0.3
    mask_edge_voxels: float = 3.0
    wedge_margin_voxels: float = 1.5
    min_overlap: float = 0.2
    measurement_weighting: str = "both"

    def binned(self, factor: int) -> "ConstrainedScoreConfig":
        """The same settings for volumes binned by ``factor``: frequencies in cycles/voxel
        scale up, real-space lengths in voxels scale down; the wedge margin is in Fourier
        voxels, which binning (the same box in fewer voxels) leaves unchanged."""
        return dataclasses.replace(
            self,
            max_frequency=min(self.max_frequency * factor, 0.5),
            mask_edge_voxels=self.mask_edge_voxels / factor,
        )

    def validate(self, score: str) -> None:
        if self.rotation not in ROTATION_METHODS:
            raise ConfigError(
                f"score={score}: score.rotation must be one of {ROTATION_METHODS}, "
                f"found {self.rotation!r}"
            )
        if self.jacobian not in JACOBIAN_METHODS:
            raise ConfigError(
                f"score={score}: score.jacobian must be one of {JACOBIAN_METHODS}, "
                f"found {self.jacobian!r}"
            )
        if not 0 <= self.interpolation_order <= 5:
            raise ConfigError(
                f"score={score}: score.interpolation_order must be 0..5, "
                f"found {self.interpolation_order}"
            )
        if not self.fd_step_deg > 0:
            raise ConfigError(f"score={score}: score.fd_step_deg must be > 0, found {self.fd_step_deg}")
        if not 0 <= self.mask_edge_voxels:
            raise ConfigError(
                f"score={score}: score.mask_edge_voxels must be >= 0, found {self.mask_edge_voxels}"
            )
        if not 0 <= self.min_overlap <= 1:
            raise ConfigError(
                f"score={score}: score.min_overlap must be in [0, 1], found {self.min_overlap}"
            )
        if self.measurement_weighting not in WEIGHTINGS:
            raise ConfigError(
                f"score={score}: score.measurement_weighting must be one of {WEIGHTINGS}, "
                f"found {self.measurement_weighting!r}"
            )
        if not 0 < self.max_frequency <= 0.5:
            raise ConfigError(
                f"score={score}: score.max_frequency must be in (0, 0.5] cycles/voxel, "
                f"found {self.max_frequency}"
            )
