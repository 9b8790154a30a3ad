"""3-D weight volumes of pseudo-subtomograms (``rlnCtfImage``): every layout RELION reads.

A 3-D particle of RELION 3/4/5 or WarpTools may name, in ``rlnCtfImage``, the Fourier
weight with which it was measured (CTF^2 summed over its tilts, dose-weighted; 0 in the
missing wedge). RELION tells the layout by the array's shape alone (``src/exp_model.cpp``
and ``relion_tomo_subtomo``), and so does :func:`read_weight_volume`; for a box of ``N``
(MRC ``nx, ny, nz``):

=============================== ================ =========================================
layout                          ``nx, ny, nz``   written by
=============================== ================ =========================================
full cube, origin at ``N // 2``  ``N, N, N``      RELION 3.x CTF models
FFTW half, origin at index 0     ``N/2+1, N, N``  WarpTools 3-D export (float16)
FFTW half with multiplicity      ``N/2+1, N, 2N`` RELION 4/5 ``relion_tomo_subtomo``: CTF^2
                                                  in sections ``0..N-1``, multiplicity after
=============================== ================ =========================================

Whatever the layout, the weight comes back on subalign's half spectrum
(:mod:`subalign.numerics.fourier`: ``[k_z, k_y, k_x]``, ``k_x`` from 0 to ``N // 2``,
``numpy.fft`` order on the other axes), float64 (float16 files included). The full cube is
reduced to that half by taking its ``k_x >= 0`` part (RELION's cubes are Friedel-symmetric).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from subalign.errors import SubalignError
from subalign.io.mrc import read_map
from subalign.io.tables import ParticleTableError

__all__ = ["WeightVolume", "read_weight_volume"]


@dataclass(frozen=True)
class WeightVolume:
    """A particle's Fourier weight on the half spectrum.

    Attributes
    ----------
    weight : ndarray of shape (N, N, N // 2 + 1)
    multiplicity : ndarray of shape (N, N, N // 2 + 1) or None
        How many tilts sampled each coefficient, where the file holds it.
    layout : {"cube", "half", "half+multiplicity"}
    """

    weight: np.ndarray
    multiplicity: np.ndarray | None
    layout: str


def _half_of_cube(cube: np.ndarray) -> np.ndarray:
    """The ``k_x >= 0`` half, in ``numpy.fft`` order, of a cube centred on ``N // 2``."""
    size = cube.shape[0]
    return np.fft.ifftshift(cube, axes=(0, 1, 2))[:, :, : size // 2 + 1]


def read_weight_volume(path: str | Path, box: int) -> WeightVolume:
    """Read a weight volume of any layout (module docstring) for a box of ``box`` voxels.

    Raises
    ------
    ParticleTableError
        The file is missing or unreadable, its shape is none of the three layouts for
        ``box``, or it holds non-finite values. Negative values are kept as they are
        (WarpTools' float16 CTF volumes hold small ones).
    """
    try:
        data = read_map(path).data  # [z, y, x], float64
    except SubalignError as exc:
        raise ParticleTableError(f"weight volume: {exc}") from None
    half, shape = box // 2 + 1, data.shape
    if shape == (box, box, box):
        result = WeightVolume(_half_of_cube(data), None, "cube")
    elif shape == (box, box, half):
        result = WeightVolume(data, None, "half")
    elif shape == (2 * box, box, half):
        result = WeightVolume(data[:box], data[box:], "half+multiplicity")
    else:
        nz, ny, nx = shape
        raise ParticleTableError(
            f"{path}: weight volume of (nx, ny, nz) = ({nx}, {ny}, {nz}); expected for a box of "
            f"{box}: ({box}, {box}, {box}) centred, ({half}, {box}, {box}) FFTW half or "
            f"({half}, {box}, {2 * box}) half with multiplicity")
    return result
