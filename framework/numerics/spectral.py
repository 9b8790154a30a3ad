"""Rotation in Fourier space: a volume's spectrum sampled at arbitrary frequencies.

A constrained score compares spectra only within a band (``|xi| <= max_frequency``), and
rotating a volume rotates its spectrum: ``F(Lambda_R v)(xi) = V(R^T xi)`` with

    ``V(q) = sum_x v(x) exp(-2 pi i q . (x - c))``,

``x`` the voxel positions, ``c`` the box centre (index ``N // 2`` on each axis, the centre
of every rotation in subalign) and ``q`` in cycles/voxel, ``(x, y, z)``. So a rotated
spectrum needs ``V`` only at the band's rotated frequencies, a small part of the box.

:class:`SpectrumSampler` evaluates ``V`` there as a type-2 non-uniform FFT (Dutt & Rokhlin
1993; Beatty, Nishimura & Pauly 2005 for the kernel): ``v`` is divided by the kernel's
Fourier transform (deapodized), zero-padded to twice the box and transformed once; each
sample is then the sum of the ``W^3`` nearest grid values weighted by a Kaiser-Bessel
kernel, lowered to vanish at the edge of its support so that samples change continuously
with the frequency. With ``W = 4`` the relative error on band-limited volumes is below
``1e-3`` (about a third of a cubic-spline rotation's in real space); ``W = 6`` gives about
``1e-5`` (``tests/test_spectral.py`` measures both against the direct sum). The gradient
``dV/dq`` comes from the same grid values with the kernel's derivative: it is the exact
derivative of what is sampled, so LM Jacobians and finite differences of the samples agree.

Two kernels evaluate the sums: the compiled one (:mod:`subalign.numerics.spectral_kernels`,
numba, a core dependency since 0.2; loaded on first use, cached on disk) and, where numba
cannot be imported, numpy; they agree to 1e-6 (tested).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.polynomial.legendre import leggauss

__all__ = ["KERNEL_WIDTH", "SpectrumSampler", "compiled_kernel", "on_grid"]

#: Grid values per axis summed for one sample (the kernel's width ``W``).
KERNEL_WIDTH = 4
#: Oversampling of the spectrum grid (``sigma``): the padded box is twice the volume's.
OVERSAMPLING = 2
#: Kernel values tabulated per grid unit of distance; samples interpolate the table
#: linearly (its error, ~1e-6 of the peak, is far below the kernel's).
TABLE_STEPS = 2048


def _shape(width: int) -> float:
    """Kaiser-Bessel ``beta`` for ``W`` and ``sigma`` (Beatty et al. 2005, eq. 5)."""
    return np.pi * np.sqrt((width / OVERSAMPLING) ** 2 * (OVERSAMPLING - 0.5) ** 2 - 0.8)


def _kernel(distance: np.ndarray, width: int) -> np.ndarray:
    """``(I0(beta sqrt(1 - z^2)) - 1) / (I0(beta) - 1)`` with ``z = 2 distance / width``,
    0 for ``|z| >= 1``."""
    import scipy.special  # scipy loads on first use: importing subalign stays light

    beta = _shape(width)
    z = 2.0 * np.asarray(distance, dtype=float) / width
    root = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    return np.where(np.abs(z) < 1.0,
                    (scipy.special.i0(beta * root) - 1.0) / (scipy.special.i0(beta) - 1.0), 0.0)


def _kernel_slope(distance: np.ndarray, width: int) -> np.ndarray:
    """``d kernel / d distance`` (finite everywhere, ``-> -beta^2 / (W (I0(beta) - 1))`` at
    the edge; 0 outside)."""
    import scipy.special

    beta = _shape(width)
    z = 2.0 * np.asarray(distance, dtype=float) / width
    root = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    # I1(beta s) / s -> beta / 2 as s -> 0
    ratio = np.where(root > 1e-8, scipy.special.i1(beta * root) / np.maximum(root, 1e-8),
                     beta / 2.0)
    slope = -beta * z * ratio * (2.0 / width) / (scipy.special.i0(beta) - 1.0)
    return np.where(np.abs(z) < 1.0, slope, 0.0)


def _kernel_transform(positions: np.ndarray, grid: int, width: int) -> np.ndarray:
    """``integral phi(t) cos(2 pi t y / grid) dt`` over the kernel's support, for voxel
    offsets ``y`` from the centre (Gauss-Legendre quadrature)."""
    nodes, weights = leggauss(4 * width + 20)
    t = nodes * width / 2.0
    return (weights * width / 2.0 * _kernel(t, width)) @ np.cos(
        2.0 * np.pi * np.outer(t, positions) / grid)


@lru_cache(maxsize=8)
def _tables(width: int) -> np.ndarray:
    """Kernel and slope at distances ``0, 1 / TABLE_STEPS, ...`` up to ``width / 2`` and two
    steps beyond (zeros), shape (2, L), read-only."""
    distances = np.arange(int(width / 2 * TABLE_STEPS) + 3) / TABLE_STEPS
    tables = np.stack([_kernel(distances, width), _kernel_slope(distances, width)])
    tables.setflags(write=False)
    return tables


@lru_cache(maxsize=16)
def _apodization(size: int, width: int) -> np.ndarray:
    """The kernel's transform at the voxel offsets of a box of ``size``, shape (size,)."""
    offsets = np.arange(size) - size // 2
    factor = _kernel_transform(offsets, OVERSAMPLING * size, width)
    factor.setflags(write=False)
    return factor


