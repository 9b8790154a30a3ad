"""Fourier insertion: a volume from its 2-D projections, each a central section.

Convention. A tilt image ``g`` of a particle is the projection of its box ``f`` along the
beam: with the tilt's orthonormal rows ``a_u`` (image ``x``), ``a_v`` (image ``y``) and the
beam, all ``(x, y, z)`` vectors of the box frame, ``g(u, v) = sum_w f(u a_u + v a_v + w b)``
about the image centre ``N // 2`` and the box centre ``N // 2``. By the projection-slice
theorem the image's 2-D transform is the volume's 3-D transform on the central section
``G(q_u, q_v) = F(q_u a_u + q_v a_v)`` (frequencies in cycles per box, un-normalized DFTs,
so a section of a volume and the projection of that volume agree without a scale).

Each image's coefficients inside the sphere ``|q| <= N // 2 - 1`` are spread on the full 3-D
DFT grid with trilinear weights (RELION's backprojection does the same). Three sums come out
(:class:`Sections`): the weighted data ``sum w G``, the multiplicity ``sum w`` and, when
per-image 2-D weights ``c`` are given (CTF squared times dose), the weight ``sum w c``.
:func:`reconstruct` divides data by ``max(multiplicity, 1)``: where sections overlap (near
the origin) they are averaged, where one section passes between voxels its share is kept,
and unmeasured coefficients stay 0. It applies no gridding correction; at 32^3 the trilinear
kernel's real-space fall-off is below 20 % at the box edge and the particle sits inside a mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Sections", "insert_sections", "reconstruct"]


@dataclass(frozen=True)
class Sections:
    """Sums over the inserted sections on the full DFT grid, each of shape ``(N, N, N)``
    indexed ``[k_z, k_y, k_x]`` with ``numpy.fft`` frequency order.

    Attributes
    ----------
    data : ndarray of complex128
        ``sum w G``.
    multiplicity : ndarray of float64
        ``sum w``: how many sections measured each coefficient.
    weight : ndarray of float64 or None
        ``sum w c`` of the per-image weights, if given.
    """

    data: np.ndarray
    multiplicity: np.ndarray
    weight: np.ndarray | None


def _section_frequencies(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 2-D DFT frequencies (cycles per box) inside the insertion sphere, flat, and the
    flat indices of those coefficients in an ``(N, N)`` image transform."""
    frequencies = np.fft.fftfreq(size) * size
    qv, qu = np.meshgrid(frequencies, frequencies, indexing="ij")
    inside = np.flatnonzero((qu**2 + qv**2).ravel() <= (size // 2 - 1) ** 2)
    return qu.ravel()[inside], qv.ravel()[inside], inside


def insert_sections(images: np.ndarray, rotations: np.ndarray,
                    weights: np.ndarray | None = None) -> Sections:
    """Insert each image's transform as a central section of the volume's transform.

    Parameters
    ----------
    images : ndarray of shape (m, N, N)
        ``[tilt, y, x]``, each centred on pixel ``N // 2``.
    rotations : ndarray of shape (m, 3, 3)
        Per image the rows ``a_u``, ``a_v`` and the beam (module docstring); only the first
        two rows are used.
    weights : ndarray of shape (m, N, N), optional
        Per-image 2-D weights on the DFT grid (``numpy.fft`` order), e.g. CTF^2 x dose.

    Returns
    -------
    Sections
    """
    import scipy.fft

    images = np.asarray(images, dtype=np.float64)
    m, size, _ = images.shape
    qu, qv, inside = _section_frequencies(size)
    spectra = scipy.fft.fft2(np.fft.ifftshift(images, axes=(-2, -1))).reshape(m, -1)[:, inside]
    points = (qu[None, :, None] * rotations[:, None, 0, :]
              + qv[None, :, None] * rotations[:, None, 1, :]).reshape(-1, 3)  # (x, y, z)
    values = spectra.ravel()
    extra = (np.zeros(0) if weights is None
             else np.asarray(weights, float).reshape(m, -1)[:, inside].ravel())
    total = size**3
    data = np.zeros(total, dtype=np.complex128)
    multiplicity = np.zeros(total)
    weight = np.zeros(total if weights is not None else 0)
    from subalign.numerics.insertion_kernels import spread

    spread(np.ascontiguousarray(points), values, extra, size, data, multiplicity, weight)
    shape = (size,) * 3
    return Sections(data.reshape(shape), multiplicity.reshape(shape),
                    None if weights is None else weight.reshape(shape))


def reconstruct(sections: Sections) -> np.ndarray:
    """The volume ``[z, y, x]`` (float32, centred on ``N // 2``) from inserted sections:
    data divided by ``max(multiplicity, 1)`` (module docstring)."""
    import scipy.fft

    spectrum = sections.data / np.maximum(sections.multiplicity, 1.0)
    volume = np.fft.fftshift(scipy.fft.ifftn(spectrum).real)
    return volume.astype(np.float32)
