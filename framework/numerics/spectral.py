"""Rotation in Fourier space: a volume's spectrum sampled at arbitrary frequencies.

A constrained score compares spectra only within a band (``|xi| <= max_frequency``), and
rotating a volume rotates its spectrum: ``F(Lambda_R v)(xi) = V(R^T xi)`` with

    ``V(q) = sum_x v(x) exp(-2 pi i q . (x - c))``,

``x`` the voxel positions, ``c`` the box centre (index ``N // 2`` on each axis, the centre
of every rotation in subalign) and ``q`` in cycles/voxel, ``(x, y, z)``. So a rotated
spectrum needs ``V`` only at the band's rotated frequencies, a small part of the box.

:class:`SpectrumSampler` evaluates ``V`` there as a type-2 non-uniform FFT (Dutt & Rokhlin
1993; the "exponential of semicircle" kernel of Barnett, Magland & af Klinteberg 2019):
``v`` is divided by the kernel's Fourier transform (deapodized), zero-padded to twice the
box and transformed once; each sample is then the sum of the ``W^3`` nearest grid values
weighted by the kernel. With ``W = 4`` the relative error on band-limited volumes is about
``5e-4`` (rms), a third of a cubic-spline rotation's in real space; ``W = 6`` gives
``6e-6`` (``tests/test_spectral.py`` measures both against the direct sum). Several
volumes can share one sampler as channels, sampled with the same weights (a score's
rotation derivatives use the spectra of ``-2 pi i (x - c)_j v``, the gradient of ``V``).

Two kernels evaluate the sums: a compiled one when the optional ``numba`` is installed
(``pip install subalign[fast]``), else numpy; they agree to 1e-6 (tested).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numpy.polynomial.legendre import leggauss

__all__ = ["KERNEL_WIDTH", "SpectrumSampler", "compiled_kernel"]

#: Grid values per axis summed for one sample (the kernel's width ``W``).
KERNEL_WIDTH = 4
#: Oversampling of the spectrum grid (``sigma``): the padded box is twice the volume's.
OVERSAMPLING = 2
#: ``beta = BETA_PER_WIDTH * W``, the kernel's shape for ``sigma = 2`` (Barnett et al.).
BETA_PER_WIDTH = 2.30


def _kernel(distance: np.ndarray, width: int) -> np.ndarray:
    """``(exp(beta (sqrt(1 - z^2) - 1)) - e^-beta) / (1 - e^-beta)`` with
    ``z = 2 distance / width``, 0 for ``|z| >= 1``: the exponential of semicircle lowered
    to vanish at the edge of its support, so that samples change continuously with the
    frequency (the plain kernel jumps by ``e^-beta`` there, which finite differences and
    LM trials notice)."""
    z = 2.0 * distance / width
    root = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    edge = np.exp(-BETA_PER_WIDTH * width)
    return np.where(np.abs(z) < 1.0,
                    (np.exp(BETA_PER_WIDTH * width * (root - 1.0)) - edge) / (1.0 - edge), 0.0)


def _kernel_transform(positions: np.ndarray, grid: int, width: int) -> np.ndarray:
    """``integral phi(t) cos(2 pi t y / grid) dt`` over the kernel's support, for voxel
    offsets ``y`` from the centre (Gauss-Legendre quadrature)."""
    nodes, weights = leggauss(4 * width + 20)
    t = nodes * width / 2.0
    return (weights * width / 2.0 * _kernel(t, width)) @ np.cos(
        2.0 * np.pi * np.outer(t, positions) / grid)


class SpectrumSampler:
    """``V_k(q)`` of one or more volumes (channels ``k``) at any frequencies ``q``.

    Parameters
    ----------
    volumes : ndarray of shape (N, N, N) or (C, N, N, N)
        ``[z, y, x]`` volumes, real or complex; a 3-D array is one channel. All channels
        are sampled together, with the same kernel weights.
    width : int
        Kernel width ``W`` (grid values per axis per sample); accuracy in the module
        docstring.

    Attributes
    ----------
    channels : int
    """

    def __init__(self, volumes: np.ndarray, width: int = KERNEL_WIDTH) -> None:
        stack = np.asarray(volumes)
        stack = stack[None] if stack.ndim == 3 else stack
        size = stack.shape[-1]
        self.width = int(width)
        self.grid = OVERSAMPLING * size
        self.channels = stack.shape[0]
        offsets = np.arange(size) - size // 2
        apodization = _kernel_transform(offsets, self.grid, self.width)
        apodization = (apodization[:, None, None] * apodization[None, :, None]
                       * apodization[None, None, :])
        # Grid frequency 0 lands at index grid // 2 + pad; the pad repeats the periodic
        # grid so that no sample's neighbours wrap around.
        self.pad = self.width // 2 + 1
        self.side = self.grid + 2 * self.pad
        # (C, side^3), complex64 (its rounding is far below the kernel's error).
        self.values = np.empty((self.channels, self.side**3), dtype=np.complex64)
        for channel, volume in enumerate(stack):
            padded = np.zeros((self.grid,) * 3, dtype=complex)
            padded[:size, :size, :size] = volume / apodization
            padded = np.roll(padded, (-(size // 2),) * 3, axis=(0, 1, 2))
            spectrum = scipy.fft.fftshift(scipy.fft.fftn(padded, overwrite_x=True))
            self.values[channel] = np.pad(spectrum, self.pad, mode="wrap").ravel()
        self.table = _kernel_table(self.width)
        taps = np.arange(self.width)
        self._taps = taps.astype(float)
        self._stencil = (taps[:, None, None] * self.side**2 + taps[None, :, None] * self.side
                         + taps[None, None, :]).ravel()

    def sample(self, frequencies: np.ndarray) -> np.ndarray:
        """``V_k(q)`` for every frequency and channel.

        Parameters
        ----------
        frequencies : ndarray of shape (n, 3)
            ``(x, y, z)`` in cycles/voxel; any value (the spectrum is periodic with
            period 1).

        Returns
        -------
        ndarray of complex, shape (n, C)
        """
        position = (np.asarray(frequencies, dtype=float) % 1.0) * self.grid
        position = np.where(position >= self.grid / 2, position - self.grid, position)
        position += self.grid // 2 + self.pad
        first = np.ceil(position - self.width / 2.0).astype(np.int64)
        if _compiled is not None and _use_compiled:
            return _compiled(self.values, self.table, position, first, self.side, self.width)
        weights = _from_table(self.table, (position - first)[..., None] - self._taps)
        products = (weights[:, 2, :, None, None] * weights[:, 1, None, :, None]
                    * weights[:, 0, None, None, :]).reshape(len(position), -1)  # (n, W^3)
        base = first[:, 2] * self.side**2 + first[:, 1] * self.side + first[:, 0]
        flat = base[:, None] + self._stencil  # (n, W^3)
        return np.stack([(channel[flat] * products).sum(axis=1) for channel in self.values],
                        axis=1)


#: Kernel values tabulated per grid unit of distance; samples interpolate linearly
#: (the table's error, ~3e-6 of the peak, is far below the kernel's).
TABLE_STEPS = 2048


def _kernel_table(width: int) -> np.ndarray:
    """The kernel at distances ``0, 1 / TABLE_STEPS, ...`` up to ``width / 2`` and two zeros."""
    distances = np.arange(int(width / 2 * TABLE_STEPS) + 3) / TABLE_STEPS
    return _kernel(distances, width)


def _from_table(table: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Kernel weights at ``distance`` (any shape) by linear interpolation of ``table``."""
    index = np.abs(distance) * TABLE_STEPS
    lower = np.minimum(index.astype(np.int64), len(table) - 2)
    fraction = index - lower
    return table[lower] * (1.0 - fraction) + table[lower + 1] * fraction


