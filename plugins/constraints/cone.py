"""``cone``: candidates around one rotation, for a local search near a known pose.

The candidates are the centre rotation ``R0`` (``centre_zyz_deg``, ZYZ degrees) and
``D R0`` for every sampler rotation ``D`` within ``cone_deg`` of the identity: with a
near-uniform sampler (``so3_uniform`` at a fine spacing) these fill the ball of rotations
within ``cone_deg`` of ``R0`` evenly. The optimizer then moves freely (6 parameters, left
increments of a rotation vector, as ``full`` with ``rotation_parameterization=increment``).

``subalign batch search=local`` builds one per particle, centred on the rotation its prior
pose implies; any ``subalign align`` can use it too
(``constraint=cone constraint.centre_zyz_deg=[30,60,90] sampler.spacing_deg=5``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np

from subalign.api import (
    ConfigError,
    IncrementParameterization,
    euler_zyz_to_matrix,
    hookimpl,
    rotation_angle_deg,
)


@dataclass
class ConeConfig:
    """Attributes: ``centre_zyz_deg`` (3 floats, ZYZ degrees), ``cone_deg`` (0 < cone <= 180)."""

    centre_zyz_deg: List[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    cone_deg: float = 15.0


class ConeConstraint:
    """The centre rotation and the sampler's rotations within a cone about it."""

    def __init__(self, config: ConeConfig) -> None:
        centre = np.asarray(config.centre_zyz_deg, dtype=float)
        if centre.shape != (3,) or not np.all(np.isfinite(centre)):
            raise ConfigError(f"constraint.centre_zyz_deg: expected three finite ZYZ angles in "
                              f"degrees, found {list(config.centre_zyz_deg)!r}")
        if not 0 < config.cone_deg <= 180:
            raise ConfigError(f"constraint.cone_deg: expected 0 < cone <= 180 degrees, found "
                              f"{config.cone_deg}")
        self.centre = euler_zyz_to_matrix(centre)
        self.cone = float(config.cone_deg)

    def parameterization(self):
        return IncrementParameterization()

    def candidate_rotations(self, sampler):
        """``(K, 3, 3)``: the centre first, then ``D R0`` for each sampler ``D`` in the cone."""
        from scipy.spatial.transform import Rotation  # scipy loads on first use

        rotations = np.asarray(sampler.rotations(), dtype=float)
        angles = rotation_angle_deg(rotations)
        near = rotations[(angles <= self.cone) & (angles > 1e-6)]
        turned = Rotation.from_matrix(near @ self.centre).as_matrix()  # orthonormal again
        return np.concatenate([self.centre[None], turned])


@hookimpl
def subalign_register_constraints(register):
    register("cone", ConeConstraint, ConeConfig)
