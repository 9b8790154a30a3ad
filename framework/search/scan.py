"""The rotation scan: rank many rotations cheaply before any refinement.

For every rotation of a set, the moving volume is rotated in Fourier space, only at the
band's coefficients (:class:`subalign.numerics.spectral.SpectrumSampler`, as the scores
do), and the constrained cross-correlation with the fixed volume is
computed for every integer translation at once by FFT, over the coefficients both volumes
measured (the common mask ``M_f . Lambda_R M_g`` within the band). Each rotation is scored
by its best translation's *normalized* constrained correlation

    ``c(R) = max_a sum_x f1(x) g1(x - a) / (||f1|| ||g1||)``,

with ``f1``, ``g1`` the volumes filtered by the common mask (the correlation RCS is built
on: ``rcs = 2 - 2c``). A rotation whose common mask keeps less than the minimum overlap has
its correlation pulled towards 0 by the same rule the scores apply
(:func:`subalign.scoring.constrained.overlap_weight`), so comparing little never ranks high.

Rotations are processed in batches (vectorized interpolation and masks, one batched inverse
FFT per batch, in single precision); the cost per rotation is one small inverse FFT and a
few hundred interpolated coefficients.

Measurement models (:mod:`subalign.numerics.measurement`): with weighted models the
correlation is that of the two sides multiplied by their factors (``weighting``) over the
support of both transfers, and the overlap is the models' weighted one, as in the scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from subalign.numerics.fourier import fourier_grid
from subalign.numerics.geometry import rotation_distance_deg
from subalign.numerics.spectral import SpectrumSampler, on_grid
from subalign.numerics.volumes import box_centre
from subalign.numerics.filters import band_limited
from subalign.numerics.measurement import (
    comparison_factors,
    is_binary,
    model_overlaps,
    rotated_noise,
)
from subalign.numerics.overlap import expected_model_overlap, overlap_weight
from subalign.numerics.wedge import TiltRange

__all__ = ["ScanResult", "scan_rotations"]

BATCH = 32
#: Kernel width of the scan's Fourier rotation: 3 (27 taps per sample, about 1e-2 relative
#: error) ranks rotations as well as the scores' width 4 did on the averaging tests' cheap
#: search (4 candidates kept); width 2 (8e-2) lost half of those particles.
SCAN_KERNEL_WIDTH = 3


@dataclass(frozen=True)
class ScanResult:
    """Every scanned rotation with its best translation and correlation, best first.

    Attributes
    ----------
    rotations : ndarray of shape (K, 3, 3)
    translations : ndarray of shape (K, 3)
        Best integer ``(x, y, z)`` translation of each rotation, in voxels of the scanned box.
    correlations : ndarray of shape (K,)
        Normalized constrained correlation at that translation (overlap rule applied).
    overlaps : ndarray of shape (K,)
        Fraction of the band's coefficients the common mask keeps.
    """

    rotations: np.ndarray
    translations: np.ndarray
    correlations: np.ndarray
    overlaps: np.ndarray

    def distinct(self, keep: int, separation_deg: float) -> "ScanResult":
        """The best ``keep`` entries at least ``separation_deg`` apart in rotation.

        Greedy, best first: an entry is kept when no kept one lies within
        ``separation_deg``; the result stays ordered best first.
        """
        kept: list[int] = []
        for index in range(len(self.correlations)):
            rotation = self.rotations[index]
            if all(rotation_distance_deg(rotation, self.rotations[k]) >= separation_deg
                   for k in kept):
                kept.append(index)
                if len(kept) == keep:
                    break
        return ScanResult(self.rotations[kept], self.translations[kept],
                          self.correlations[kept], self.overlaps[kept])


@dataclass
class _ScanSetup:
    """What every rotation of one scan is compared with, computed once: the band's
    frequencies ``xi`` (n, 3) and Hermitian ``weights`` (n,), the fixed band's values, power
    and wedge mask, the moving volume's sampler, and the shifts the correlation volumes
    range over."""

    shape: tuple[int, int, int]
    spectrum_shape: tuple[int, int, int]
    band: np.ndarray
    xi: np.ndarray
    weights: np.ndarray
    fixed_values: np.ndarray
    fixed_power: np.ndarray
    fixed_kept: np.ndarray
    fixed_noise: np.ndarray | None
    moving: SpectrumSampler
    moving_tilt: TiltRange
    margin: float
    weighting: str | None
    reference_overlap: float
    centre_phase: np.ndarray
    shifts: tuple[np.ndarray, np.ndarray, np.ndarray]
    allowed: np.ndarray | None

    @classmethod
    def of(cls, fixed, moving, fixed_tilt, moving_tilt, max_frequency, margin, mask_edge,
           max_shift, weighting) -> "_ScanSetup":
        shape = fixed.shape
        grid = fourier_grid(shape)
        fx, fy, fz = grid.frequency_xyz()
        band = (grid.radius <= max_frequency) & (grid.radius > 0)
        xi = np.stack([fx[band], fy[band], fz[band]], axis=-1)  # (n, 3), the band's coefficients
        # The fixed band through the same kernel as the moving one (one FFT, see
        # on_grid): a volume against itself then correlates exactly at the identity.
        fixed_values = scipy.fft.rfftn(
            on_grid(band_limited(fixed, max_frequency, mask_edge), SCAN_KERNEL_WIDTH),
            norm="ortho")[band]
        weights = grid.hermitian_weights[band]
        sz, sy, sx = np.meshgrid(*[np.fft.fftfreq(n, d=1.0 / n) for n in shape], indexing="ij")
        return cls(
            shape=shape, spectrum_shape=grid.spectrum_shape, band=band, xi=xi,
            weights=weights, fixed_values=fixed_values,
            fixed_power=weights * np.abs(fixed_values) ** 2,
            fixed_kept=fixed_tilt.weights(xi, shape[0], margin=margin),
            fixed_noise=rotated_noise(fixed_tilt, xi, None, shape[0], weighting),
            moving=SpectrumSampler(band_limited(moving, max_frequency, mask_edge),
                                   SCAN_KERNEL_WIDTH, max_frequency),
            moving_tilt=moving_tilt, margin=margin,
            weighting=None if is_binary(fixed_tilt, moving_tilt) else weighting,
            reference_overlap=expected_model_overlap(shape, fixed_tilt, moving_tilt,
                                                     max_frequency, margin),
            # rfftn's phase convention puts the origin at index 0, not at the centre c.
            centre_phase=(np.exp(-2j * np.pi * xi @ box_centre(shape)[::-1])
                          / np.sqrt(np.prod(shape))),
            shifts=(sx.ravel(), sy.ravel(), sz.ravel()),
            allowed=None if max_shift is None else (sx**2 + sy**2 + sz**2 <= max_shift**2).ravel(),
        )

    def score(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weighted correlations (K,), overlaps (K,) and best translations (K, 3) of the
        rotations ``batch`` (K, 3, 3)."""
        shape, weights = self.shape, self.weights
        # R^-1 xi = R^T xi for every rotation and band coefficient: (K, n, 3)
        unrotated = np.matmul(self.xi[None], batch)
        values = (self.moving.sample(unrotated.reshape(-1, 3)).reshape(len(batch), -1)
                  * self.centre_phase[None])
        moving_weights = self.moving_tilt.weights(unrotated, shape[0], margin=self.margin)
        if self.weighting is None:
            fixed_factor = moving_factor = self.fixed_kept[None] & moving_weights
            overlap = (weights[None] * fixed_factor).sum(axis=1) / float(weights.sum())
        else:
            moving_noise = rotated_noise(self.moving_tilt, unrotated.reshape(-1, 3), None,
                                         shape[0], self.weighting)
            _, fixed_factor, moving_factor = comparison_factors(
                self.fixed_kept[None], moving_weights, self.weighting,
                None if self.fixed_noise is None else self.fixed_noise[None],
                None if moving_noise is None else moving_noise.reshape(moving_weights.shape))
            overlap = model_overlaps(self.fixed_kept[None], moving_weights, weights)
        # Single precision for the correlation volumes: they only rank rotations and pick
        # whole-voxel shifts, and complex64 halves the cost of the batch's inverse FFTs.
        product = np.zeros((len(batch),) + self.spectrum_shape, dtype=np.complex64)
        product[:, self.band] = (self.fixed_values[None] * np.conj(values)
                                 * (fixed_factor * moving_factor))
        # Correlation over shifts: sum_x f1(x) g1(x - a), in the ortho convention.
        correlation = scipy.fft.irfftn(product, s=shape, axes=(1, 2, 3), norm="ortho")
        correlation = correlation.reshape(len(batch), -1) * float(np.sqrt(np.prod(shape)))
        if self.allowed is not None:
            correlation = np.where(self.allowed[None], correlation, -np.inf)
        best = np.argmax(correlation, axis=1)
        norms = np.sqrt((self.fixed_power[None] * fixed_factor**2).sum(axis=1)
                        * (weights[None] * np.abs(values) ** 2 * moving_factor**2).sum(axis=1))
        peak = correlation[np.arange(len(batch)), best]
        value = np.where(norms > 0, peak / np.where(norms > 0, norms, 1.0), 0.0)
        translations = np.stack([shift[best] for shift in self.shifts], axis=1)
        return value * overlap_weight(overlap, self.reference_overlap), overlap, translations


