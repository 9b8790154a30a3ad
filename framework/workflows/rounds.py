"""The bookkeeping of refinement rounds that averaging and classification share.

A run's directory holds one directory per round, ``round_000`` (the start), ``round_001``,
...; a round is finished when its ``round.json`` exists (written last, atomically,
:func:`save_round_record`). A run killed during a round and started again redoes only what
the round had not committed (:mod:`subalign.workflows.passes`); every later step is a
function of the round's stores and of files written before, so it gives the same maps as an
uninterrupted run.

State. ``state.npz`` of a round holds what the next round starts from: each particle's pose
(``rotations`` (n, 3, 3), ``shifts`` (n, 3) voxels: the set's convention,
:mod:`subalign.io.particles`), ``half_set``, ``class_number``, ``score``, ``confidence``
(n,), and for classification each particle's pose against every class (``class_rotations``
(k, n, 3, 3), ``class_shifts`` (k, n, 3)).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from subalign.io.files import atomic_path, write_json
from subalign.io.formats import write_particles
from subalign.numerics.geometry import rotation_distance_deg
from subalign.workflows.maps import symmetry_rotations
from subalign.workflows.refine_inputs import RefineInputs

__all__ = ["HALVES", "MOVED_DEG", "MOVED_VOXELS", "RoundState", "assign_half_sets",
           "finished_round", "load_state", "moved_summary", "pose_changes", "round_dir",
           "save_round_record", "save_state", "write_round_set"]

#: The gold-standard half sets.
HALVES = (1, 2)
#: A particle whose rotation changed by more than this (degrees) in a round moved.
MOVED_DEG = 5.0
#: ... or whose shift changed by more than this (voxels).
MOVED_VOXELS = 1.0
_STATE_ARRAYS = ("rotations", "shifts", "half_set", "class_number", "score", "confidence",
                 "class_rotations", "class_shifts")


def assign_half_sets(half_set: np.ndarray, seed: int) -> tuple[np.ndarray, bool]:
    """The set's half sets if every particle has one (1 or 2) and both occur, else a random
    balanced split (``numpy.random.default_rng(seed)``).

    Returns
    -------
    ndarray of int, shape (n,)
        1 or 2 per particle.
    bool
        True when assigned here.
    """
    given = np.asarray(half_set, dtype=np.int64)
    if np.all(np.isin(given, HALVES)) and np.all(np.isin(HALVES, given)):
        return given, False
    order = np.random.default_rng(seed).permutation(len(given))
    halves = np.full(len(given), 2, dtype=np.int64)
    halves[order[: (len(given) + 1) // 2]] = 1
    return halves, True


def round_dir(output_dir: Path, number: int) -> Path:
    """``<output_dir>/round_NNN``."""
    return Path(output_dir) / f"round_{number:03d}"


def finished_round(output_dir: Path, number: int) -> dict | None:
    """The ``round.json`` record of a finished round, or None."""
    try:
        return json.loads((round_dir(output_dir, number) / "round.json").read_text())
    except (OSError, ValueError):
        return None


@dataclass
class RoundState:
    """Where a round leaves the particles (module docstring, "State")."""

    rotations: np.ndarray
    shifts: np.ndarray
    half_set: np.ndarray
    class_number: np.ndarray
    score: np.ndarray
    confidence: np.ndarray
    class_rotations: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3, 3)))
    class_shifts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))


def save_state(path: Path, state: RoundState) -> Path:
    """Write ``state`` as ``.npz``, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: getattr(state, name) for name in _STATE_ARRAYS})
    with atomic_path(path) as temporary:
        Path(temporary).write_bytes(buffer.getvalue())
    return Path(path)


def load_state(path: Path) -> RoundState:
    """Read a state written by :func:`save_state`."""
    with np.load(path) as data:
        return RoundState(**{name: data[name] for name in _STATE_ARRAYS})


def write_round_set(inputs: RefineInputs, state: RoundState, directory: Path) -> Path:
    """The particle set with the round's poses, scores, half sets and classes, in the output
    format, at ``directory / inputs.output``."""
    fields = inputs.particles.fields.copy()
    fields["half_set"] = state.half_set.astype(np.int64)
    fields["class_number"] = state.class_number.astype(np.int64)
    fields["score"] = state.score
    particles = replace(inputs.particles, rotations=state.rotations, shifts=state.shifts,
                        fields=fields)
    return write_particles(particles, directory / inputs.output, inputs.output_format)


def pose_changes(rotations: np.ndarray, shifts: np.ndarray, new_rotations: np.ndarray,
                 new_shifts: np.ndarray, symmetry: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """How far each pose moved: rotation (degrees, the least over the C_n copies of the new
    pose) and shift (voxels); arrays of shape (n,)."""
    angles = np.min([rotation_distance_deg(rotations, new_rotations @ s)
                     for s in symmetry_rotations(symmetry)], axis=0)
    return angles, np.linalg.norm(new_shifts - shifts, axis=1)


def moved_summary(angles: np.ndarray, distances: np.ndarray) -> dict:
    """``moved`` (particles past :data:`MOVED_DEG` or :data:`MOVED_VOXELS`) and the medians."""
    return {"moved": int(np.sum((angles > MOVED_DEG) | (distances > MOVED_VOXELS))),
            "median_rotation_change_deg": float(np.median(angles)),
            "median_shift_change_voxels": float(np.median(distances))}


def save_round_record(directory: Path, record: dict) -> Path:
    """``round.json``: written last, it marks the round finished."""
    return write_json(directory / "round.json", record)
