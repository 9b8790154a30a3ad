"""The bookkeeping of refinement rounds that averaging and classification share.

A run's directory holds one directory per round, ``round_000`` (the start), ``round_001``,
...; a round is finished when its ``round.json`` exists (written last, atomically,
:func:`save_round_record`). A run killed during a round and started again redoes only what
the round had not committed (:mod:`subalign.workflows.rounds.passes`); every later step is a
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
import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from subalign.execution import JobClock
from subalign.execution.jobs import check_claim, claim
from subalign.io.files import atomic_path, write_json
from subalign.io.formats import write_particles
from subalign.io.star import copy_star
from subalign.numerics.geometry import rotation_distance_deg
from subalign.workflows.maps import symmetry_rotations
from subalign.workflows.particle_files import record_particle_files, refuse_changed
from subalign.workflows.rounds.inputs import RefineInputs
from subalign.workflows.rounds.outputs import round_line, write_round_log

__all__ = ["HALVES", "MOVED_DEG", "MOVED_VOXELS", "RoundState", "assign_half_sets",
           "claim_run", "close_round", "copy_round_files", "finished_round", "load_state", "moved_summary",
           "pose_changes", "round_dir", "run_rounds", "save_state", "starting_state",
           "write_round_set"]

log = logging.getLogger("subalign")

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


def claim_run(inputs: RefineInputs, what: str) -> bool:
    """Claim ``inputs.output_dir`` for this run (:func:`subalign.execution.jobs.claim`):
    refuse another run's directory, or one whose particles' files changed since the run
    began there; record the files' stamps.

    Returns
    -------
    bool
        True when the directory held this run (it resumes).
    """
    job = inputs.output_dir / "job.json"
    if check_claim(job, inputs.record, what=what):
        refuse_changed(inputs.output_dir, inputs.checked, what)
    resumed = claim(job, inputs.record, what=what)
    record_particle_files(inputs.output_dir, inputs.checked)
    return resumed


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


def starting_state(inputs: RefineInputs, seed: int, classes: int = 0) -> tuple[RoundState, bool]:
    """Round 0's state: the set's poses and classes, its half sets (or seeded random ones,
    :func:`assign_half_sets`), no scores; with ``classes``, every class's poses are the
    set's.

    Returns
    -------
    RoundState
    bool
        Whether the half sets were assigned here.
    """
    particles = inputs.particles
    n = len(particles)
    halves, assigned = assign_half_sets(particles.fields["half_set"].to_numpy(), seed)
    if assigned:
        log.info("half sets assigned at random (half_set_seed=%d): %d and %d particles", seed,
                 np.sum(halves == 1), np.sum(halves == 2))
    state = RoundState(particles.rotations.copy(), particles.shifts.copy(), halves,
                       particles.fields["class_number"].to_numpy().astype(np.int64),
                       np.full(n, np.nan), np.full(n, np.nan))
    if classes:
        state.class_rotations = np.repeat(particles.rotations[None], classes, axis=0)
        state.class_shifts = np.repeat(particles.shifts[None], classes, axis=0)
    return state, assigned


def close_round(directory: Path, record: dict, inputs: RefineInputs,
                clock: JobClock | None) -> dict:
    """Finish a round's record (its time from ``clock``, per particle too), write it as
    ``round.json`` (last: it marks the round finished) and log its line."""
    if clock is not None:
        record["seconds"] = clock.tick()
        record["seconds_per_particle"] = record["seconds"] / len(inputs.particles)
    write_json(directory / "round.json", record)
    log.info("%s", round_line(record))
    return record


def run_rounds(output_dir: Path, *, start: Callable[[], dict],
               refine: Callable[[int, dict], dict], stop: Callable[[list], str | None],
               report: Callable[[list], None]) -> tuple[list[dict], int, str]:
    """Rounds 0, 1, ... until ``stop`` says why not: a finished round is read, not redone.

    Parameters
    ----------
    output_dir : Path
    start : callable
        ``start() -> record``: round 0.
    refine : callable
        ``refine(number, previous record) -> record``.
    stop : callable
        ``stop(records) -> reason or None``, after every round.
    report : callable
        ``report(records)``, after every round computed here (``rounds.log`` is written too).

    Returns
    -------
    list of dict
        Every round's record, round 0 first.
    int
        Rounds computed by this call.
    str
        Why the rounds stopped.
    """
    records, ran, number = [], 0, 0
    while True:
        record = finished_round(output_dir, number)
        if record is None:
            record = start() if number == 0 else refine(number, records[-1])
            ran += 1
            write_round_log(output_dir, records + [record])
            report(records + [record])
        records.append(record)
        reason = stop(records)
        if reason is not None:
            return records, ran, reason
        number += 1


def copy_round_files(output_dir: Path, record: dict, roles: Callable[[str], bool]) -> dict:
    """Copy the files of round ``record`` whose role ``roles(role)`` accepts to the top of
    ``output_dir`` (atomically); returns them by role."""
    source = round_dir(output_dir, record["number"])
    files = {}
    for role, name in record["files"].items():
        if roles(role) and name.endswith(".star"):
            copy_star(source / name, Path(output_dir) / name)  # file names follow the table
            files[role] = name
        elif roles(role):
            with atomic_path(Path(output_dir) / name) as temporary:
                shutil.copyfile(source / name, temporary)
            files[role] = name
    return files
