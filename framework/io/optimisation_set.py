"""RELION 5 optimisation sets: one file naming a particle table and its tomograms.

An optimisation set (``*_optimisation_set.star``) is a STAR file with one simple block
holding ``rlnTomoParticlesFile`` and ``rlnTomoTomogramsFile`` (and, for other RELION
programs, ``rlnTomoTrajectoriesFile``, ``rlnTomoManifoldsFile``, ``rlnTomoReferenceMap1``,
... which subalign does not need). Its file names are relative to the RELION project
directory, where RELION runs. subalign looks for them in the ``--project-dir`` given, then
in the set's folder and up to three of its parents (a set written by a RELION job sits in
``<project>/<Job>/jobNNN/``), then in the working directory; the first place that holds the
particle table is taken as the project directory for every other file, tilt-series files
included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from subalign.io.tables import ParticleTableError

__all__ = ["OptimisationSet", "is_optimisation_set", "read_optimisation_set"]

PARTICLES = "rlnTomoParticlesFile"
TOMOGRAMS = "rlnTomoTomogramsFile"


@dataclass(frozen=True)
class OptimisationSet:
    """The files an optimisation set names, resolved: ``particles``, ``tomograms`` (None if it
    names none) and the ``project_dir`` they were found in."""

    particles: Path
    tomograms: Path | None
    project_dir: Path


def is_optimisation_set(path: str | os.PathLike) -> bool:
    """Whether an existing STAR file is an optimisation set (it names a particle table)."""
    path = Path(path)
    if path.suffix.lower() != ".star" or not path.is_file():
        return False
    with open(path, "rb") as handle:
        return f"_{PARTICLES}".encode() in handle.read(1 << 14)


def _places(path: Path, project_dir: Path | None) -> list[Path]:
    folder = path.resolve().parent
    places = [project_dir] if project_dir is not None else []
    places += [folder, *list(folder.parents)[:3], Path.cwd()]
    return list(dict.fromkeys(places))


def read_optimisation_set(path: str | os.PathLike, *,
                          project_dir: str | os.PathLike | None = None) -> OptimisationSet:
    """Read an optimisation set and find its files (module docstring).

    Raises
    ------
    ParticleTableError
        It names no particle table, or a file it names is found nowhere (the message lists
        where it looked).
    """
    from subalign.io.star import read_star

    path = Path(path)
    blocks = read_star(path)
    values = {}
    for block in blocks.values():
        if isinstance(block, dict):
            values.update(block)
    if PARTICLES not in values:
        raise ParticleTableError(f"{path}: expected an optimisation set naming {PARTICLES}, "
                                 f"found {', '.join(values) or 'no simple block'}")
    places = _places(path, None if project_dir is None else Path(project_dir))
    particles = str(values[PARTICLES])
    root = next((p for p in places if (p / particles).is_file()), None)
    if root is None:
        raise ParticleTableError(f"{path}: {PARTICLES}: {particles} not found (looked in "
                                 f"{', '.join(str(p) for p in places)}; give --project-dir)")
    tomograms = None
    if str(values.get(TOMOGRAMS, "") or ""):
        tomograms = root / str(values[TOMOGRAMS])
        if not tomograms.is_file():
            raise ParticleTableError(f"{path}: {TOMOGRAMS}: {values[TOMOGRAMS]} not found in the "
                                     f"project directory {root} (where {particles} is)")
    return OptimisationSet(root / particles, tomograms, root)
