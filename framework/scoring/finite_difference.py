"""Reference Jacobians of any objective by central differences (contracts and benchmarks)."""

from __future__ import annotations

import numpy as np

from subalign.numerics.geometry import RigidTransform, rotation_vector_to_matrix

__all__ = ["finite_difference_jacobian"]


def finite_difference_jacobian(objective, transform: RigidTransform, step: float = 1e-4) -> np.ndarray:
    """Reference Jacobian by central differences, the common mask held at ``transform``.

    Columns as in :meth:`~subalign.plugin.protocols.Objective.jacobian`: left rotation increments
    (radians) about ``x, y, z``, then translations (voxels) along ``x, y, z``.

    Parameters
    ----------
    objective : Objective
    transform : RigidTransform
    step : float
        Step in radians and voxels.

    Returns
    -------
    ndarray of shape (n, 6)
    """
    columns = []
    for column in range(6):
        increment = np.zeros(6)
        increment[column] = step
        plus, minus = (
            objective.residuals(
                RigidTransform(rotation_vector_to_matrix(s * increment[:3]) @ transform.rotation,
                               transform.translation + s * increment[3:]),
                mask_rotation=transform.rotation,
            )
            for s in (1.0, -1.0)
        )
        columns.append((plus - minus) / (2 * step))
    return np.stack(columns, axis=1)
