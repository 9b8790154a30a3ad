"""The compiled (numba) trilinear spreading of :func:`subalign.numerics.insertion.insert_sections`,
and its reverse, the trilinear gathering of :class:`subalign.numerics.measurement.SampledWeights`.

The two keep their own copy of the eight-corner loop: a shared compiled helper that writes
the corners' indices and weights into arrays made the gather 1.8x slower (83 to 146 us for
2,100 points), and the gather runs at every rotation of a weighted score. Imported on first
use only, so importing subalign loads no numba; module-level so that
numba's on-disk cache serves every later process (as :mod:`subalign.numerics.spectral_kernels`).
"""

import numba
import numpy as np

__all__ = ["gather", "spread"]


@numba.njit(cache=True)
def spread(points, values, extra, size, data, multiplicity, weight):  # pragma: no cover
    """Add each value at its ``(x, y, z)`` point to the eight nearest grid coefficients.

    ``points`` (k, 3) in cycles per box, ``values`` (k,) complex, ``extra`` (k,) real
    weights (empty: none); ``data`` (complex), ``multiplicity`` and ``weight`` are flat
    ``[z, y, x]`` grids of ``size**3`` in ``numpy.fft`` order, added to in place.
    """
    with_extra = extra.shape[0] > 0
    for i in range(points.shape[0]):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        x0, y0, z0 = np.floor(x), np.floor(y), np.floor(z)
        fx, fy, fz = x - x0, y - y0, z - z0
        ix, iy, iz = int(x0), int(y0), int(z0)
        for dz in range(2):
            wz = fz if dz else 1.0 - fz
            kz = (iz + dz) % size
            for dy in range(2):
                wy = fy if dy else 1.0 - fy
                ky = (iy + dy) % size
                for dx in range(2):
                    share = wz * wy * (fx if dx else 1.0 - fx)
                    flat = (kz * size + ky) * size + (ix + dx) % size
                    data[flat] += share * values[i]
                    multiplicity[flat] += share
                    if with_extra:
                        weight[flat] += share * extra[i]


@numba.njit(cache=True)
def gather(grid, points, size, out):  # pragma: no cover
    """The trilinear interpolation of ``grid`` at each ``(x, y, z)`` point: the reverse of
    :func:`spread`. ``grid`` is a flat real ``[z, y, x]`` grid of ``size**3`` in ``numpy.fft``
    order (periodic), ``points`` (k, 3) in cycles per box; ``out`` (k,) is written."""
    for i in range(points.shape[0]):
        x, y, z = points[i, 0], points[i, 1], points[i, 2]
        x0, y0, z0 = np.floor(x), np.floor(y), np.floor(z)
        fx, fy, fz = x - x0, y - y0, z - z0
        ix, iy, iz = int(x0), int(y0), int(z0)
        total = 0.0
        for dz in range(2):
            wz = fz if dz else 1.0 - fz
            kz = (iz + dz) % size
            for dy in range(2):
                wy = fy if dy else 1.0 - fy
                ky = (iy + dy) % size
                for dx in range(2):
                    share = wz * wy * (fx if dx else 1.0 - fx)
                    total += share * grid[(kz * size + ky) * size + (ix + dx) % size]
        out[i] = total
