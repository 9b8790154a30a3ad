"""Rigid-body geometry: rotations, Euler angles, rigid transforms and their distances.

Conventions (the single place they are defined; every other module follows them):

* Coordinates, rotation vectors and translations are written in ``(x, y, z)`` order.
  Volumes are arrays indexed ``[z, y, x]``; :mod:`subalign.numerics.volumes` does the swap.
* Rotation matrices are right-handed and *active*: ``R`` left-multiplies an ``(x, y, z)``
  column vector and moves the point, not the frame.
* Euler angles are ZYZ, intrinsic, in degrees: ``R = Rz(phi) @ Ry(theta) @ Rz(psi)``
  (the paper's convention). ``matrix_to_euler_zyz`` returns ``phi, psi`` in ``(-180, 180]``
  and ``theta`` in ``[0, 180]``.
* A rigid transform ``(R, a)`` acts on a volume ``g`` as in the paper,
  ``(tau_a Lambda_R g)(x) = g(R^-1 (x - a))``: the feature that sat at point ``p`` moves to
  ``R p + a``. Points are measured from the box centre (index ``N // 2`` on every axis) and
  translations are in voxels.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RigidTransform",
    "TRANSFORM_CONVENTION",
    "euler_zyz_to_matrix",
    "matrix_to_euler_zyz",
    "rotation_angle_deg",
    "rotation_distance_deg",
    "rotation_vector_to_matrix",
    "matrix_to_rotation_vector",
    "rotation_onto_z",
    "transform_distance",
    "transform_distance_term",
    "transform_errors",
]


def euler_zyz_to_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation matrices ``Rz(phi) @ Ry(theta) @ Rz(psi)`` from ZYZ Euler angles.

    Parameters
    ----------
    angles_deg : array_like of shape (..., 3)
        ``(phi, theta, psi)`` in degrees.

    Returns
    -------
    ndarray of shape (..., 3, 3)
        Active rotation matrices acting on ``(x, y, z)`` column vectors.
    """
    from scipy.spatial.transform import Rotation  # scipy loads on first use

    angles = np.asarray(angles_deg, dtype=float)
    flat = Rotation.from_euler("ZYZ", angles.reshape(-1, 3), degrees=True).as_matrix()
    return flat.reshape(angles.shape[:-1] + (3, 3))


def matrix_to_euler_zyz(rotation: np.ndarray) -> np.ndarray:
    """ZYZ Euler angles of rotation matrices (inverse of :func:`euler_zyz_to_matrix`).

    Parameters
    ----------
    rotation : array_like of shape (..., 3, 3)

    Returns
    -------
    ndarray of shape (..., 3)
        ``(phi, theta, psi)`` in degrees. At ``theta`` = 0 or 180 only ``phi +- psi`` is
        defined; ``psi`` is then set to 0.
    """
    from scipy.spatial.transform import Rotation  # scipy loads on first use

    matrices = np.asarray(rotation, dtype=float)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Gimbal lock detected")
        flat = Rotation.from_matrix(matrices.reshape(-1, 3, 3)).as_euler("ZYZ", degrees=True)
    return flat.reshape(matrices.shape[:-2] + (3,))


def rotation_angle_deg(rotation: np.ndarray) -> np.ndarray:
    """Angle of rotation(s) in degrees, in ``[0, 180]``.

    ``atan2(sin, cos)`` with ``cos = (tr R - 1) / 2`` and ``sin`` the norm of the axial
    vector of ``(R - R^T) / 2``: accurate to ~1e-14 degrees near 0 and 180, where
    ``arccos`` of the trace alone loses half the digits (~1e-6 degrees at 0).

    Parameters
    ----------
    rotation : array_like of shape (..., 3, 3)

    Returns
    -------
    ndarray of shape (...)
    """
    matrices = np.asarray(rotation, dtype=float)
    cosine = (np.trace(matrices, axis1=-2, axis2=-1) - 1.0) / 2.0
    axial = np.stack([matrices[..., 2, 1] - matrices[..., 1, 2],
                      matrices[..., 0, 2] - matrices[..., 2, 0],
                      matrices[..., 1, 0] - matrices[..., 0, 1]], axis=-1) / 2.0
    return np.degrees(np.arctan2(np.linalg.norm(axial, axis=-1), cosine))


def rotation_distance_deg(rotation_a: np.ndarray, rotation_b: np.ndarray) -> np.ndarray:
    """Angle in degrees of ``R_a @ R_b.T``, the geodesic distance on SO(3).

    Parameters
    ----------
    rotation_a, rotation_b : array_like of shape (..., 3, 3)

    Returns
    -------
    ndarray of shape (...)
    """
    a = np.asarray(rotation_a, dtype=float)
    b = np.asarray(rotation_b, dtype=float)
    return rotation_angle_deg(a @ np.swapaxes(b, -1, -2))


