"""Subtomogram averaging with missing-wedge compensation, one subtomogram at a time.

Each subtomogram's spectrum, brought into the common frame, is summed only where its
rotated wedge measured it, and so is the count of subtomograms measuring each coefficient:

``A = F^-1[ sum_i Lambda_i M_i F(tau_i Lambda_i v_i) / max(sum_i Lambda_i M_i, 1) ]``

With weighted measurement models (:mod:`subalign.numerics.measurement`) the count becomes
the sum of the particles' transfers ``h_i``, the data are summed on their supports ``S_i``,
and the sum is Wiener-filtered: ``sum_i Lambda_i S_i F(...) / (sum_i Lambda_i h_i + tau)``
with ``tau`` the mean of ``sum_i Lambda_i h_i`` over the coefficients any particle measured.
Data whose transfer is ``h_i`` (CTF-premultiplied boxes, :mod:`subalign.io.stacks`) are
thereby CTF-corrected where the particles measured a frequency well, and left closer to their
sum near CTF zeros. Why this ``tau``: on 40 simulated 30S stack particles (SNR 0.5) at their
true poses, ``tau = 1`` (one particle's full transfer) restores amplitudes fully but
reweights each shell away from its signal, FSC 0.143 at 20.7 Angstrom and mean FSC 0.620
over shells 8-15; ``tau`` = the mean sum gives 20.0 Angstrom and 0.628, the binary model 20.0
and 0.621 (``benchmarks/measurement_models.py``). Binary models give the formula above
exactly.

:class:`WedgeAccumulator` keeps the two sums, so averages of thousands of subtomograms take
the memory of two spectra, half maps merge by adding their sums (:meth:`merged`), and a
refinement reads each subtomogram once per round. Coefficients no volume measured stay 0;
dividing by at least 1 keeps rarely measured ones from blowing up.
"""

from __future__ import annotations

import numpy as np

from subalign.numerics.fourier import forward, fourier_grid, inverse
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import transform_volume
from subalign.numerics.measurement import is_binary, model_weights
from subalign.numerics.wedge import TiltRange

__all__ = ["WedgeAccumulator", "wedge_compensated_average"]


class WedgeAccumulator:
    """The two sums of a wedge-compensated average (module docstring).

    Parameters
    ----------
    size : int
        Box edge ``N``.

    Attributes
    ----------
    spectrum : ndarray of complex, shape (N, N, N // 2 + 1)
        Sum of the measured parts of the aligned spectra.
    weight : ndarray of shape (N, N, N // 2 + 1)
        How many subtomograms measured each coefficient (the sum of their transfers).
    count : int
        Subtomograms added.
    weighted : bool
        Whether any was added with a weighted measurement model.
    """

    def __init__(self, size: int) -> None:
        self.shape = (size,) * 3
        spectrum_shape = fourier_grid(self.shape).spectrum_shape
        self.spectrum = np.zeros(spectrum_shape, dtype=complex)
        self.weight = np.zeros(spectrum_shape)
        self.count = 0
        self.weighted = False

    def add(self, volume: np.ndarray, transform: RigidTransform, tilt: TiltRange) -> None:
        """Add one subtomogram.

        Parameters
        ----------
        volume : ndarray of shape (N, N, N)
        transform : RigidTransform
            Maps the volume onto the common frame (for a particle of pose ``P``: ``P^-1``).
        tilt : TiltRange or measurement model
            How the volume was measured (module docstring).
        """
        weights = model_weights(tilt, self.shape, transform.rotation)
        self.spectrum += forward(transform_volume(volume, transform)) * (weights > 0)
        self.weight += weights
        self.weighted = self.weighted or not is_binary(tilt)
        self.count += 1

    def merged(self, other: "WedgeAccumulator") -> "WedgeAccumulator":
        """The accumulator of both sets of subtomograms (neither is changed)."""
        both = WedgeAccumulator(self.shape[0])
        both.spectrum = self.spectrum + other.spectrum
        both.weight = self.weight + other.weight
        both.count = self.count + other.count
        both.weighted = self.weighted or other.weighted
        return both

    def average(self) -> np.ndarray:
        """The wedge-compensated average, shape (N, N, N) (zeros if nothing was added):
        divided by ``max(weight, 1)``, or with weighted models by ``weight + tau``
        (module docstring)."""
        if not self.weighted:
            return inverse(self.spectrum / np.maximum(self.weight, 1.0), self.shape)
        measured = self.weight[self.weight > 0]
        tau = float(measured.mean()) if measured.size else 1.0
        return inverse(self.spectrum / (self.weight + tau), self.shape)


def wedge_compensated_average(
    volumes: list[np.ndarray], transforms: list[RigidTransform], tilts: list[TiltRange]
) -> np.ndarray:
    """Average of aligned subtomograms, each Fourier coefficient over the volumes measuring it.

    Parameters
    ----------
    volumes : list of ndarray of shape (N, N, N)
    transforms : list of RigidTransform
        Each maps its volume onto the common frame (an alignment result).
    tilts : list of TiltRange
        Each volume's tilt range.

    Returns
    -------
    ndarray of shape (N, N, N)
    """
    accumulator = WedgeAccumulator(volumes[0].shape[0])
    for volume, transform, tilt in zip(volumes, transforms, tilts):
        accumulator.add(volume, transform, tilt)
    return accumulator.average()
