"""``planes``: each particle measured on the central sections of the tilts that saw it.

A binary model from the real tilt geometry (:class:`~subalign.api.TiltPlanes`): a frequency
is measured when it lies within half a Fourier voxel of the plane normal to a visible tilt's
beam. Unlike ``tilt_range`` it holds for tilt series that are not single-axis (beams off the
tilt plane, tilts out of order). Particles whose set gives no tilt geometry (3-D
subtomograms) keep their tilt range.
"""

from __future__ import annotations

from dataclasses import dataclass

from subalign.api import Acquisition, TiltPlanes, hookimpl


@dataclass
class PlanesMeasurementConfig:
    """No fields."""


class PlanesMeasurement:
    """The measured planes of the particle's visible tilts, else its tilt range."""

    #: Weight volumes (``rlnCtfImage``) are not read for this model.
    uses_transfer = False

    def __init__(self, config: PlanesMeasurementConfig) -> None:
        self.config = config

    def build(self, acquisition: Acquisition):
        if acquisition.beams is None:
            return acquisition.tilt_range
        return TiltPlanes(acquisition.beams, acquisition.tilt_range)


@hookimpl
def subalign_register_measurements(register):
    register("planes", PlanesMeasurement, PlanesMeasurementConfig)
