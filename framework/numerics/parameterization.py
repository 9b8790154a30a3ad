"""Parameterizations of rigid transforms for local optimizers.

A parameter vector ends with the ``(x, y, z)`` translation in voxels; the entries before it
are rotation parameters in degrees. Scores give Jacobians along left rotation increments
``R <- exp([w]_x) R`` (``w`` in radians); :func:`chain_jacobian` maps those onto a
parameterization with its :meth:`rotation_jacobian`.
"""

from __future__ import annotations

import numpy as np

from subalign.numerics.geometry import (
    RigidTransform,
    euler_zyz_to_matrix,
    matrix_to_euler_zyz,
    matrix_to_rotation_vector,
    rotation_onto_z,
    rotation_vector_to_matrix,
)

__all__ = [
    "AxisParameterization",
    "EulerParameterization",
    "IncrementParameterization",
    "chain_jacobian",
]

_RAD = np.pi / 180.0


def chain_jacobian(local_jacobian: np.ndarray, rotation_jacobian: np.ndarray) -> np.ndarray:
    """Jacobian with respect to a parameterization's parameters.

    Parameters
    ----------
    local_jacobian : ndarray of shape (n, 6)
        From :meth:`Objective.jacobian`: 3 left-increment columns, 3 translation columns.
    rotation_jacobian : ndarray of shape (3, k)
        ``d w / d p_rot`` of the parameterization.

    Returns
    -------
    ndarray of shape (n, k + 3)
    """
    return np.concatenate([local_jacobian[:, :3] @ rotation_jacobian, local_jacobian[:, 3:]], axis=1)


class EulerParameterization:
    """``(phi, theta, psi, a_x, a_y, a_z)``: ZYZ Euler angles in degrees, as in the paper.

    Degenerate at ``theta`` = 0 or 180 degrees, where ``phi`` and ``psi`` turn about the
    same axis and the Jacobian loses a rank.
    """

    n_params = 6

    def to_params(self, transform: RigidTransform) -> np.ndarray:
        return np.concatenate([matrix_to_euler_zyz(transform.rotation), transform.translation])

    def to_transform(self, params: np.ndarray) -> RigidTransform:
        return RigidTransform(euler_zyz_to_matrix(params[:3]), params[3:])

    def rotation_jacobian(self, params: np.ndarray) -> np.ndarray:
        # R = Rz(phi) Ry(theta) Rz(psi): dR/dphi R^T = [z]_x, dR/dtheta R^T = [Rz(phi) y]_x,
        # dR/dpsi R^T = [Rz(phi) Ry(theta) z]_x.
        phi, theta, _ = params[:3]
        rz = euler_zyz_to_matrix([phi, 0.0, 0.0])
        rzy = euler_zyz_to_matrix([phi, theta, 0.0])
        return np.stack([np.array([0.0, 0.0, 1.0]), rz[:, 1], rzy[:, 2]], axis=1) * _RAD

    def advance(self, params: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return params + delta


class IncrementParameterization:
    """``(w_x, w_y, w_z, a_x, a_y, a_z)``: rotation vector of R in degrees, stepped by
    left increments ``R <- exp([dw]_x) R``; no singularity anywhere on SO(3)."""

    n_params = 6

    def to_params(self, transform: RigidTransform) -> np.ndarray:
        rotation_vector = matrix_to_rotation_vector(transform.rotation) / _RAD
        return np.concatenate([rotation_vector, transform.translation])

    def to_transform(self, params: np.ndarray) -> RigidTransform:
        return RigidTransform(rotation_vector_to_matrix(params[:3] * _RAD), params[3:])

    def rotation_jacobian(self, params: np.ndarray) -> np.ndarray:
        return np.eye(3) * _RAD

    def advance(self, params: np.ndarray, delta: np.ndarray) -> np.ndarray:
        rotation = rotation_vector_to_matrix(delta[:3] * _RAD) @ self.to_transform(params).rotation
        return self.to_params(RigidTransform(rotation, params[3:] + delta[3:]))


class AxisParameterization:
    """``(phi, a_x, a_y, a_z)`` for ``R = R_f^-1 Rz(phi) R_g`` (paper eq. 22).

    Parameters
    ----------
    fixed_axis, moving_axis : array_like of shape (3,)
        The axis (e.g. membrane normal) of each volume in its own frame, ``(x, y, z)``.
        ``R_f`` and ``R_g`` turn them onto ``+z``; every transform keeps the moving axis
        mapped onto the fixed one.
    """

    n_params = 4

    def __init__(self, fixed_axis, moving_axis) -> None:
        self.fixed_to_z = rotation_onto_z(fixed_axis)
        self.moving_to_z = rotation_onto_z(moving_axis)

    def rotation(self, phi_deg: float) -> np.ndarray:
        """``R_f^-1 Rz(phi) R_g``, shape (3, 3)."""
        return self.fixed_to_z.T @ euler_zyz_to_matrix([phi_deg, 0.0, 0.0]) @ self.moving_to_z

    def to_params(self, transform: RigidTransform) -> np.ndarray:
        about_z = self.fixed_to_z @ transform.rotation @ self.moving_to_z.T
        phi = np.degrees(np.arctan2(about_z[1, 0], about_z[0, 0]))
        return np.concatenate([[phi], transform.translation])

    def to_transform(self, params: np.ndarray) -> RigidTransform:
        return RigidTransform(self.rotation(params[0]), params[1:])

    def rotation_jacobian(self, params: np.ndarray) -> np.ndarray:
        return (self.fixed_to_z.T @ np.array([0.0, 0.0, 1.0]))[:, None] * _RAD

    def advance(self, params: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return params + delta