def rotation_vector_to_matrix(rotation_vector: np.ndarray) -> np.ndarray:
    """``exp([w]_x)``: the rotation by ``|w|`` radians about the unit vector ``w / |w|``.

    Parameters
    ----------
    rotation_vector : array_like of shape (..., 3)
        ``(x, y, z)`` components in radians.

    Returns
    -------
    ndarray of shape (..., 3, 3)
    """
    # Rodrigues' formula, R = I + a [k]x + b [k]x^2 with a = sin t / t, b = (1 - cos t) / t^2
    # on the unnormalized w (Taylor terms below 1e-4 rad); the same matrices as
    # scipy's Rotation.from_rotvec (tested), at a fraction of the cost per call.
    vectors = np.asarray(rotation_vector, dtype=float)
    if vectors.shape == (3,):  # the common single call, without array machinery
        x, y, z = (float(v) for v in vectors)
        angle = math.sqrt(x * x + y * y + z * z)
        if angle < 1e-4:
            a, b = 1.0 - angle**2 / 6.0, 0.5 - angle**2 / 24.0
        else:
            a, b = math.sin(angle) / angle, (1.0 - math.cos(angle)) / angle**2
        return np.array([
            [1.0 - b * (y * y + z * z), b * x * y - a * z, b * x * z + a * y],
            [b * x * y + a * z, 1.0 - b * (x * x + z * z), b * y * z - a * x],
            [b * x * z - a * y, b * y * z + a * x, 1.0 - b * (x * x + y * y)],
        ])
    angle = np.linalg.norm(vectors, axis=-1)[..., None, None]
    small = angle < 1e-4
    safe = np.where(small, 1.0, angle)
    a = np.where(small, 1.0 - angle**2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - angle**2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    zero = np.zeros_like(x)
    cross = np.stack([np.stack([zero, -z, y], -1), np.stack([z, zero, -x], -1),
                      np.stack([-y, x, zero], -1)], -2)
    return np.eye(3) + a * cross + b * (cross @ cross)


def matrix_to_rotation_vector(rotation: np.ndarray) -> np.ndarray:
    """The rotation vector ``w`` (radians, ``|w| <= pi``) with ``exp([w]_x) = R``.

    Parameters
    ----------
    rotation : array_like of shape (3, 3)

    Returns
    -------
    ndarray of shape (3,)
        ``(x, y, z)``.
    """
    matrix = np.asarray(rotation, dtype=float)
    # vee(R - R^T) = 2 sin(t) k and trace(R) = 1 + 2 cos(t): atan2 keeps t precise at any
    # size; within 1e-3 rad of a half turn the axis comes from scipy's quaternion route.
    skew = np.array([matrix[2, 1] - matrix[1, 2], matrix[0, 2] - matrix[2, 0],
                     matrix[1, 0] - matrix[0, 1]])
    sine = 0.5 * np.linalg.norm(skew)
    angle = np.arctan2(sine, 0.5 * (np.trace(matrix) - 1.0))
    if sine < 1e-3 and angle > np.pi / 2:
        from scipy.spatial.transform import Rotation  # scipy loads on first use

        return Rotation.from_matrix(matrix).as_rotvec()
    scale = 0.5 if sine < 1e-12 else angle / (2.0 * sine)
    return scale * skew


def rotation_onto_z(axis_xyz: np.ndarray) -> np.ndarray:
    """The smallest rotation that turns a direction onto ``+z``.

    Parameters
    ----------
    axis_xyz : array_like of shape (3,)
        Any non-zero vector; it is normalized.

    Returns
    -------
    ndarray of shape (3, 3)
        ``R`` with ``R @ axis / |axis| == (0, 0, 1)``.
    """
    axis = np.asarray(axis_xyz, dtype=float)
    norm = np.linalg.norm(axis)
    if axis.shape != (3,) or not np.isfinite(norm) or norm == 0:
        raise ValueError(f"axis must be a non-zero (x, y, z) vector; found {axis_xyz!r}")
    unit = axis / norm
    z = np.array([0.0, 0.0, 1.0])
    cross = np.cross(unit, z)
    sin = np.linalg.norm(cross)
    cos = float(unit @ z)
    if sin < 1e-12:
        # Parallel: identity; anti-parallel: half turn about x.
        return np.eye(3) if cos > 0 else np.diag([1.0, -1.0, -1.0])
    return rotation_vector_to_matrix(cross / sin * np.arctan2(sin, cos))


TRANSFORM_CONVENTION = (
    "applying tau_a Lambda_R to moving matches fixed: (tau_a Lambda_R g)(x) = "
    "g(R^-1 (x - a)); R = Rz(phi) Ry(theta) Rz(psi), active, on (x, y, z); "
    "rotation about the box centre N // 2; a in voxels (x, y, z)"
)


@dataclass(frozen=True)
class RigidTransform:
    """A rigid transform ``x -> R x + a`` about the box centre (see module conventions).

    Attributes
    ----------
    rotation : ndarray of shape (3, 3)
        Active rotation matrix acting on ``(x, y, z)``.
    translation : ndarray of shape (3,)
        ``(x, y, z)`` shift in voxels, applied after the rotation.
    """

    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        rotation = np.asarray(self.rotation, dtype=float)
        translation = np.asarray(self.translation, dtype=float)
        if rotation.shape != (3, 3) or translation.shape != (3,):
            raise ValueError(
                f"RigidTransform needs a (3, 3) rotation and a (3,) translation; "
                f"found {rotation.shape} and {translation.shape}"
            )
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "translation", translation)

    @classmethod
    def identity(cls) -> "RigidTransform":
        return cls(np.eye(3), np.zeros(3))

    @classmethod
    def from_euler_zyz(cls, angles_deg, translation_xyz=(0.0, 0.0, 0.0)) -> "RigidTransform":
        """Build from ZYZ Euler angles in degrees and an ``(x, y, z)`` translation in voxels."""
        return cls(euler_zyz_to_matrix(angles_deg), np.asarray(translation_xyz, dtype=float))

    @property
    def euler_zyz_deg(self) -> np.ndarray:
        """``(phi, theta, psi)`` in degrees, shape (3,)."""
        return matrix_to_euler_zyz(self.rotation)

    def apply_to_points(self, points_xyz: np.ndarray) -> np.ndarray:
        """Move points: ``R p + a``; points of shape (..., 3) in ``(x, y, z)``."""
        return np.asarray(points_xyz, dtype=float) @ self.rotation.T + self.translation

    def inverse(self) -> "RigidTransform":
        """``(R^T, -R^T a)``, so ``t.inverse().compose(t)`` is the identity."""
        return RigidTransform(self.rotation.T, -self.rotation.T @ self.translation)

    def compose(self, first: "RigidTransform") -> "RigidTransform":
        """The transform that applies ``first`` and then ``self``."""
        return RigidTransform(
            self.rotation @ first.rotation, self.rotation @ first.translation + self.translation
        )

    def to_record(self) -> dict:
        """The JSON form ``alignment.json`` and simulated pair lists share.

        Keys ``rotation_zyz_deg``, ``rotation_matrix``, ``translation_xyz_voxels``; the
        meaning is :data:`TRANSFORM_CONVENTION`.
        """
        return {
            "rotation_zyz_deg": [float(v) for v in self.euler_zyz_deg],
            "rotation_matrix": self.rotation.tolist(),
            "translation_xyz_voxels": [float(v) for v in self.translation],
        }

    @classmethod
    def from_record(cls, record: dict, *, source: str = "record") -> "RigidTransform":
        """Inverse of :meth:`to_record` (reads the matrix; ``source`` names it in errors)."""
        try:
            return cls(np.asarray(record["rotation_matrix"], dtype=float),
                       np.asarray(record["translation_xyz_voxels"], dtype=float))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{source}: expected rotation_matrix (3x3) and translation_xyz_voxels (3), "
                f"found {exc}"
            ) from None


def transform_errors(found: RigidTransform, truth: RigidTransform) -> tuple[float, float]:
    """Rotation error (degrees, geodesic) and translation error (voxels, Euclidean)."""
    return (float(rotation_distance_deg(found.rotation, truth.rotation)),
            float(np.linalg.norm(found.translation - truth.translation)))


def transform_distance(first: RigidTransform, second: RigidTransform) -> float:
    """Frobenius norm of the paper's eq. 12 difference between two rigid transforms.

    ``D = R_j^-1 (I - (a_j, a_j, a_j)) - R_k^-1 (I - (a_k, a_k, a_k))``, where
    ``(a, a, a)`` is the 3x3 matrix whose three columns are ``a``. It mixes rotation and
    translation (in voxels) in one number and is 0 only for equal transforms.
    """
    return float(np.linalg.norm(transform_distance_term(first) - transform_distance_term(second)))


def transform_distance_term(transform: RigidTransform) -> np.ndarray:
    """``R^-1 (I - (a, a, a))`` of eq. 12, shape (3, 3); distances are Frobenius norms of
    differences of these, so a set of transforms can be compared in one array operation."""
    return transform.rotation.T @ (np.eye(3) - transform.translation[:, None] @ np.ones((1, 3)))
