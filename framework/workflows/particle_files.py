"""Every particle's files, checked before any work, stamped, and compared on a rerun.

:func:`check_particles` runs the cheap checks of each particle before anything is written or
started (its file exists and its header agrees: box, voxel size, a stack's image count; its
weight volume is there when the run reads weights; its crop lies in its tomogram) and
reads the first box whole. A particle that fails is refused in one line naming its row
(``bad_particles=refuse``, the default), or skipped (``bad_particles=skip``): it is left out
of the run, and its row, file and reason go to ``skipped.json`` in the output directory.
Skipping is for the faults a header shows; a data fault found while aligning (NaN, a
constant box) still stops the run, in one line naming the particle.

Each particle's files get a stamp (:func:`subalign.io.files.file_stamp`: path, size,
modification time), recorded in ``particle_files.json`` beside the job's ``job.json``. They
are part of the job's identity: a rerun compares them (:func:`changed_particles`), and a
batch aligns the items of a changed particle again, alone, while averaging and
classification (whose every round uses every particle) refuse to resume.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from subalign.errors import ConfigError
from subalign.io.files import file_stamp, write_json
from subalign.io.particles import ParticleSet, ParticleTableError, row_error
from subalign.io.subtomograms import SubtomogramReader

__all__ = ["BAD_PARTICLES", "CheckedParticles", "STAMPS_FILE", "SKIPPED_FILE", "changed_particles",
           "check_particles", "describe_changed", "record_particle_files", "refuse_changed"]

logger = logging.getLogger("subalign")

#: What a run does with a particle whose file fails the checks before work.
BAD_PARTICLES = ("refuse", "skip")
STAMPS_FILE = "particle_files.json"
SKIPPED_FILE = "skipped.json"


@dataclass
class CheckedParticles:
    """A particle set whose files passed the checks.

    Attributes
    ----------
    particles : ParticleSet
        The particles to work on: the input set without the skipped ones.
    box : int
        Box edge, voxels.
    rows : ndarray of int, shape (n,)
        Each kept particle's row in the input set.
    stamps : list of list
        Per kept particle, the stamps of the files it is read from.
    skipped : list of dict
        ``{"row", "file", "reason"}`` of each skipped particle (``row`` counts the input
        set's particles from 1, as every message does).
    """

    particles: ParticleSet
    box: int
    rows: np.ndarray
    stamps: list = field(default_factory=list)
    skipped: list = field(default_factory=list)


def check_particles(particles: ParticleSet, box_size: int | None, edge: str, *,
                    weights: bool = False, bad_particles: str = "refuse") -> CheckedParticles:
    """Check every particle's files before any work (module docstring).

    Parameters
    ----------
    particles : ParticleSet
    box_size : int, optional
        Box edge when cropping from tomograms.
    edge : {"error", "zero", "mean"}
    weights : bool
        The run reads weight volumes (``rlnCtfImage``): each must be there.
    bad_particles : {"refuse", "skip"}

    Returns
    -------
    CheckedParticles

    Raises
    ------
    ParticleTableError
        A particle fails (``refuse``), in one line naming its row, column and file; or every
        particle fails (``skip``).
    """
    if bad_particles not in BAD_PARTICLES:
        raise ConfigError(f"bad_particles: expected one of {', '.join(BAD_PARTICLES)}, found "
                          f"{bad_particles!r}")
    skip = bad_particles == "skip"
    names = particles.fields["subtomogram"].to_numpy()
    kept, stamps, skipped, box = [], [], [], None
    every = max(1, len(particles) // 10)
    with SubtomogramReader(particles, box_size=box_size, edge=edge, weights=weights) as reader:
        for row in range(len(particles)):
            try:
                if box is None:
                    box = int(reader(row).volume.shape[0])  # the first box reads whole
                else:
                    reader.check(row)
                stamps.append([file_stamp(path) for path in reader.files(row)])
                kept.append(row)
            except ParticleTableError as exc:
                if not skip:
                    raise
                skipped.append({"row": row + 1, "file": str(names[row] or ""), "reason": str(exc)})
                logger.warning("skipped particle %s (bad_particles=skip)", exc)
            if len(particles) > 10_000 and row % every == 0:
                logger.info("checked %d of %d particles", row, len(particles))
    if not kept:
        first = skipped[0]
        raise row_error(particles.label, first["row"] - 1, particles.column("subtomogram"),
                        f"every particle was skipped, the first because: {first['reason']}")
    if skipped:
        logger.warning("skipped %d of %d particles (bad_particles=skip): their rows and reasons "
                       "go to %s", len(skipped), len(particles), SKIPPED_FILE)
    rows = np.asarray(kept, dtype=np.int64)
    chosen = particles if not skipped else particles.take(rows)
    return CheckedParticles(chosen, box, rows, stamps, skipped)


def changed_particles(output_dir: Path, checked: CheckedParticles) -> np.ndarray:
    """Particles (rows of ``checked.particles``) whose files differ from the stamps a
    previous run recorded in ``output_dir``; all of them if the record is unreadable or of
    another set, none if there is no record.

    Returns
    -------
    ndarray of int, shape (k,)
    """
    path = Path(output_dir) / STAMPS_FILE
    if not path.exists():
        return np.zeros(0, dtype=np.int64)
    try:
        recorded = json.loads(path.read_text())["stamps"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    if not isinstance(recorded, list) or len(recorded) != len(checked.stamps):
        return np.arange(len(checked.stamps), dtype=np.int64)
    return np.array([k for k, (old, new) in enumerate(zip(recorded, checked.stamps))
                     if old != new], dtype=np.int64)


def record_particle_files(output_dir: Path, checked: CheckedParticles) -> None:
    """Write the particles' stamps (``particle_files.json``) and, if any were skipped,
    ``skipped.json``; both atomically."""
    write_json(Path(output_dir) / STAMPS_FILE, {"stamps": checked.stamps})
    if checked.skipped:
        write_json(Path(output_dir) / SKIPPED_FILE, {"skipped": checked.skipped})


def refuse_changed(output_dir: Path, checked: CheckedParticles, what: str) -> None:
    """Refuse to resume a run whose particles' files changed since it began: every round of an
    average or a classification used every particle, so none of its results would hold.

    Raises
    ------
    ConfigError
        ``"<dir>: <row> changed since this <what> began in it ...; expected ..."``.
    """
    changed = changed_particles(output_dir, checked)
    if changed.size:
        raise ConfigError(f"{output_dir}: {describe_changed(checked, changed)} changed since this "
                          f"{what} began in it (size or modification time); expected the files "
                          f"its rounds were made from (every round uses every particle: choose "
                          "another output_dir)")


def describe_changed(checked: CheckedParticles, changed: np.ndarray) -> str:
    """``"row 3 (sub_003.mrc)"`` or ``"4 particles (rows 3, 7, 9, ...)"`` (rows of the input
    set from 1) of ``changed`` (rows of ``checked.particles``), for messages."""
    rows = [int(checked.rows[k]) + 1 for k in changed]
    if len(rows) == 1:
        files = ", ".join(Path(stamp[0]).name for stamp in checked.stamps[int(changed[0])])
        return f"row {rows[0]} ({files})"
    shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return f"{len(rows)} particles (rows {shown})"
