"""A tilt series' geometry as a single-axis series: its tilt axis, tilt angles and frame.

Real tilt series are described per tilt by a rotation whose third row is the beam direction
in the tomogram's ``(x, y, z)`` (RELION 5 and WarpTools projection matrices). A perfect
single-axis series has every beam direction in one plane; its normal is the tilt axis.
:func:`single_axis_frame` fits that plane by least squares and returns the *tilt frame*: the
rotation ``Q`` (rows: the frame's ``x``, ``y``, ``z`` in tomogram coordinates) with

* ``y`` the fitted tilt axis, signed to point along the tomogram's ``+y`` (its sign does not
  change which planes are measured);
* ``z`` the tomogram's ``z`` made perpendicular to the axis: the zero-tilt beam;
* ``x = y cross z`` (right-handed).

A vector ``p`` of the tomogram has coordinates ``Q p`` in the frame; a volume turned into
the frame is ``Lambda_Q`` of it, and a pose ``tau_t Lambda_R`` becomes
``tau_(Q t) Lambda_(Q R)``. In the frame each tilt has the angle ``alpha`` of
:mod:`subalign.numerics.wedge` (tilting by ``alpha`` about ``+y`` measures the plane whose
normal, the beam, is ``(-sin alpha, 0, cos alpha)``), so the series measures the wedge of
``TiltRange(min alpha, max alpha)`` about ``y`` where it is single-axis. How far it is not is
each beam's angle to the fitted plane (``off_axis_deg``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TiltFrame", "check_rotations", "single_axis_frame"]


@dataclass(frozen=True)
class TiltFrame:
    """A tilt series as seen from its least-squares single-axis frame (module docstring).

    Attributes
    ----------
    rotation : ndarray of shape (3, 3)
        ``Q``: tomogram ``(x, y, z)`` -> frame coordinates.
    angles_deg : ndarray of shape (m,)
        Each tilt's angle about the frame's ``y``.
    off_axis_deg : ndarray of shape (m,)
        Each beam direction's angle to the plane perpendicular to the tilt axis.
    """

    rotation: np.ndarray
    angles_deg: np.ndarray
    off_axis_deg: np.ndarray

    @property
    def axis(self) -> np.ndarray:
        """The tilt axis ``(x, y, z)`` in tomogram coordinates, shape (3,)."""
        return self.rotation[1]

    def axis_angle_deg(self) -> float:
        """The tilt axis' angle to the tomogram's ``y`` axis, in degrees."""
        return float(np.degrees(np.arccos(np.clip(abs(self.axis[1]), 0.0, 1.0))))


def check_rotations(rotations: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
    """The index of every 3x3 matrix that is not orthonormal within ``tolerance``
    (``|A A^T - I|`` elementwise), shape (k,)."""
    products = rotations @ np.swapaxes(rotations, -1, -2)
    error = np.abs(products - np.eye(3)).reshape(len(rotations), -1).max(axis=1)
    return np.flatnonzero(~(error <= tolerance))


def single_axis_frame(beams: np.ndarray) -> TiltFrame:
    """Fit a single tilt axis to beam directions (module docstring).

    Parameters
    ----------
    beams : ndarray of shape (m, 3)
        Unit beam directions ``(x, y, z)`` in the tomogram, one per tilt (their signs do not
        matter).

    Returns
    -------
    TiltFrame
    """
    beams = np.asarray(beams, dtype=float)
    beams = beams / np.linalg.norm(beams, axis=1, keepdims=True)
    axis = np.linalg.svd(beams)[2][-1]
    if axis[1] < 0:
        axis = -axis
    zero_tilt = np.array([0.0, 0.0, 1.0]) - axis[2] * axis
    if np.linalg.norm(zero_tilt) < 1e-6:  # an axis along z: take x as the zero-tilt beam
        zero_tilt = np.array([1.0, 0.0, 0.0]) - axis[0] * axis
    zero_tilt /= np.linalg.norm(zero_tilt)
    rotation = np.stack([np.cross(axis, zero_tilt), axis, zero_tilt])
    local = beams @ rotation.T
    local *= np.where(local[:, 2:] < 0, -1.0, 1.0)
    angles = np.degrees(np.arctan2(-local[:, 0], local[:, 2]))
    off_axis = np.degrees(np.arcsin(np.clip(np.abs(local[:, 1]), 0.0, 1.0)))
    return TiltFrame(rotation, angles, off_axis)
