"""How far a refinement's poses and classes are from the truth (simulated particles).

A refined map is the true map in a frame of its own: a run started from a particle, or
whose map drifted by a voxel, finds poses ``P_i = T_i X S_k`` for the true poses ``T_i``,
one rigid transform ``X`` for the whole set and any rotation ``S_k`` of the map's point group
(:mod:`subalign.numerics.symmetry`: C_n, D_n, T, O, I with RELION's axes). :func:`pose_errors`
estimates ``X`` (the candidate ``T_j^-1 P_j`` that leaves the smallest median rotation error,
then the chordal mean over the particles within :data:`INLIER_DEG` of it) and measures each
pose against ``T_i X`` up to symmetry: the least error over the group's copies ``P_i S_k``,
so symmetric copies count once.
"""

from __future__ import annotations

import numpy as np

from subalign.numerics.geometry import RigidTransform, rotation_angle_deg, rotation_distance_deg
from subalign.numerics.symmetry import PointGroup, point_group

__all__ = ["GROSS_ERROR_DEG", "INLIER_DEG", "pose_errors"]

#: A rotation error above this (degrees) is a gross failure.
GROSS_ERROR_DEG = 20.0
#: Particles within this rotation error (degrees) of the first frame estimate refine it.
INLIER_DEG = 10.0
#: Candidate frames tried (evenly spaced particles).
CANDIDATES = 64


def _errors(frame: RigidTransform, rotations, shifts, truth_rotations, truth_shifts,
            symmetry: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation errors, shift errors and the best symmetry copy of each particle."""
    predicted = truth_rotations @ frame.rotation
    angles = np.stack([rotation_distance_deg(rotations @ s, predicted) for s in symmetry])
    copy = np.argmin(angles, axis=0)
    predicted_shifts = truth_shifts + truth_rotations @ frame.translation
    return (angles[copy, np.arange(len(copy))], np.linalg.norm(shifts - predicted_shifts, axis=1),
            copy)


def _chordal_mean(rotations: np.ndarray) -> np.ndarray:
    """The rotation nearest the mean of ``rotations`` (n, 3, 3) in the Frobenius norm."""
    u, _, vt = np.linalg.svd(rotations.mean(axis=0))
    return u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt


def pose_errors(rotations: np.ndarray, shifts: np.ndarray, truth_rotations: np.ndarray,
                truth_shifts: np.ndarray, symmetry: "int | str | PointGroup" = 1) -> dict:
    """Pose errors of a set against its true poses, in the best common frame (module docstring).

    Parameters
    ----------
    rotations, truth_rotations : ndarray of shape (n, 3, 3)
    shifts, truth_shifts : ndarray of shape (n, 3)
        Poses in the particle-set convention (:mod:`subalign.io.particles`), voxels.
    symmetry : int, str or PointGroup
        The map's point group (:func:`~subalign.numerics.symmetry.parse_symmetry`); an int
        ``n`` is C_n about ``z``.

    Returns
    -------
    dict
        ``median_rotation_error_deg``, ``median_shift_error_voxels``, ``gross_failures``
        (rotation error above :data:`GROSS_ERROR_DEG`), ``frame_rotation_deg`` and
        ``frame_shift_voxels`` (how far ``X`` is from the identity), and ``rotation_errors_deg``
        (n,) as a list.
    """
    copies = point_group(symmetry).rotations
    arrays = (rotations, shifts, truth_rotations, truth_shifts)
    inverse = np.swapaxes(truth_rotations, 1, 2)
    candidates = np.unique(np.linspace(0, len(rotations) - 1, CANDIDATES).astype(int))
    best, best_median = None, np.inf
    for j in candidates:
        frame = RigidTransform(inverse[j] @ rotations[j],
                               inverse[j] @ (shifts[j] - truth_shifts[j]))
        median = float(np.median(_errors(frame, *arrays, copies)[0]))
        if median < best_median:
            best, best_median = frame, median
    angles, _, copy = _errors(best, *arrays, copies)
    inliers = angles <= max(INLIER_DEG, best_median)
    unfolded = rotations[inliers] @ copies[copy[inliers]]  # each particle's copy nearest X
    frame_rotations = inverse[inliers] @ unfolded
    frame_shifts = np.einsum("kij,kj->ki", inverse[inliers], shifts[inliers] - truth_shifts[inliers])
    frame = RigidTransform(_chordal_mean(frame_rotations), frame_shifts.mean(axis=0))
    angles, distances, _ = _errors(frame, *arrays, copies)
    return {"median_rotation_error_deg": float(np.median(angles)),
            "median_shift_error_voxels": float(np.median(distances)),
            "gross_failures": int(np.sum(angles > GROSS_ERROR_DEG)),
            "frame_rotation_deg": float(rotation_angle_deg(frame.rotation)),
            "frame_shift_voxels": float(np.linalg.norm(frame.translation)),
            "rotation_errors_deg": [float(a) for a in angles]}
