"""Contrast transfer and dose weights of 2-D images, on the ``numpy.fft`` DFT grid.

CTF (the form RELION and CTFFIND use): with the electron wavelength ``lambda`` at the
acceleration voltage, spherical aberration ``Cs``, amplitude contrast ``A`` and the
astigmatic defocus ``d(phi) = (dU + dV) / 2 + (dU - dV) / 2 cos(2 (phi - phi_ast))``
(Angstrom, positive underfocus; ``phi`` the frequency's angle to the image ``x`` axis),

    chi(k) = pi lambda d(phi) k^2 - pi / 2 Cs lambda^3 k^4,
    CTF(k) = -s (sqrt(1 - A^2) sin chi + A cos chi),

``k`` in 1/Angstrom and ``s`` the scale factor (RELION's ``rlnCtfScalefactor``).

Dose (Grant and Grigorieff 2015, eLife 4:e06980, the weights RELION and WarpTools apply):
after an exposure ``E`` (electrons per square Angstrom) a frequency keeps the amplitude
``exp(-E / (2 N_c(k)))`` with the critical exposure ``N_c(k) = 0.245 k^-1.665 + 2.81``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ctf_2d", "dose_weight_2d", "electron_wavelength"]


def electron_wavelength(voltage_kv: float) -> float:
    """The relativistic electron wavelength in Angstrom at ``voltage_kv`` kilovolts."""
    volts = voltage_kv * 1e3
    return 12.2642598 / np.sqrt(volts * (1.0 + 0.978466e-6 * volts))


def _frequencies(size: int, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """``(k_x, k_y)`` of an ``(N, N)`` DFT in 1/Angstrom, each shape (N, N) ``[y, x]``."""
    k = np.fft.fftfreq(size, d=pixel_size)
    ky, kx = np.meshgrid(k, k, indexing="ij")
    return kx, ky


def ctf_2d(size: int, pixel_size: float, defocus_u: np.ndarray, defocus_v: np.ndarray,
           defocus_angle_deg: np.ndarray, *, voltage_kv: float, cs_mm: float,
           amplitude_contrast: float, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """CTFs of ``m`` images (module docstring).

    Parameters
    ----------
    size : int
        Image edge ``N`` in pixels.
    pixel_size : float
        Angstrom per pixel.
    defocus_u, defocus_v, defocus_angle_deg : ndarray of shape (m,)
        Angstrom, Angstrom, degrees.
    voltage_kv, cs_mm, amplitude_contrast : float
    scale : float or ndarray of shape (m,)

    Returns
    -------
    ndarray of shape (m, N, N)
        ``[tilt, k_y, k_x]`` in ``numpy.fft`` order.
    """
    wavelength = electron_wavelength(voltage_kv)
    kx, ky = _frequencies(size, pixel_size)
    k2 = kx**2 + ky**2
    phi = np.arctan2(ky, kx)
    u, v = np.asarray(defocus_u, float)[:, None, None], np.asarray(defocus_v, float)[:, None, None]
    angle = np.radians(np.asarray(defocus_angle_deg, float))[:, None, None]
    defocus = 0.5 * (u + v) + 0.5 * (u - v) * np.cos(2.0 * (phi - angle))
    cs = cs_mm * 1e7
    chi = np.pi * wavelength * defocus * k2 - 0.5 * np.pi * cs * wavelength**3 * k2**2
    contrast = np.sqrt(1.0 - amplitude_contrast**2) * np.sin(chi) + amplitude_contrast * np.cos(chi)
    return -np.asarray(scale, float).reshape(-1, 1, 1) * contrast


def dose_weight_2d(size: int, pixel_size: float, exposure: np.ndarray) -> np.ndarray:
    """Dose weights ``exp(-E / (2 N_c(k)))`` of ``m`` images after ``exposure`` (m,)
    electrons per square Angstrom each; shape (m, N, N), 1 at ``k = 0``."""
    kx, ky = _frequencies(size, pixel_size)
    k = np.sqrt(kx**2 + ky**2)
    with np.errstate(divide="ignore"):
        critical = 0.245 * k**-1.665 + 2.81  # infinite at k = 0: weight 1
    return np.exp(-np.asarray(exposure, float)[:, None, None] / (2.0 * critical))
