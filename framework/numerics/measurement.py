"""Measurement models: the Fourier weight with which a particle was measured.

A *measurement model* says, for every frequency of a particle's box, how strongly the
microscope measured it: its *transfer* ``h(xi) >= 0``, with ``h = 0`` where nothing was
measured. A box ``v`` whose data carry the transfer ``h`` holds ``F v = h F u + noise`` for the
particle's true density ``u``. RELION 5 and WarpTools stacks are CTF-premultiplied, so a box
made from them by Fourier insertion (:mod:`subalign.numerics.insertion`) carries
``h = sum_t w_t CTF_t^2 D_t^2 / max(sum_t w_t, 1)`` (``w_t`` the insertion weight of tilt ``t``,
``D_t`` its dose attenuation; the images carry it once as radiation damage and once as
their dose weighting): nonnegative, and 0 off the measured planes.

Kinds (each has ``kind``, ``binary`` and the two methods of
:class:`~subalign.plugin.protocols.MeasurementModel`):

- :class:`~subalign.numerics.wedge.TiltRange` (``tilt_range``): the binary single-axis wedge,
  analytic; the paper's model and every model before 0.3.
- :class:`TiltPlanes` (``planes``): the binary union of the measured central sections, one
  per tilt, from the real tilt geometry (any axis, not only single-axis), analytic.
- :class:`SampledWeights` (``weights``): a transfer sampled on the box's DFT grid: the
  ``CTF^2 x dose^2`` of every inserted plane (from the insertion), or a weight volume read from
  a file (RELION ``rlnCtfImage``).

Frequencies are ``(x, y, z)`` in cycles per voxel of a box of edge ``N`` and are turned into
Fourier voxels (cycles per box, ``k = N xi``) inside a model, so a model holds for the box and
for the same box binned (the search's volumes). Rotation: a volume turned by ``R`` has the
transfer ``h(R^T xi)``; analytic models are evaluated there exactly, sampled ones
interpolated (trilinear) there. A *margin* of ``m`` Fourier voxels erodes a binary model
(:mod:`subalign.numerics.wedge`); weighted models fall off smoothly by themselves and ignore it.

How weights enter a comparison (:func:`comparison_factors`): with ``h_f`` the fixed volume's
transfer and ``h_g^R`` the rotated moving one's, both are compared only on the *support*
``h_f > 0 and h_g^R > 0`` (the common mask), and each side is multiplied by a factor:

- ``both`` (default): ``h_g^R F f`` against ``h_f F g^R``. Each side gets the other's
  transfer, so both expect the same signal ``h_f h_g^R F u``: the two measurements are made
  comparable without dividing by anything.
- ``one``: ``h_g^R F f`` against ``F g^R``: only the fixed side (a reference) is filtered by
  the particle's transfer (right when the fixed side is a clean map, ``h_f = 1``).
- ``support``: both sides as they are, on the support (the binary use of a weighted model).
- ``wiener``: each side divided by its own transfer, ``F f / (h_f + tau)`` against
  ``F g^R / (h_g^R + tau)``, ``tau`` = :data:`WIENER_TAU` times the largest transfer.

- ``matched``: ``both``, and where a model gives its box's relative noise variance ``s^2``
  (``noise(frequencies, size)``; a model without it, or a map, counts as noise-free) both
  sides divided by the noise of their difference, ``sqrt(h_g^2 s_f^2 + h_f^2 s_g^2)``: the
  matched filter (for a particle against a map, ``sum (h F u)^* F g / s_g^2``), optimal if
  the noise model is exact. Measured, it is not the default: on simulated stacks (30S, SNR
  0.5, beams wandering 8 degrees) it aligns to 1.8 degrees median where ``both`` reaches 0.55
  and the single-axis wedge 1.4; the division amplifies whatever the model misses where
  ``s`` is small (near CTF zeros, between planes). On EMPIAR-10499 it gained nothing.

With binary models every factor is 1 and the comparison is the wedge-constrained one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from subalign.errors import ConfigError
from subalign.numerics.fourier import fourier_grid
from subalign.numerics.wedge import TiltRange

__all__ = ["WEIGHTINGS", "WIENER_TAU", "Acquisition", "SampledWeights", "TiltPlanes", "comparison_factors",
           "full_spectrum", "is_binary", "relative", "rotated_noise", "model_overlaps", "model_weights", "rotated_weights"]

WEIGHTINGS = ("both", "matched", "one", "support", "wiener")
#: ``tau`` of the ``wiener`` weighting, as a fraction of the largest transfer compared.
WIENER_TAU = 0.1
#: Smallest noise variance of a ``matched`` comparison, as a fraction of the largest (keeps
#: frequencies where every transfer vanishes, CTF zeros, from dividing by zero).
NOISE_FLOOR = 1e-4
#: A frequency within this many Fourier voxels of a measured plane (half the insertion
#: kernel's reach) counts as measured by :class:`TiltPlanes`.
PLANE_HALF_THICKNESS = 0.5


@dataclass(frozen=True, eq=False)
class TiltPlanes:
    """The central sections a tilt series measured, each the plane normal to its beam.

    A frequency ``k`` (Fourier voxels) is measured when it lies within
    :data:`PLANE_HALF_THICKNESS` of some plane, ``min_t |b_t . k| <= 1/2``; with a margin
    ``m`` it must also be measured at ``k +- m n``, ``n`` the nearest plane's normal (so the
    outermost planes are eroded as the wedge's boundary planes are, while the gaps between
    neighbouring planes within the Crowther radius stay filled).

    Parameters
    ----------
    beams : ndarray of shape (T, 3)
        Each tilt's beam direction (unit, ``(x, y, z)`` of the box).
    approximate : TiltRange
        The single-axis wedge that stands for this model where a score takes tilt ranges
        only (:meth:`tilt_range`).
    """

    beams: np.ndarray
    approximate: TiltRange
    kind: str = field(default="planes", init=False)
    binary: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        beams = np.asarray(self.beams, dtype=float).reshape(-1, 3)
        norms = np.linalg.norm(beams, axis=1)
        if len(beams) == 0 or not np.all(norms > 0):
            raise ConfigError(f"planes: expected at least one nonzero beam direction, found {len(beams)}")
        object.__setattr__(self, "beams", beams / norms[:, None])

    def _nearest(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        distance = np.abs(k @ self.beams.T)  # (..., T)
        nearest = np.argmin(distance, axis=-1)
        return np.take_along_axis(distance, nearest[..., None], -1)[..., 0], nearest

    def weights(self, frequencies: np.ndarray, size: int, *, margin: float = 0.0) -> np.ndarray:
        """Whether each frequency (..., 3) was measured, bool (...)."""
        k = np.asarray(frequencies, dtype=float) * size
        distance, nearest = self._nearest(k)
        inside = distance <= PLANE_HALF_THICKNESS
        if margin <= 0:
            return inside
        normal = self.beams[nearest] * margin
        for moved in (k + normal, k - normal):
            inside &= self._nearest(moved)[0] <= PLANE_HALF_THICKNESS
        return inside

    def tilt_range(self) -> TiltRange:
        return self.approximate


@dataclass(frozen=True, eq=False)
class SampledWeights:
    """A transfer sampled on a box's full DFT grid, rotated by trilinear interpolation
    (periodic on the grid; transfers from insertion are 0 beyond ``|k| = N/2 - 1``).

    Parameters
    ----------
    grid : ndarray of shape (N, N, N)
        ``h`` at the integer frequencies ``[k_z, k_y, k_x]`` in ``numpy.fft`` order,
        nonnegative and Hermitian (``h(-k) = h(k)``).
    approximate : TiltRange
        The single-axis wedge that stands for it (:meth:`tilt_range`).
    noise_grid : ndarray of shape (N, N, N), optional
        The box's relative noise variance on the same grid (module docstring); None: the
        model has no :meth:`noise` (noise-free).
    """

    grid: np.ndarray
    approximate: TiltRange
    noise_grid: np.ndarray | None = None
    kind: str = field(default="weights", init=False)
    binary: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        shape = np.shape(self.grid)
        for name in ("grid", "noise_grid"):
            grid = getattr(self, name)
            if grid is None:
                continue
            grid = np.asarray(grid, dtype=float)
            if grid.ndim != 3 or len(set(grid.shape)) != 1 or grid.shape != shape:
                raise ConfigError(f"weights: expected a cubic {name} (N, N, N), found shape {grid.shape}")
            if not np.all(np.isfinite(grid)) or grid.min() < 0:
                raise ConfigError(f"weights: expected finite, nonnegative {name} values")
            object.__setattr__(self, name, np.ascontiguousarray(grid).ravel())
        if self.noise_grid is None:  # no noise model: the method is absent (noise-free)
            object.__setattr__(self, "noise", None)

    @property
    def size(self) -> int:
        return round(len(self.grid) ** (1 / 3))

    def weights(self, frequencies: np.ndarray, size: int, *, margin: float = 0.0) -> np.ndarray:
        """The transfer at each frequency (..., 3), float (...); 0 beyond the grid."""
        return self._sample(self.grid, frequencies, size)

    def noise(self, frequencies: np.ndarray, size: int) -> np.ndarray:
        """The relative noise variance at each frequency (..., 3) (module docstring)."""
        return self._sample(self.noise_grid, frequencies, size)

    def _sample(self, grid: np.ndarray, frequencies: np.ndarray, size: int) -> np.ndarray:
        from subalign.numerics.insertion_kernels import gather

        k = np.ascontiguousarray((np.asarray(frequencies, dtype=float) * size).reshape(-1, 3))
        values = np.empty(len(k))
        gather(grid, k, self.size, values)  # periodic: beyond +-N/2 the grid is 0 already
        return values.reshape(np.shape(frequencies)[:-1])

    def tilt_range(self) -> TiltRange:
        return self.approximate


@dataclass(frozen=True, eq=False)
class Acquisition:
    """What is known of how one particle was measured, in its box's frame: what a
    measurement plugin builds a model from.

    Attributes
    ----------
    size : int
        Box edge ``N``.
    tilt_range : TiltRange
        The particle's single-axis wedge about the box's ``y`` (from its table, or fitted to
        its tilts).
    beams : ndarray of shape (T, 3) or None
        Beam direction ``(x, y, z)`` of each tilt that saw the particle, in the box's frame
        (2-D stack sets); None if unknown.
    transfer : ndarray of shape (N, N, N) or None
        The box's transfer on the full DFT grid, ``numpy.fft`` order (module docstring):
        ``CTF^2 x dose^2`` of the inserted planes, or a weight volume read from a file; None if
        unknown.
    noise : ndarray of shape (N, N, N) or None
        The box's relative noise variance on the same grid (median 1 where positive), if
        known.
    """

    size: int
    tilt_range: TiltRange
    beams: np.ndarray | None = None
    transfer: np.ndarray | None = None
    noise: np.ndarray | None = None


def full_spectrum(half: np.ndarray) -> np.ndarray:
    """A real, Hermitian half spectrum (N, N, N // 2 + 1) (:mod:`subalign.numerics.fourier`)
    on the full DFT grid (N, N, N), ``numpy.fft`` order, its other half by ``h(-k) = h(k)``."""
    size = half.shape[0]
    full = np.empty((size,) * 3)
    full[:, :, : size // 2 + 1] = half
    negated = (-np.arange(size)) % size  # index of -k on the fft-ordered axes
    columns = size - np.arange(size // 2 + 1, size)  # -k_x of the negative k_x columns
    full[:, :, size // 2 + 1:] = half[np.ix_(negated, negated, columns)]
    return full


def relative(variance: np.ndarray) -> np.ndarray:
    """A noise variance scaled to median 1 over its positive entries (zeros stay 0)."""
    positive = variance[variance > 0]
    return variance / float(np.median(positive)) if positive.size else variance


def is_binary(*models) -> bool:
    """True when every model's weights are 0 or 1 (the wedge-constrained comparison)."""
    return all(getattr(model, "binary", True) for model in models)


def rotated_weights(model, frequencies: np.ndarray, rotation: np.ndarray | None, size: int,
                    margin: float = 0.0) -> np.ndarray:
    """``h(R^T xi)``: the model of a volume turned by ``rotation``, at ``frequencies`` (n, 3)
    (rows ``xi^T R``); None: unrotated."""
    points = frequencies if rotation is None else frequencies @ np.asarray(rotation, dtype=float)
    return model.weights(points, size, margin=margin)


def model_weights(model, shape: tuple[int, int, int], rotation: np.ndarray | None = None, *,
                  margin: float = 0.0) -> np.ndarray:
    """The model's weights on the half spectrum, shape (N, N, N // 2 + 1), optionally of the
    volume turned by ``rotation``; bool for a binary model. A tilt range gives
    :func:`~subalign.numerics.wedge.wedge_mask` exactly."""
    if isinstance(model, TiltRange):
        from subalign.numerics.wedge import wedge_mask

        return wedge_mask(shape, model, rotation, margin=margin)
    grid = fourier_grid(tuple(shape))
    frequencies = np.stack(grid.frequency_xyz(), axis=-1)
    frequencies = np.broadcast_to(frequencies, grid.spectrum_shape + (3,))
    return rotated_weights(model, frequencies.reshape(-1, 3), rotation, shape[0],
                           margin).reshape(grid.spectrum_shape)


def rotated_noise(model, frequencies: np.ndarray, rotation: np.ndarray | None, size: int,
                  weighting: str) -> np.ndarray | None:
    """The relative noise variance ``s^2(R^T xi)`` a comparison with ``weighting`` uses: of a
    model that gives one, for ``matched`` (the only weighting that reads it), else None."""
    noise = getattr(model, "noise", None)
    if noise is None or weighting != "matched":
        return None
    points = frequencies if rotation is None else frequencies @ np.asarray(rotation, dtype=float)
    return noise(points, size)


def comparison_factors(fixed_weights: np.ndarray, moving_weights: np.ndarray,
                       weighting: str = "both", fixed_noise: np.ndarray | None = None,
                       moving_noise: np.ndarray | None = None,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The support and the two sides' factors of a weighted comparison (module docstring).

    Parameters
    ----------
    fixed_weights, moving_weights : ndarray of shape (..., n)
        ``h_f`` and ``h_g^R`` at the compared coefficients (broadcastable).
    weighting : {"both", "matched", "one", "support", "wiener"}
    fixed_noise, moving_noise : ndarray of shape (..., n), optional
        Relative noise variances ``s_f^2``, ``s_g^2`` (None: noise-free); used by ``matched``.

    Returns
    -------
    support : ndarray of bool
    fixed_factor, moving_factor : ndarray of float
        Multiply the fixed and the moving spectrum; 0 off the support.
    """
    fixed_weights = np.asarray(fixed_weights, dtype=float)
    moving_weights = np.asarray(moving_weights, dtype=float)
    support = (fixed_weights > 0) & (moving_weights > 0)
    if weighting in ("both", "matched"):
        fixed_factor, moving_factor = moving_weights, fixed_weights
        if weighting == "matched" and (fixed_noise is not None or moving_noise is not None):
            variance = (moving_weights**2 * (0.0 if fixed_noise is None else fixed_noise)
                        + fixed_weights**2 * (0.0 if moving_noise is None else moving_noise))
            floor = NOISE_FLOOR * max(float(np.max(variance, initial=0.0)), 1e-30)
            deviation = np.sqrt(np.maximum(variance, floor))
            fixed_factor, moving_factor = fixed_factor / deviation, moving_factor / deviation
    elif weighting == "one":
        fixed_factor, moving_factor = moving_weights, np.ones_like(fixed_weights)
    elif weighting == "support":
        fixed_factor = moving_factor = np.ones(np.broadcast(fixed_weights, moving_weights).shape)
    elif weighting == "wiener":
        tau = WIENER_TAU * max(float(fixed_weights.max(initial=0)), float(moving_weights.max(initial=0)), 1e-12)
        fixed_factor, moving_factor = 1.0 / (fixed_weights + tau), 1.0 / (moving_weights + tau)
    else:
        raise ConfigError(f"measurement_weighting: expected one of {', '.join(WEIGHTINGS)}, "
                          f"found {weighting!r}")
    return support, fixed_factor * support, moving_factor * support


def model_overlaps(fixed_weights: np.ndarray, moving_weights: np.ndarray,
                   band_weights: np.ndarray) -> np.ndarray:
    """The overlap of weighted models: ``sum_band w h_f h_g^R / sum_band w`` (``w`` the
    Hermitian weights), over the last axis; for binary models the fraction of the band the
    common mask keeps (:mod:`subalign.numerics.overlap`)."""
    product = np.asarray(fixed_weights, dtype=float) * np.asarray(moving_weights, dtype=float)
    return (product * band_weights).sum(axis=-1) / float(band_weights.sum())
