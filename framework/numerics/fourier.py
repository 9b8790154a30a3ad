"""Half-spectrum Fourier grids shared by transforms, wedge masks and scores.

All spectra in subalign are ``scipy.fft.rfftn`` of ``[z, y, x]`` arrays with
``norm="ortho"``, so the half spectrum has shape ``(N, N, N // 2 + 1)``, the last axis is
``x`` and Parseval holds with :attr:`FourierGrid.hermitian_weights`.
Frequencies are in cycles per voxel, in ``[-0.5, 0.5)``. Fourier shells are one voxel wide:
shell ``s`` of an ``N``-voxel box holds the radii in ``[s, s + 1)`` Fourier voxels
(:func:`shell_index`); shells ``0`` to ``N // 2 - 1`` reach Nyquist, the corners of the cube
beyond it have higher indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

__all__ = ["FourierGrid", "fourier_grid", "forward", "inverse", "scale_shells", "shell_index"]


def forward(volume: np.ndarray) -> np.ndarray:
    """Orthonormal half spectrum of a real ``[z, y, x]`` volume, shape ``(N, N, N // 2 + 1)``."""
    import scipy.fft  # scipy loads on first use: importing subalign stays light

    return scipy.fft.rfftn(volume, norm="ortho")


def inverse(spectrum: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Real volume of ``shape`` from an orthonormal half spectrum (inverse of :func:`forward`)."""
    import scipy.fft

    return scipy.fft.irfftn(spectrum, s=shape, norm="ortho")


@dataclass(frozen=True)
class FourierGrid:
    """Frequency coordinates of the half spectrum of a cubic box.

    Attributes
    ----------
    shape : tuple of int
        Real-space shape ``(N, N, N)``.
    fz, fy, fx : ndarray
        Frequencies in cycles/voxel, broadcastable to ``(N, N, N // 2 + 1)``:
        shapes ``(N, 1, 1)``, ``(1, N, 1)`` and ``(1, 1, N // 2 + 1)``.
    hermitian_weights : ndarray of shape (N, N, N // 2 + 1)
        How many coefficients of the full spectrum each half-spectrum coefficient stands for
        (1 on the ``x = 0`` plane and, for even N, the ``x`` Nyquist plane; 2 elsewhere), so
        ``sum(w * |F|^2)`` over the half spectrum equals the sum over the full spectrum.
    """

    shape: tuple[int, int, int]
    fz: np.ndarray
    fy: np.ndarray
    fx: np.ndarray
    hermitian_weights: np.ndarray

    @cached_property
    def radius(self) -> np.ndarray:
        """``|xi|`` in cycles/voxel, shape (N, N, N // 2 + 1), read-only (computed once)."""
        radius = np.sqrt(self.fx**2 + self.fy**2 + self.fz**2)
        radius.setflags(write=False)
        return radius

    @property
    def spectrum_shape(self) -> tuple[int, int, int]:
        return (self.shape[0], self.shape[1], self.shape[2] // 2 + 1)

    def phase_ramp(self, translation_xyz: np.ndarray) -> np.ndarray:
        """``exp(-2 pi i a . xi)``: multiplying a spectrum by it shifts the volume by ``a``.

        Parameters
        ----------
        translation_xyz : array_like of shape (3,)
            ``(x, y, z)`` shift in voxels (any real value).

        Returns
        -------
        ndarray of complex, shape (N, N, N // 2 + 1)
        """
        ax, ay, az = np.asarray(translation_xyz, dtype=float)
        return (
            np.exp(-2j * np.pi * az * self.fz)
            * np.exp(-2j * np.pi * ay * self.fy)
            * np.exp(-2j * np.pi * ax * self.fx)
        )

    def frequency_xyz(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fx, fy, fz)`` broadcast to the full half-spectrum shape."""
        shape = self.spectrum_shape
        return tuple(np.broadcast_to(f, shape) for f in (self.fx, self.fy, self.fz))


@lru_cache(maxsize=8)
def fourier_grid(shape: tuple[int, int, int]) -> FourierGrid:
    """The (cached, read-only) :class:`FourierGrid` of a real-space ``shape``."""
    nz, ny, nx = shape
    fz = np.fft.fftfreq(nz)[:, None, None]
    fy = np.fft.fftfreq(ny)[None, :, None]
    fx = np.fft.rfftfreq(nx)[None, None, :]
    weights = np.full((nz, ny, nx // 2 + 1), 2.0)
    weights[..., 0] = 1.0
    if nx % 2 == 0:
        weights[..., -1] = 1.0
    for array in (fz, fy, fx, weights):
        array.setflags(write=False)
    return FourierGrid(tuple(shape), fz, fy, fx, weights)


def shell_index(shape: tuple[int, int, int]) -> np.ndarray:
    """The shell of every half-spectrum coefficient, ``floor(|xi| N)``, shape
    (N, N, N // 2 + 1), int (the corners past Nyquist reach ``N // 2`` and beyond)."""
    return np.floor(fourier_grid(shape).radius * shape[0]).astype(int)


def scale_shells(volume: np.ndarray, per_shell: np.ndarray) -> np.ndarray:
    """``volume`` with every coefficient of shell ``s`` multiplied by ``per_shell[s]``.

    The mean (shell 0) is kept whatever ``per_shell[0]`` says; the corners past the last
    shell given take the last shell's factor.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
    per_shell : ndarray of shape (S,)
        Factors of shells 0 to S - 1 (S is N // 2 for shells up to Nyquist).

    Returns
    -------
    ndarray of shape (N, N, N), float64
    """
    factors = np.asarray(per_shell, dtype=float)
    index = shell_index(volume.shape)
    factor = factors[np.minimum(index, len(factors) - 1)]
    factor[index == 0] = 1.0
    return inverse(forward(volume) * factor, volume.shape)
