"""Shared machinery of missing-wedge-constrained pair scores (RCS, FCS and third-party ones).

A constrained score compares ``f`` (fixed) with ``tau_a Lambda_R g`` (moving, transformed)
only over the Fourier coefficients measured in both: the *common mask*
``M_f . Lambda_R M_g``. It is restricted to frequencies up to ``max_frequency`` (cycles per
voxel; 0.5 keeps the sphere inscribed in the box, which rotates onto itself) and always
excludes the DC term: both inputs are made zero-mean and unit-variance when prepared, so
neither an offset nor a global scale of either volume changes any score. Both are
low-passed to the band (cosine roll-off over ``ROLL_OFF`` cycles/voxel above
``max_frequency``): rotation keeps ``|xi|``, so content above the band could only enter it
as interpolation error, and removing it keeps interpolated rotations and their spectral
derivatives consistent on noisy data. Both are then multiplied by a soft spherical mask (1 inside, a cosine edge of ``mask_edge_voxels`` ending
at the box faces) so that rotating about the centre never moves content across a face;
without it, wedge ringing that reaches the faces makes rotations (and their derivatives)
depend on how the box boundary is filled.

**Small overlaps are uninformative.** A constrained score compares only what both volumes
measured, so a transform whose common mask keeps almost nothing would otherwise score as
well as a perfect match (with an empty mask both sides are zero and RCS and FCS are exactly
0). The *overlap* of a rotation is the fraction of the band's coefficients (Hermitian
weights) the common mask keeps; the *expected overlap* is its mean over a fixed set of 48
rotations for the pair's two wedges (:func:`expected_overlap`). Below ``min_overlap`` times
the expected overlap the score is pulled linearly towards the value an unrelated pair would
have (:meth:`ConstrainedObjective.uninformative_value`: 2 for correlation scores such as
RCS): with ``w = min(1, overlap / (min_overlap * expected))`` the score is
``w d + (1 - w) d0``, as a sum of squares: residuals scaled by ``sqrt(w)`` and one more
residual ``sqrt((1 - w) d0)`` (0 when the overlap suffices, so ordinary scores are
unchanged). Every constrained score built on this base gets the rule; the rotation scan of
the search stage applies the same weight to its correlations.

**Measurement models.** ``fixed_tilt`` and ``moving_tilt`` may be any measurement model
(:mod:`subalign.numerics.measurement`; a :class:`~subalign.numerics.wedge.TiltRange` is one).
With binary models the common mask is ``M_f . Lambda_R M_g`` as above, computed exactly as
before. With a weighted one the mask is the support of both transfers, the moving spectrum
reaches a subclass already multiplied by its factor and :meth:`fixed_values` gives the fixed
side's; both factors, like the mask, are held at the current rotation in a Jacobian, and the
overlap is the models' weighted one. Only scores that declare
``accepts_measurement_models = True`` receive weighted models
(:mod:`subalign.scoring.measured`).

:class:`ConstrainedObjective` implements everything of the :class:`~subalign.plugin.protocols.Objective`
protocol except how residuals are formed from the transformed moving spectrum; a score
subclasses it and implements :meth:`ConstrainedObjective.residual_parts` and
:meth:`ConstrainedObjective.residual_derivative`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from subalign.deprecation import moved_names
from subalign.errors import ConfigError
from subalign.numerics.filters import band_limited
from subalign.numerics.fourier import forward, fourier_grid, inverse
from subalign.numerics.geometry import RigidTransform, rotation_vector_to_matrix
from subalign.numerics.measurement import (
    comparison_factors,
    is_binary,
    model_overlaps,
    model_weights,
    rotated_noise,
    rotated_weights,
)
from subalign.numerics.overlap import expected_model_overlap, overlap_weight
from subalign.numerics.spectral import SpectrumSampler, on_grid
from subalign.numerics.volumes import box_centre, prefilter, rotate_volume
from subalign.numerics.wedge import TiltRange
from subalign.scoring.finite_difference import finite_difference_jacobian
from subalign.scoring.rotation_cache import RotationCache
from subalign.scoring.settings import ConstrainedScoreConfig

__all__ = [
    "ConstrainedObjective",
    "ConstrainedScore",
    "ConstrainedScoreConfig",
    "finite_difference_jacobian",
]

#: Volume filters moved to numerics in 0.2 (served with a DeprecationWarning until 0.3).
__getattr__ = moved_names(__name__, {"ROLL_OFF": "subalign.numerics.filters",
                                     "soft_sphere": "subalign.numerics.filters",
                                     "standardize": "subalign.numerics.filters"})

class ConstrainedObjective:
    """Base of wedge-constrained pair objectives; see the module docstring.

    Everything is computed on the band's coefficients only (``0 < |xi| <= max_frequency``
    of the half spectrum, in the order of ``self.band``'s True entries): masks, rotated
    spectra, phase ramps and derivatives are vectors of shape (n,). A subclass receives
    them in one of two layouts, chosen by :attr:`band_only`:

    - ``band_only = False`` (the default, the simplest to write): ``residual_parts`` and
      ``residual_derivative`` get full half spectra, shape (N, N, N // 2 + 1), zero
      outside the band, and masks of that shape (:meth:`common_mask`, which a subclass may
      override); use ``self.fixed_spectrum`` and ``self.grid.hermitian_weights``.
    - ``band_only = True`` (the built-in RCS and FCS): they get the band vectors, masks
      from :meth:`band_mask`; use ``self.fixed_band`` and ``self.band_weights``. Nothing of
      the size of the box is formed per evaluation (the band is ~12% of the half spectrum
      at the default 0.3 cycles/voxel).

    Parameters
    ----------
    fixed, moving : ndarray of shape (N, N, N)
        ``[z, y, x]`` volumes, validated by the caller.
    fixed_tilt, moving_tilt : TiltRange or measurement model
    config : ConstrainedScoreConfig
    """

    is_complex: bool = False
    band_only: ClassVar[bool] = False

    def __init__(
        self,
        fixed: np.ndarray,
        moving: np.ndarray,
        fixed_tilt: TiltRange,
        moving_tilt: TiltRange,
        config: ConstrainedScoreConfig,
    ) -> None:
        self.config = config
        self.shape = fixed.shape
        self.grid = fourier_grid(self.shape)
        self.order = config.interpolation_order
        radius = self.grid.radius
        fx, fy, fz = self.grid.frequency_xyz()
        fixed = band_limited(fixed, config.max_frequency, config.mask_edge_voxels)
        # With rotation=fourier the fixed volume goes through the moving one's sampling
        # kernel unrotated (on_grid, the same single FFT): a volume against itself then
        # matches at the identity, and the kernel's small error is common to both.
        self.fixed_spectrum = forward(on_grid(fixed) if config.rotation == "fourier" else fixed)
        moving = band_limited(moving, config.max_frequency, config.mask_edge_voxels)
        self.fixed_tilt, self.moving_tilt = fixed_tilt, moving_tilt
        self.weighted = not is_binary(fixed_tilt, moving_tilt)
        self.band = (radius <= config.max_frequency) & (radius > 0)
        self.margin = config.wedge_margin_voxels
        self.fixed_mask = (model_weights(fixed_tilt, self.shape, margin=self.margin) > 0) & self.band
        # The band's frequencies (n, 3), (x, y, z), and what each evaluation needs there.
        self.band_frequencies = np.stack([fx[self.band], fy[self.band], fz[self.band]],
                                         axis=-1)
        self._band_index = np.nonzero(self.band)  # (z, y, x) indices, each (n,)
        self.fixed_band = self.fixed_spectrum[self.band]
        self.band_weights = self.grid.hermitian_weights[self.band]
        self._fixed_band_mask = self.fixed_mask[self.band]
        self._band_weight = float(self.band_weights.sum())
        band_size = len(self.band_weights)
        self._masks = RotationCache(band_size)
        self._spectra = RotationCache(band_size * 16)
        self._full_masks = RotationCache(self.band.size)
        self._factors = RotationCache(band_size * 3)
        self._fixed_factor = None  # the fixed side's factor at the rotation being evaluated
        self._fixed_band_weights = rotated_weights(fixed_tilt, self.band_frequencies, None,
                                                   self.shape[0], self.margin)
        self._fixed_band_noise = rotated_noise(fixed_tilt, self.band_frequencies, None,
                                               self.shape[0], config.measurement_weighting)
        self.expected_overlap = expected_model_overlap(self.shape, fixed_tilt, moving_tilt,
                                                       config.max_frequency, self.margin)
        if not self.expected_overlap > 0:
            raise ConfigError(
                f"wedges {fixed_tilt} and {moving_tilt}: expected Fourier coefficients that "
                f"both volumes measure below {config.max_frequency} cycles/voxel, found none")
        # -2 pi i xi_k for the translation derivatives, (x, y, z); Nyquist terms have none.
        nyquist = np.isclose(np.abs(self.band_frequencies), 0.5)
        self._shift_factors = np.where(nyquist, 0.0, -2j * np.pi * self.band_frequencies).T
        if config.rotation == "fourier":
            self._prepare_fourier_rotation(moving)
        else:
            self._prepare_spline_rotation(moving)

    def _prepare_fourier_rotation(self, moving: np.ndarray) -> None:
        """``rotation=fourier``: the sampler of the moving spectrum, and the phase that moves
        the origin of the sampled spectrum (the box centre) to rfftn's (index 0),
        orthonormal scale."""
        self._band_phase = (np.exp(-2j * np.pi * self.band_frequencies
                                   @ box_centre(self.shape)[::-1])
                            / np.sqrt(np.prod(self.shape)))
        self._sampler = SpectrumSampler(moving, max_frequency=self.config.max_frequency)

    def _prepare_spline_rotation(self, moving: np.ndarray) -> None:
        """``rotation=spline``: spline coefficients of the moving volume, voxel coordinates
        about the centre and the spectral derivative factors."""
        self.moving_coefficients = prefilter(moving, self.order)
        self._full_spectra = RotationCache(self.band.size * 16)
        z, y, x = np.indices(self.shape, dtype=float)
        cz, cy, cx = box_centre(self.shape)
        self._coordinates = (x - cx, y - cy, z - cz)  # (x, y, z), each (N, N, N)
        # 2 pi i xi of the half spectrum, (x, y, z); Nyquist terms have no derivative.
        self._derivative_factors = [
            np.where(np.isclose(np.abs(f), 0.5), 0.0, 2j * np.pi * f)
            for f in self.grid.frequency_xyz()]

    def fixed_values(self, mask: np.ndarray) -> np.ndarray:
        """The fixed band's coefficients over a band mask, times the fixed side's factor of
        a weighted comparison (:mod:`subalign.numerics.measurement`) at the rotation being
        evaluated; with binary models ``self.fixed_band[mask]``."""
        if self._fixed_factor is None:
            return self.fixed_band[mask]
        return (self._fixed_factor * self.fixed_band)[mask]

    def weighting(self, rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """A weighted comparison at ``rotation``: its support (the band mask), the fixed and
        moving sides' factors (n,) and the models' overlap, remembered per rotation."""
        return self._factors.get(rotation, lambda: self._weighting(rotation))

    def _weighting(self, rotation):
        moving = rotated_weights(self.moving_tilt, self.band_frequencies, rotation,
                                 self.shape[0], self.margin)
        support, fixed_factor, moving_factor = comparison_factors(
            self._fixed_band_weights, moving, self.config.measurement_weighting,
            self._fixed_band_noise, rotated_noise(self.moving_tilt, self.band_frequencies,
                                                  rotation, self.shape[0],
                                                  self.config.measurement_weighting))
        overlap = float(model_overlaps(self._fixed_band_weights, moving, self.band_weights))
        return support, fixed_factor, moving_factor, overlap

    # -- what a score implements -------------------------------------------------------
    def residual_parts(self, spectrum: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, Any]:
        """Residuals from the transformed moving spectrum.

        Parameters
        ----------
        spectrum : ndarray of complex
            ``F(tau_a Lambda_R g)`` of the standardized moving volume: shape
            (N, N, N // 2 + 1), or (n,) over the band with :attr:`band_only`.
        mask : ndarray of bool, same shape
            Common mask to compare over.

        Returns
        -------
        residuals : ndarray of shape (m,)
        context : object
            Whatever :meth:`residual_derivative` needs at this point.
        """
        raise NotImplementedError

    def residual_derivative(self, context: Any, spectrum_derivative: np.ndarray) -> np.ndarray:
        """Derivative (m,) of the residuals along a direction in which the spectrum changes
        by ``spectrum_derivative`` (same layout as the spectrum), at the point of
        ``context``."""
        raise NotImplementedError

    # -- masks and rotated spectra -----------------------------------------------------
    def band_mask(self, rotation: np.ndarray) -> np.ndarray:
        """``M_f . Lambda_R M_g`` over the band's coefficients, shape (n,), bool."""
        return self._masks.get(rotation, lambda: self._band_mask(rotation))

    def _band_mask(self, rotation: np.ndarray) -> np.ndarray:
        if self.weighted:
            return self.weighting(rotation)[0]
        # Lambda_R M_g (xi) = M_g(R^T xi); rows: xi^T R.
        return self._fixed_band_mask & rotated_weights(self.moving_tilt, self.band_frequencies,
                                                       rotation, self.shape[0], self.margin)

    def common_mask(self, rotation: np.ndarray) -> np.ndarray:
        """``M_f . Lambda_R M_g`` within the frequency band, shape (N, N, N // 2 + 1)."""
        return self._full_masks.get(rotation, lambda: self.to_box(self.band_mask(rotation)))

    def to_box(self, band_values: np.ndarray) -> np.ndarray:
        """Band values (n,) placed in a half spectrum (N, N, N // 2 + 1), zero elsewhere."""
        full = np.zeros(self.grid.spectrum_shape, dtype=band_values.dtype)
        full[self.band] = band_values
        return full

    def rotated_spectrum(self, rotation: np.ndarray) -> np.ndarray:
        """``F(Lambda_R g)`` of the standardized moving volume, shape (N, N, N // 2 + 1)
        (with ``rotation=fourier`` only within the band, 0 elsewhere: no score looks beyond
        it)."""
        if self.config.rotation == "fourier":
            return self.to_box(self.rotated_band(rotation))
        # remembered: a value and the Jacobian at the same rotation need it both
        return self._full_spectra.get(rotation, lambda: forward(rotate_volume(
            self.moving_coefficients, rotation, order=self.order, prefiltered=True)))

    def rotated_band(self, rotation: np.ndarray) -> np.ndarray:
        """``F(Lambda_R g)`` over the band, (n,), remembered per rotation."""
        return self._spectra.get(rotation, lambda: self._rotate_band(rotation))

    def _rotate_band(self, rotation: np.ndarray) -> np.ndarray:
        if self.config.rotation == "spline":
            return self.rotated_spectrum(rotation)[self.band]
        # F(Lambda_R g)(xi) = G(R^T xi) (rows: xi^T R), moved to rfftn's origin.
        return self._sampler.sample(self.band_frequencies @ rotation) * self._band_phase

    def _phase_ramp(self, translation: np.ndarray) -> np.ndarray:
        """``exp(-2 pi i a . xi)`` over the band, (n,): shifts the volume by ``a`` (x, y, z).
        Separable: one short exponential per axis, gathered at the band's indices."""
        ax, ay, az = np.asarray(translation, dtype=float)
        grid = self.grid
        return (np.exp(-2j * np.pi * az * grid.fz.ravel())[self._band_index[0]]
                * np.exp(-2j * np.pi * ay * grid.fy.ravel())[self._band_index[1]]
                * np.exp(-2j * np.pi * ax * grid.fx.ravel())[self._band_index[2]])

    # -- the Objective protocol ----------------------------------------------------------
    def uninformative_value(self) -> float:
        """The score of a comparison that says nothing (an unrelated pair): 2 for scores of
        the form ``2 - 2c``. Small overlaps are pulled towards it; override it for other
        scales."""
        return 2.0

    def overlap(self, mask: np.ndarray) -> float:
        """Fraction of the band's coefficients (Hermitian weights) that ``mask`` keeps
        (a band mask (n,) or a half-spectrum mask)."""
        weights = self.band_weights if mask.shape == self.band_weights.shape \
            else self.grid.hermitian_weights
        return float((weights * mask).sum()) / self._band_weight

    def _overlap_rule(self, mask: np.ndarray,
                      rotation: np.ndarray | None = None) -> tuple[float, float]:
        """``(sqrt(w), extra residual)`` of the overlap rule (module docstring); weighted
        models count the overlap of their weights at ``rotation``."""
        overlap = (self.weighting(rotation)[3] if self.weighted and rotation is not None
                   else self.overlap(mask))
        weight = float(overlap_weight(overlap, self.expected_overlap, self.config.min_overlap))
        return np.sqrt(weight), np.sqrt((1.0 - weight) * self.uninformative_value())

    def _mask(self, rotation: np.ndarray) -> np.ndarray:
        """The common mask in the layout the subclass works in (class docstring); for
        weighted models also sets the fixed side's factor (:meth:`fixed_values`)."""
        if self.weighted:
            self._fixed_factor = self.weighting(rotation)[1]
        return self.band_mask(rotation) if self.band_only else self.common_mask(rotation)

    def _moving_factor(self, rotation: np.ndarray):
        """The moving side's factor (n,) of a weighted comparison at ``rotation``; 1 for
        binary models."""
        return self.weighting(rotation)[2] if self.weighted else 1.0

    def _laid_out(self, band_values: np.ndarray) -> np.ndarray:
        """Band values in the layout the subclass works in (class docstring)."""
        return band_values if self.band_only else self.to_box(band_values)

    def residuals(
        self, transform: RigidTransform, *, mask_rotation: np.ndarray | None = None
    ) -> np.ndarray:
        rotation = transform.rotation
        held = rotation if mask_rotation is None else mask_rotation
        mask = self._mask(held)
        spectrum = (self.rotated_band(rotation) * self._phase_ramp(transform.translation)
                    * self._moving_factor(held))
        scale, extra = self._overlap_rule(mask, held)
        return np.append(scale * self.residual_parts(self._laid_out(spectrum), mask)[0], extra)

    def value(self, transform: RigidTransform) -> float:
        r = self.residuals(transform)
        return float(np.vdot(r, r).real)

    def jacobian(self, transform: RigidTransform) -> tuple[np.ndarray, np.ndarray]:
        rotation = transform.rotation
        mask = self._mask(rotation)
        # The moving side's factor is held at this rotation, as the mask is (eq. 15).
        phase = self._phase_ramp(transform.translation) * self._moving_factor(rotation)
        if self.config.jacobian == "analytic":
            rotated, rotation_derivatives = self._rotation_derivatives(rotation)
        else:
            rotated = self.rotated_band(rotation)
        spectrum = rotated * phase
        r, context = self.residual_parts(self._laid_out(spectrum), mask)
        columns = [None] * 6
        for k in range(3):
            # d/da_k of exp(-2 pi i a.xi) G = -2 pi i xi_k exp(...) G.
            columns[3 + k] = self.residual_derivative(
                context, self._laid_out(self._shift_factors[k] * spectrum))
        if self.config.jacobian == "analytic":
            for k, d_rotated in enumerate(rotation_derivatives):
                columns[k] = self.residual_derivative(context, self._laid_out(d_rotated * phase))
        else:
            step = np.radians(self.config.fd_step_deg)
            for k in range(3):
                increment = np.zeros(3)
                increment[k] = step
                plus, minus = (
                    self.residual_parts(self._laid_out(self.rotated_band(
                        rotation_vector_to_matrix(s * increment) @ rotation) * phase), mask)[0]
                    for s in (1.0, -1.0)
                )
                columns[k] = (plus - minus) / (2 * step)
        # The mask, and with it the overlap weight, is held at this rotation (eq. 15).
        scale, extra = self._overlap_rule(mask, rotation)
        jacobian = np.vstack([scale * np.stack(columns, axis=1), np.zeros((1, 6))])
        return np.append(scale * r, extra), jacobian

    def _rotation_derivatives(self, rotation: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The rotated band (n,) and the band of ``d(Lambda_R' g)/dw_k`` at ``R' = R`` for
        left increments ``R' = exp([w]x) R``, k = x, y, z (three (n,)).

        ``rotation=fourier``: from ``G(R^T exp(-[w]x) xi)``, the derivative is
        ``grad G(R^T xi) . R^T (xi x e_k)``, with ``grad G`` the sampler's (the exact
        derivative of the sampled spectrum). ``spline``: in real space,
        ``(grad h x y)_k`` for ``h = Lambda_R g``.
        """
        if self.config.rotation == "spline":
            rotated = self.rotated_spectrum(rotation)
            gx, gy, gz = (inverse(factor * rotated, self.shape)
                          for factor in self._derivative_factors)
            x, y, z = self._coordinates
            return rotated[self.band], [forward(h)[self.band] for h in
                                        (gy * z - gz * y, gz * x - gx * z, gx * y - gy * x)]
        xi = self.band_frequencies
        values, gradient = self._sampler.sample_with_gradient(xi @ rotation)  # (n,), (n, 3)
        rotated = self._spectra.get(rotation, lambda: values * self._band_phase)
        gradient = gradient @ rotation.T  # R grad G, dotted with xi x e_k below
        derivatives = [xi[:, 2] * gradient[:, 1] - xi[:, 1] * gradient[:, 2],
                       xi[:, 0] * gradient[:, 2] - xi[:, 2] * gradient[:, 0],
                       xi[:, 1] * gradient[:, 0] - xi[:, 0] * gradient[:, 1]]
        return rotated, [d * self._band_phase for d in derivatives]

    def best_translation(self, rotation: np.ndarray, max_shift: float | None) -> np.ndarray:
        """Integer ``(x, y, z)`` shift maximizing the constrained cross-correlation.

        ``c(a) = sum_x f1(x) g1(x - a)`` with both volumes filtered by the common mask at
        ``rotation``; shifts longer than ``max_shift`` voxels (Euclidean) are excluded.
        """
        mask = self.common_mask(rotation)
        if self.weighted:  # (a F f) conj(b F g): the factors' product in place of the mask
            _, fixed_factor, moving_factor, _ = self.weighting(rotation)
            mask = self.to_box(fixed_factor * moving_factor)
        product = self.fixed_spectrum * np.conj(self.to_box(self.rotated_band(rotation))) * mask
        correlation = inverse(product, self.shape)
        shifts = [np.fft.fftfreq(n, d=1.0 / n) for n in self.shape]  # signed integer shifts
        sz, sy, sx = np.meshgrid(*shifts, indexing="ij")
        if max_shift is not None:
            correlation = np.where(sx**2 + sy**2 + sz**2 <= max_shift**2, correlation, -np.inf)
        index = np.unravel_index(np.argmax(correlation), self.shape)
        return np.array([sx[index], sy[index], sz[index]], dtype=float)


class ConstrainedScore:
    """Base of constrained scores (the :class:`~subalign.plugin.protocols.Score` protocol).

    A subclass names itself and its objective; it is then built from its config, prepares
    that objective for each pair and can be searched on binned volumes
    (:class:`~subalign.plugin.protocols.BinnableScore`).

    Attributes
    ----------
    name : str
        The registered name, used in error messages.
    objective_class : type
        A :class:`ConstrainedObjective` subclass.
    config : ConstrainedScoreConfig
    """

    name: ClassVar[str] = "constrained"
    objective_class: ClassVar[type] = ConstrainedObjective

    def __init__(self, config: ConstrainedScoreConfig) -> None:
        config.validate(self.name)
        self.config = config

    def prepare(self, fixed: np.ndarray, moving: np.ndarray, fixed_tilt: TiltRange,
                moving_tilt: TiltRange) -> ConstrainedObjective:
        """The objective of one pair; volumes (N, N, N) ``[z, y, x]``."""
        return self.objective_class(fixed, moving, fixed_tilt, moving_tilt, self.config)

    def binned(self, factor: int) -> "ConstrainedScore":
        """The same score for volumes binned by ``factor`` (see
        :meth:`ConstrainedScoreConfig.binned`)."""
        return type(self)(self.config.binned(factor))
