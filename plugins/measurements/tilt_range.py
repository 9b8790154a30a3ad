"""``tilt_range``: each particle measured over a binary single-axis wedge (the paper's model).

The wedge about the box's ``y`` axis from the particle's table (``tilt_min``/``tilt_max``,
the tomogram table or ``particle_wedge``), or for a 2-D stack set the range of its visible
tilts about the tilt series' fitted axis. It ignores the real tilt geometry and the CTF; it is
what every alignment used before measurement models, and the baseline they are measured
against.
"""

from __future__ import annotations

from dataclasses import dataclass

from subalign.api import Acquisition, TiltRange, hookimpl


@dataclass
class TiltRangeMeasurementConfig:
    """No fields."""


class TiltRangeMeasurement:
    """The particle's single-axis tilt range."""

    #: Weight volumes (``rlnCtfImage``) are not read for this model.
    uses_transfer = False

    def __init__(self, config: TiltRangeMeasurementConfig) -> None:
        self.config = config

    def build(self, acquisition: Acquisition) -> TiltRange:
        return acquisition.tilt_range


@hookimpl
def subalign_register_measurements(register):
    register("tilt_range", TiltRangeMeasurement, TiltRangeMeasurementConfig)