def scan_rotations(
    fixed: np.ndarray,
    moving: np.ndarray,
    fixed_tilt: TiltRange,
    moving_tilt: TiltRange,
    rotations: np.ndarray,
    *,
    max_frequency: float,
    wedge_margin_voxels: float,
    mask_edge_voxels: float,
    max_shift: float | None = None,
    weighting: str = "both",
) -> ScanResult:
    """Score every rotation by its best FFT translation's constrained correlation.

    Parameters
    ----------
    fixed, moving : ndarray of shape (N, N, N)
        ``[z, y, x]`` volumes (the search stage passes its binned ones).
    fixed_tilt, moving_tilt : TiltRange or measurement model
    rotations : ndarray of shape (K, 3, 3)
        Active rotations of ``moving`` to rank.
    max_frequency : float
        Band compared, cycles/voxel of this box.
    wedge_margin_voxels : float
        Erosion of both wedge masks (Fourier voxels), as in the scores.
    mask_edge_voxels : float
        Edge of the soft spherical mask.
    max_shift : float, optional
        Longest translation considered (voxels of this box); None: the whole box.
    weighting : {"both", "matched", "one", "support", "wiener"}
        How weighted measurement models enter (:mod:`subalign.numerics.measurement`).

    Returns
    -------
    ScanResult
        Sorted best first.
    """
    setup = _ScanSetup.of(fixed, moving, fixed_tilt, moving_tilt, max_frequency,
                          wedge_margin_voxels, mask_edge_voxels, max_shift, weighting)
    rotations = np.asarray(rotations, dtype=float)
    translations = np.empty((len(rotations), 3))
    correlations = np.empty(len(rotations))
    overlaps = np.empty(len(rotations))
    for start in range(0, len(rotations), BATCH):
        batch = slice(start, start + BATCH)
        correlations[batch], overlaps[batch], translations[batch] = setup.score(rotations[batch])
    order = np.argsort(-correlations, kind="stable")
    return ScanResult(rotations[order], translations[order], correlations[order],
                      overlaps[order])
