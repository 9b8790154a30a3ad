"""``ctf``: each particle measured with its transfer, ``CTF^2 x dose^2`` on every measured plane.

A weighted model (:class:`~subalign.api.SampledWeights`): for a 2-D stack set the transfer
of the box made from its CTF-premultiplied tilt images, ``sum_t w_t CTF_t^2 D_t^2 / max(sum_t
w_t, 1)`` on the DFT grid (each tilt's defocus, astigmatism, CTF scale and dose;
:mod:`subalign.io.stacks`); for a 3-D set whose table names weight volumes
(``rlnCtfImage``), those volumes. Particles with neither fall back to ``planes`` where their
tilt geometry is known, else to their tilt range, so on simulated 3-D subtomograms ``ctf``
aligns exactly as ``tilt_range`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from subalign.api import Acquisition, SampledWeights, TiltPlanes, hookimpl


@dataclass
class CtfMeasurementConfig:
    """No fields."""


class CtfMeasurement:
    """The particle's sampled transfer, else its planes, else its tilt range."""

    def __init__(self, config: CtfMeasurementConfig) -> None:
        self.config = config

    def build(self, acquisition: Acquisition):
        if acquisition.transfer is not None:
            return SampledWeights(acquisition.transfer, acquisition.tilt_range, acquisition.noise)
        if acquisition.beams is not None:
            return TiltPlanes(acquisition.beams, acquisition.tilt_range)
        return acquisition.tilt_range


@hookimpl
def subalign_register_measurements(register):
    register("ctf", CtfMeasurement, CtfMeasurementConfig)
