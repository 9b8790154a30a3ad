"""``axis``: rotation about one known axis only (paper eq. 22), e.g. a membrane normal.

Each volume comes with a unit axis in its own frame, ``(x, y, z)``: ``constraint.fixed_axis``
and ``constraint.moving_axis``. With ``R_f`` and ``R_g`` the rotations turning them onto
``+z``, the searched rotations are ``R = R_f^-1 Rz(phi) R_g``; only ``phi`` and the
translation are optimized. Candidates are the sampler's angles about an axis (360 / interval
of them: 6 at 60 degrees, 8 at 45).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from subalign.api import AxisParameterization, ConfigError, hookimpl


@dataclass
class AxisConfig:
    """Attributes: ``fixed_axis`` and ``moving_axis``, each ``[x, y, z]`` (any length > 0)."""

    fixed_axis: list = field(default_factory=lambda: [0.0, 0.0, 1.0])
    moving_axis: list = field(default_factory=lambda: [0.0, 0.0, 1.0])


class AxisConstraint:
    """Rotations R_f^-1 Rz(phi) R_g about a known axis; parameters (phi, a_x, a_y, a_z)."""

    def __init__(self, config: AxisConfig) -> None:
        for name in ("fixed_axis", "moving_axis"):
            axis = np.asarray(getattr(config, name), dtype=float)
            if axis.shape != (3,) or not np.all(np.isfinite(axis)) or not np.linalg.norm(axis) > 0:
                raise ConfigError(
                    f"constraint.{name}: expected a non-zero [x, y, z] vector, "
                    f"found {list(getattr(config, name))}"
                )
        self._parameterization = AxisParameterization(config.fixed_axis, config.moving_axis)

    def parameterization(self) -> AxisParameterization:
        return self._parameterization

    def candidate_rotations(self, sampler):
        return np.stack([self._parameterization.rotation(phi)
                         for phi in sampler.angles_about_axis()])


@hookimpl
def subalign_register_constraints(register):
    register("axis", AxisConstraint, AxisConfig)
