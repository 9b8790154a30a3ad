"""The compiled (numba) sampling kernels of :class:`subalign.numerics.spectral.SpectrumSampler`.

Imported only by :func:`subalign.numerics.spectral._compiled_sums`, on first use and only
where numba is installed. ``tables`` are the kernel's values and slopes tabulated at
``steps`` points per grid unit of distance (``spectral.TABLE_STEPS``). The kernels are module-level functions so that numba's on-disk
cache (``cache=True``: ``__pycache__`` beside this file, or ``NUMBA_CACHE_DIR``) is used by
every later process: compiling them takes seconds, loading them a fraction of that.

Two kernels rather than one with a ``gradient`` flag, sums kept as separate real and
imaginary parts, and no ``fastmath``: each of these made the sums 1.3-3x slower (measured
at W = 4; ``fastmath`` vectorizes the 4-tap inner loop badly).
"""

import numba
import numpy as np

__all__ = ["sums"]


@numba.njit(cache=True)
def taps(tables, steps, frequency, grid, centre, side, width, weight, slope, first,
         gradient):  # pragma: no cover
    """First grid index per axis and the kernel's weights (and slopes) of its taps;
    False when a tap falls outside the stored grid (the sample is then skipped)."""
    kernel, kernel_slope = tables[0], tables[1]
    last = kernel.shape[0] - 2
    for axis in range(3):
        f = frequency[axis]
        position = (f - np.floor(f + 0.5)) * grid + centre
        start = int(np.ceil(position - width / 2.0))
        if start < 0 or start > side - width:
            return False
        first[axis] = start
        offset = position - start
        for tap in range(width):
            distance = offset - tap
            index = abs(distance) * steps
            lower = min(int(index), last)
            fraction = index - lower
            weight[axis, tap] = kernel[lower] + (kernel[lower + 1] - kernel[lower]) * fraction
            if gradient:
                sign = 1.0 if distance > 0 else (-1.0 if distance < 0 else 0.0)
                slope[axis, tap] = sign * (kernel_slope[lower] + (
                    kernel_slope[lower + 1] - kernel_slope[lower]) * fraction)
    return True


@numba.njit(cache=True)
def values_at(values, tables, steps, frequencies, grid, centre, side, width):  # pragma: no cover
    count = frequencies.shape[0]
    out = np.empty((count, 1), dtype=np.complex128)
    weight = np.empty((3, width))
    first = np.empty(3, dtype=np.int64)
    for n in range(count):
        if not taps(tables, steps, frequencies[n], grid, centre, side, width, weight, weight,
                    first, False):
            return out, True
        base = (first[2] * side + first[1]) * side + first[0]
        real, imag = 0.0, 0.0
        for a in range(width):
            for b in range(width):
                row = base + (a * side + b) * side
                row_real, row_imag = 0.0, 0.0
                for c in range(width):
                    entry = values[row + c]
                    row_real += weight[0, c] * entry.real
                    row_imag += weight[0, c] * entry.imag
                outer = weight[2, a] * weight[1, b]
                real += outer * row_real
                imag += outer * row_imag
        out[n, 0] = complex(real, imag)
    return out, False


@numba.njit(cache=True)
def values_and_gradients_at(values, tables, steps, frequencies, grid, centre, side,
                            width):  # pragma: no cover
    count = frequencies.shape[0]
    out = np.empty((count, 4), dtype=np.complex128)
    weight = np.empty((3, width))
    slope = np.empty((3, width))
    first = np.empty(3, dtype=np.int64)
    sums = np.empty(8)  # value, d/dx, d/dy, d/dz as (real, imag)
    for n in range(count):
        if not taps(tables, steps, frequencies[n], grid, centre, side, width, weight, slope,
                    first, True):
            return out, True
        base = (first[2] * side + first[1]) * side + first[0]
        sums[:] = 0.0
        for a in range(width):
            for b in range(width):
                row = base + (a * side + b) * side
                plain_real, plain_imag, sloped_real, sloped_imag = 0.0, 0.0, 0.0, 0.0
                for c in range(width):
                    entry = values[row + c]
                    plain_real += weight[0, c] * entry.real
                    plain_imag += weight[0, c] * entry.imag
                    sloped_real += slope[0, c] * entry.real
                    sloped_imag += slope[0, c] * entry.imag
                outer = weight[2, a] * weight[1, b]
                along_y = weight[2, a] * slope[1, b]
                along_z = slope[2, a] * weight[1, b]
                sums[0] += outer * plain_real
                sums[1] += outer * plain_imag
                sums[2] += outer * sloped_real
                sums[3] += outer * sloped_imag
                sums[4] += along_y * plain_real
                sums[5] += along_y * plain_imag
                sums[6] += along_z * plain_real
                sums[7] += along_z * plain_imag
        for k in range(4):
            out[n, k] = complex(sums[2 * k], sums[2 * k + 1])
    return out, False


def sums(values, tables, steps, frequencies, grid, centre, side, width, gradient):
    """``(sums, beyond)``: beyond is True when a frequency lies outside the kept grid."""
    kernel = values_and_gradients_at if gradient else values_at
    return kernel(values, tables, steps, frequencies, grid, centre, side, width)