class SpectrumSampler:
    """``V(q)`` of one volume, and its gradient, at any frequencies ``q``.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
        ``[z, y, x]``, real or complex.
    width : int
        Kernel width ``W`` (grid values per axis per sample); accuracy in the module
        docstring.
    max_frequency : float
        Largest ``|q|`` per axis that will be sampled, cycles/voxel (after reduction to
        ``[-0.5, 0.5)``). Only the part of the spectrum grid these samples reach is kept:
        at the scores' band (0.3) of a 32^3 box, 47^3 of the 70^3 values (0.8 MB, within a
        core's 1 MB cache on the machines we measure on). Sampling beyond raises
        ValueError.
    """

    def __init__(self, volume: np.ndarray, width: int = KERNEL_WIDTH,
                 max_frequency: float = 0.5) -> None:
        volume = np.asarray(volume)
        size = volume.shape[-1]
        self.width = int(width)
        self.grid = OVERSAMPLING * size
        offsets = np.arange(size) - size // 2
        apodization = _apodization(size, self.width)
        apodization = (apodization[:, None, None] * apodization[None, :, None]
                       * apodization[None, None, :])
        # The volume's centre goes to index 0 of the zero-padded box. The stored grid is the
        # periodic spectrum grid from frequency -reach to +reach (grid units): frequency 0
        # lands at index ``centre`` and no sample's taps wrap around.
        reach = min(int(np.ceil(min(max_frequency, 0.5) * self.grid)), self.grid // 2)
        self.centre = reach + self.width // 2 + 1
        self.side = 2 * self.centre + 1
        # Single precision (transform and storage): its rounding, ~1e-7, is far below the
        # kernel's error.
        padded = np.zeros((self.grid,) * 3, dtype=np.complex64)
        padded[np.ix_(*[offsets % self.grid] * 3)] = volume / apodization
        import scipy.fft

        spectrum = scipy.fft.fftn(padded, overwrite_x=True)
        stored = (np.arange(self.side) - self.centre) % self.grid
        self.values = spectrum[np.ix_(stored, stored, stored)].ravel()
        self.tables = _tables(self.width)
        taps = np.arange(self.width)
        self._taps = taps.astype(float)
        self._stencil = (taps[:, None, None] * self.side**2 + taps[None, :, None] * self.side
                         + taps[None, None, :]).ravel()

    def sample(self, frequencies: np.ndarray) -> np.ndarray:
        """``V(q)`` at frequencies (n, 3), ``(x, y, z)`` in cycles/voxel (any value: the
        spectrum is periodic with period 1). Returns complex (n,)."""
        return self._sums(frequencies, gradient=False)[:, 0]

    def sample_with_gradient(self, frequencies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``V(q)``, shape (n,), and ``dV/dq``, shape (n, 3) (``x, y, z``; per cycle/voxel)."""
        sums = self._sums(frequencies, gradient=True)
        return sums[:, 0], sums[:, 1:] * self.grid

    def _sums(self, frequencies: np.ndarray, gradient: bool) -> np.ndarray:
        """(n, 1) or (n, 4): the value and, with ``gradient``, d/d(grid position) x, y, z."""
        frequencies = np.asarray(frequencies, dtype=float)
        compiled = _compiled_sums() if _use_compiled else None
        if compiled is not None:
            sums, beyond = compiled(self.values, self.tables, float(TABLE_STEPS), frequencies,
                                    self.grid, self.centre, self.side, self.width, gradient)
            if beyond:
                self._refuse(frequencies)
            return sums
        # Grid position of each frequency (0 at index ``centre``) and its first tap.
        position = (frequencies - np.floor(frequencies + 0.5)) * self.grid + self.centre
        first = np.ceil(position - self.width / 2.0).astype(np.int64)
        if first.size and (first.min() < 0 or first.max() > self.side - self.width):
            self._refuse(frequencies)
        distance = (position - first)[..., None] - self._taps  # (n, 3, W), signed
        weight, slope = _from_tables(self.tables, distance)
        base = first[:, 2] * self.side**2 + first[:, 1] * self.side + first[:, 0]
        gathered = self.values[base[:, None] + self._stencil]  # (n, W^3)

        def total(wx, wy, wz):
            products = wz[:, :, None, None] * wy[:, None, :, None] * wx[:, None, None, :]
            return (gathered * products.reshape(len(position), -1)).sum(axis=1)

        wx, wy, wz = weight[:, 0], weight[:, 1], weight[:, 2]
        sums = [total(wx, wy, wz)]
        if gradient:
            sx, sy, sz = slope[:, 0], slope[:, 1], slope[:, 2]
            sums += [total(sx, wy, wz), total(wx, sy, wz), total(wx, wy, sz)]
        return np.stack(sums, axis=1)

    def _refuse(self, frequencies: np.ndarray) -> None:
        wrapped = np.abs(frequencies - np.floor(frequencies + 0.5)).max()
        raise ValueError(f"SpectrumSampler: a frequency of {wrapped:.4f} cycles/voxel is beyond "
                         f"the sampler's max_frequency (kept grid reaches "
                         f"{(self.centre - self.width // 2 - 1) / self.grid:.4f})")


def _from_tables(tables: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kernel weights and slopes at signed ``distance`` (any shape), by linear interpolation."""
    index = np.abs(distance) * TABLE_STEPS
    lower = np.minimum(index.astype(np.int64), tables.shape[1] - 2)
    fraction = index - lower
    values = tables[:, lower] + (tables[:, lower + 1] - tables[:, lower]) * fraction
    return values[0], values[1] * np.sign(distance)


def on_grid(volume: np.ndarray, width: int = KERNEL_WIDTH) -> np.ndarray:
    """``volume`` (N, N, N) times a separable real-space factor ``a``, such that its forward
    FFT gives exactly what a :class:`SpectrumSampler` of ``volume`` samples at the box's own
    frequencies ``k / N`` (one FFT instead of a sampler, e.g. for an unrotated volume
    compared with rotated ones: both then carry the same kernel error).

    At those frequencies the kernel's taps sit on grid points at whole distances ``j``, so
    a sample is ``sum_y v(y) exp(-2 pi i k y / N) a(y)`` with
    ``a(y) = sum_j phi(j) exp(2 pi i j y / grid) / phi_hat(y)`` per axis.
    """
    factor = _on_grid_factor(volume.shape[-1], width)
    return volume * factor[:, None, None] * factor[None, :, None] * factor[None, None, :]


@lru_cache(maxsize=16)
def _on_grid_factor(size: int, width: int) -> np.ndarray:
    """``a(y)`` of :func:`on_grid` at the voxel offsets of a box of ``size``, shape (size,)."""
    grid = OVERSAMPLING * size
    offsets = np.arange(size) - size // 2
    taps = np.arange(-(width // 2), width // 2 + 1)
    periodized = (_kernel(taps.astype(float), width)[:, None]
                  * np.cos(2 * np.pi * np.outer(taps, offsets) / grid)).sum(axis=0)
    factor = periodized / _apodization(size, width)
    factor.setflags(write=False)
    return factor


def compiled_kernel() -> bool:
    """True when the compiled (numba) sampling kernel is in use."""
    return _use_compiled and _compiled_sums() is not None


@lru_cache(maxsize=1)
def _compiled_sums():
    """The numba versions of :meth:`SpectrumSampler._sums` (value only, value and
    gradient; :mod:`subalign.numerics.spectral_kernels`), or None without numba.

    Loaded on first use, not at import: importing numba costs ~0.2 s, and each kernel is
    compiled at its first call and cached on disk, so later processes load it instead.
    """
    try:
        from subalign.numerics import spectral_kernels
    except ImportError:
        return None
    return spectral_kernels.sums


#: Tests set this to False to run the numpy kernel while numba is installed.
_use_compiled = True