def compiled_kernel() -> bool:
    """True when the compiled (numba) sampling kernel is in use."""
    return _compiled is not None and _use_compiled


def _compile():
    """The numba version of :meth:`SpectrumSampler.sample`'s sums, or None without numba."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(cache=True)
    def sums(values, table, position, first, side, width):  # pragma: no cover (compiled)
        channels, count = values.shape[0], position.shape[0]
        out = np.empty((count, channels), dtype=np.complex128)
        weights = np.empty((3, width))
        last = table.shape[0] - 2
        for n in range(count):
            for axis in range(3):
                offset = position[n, axis] - first[n, axis]
                for tap in range(width):
                    index = abs(offset - tap) * TABLE_STEPS
                    lower = min(int(index), last)
                    fraction = index - lower
                    weights[axis, tap] = (table[lower] * (1.0 - fraction)
                                          + table[lower + 1] * fraction)
            base = first[n, 2] * side * side + first[n, 1] * side + first[n, 0]
            for k in range(channels):
                channel = values[k]
                total = 0j
                for a in range(width):
                    for b in range(width):
                        row = base + a * side * side + b * side
                        along_x = 0j
                        for c in range(width):
                            along_x += weights[0, c] * channel[row + c]
                        total += weights[2, a] * weights[1, b] * along_x
                out[n, k] = total
        return out

    return sums


_compiled = _compile()
#: Tests set this to False to run the numpy kernel while numba is installed.
_use_compiled = True
