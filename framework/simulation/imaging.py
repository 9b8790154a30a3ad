"""The imaging chain of a simulated single-axis tilt series, one linear step per function.

Geometry (the one :mod:`subalign.numerics.wedge` assumes): the tilt axis is ``y``, the beam is along
``z``. Tilting the specimen by ``alpha`` (right-handed about ``+y``) and projecting along the
beam puts a point at ``(x, z)`` (voxels from the box centre ``N // 2``) at detector
coordinate ``u = x cos(alpha) + z sin(alpha)`` (pixels from the detector centre ``W // 2``);
the detector's other axis is ``y``, untouched by the tilt. Projection images are arrays
``[tilt, y, u]`` of shape ``(T, N, W)``. The detector is ``W = N sqrt(2)`` pixels wide
(rounded up to even), so every ray through the box lands on it at every tilt.

The chain, in the paper's order: project (:meth:`TiltSeriesGeometry.project`), add noise,
convolve each image with the CTF (:func:`ctf`) and the detector MTF (:func:`mtf`), then
reconstruct by weighted backprojection (:meth:`TiltSeriesGeometry.backproject`). Every
step is linear, so a caller can push the noise-free signal and the noise through it
separately (:mod:`subalign.simulation.simulate` calibrates the SNR that way).

Not modelled: the defocus gradient across tilted images, CTF envelopes (partial
coherence), dose accumulation, tilt-axis or alignment errors, and density outside the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.sparse

from subalign.errors import ConfigError

__all__ = [
    "CTFParameters",
    "TiltSeriesGeometry",
    "ctf",
    "electron_wavelength_nm",
    "filter_images",
    "mtf",
    "tilt_angles",
    "tilt_series_geometry",
]

# h / sqrt(2 m0 e) in nm V^0.5, and e / (2 m0 c^2) in 1/V.
_WAVELENGTH_NM_SQRT_V = 1.226426
_RELATIVISTIC_PER_VOLT = 0.97848e-6


def tilt_angles(min_deg: float, max_deg: float, step_deg: float = 1.0) -> np.ndarray:
    """Tilt angles from ``min_deg`` to ``max_deg`` (both included when on the grid).

    Parameters
    ----------
    min_deg, max_deg : float
        Range within [-90, 90].
    step_deg : float
        Increment; the paper uses 1 degree.

    Returns
    -------
    ndarray of shape (T,)
        Degrees, ascending. A range spanning 180 degrees keeps one end only: ``-90`` and
        ``+90`` measure the same projection.
    """
    if not step_deg > 0:
        raise ConfigError(f"tilt_step_deg: expected a positive step in degrees, found {step_deg}")
    if not -90.0 <= min_deg <= max_deg <= 90.0:
        raise ConfigError(
            f"tilt_range_deg: expected -90 <= min <= max <= 90, found [{min_deg:g}, {max_deg:g}]"
        )
    count = int(np.floor((max_deg - min_deg) / step_deg + 1e-9)) + 1
    angles = min_deg + step_deg * np.arange(count)
    if angles[-1] - angles[0] >= 180.0 - 1e-9:
        angles = angles[:-1]  # +-90 is one view (mirrored); counting it twice doubles its weight
    return angles


def _voxel_driven_backprojector(
    size: int, width: int, angles_rad: np.ndarray
) -> scipy.sparse.csr_matrix:
    """Smear detector rows back along the beam, linear in ``u``.

    Returns the matrix of shape ``(N * N, T * W)``: each voxel of a ``(z, x)`` plane takes
    the linearly interpolated detector value where its centre projects, summed over tilts.
    Its transpose is the matching projector: each voxel's density is split between the two
    detector pixels nearest its projected centre, so projection conserves mass exactly.
    """
    z, x = np.indices((size, size), dtype=float) - size // 2
    voxel = np.arange(size * size)
    rows, cols, values = [], [], []
    for index, alpha in enumerate(angles_rad):
        u = (x * np.cos(alpha) + z * np.sin(alpha)).ravel() + width // 2
        u0 = np.floor(u)
        fraction = u - u0
        for du, weight in ((0, 1 - fraction), (1, fraction)):
            ui = u0 + du
            keep = (ui >= 0) & (ui < width)
            rows.append(voxel[keep])
            cols.append((index * width + ui[keep]).astype(np.int64))
            values.append(weight[keep])
    shape = (size * size, len(angles_rad) * width)
    return scipy.sparse.coo_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=shape
    ).tocsr()


@lru_cache(maxsize=8)
def _ramp_filter(width: int) -> tuple[int, np.ndarray]:
    """Ram-Lak ramp ``|k|`` (cycles/pixel) for rows zero-padded to a power of two >= 2W.

    Built as the DFT of the band-limited spatial kernel (``1/4`` at 0, ``-1/(pi n)^2`` at
    odd ``n``), which keeps a small positive DC term instead of the pure ramp's zero.

    Returns
    -------
    padded : int
        Padded row length P.
    response : ndarray of shape (P // 2 + 1,)
        Real filter on the ``rfft`` frequencies.
    """
    padded = int(2 ** np.ceil(np.log2(2 * width)))
    n = np.concatenate([np.arange(padded // 2 + 1), np.arange(-padded // 2 + 1, 0)])
    kernel = np.zeros(padded)
    kernel[0] = 0.25
    odd = n % 2 == 1
    kernel[odd] = -1.0 / (np.pi * n[odd]) ** 2
    return padded, np.real(scipy.fft.rfft(kernel))


@dataclass(frozen=True)
class TiltSeriesGeometry:
    """Projector and weighted backprojector of one box size and set of tilts.

    Use :func:`tilt_series_geometry`, which caches instances.

    Attributes
    ----------
    size : int
        Box edge N.
    angles_deg : tuple of float
        Tilt angles, T of them.
    width : int
        Detector width W along ``u``.
    """

    size: int
    angles_deg: tuple
    width: int
    _backprojector: scipy.sparse.csr_matrix

    def project(self, volume: np.ndarray) -> np.ndarray:
        """Line integrals along the beam at every tilt (voxel-driven, linear in ``u``).

        Parameters
        ----------
        volume : ndarray of shape (N, N, N)
            ``[z, y, x]`` density.

        Returns
        -------
        ndarray of shape (T, N, W)
            ``[tilt, y, u]`` projection images, in density x voxels.
        """
        n = self.size
        planes = np.transpose(volume, (0, 2, 1)).reshape(n * n, n)  # [(z, x), y]
        rows = self._backprojector.T @ planes  # [(tilt, u), y]
        return rows.reshape(len(self.angles_deg), self.width, n).transpose(0, 2, 1)

    def backproject(self, images: np.ndarray) -> np.ndarray:
        """Weighted backprojection: ramp-filter each image along ``u``, then backproject.

        For the full range in steps ``d_alpha`` this is the discrete inverse Radon transform
        ``sum_alpha d_alpha (p_alpha * ramp)(x cos alpha + z sin alpha)``, so a complete tilt
        series reconstructs the density at its own scale; a partial one leaves the missing
        wedge empty.

        Parameters
        ----------
        images : ndarray of shape (T, N, W)
            ``[tilt, y, u]``.

        Returns
        -------
        ndarray of shape (N, N, N)
            ``[z, y, x]`` reconstruction.
        """
        n, width = self.size, self.width
        padded, ramp = _ramp_filter(width)
        spectrum = scipy.fft.rfft(images, n=padded, axis=-1) * ramp
        filtered = scipy.fft.irfft(spectrum, n=padded, axis=-1)[..., :width]
        rows = filtered.transpose(0, 2, 1).reshape(-1, n)  # [(tilt, u), y]
        step_rad = np.radians(np.diff(self.angles_deg).mean()) if len(self.angles_deg) > 1 else 1.0
        planes = (self._backprojector @ rows) * step_rad  # [(z, x), y]
        return planes.reshape(n, n, n).transpose(0, 2, 1)


@lru_cache(maxsize=8)
def tilt_series_geometry(size: int, angles_deg: tuple) -> TiltSeriesGeometry:
    """The (cached) projector/backprojector pair for ``size`` and a tuple of tilt angles."""
    width = 2 * int(np.ceil(size * np.sqrt(0.5)))
    radians = np.radians(np.asarray(angles_deg, dtype=float))
    return TiltSeriesGeometry(size, tuple(float(a) for a in angles_deg), width,
                              _voxel_driven_backprojector(size, width, radians))


def electron_wavelength_nm(voltage_kv: float) -> float:
    """Relativistic electron wavelength; 300 kV gives 0.001969 nm."""
    volts = voltage_kv * 1e3
    return _WAVELENGTH_NM_SQRT_V / np.sqrt(volts * (1 + _RELATIVISTIC_PER_VOLT * volts))


@dataclass
class CTFParameters:
    """Microscope parameters of the contrast transfer function.

    Attributes
    ----------
    voltage_kv : float
        Acceleration voltage.
    cs_mm : float
        Spherical aberration.
    defocus_um : float
        Defocus in the paper's sign: negative is underfocus (-4 um by default). Overfocus is
        rejected, because its first lobe has reversed contrast.
    amplitude_contrast : float
        Fraction A in [0, 1); 0 is a pure phase CTF.
    """

    voltage_kv: float = 300.0
    cs_mm: float = 2.0
    defocus_um: float = -4.0
    amplitude_contrast: float = 0.0

    def __post_init__(self) -> None:
        if not self.defocus_um < 0:
            raise ConfigError(
                f"ctf.defocus_um: expected underfocus (negative, e.g. -4), found {self.defocus_um}"
            )
        if not 0.0 <= self.amplitude_contrast < 1.0:
            raise ConfigError(
                "ctf.amplitude_contrast: expected a fraction in [0, 1), "
                f"found {self.amplitude_contrast}"
            )
        if not (self.voltage_kv > 0 and self.cs_mm >= 0):
            raise ConfigError(
                f"ctf: expected voltage_kv > 0 and cs_mm >= 0, found {self.voltage_kv}, {self.cs_mm}"
            )


def _image_frequencies(shape: tuple[int, int], pixel_size_nm: float) -> np.ndarray:
    """Radial spatial frequency (1/nm) of every coefficient of a ``(N, W)`` image's FFT."""
    ky = scipy.fft.fftfreq(shape[0], d=pixel_size_nm)[:, None]
    ku = scipy.fft.fftfreq(shape[1], d=pixel_size_nm)[None, :]
    return np.sqrt(ky**2 + ku**2)


def ctf(shape: tuple[int, int], pixel_size_nm: float, parameters: CTFParameters) -> np.ndarray:
    """The CTF with its negative contrast beyond the first zero eliminated.

    ``CTF(k) = sqrt(1 - A^2) sin(chi) + A cos(chi)`` with ``chi(k) = pi lambda dz k^2 -
    (pi / 2) Cs lambda^3 k^4`` and underfocus ``dz = -defocus > 0``. The sign is chosen so
    that the first lobe (from k = 0 to the first zero) is positive: density images as
    positive contrast, and reconstructions correlate positively with the map.

    "Negative contrast eliminated" (the paper's step) means here: every frequency where this
    CTF is negative is set to 0. The first lobe is untouched; beyond the first zero
    (``k ~ 1 / sqrt(lambda dz)``, 0.356/nm = 1/(2.8 nm) at 300 kV, -4 um) the positive lobes
    are kept and the contrast-reversed ones removed, so no frequency enters the image with
    flipped phase. Nothing is phase-flipped back.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(N, W)``.
    pixel_size_nm : float
    parameters : CTFParameters

    Returns
    -------
    ndarray of shape (N, W)
        Real filter on the ``fft2`` layout, values in [0, 1].
    """
    k = _image_frequencies(shape, pixel_size_nm)
    wavelength = electron_wavelength_nm(parameters.voltage_kv)
    underfocus_nm = -parameters.defocus_um * 1e3
    cs_nm = parameters.cs_mm * 1e6
    chi = np.pi * wavelength * underfocus_nm * k**2 - 0.5 * np.pi * cs_nm * wavelength**3 * k**4
    amplitude = parameters.amplitude_contrast
    transfer = np.sqrt(1 - amplitude**2) * np.sin(chi) + amplitude * np.cos(chi)
    return np.clip(transfer, 0.0, None)


def mtf(shape: tuple[int, int]) -> np.ndarray:
    """Detector MTF ``sinc(pi w / 2) = sin(pi w / 2) / (pi w / 2)``, w the fraction of Nyquist.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(N, W)``.

    Returns
    -------
    ndarray of shape (N, W)
        Real filter on the ``fft2`` layout; 1 at DC, 2/pi at Nyquist.
    """
    fraction_of_nyquist = _image_frequencies(shape, 1.0) / 0.5
    return np.sinc(fraction_of_nyquist / 2)


def filter_images(images: np.ndarray, transfer: np.ndarray) -> np.ndarray:
    """Convolve every image with a filter given on the ``fft2`` layout.

    Parameters
    ----------
    images : ndarray of shape (T, N, W)
    transfer : ndarray of shape (N, W)

    Returns
    -------
    ndarray of shape (T, N, W)
    """
    return np.real(scipy.fft.ifft2(scipy.fft.fft2(images) * transfer))
