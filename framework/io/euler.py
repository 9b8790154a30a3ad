"""Extrinsic ZXZ Euler angles (Dynamo's and TOM/AV3's), to and from rotation matrices.

``zxz_to_matrix((a1, a2, a3)) = Rz(a3) @ Rx(a2) @ Rz(a1)``: rotations by ``a1`` about z,
then ``a2`` about the fixed x, then ``a3`` about the fixed z, right-handed, degrees. This is
``eulerangles.euler2matrix(angles, axes="zxz", intrinsic=False, right_handed_rotation=True)``,
which computes it. The inverse does not use ``eulerangles.matrix2euler``: its version 1.0.2
takes ``|R[0, 2]| < 1e-4`` for gimbal lock, which also holds away from it (``sin a3 ~ 0``),
and returns wrong angles for about 1 in 10,000 random rotations. Instead,
``Rx(a) = Rz(-90) Ry(a) Rz(90)`` turns ZXZ into the ZYZ angles of
:func:`subalign.numerics.geometry.matrix_to_euler_zyz`: ``a3 = phi + 90``, ``a2 = theta``,
``a1 = psi - 90``.
"""

from __future__ import annotations

import numpy as np

from subalign.numerics.geometry import matrix_to_euler_zyz

__all__ = ["matrix_to_zxz", "wrap_degrees", "zxz_to_matrix"]


def zxz_to_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """``Rz(a3) Rx(a2) Rz(a1)`` for angles ``(a1, a2, a3)``.

    Parameters
    ----------
    angles_deg : array_like of shape (n, 3)

    Returns
    -------
    ndarray of shape (n, 3, 3)
    """
    import eulerangles

    angles = np.asarray(angles_deg, dtype=float).reshape(-1, 3)
    matrices = eulerangles.euler2matrix(angles, axes="zxz", intrinsic=False,
                                        right_handed_rotation=True)
    return np.asarray(matrices, dtype=float).reshape(-1, 3, 3)


def matrix_to_zxz(rotation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`zxz_to_matrix`.

    Parameters
    ----------
    rotation : array_like of shape (n, 3, 3)

    Returns
    -------
    ndarray of shape (n, 3)
        ``(a1, a2, a3)`` in degrees, ``a1, a3`` in ``[-180, 180)``, ``a2`` in ``[0, 180]``.
    """
    zyz = matrix_to_euler_zyz(np.asarray(rotation, dtype=float).reshape(-1, 3, 3))
    return np.column_stack([wrap_degrees(zyz[:, 2] - 90.0), zyz[:, 1], wrap_degrees(zyz[:, 0] + 90.0)])


def wrap_degrees(angles: np.ndarray) -> np.ndarray:
    """Angles in degrees wrapped into ``[-180, 180)``."""
    return (np.asarray(angles, dtype=float) + 180.0) % 360.0 - 180.0
