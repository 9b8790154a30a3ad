"""Particle-set formats by name: reading, writing, converting and summarizing sets.

=========== ============================================= =======================
name        format                                        module
=========== ============================================= =======================
``relion5`` RELION 5 tomography particles (``.star``)     :mod:`subalign.io.relion`
``relion4`` RELION 3/4 subtomogram particles (``.star``)  :mod:`subalign.io.relion`
``dynamo``  Dynamo table (``.tbl``)                       :mod:`subalign.io.dynamo`
``em``      TOM/AV3 motive list (``.em``)                 :mod:`subalign.io.em_motivelist`
``stopgap`` STOPGAP motive list (``.star``)               :mod:`subalign.io.stopgap`
=========== ============================================= =======================

Each module states its convention; the model is :mod:`subalign.io.particles`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from subalign.io.agreement import check_tomogram_table
from subalign.io.dynamo import read_dynamo, write_dynamo
from subalign.io.em_motivelist import read_motivelist, write_motivelist
from subalign.io.particles import ParticleSet, ParticleTableError
from subalign.io.optimisation_set import is_optimisation_set, read_optimisation_set
from subalign.io.relion import read_relion, write_relion4, write_relion5
from subalign.io.stacks import assign_stack_wedges
from subalign.io.stopgap import read_stopgap, write_stopgap
from subalign.io.tomograms import read_tomogram_table
from subalign.numerics.geometry import matrix_to_euler_zyz
from subalign.numerics.wedge import TiltRange

__all__ = ["FORMATS", "detect_format", "output_format", "read_particles", "summarize",
           "write_particles"]


@dataclass(frozen=True)
class Format:
    """How to read and write one format, its file suffix; ``numbered`` formats name
    subtomograms by number."""

    read: Callable[..., ParticleSet]
    write: Callable[..., Path]
    description: str
    suffix: str
    numbered: bool = False


FORMATS = {
    "relion5": Format(read_relion, write_relion5, "RELION 5 tomography particles STAR", ".star"),
    "relion4": Format(read_relion, write_relion4, "RELION 3/4 subtomogram particles STAR", ".star"),
    "dynamo": Format(read_dynamo, write_dynamo, "Dynamo table (.tbl)", ".tbl", numbered=True),
    "em": Format(read_motivelist, write_motivelist, "TOM/AV3 motive list (.em)", ".em", numbered=True),
    "stopgap": Format(read_stopgap, write_stopgap, "STOPGAP motive list (.star)", ".star",
                      numbered=True),
}


def _check_name(name: str) -> str:
    if name not in FORMATS:
        raise ParticleTableError(f"format: expected one of {', '.join(FORMATS)}, found {name!r}")
    return name


def detect_format(path: str | os.PathLike) -> str:
    """The format of an existing file, from its suffix and, for STAR, its column names.

    Raises
    ------
    ParticleTableError
        The suffix is none of ``.star``, ``.tbl``, ``.em``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".tbl":
        return "dynamo"
    if suffix == ".em":
        return "em"
    if suffix != ".star":
        raise ParticleTableError(f"{path}: expected a .star, .tbl or .em particle file (or give "
                                 f"the format: {', '.join(FORMATS)})")
    if not path.is_file():
        raise ParticleTableError(f"{path}: no such file (expected a particle STAR file)")
    with open(path, "rb") as handle:
        head = handle.read(1 << 16).decode("utf-8", "replace")
    if "stopgap_motivelist" in head or "_motl_idx" in head:
        return "stopgap"
    relion5 = ("_rlnCenteredCoordinateXAngst", "_rlnTomoSubTomosAre2DStacks", "_rlnTomoVisibleFrames")
    if "_rlnCoordinateX" in head and not any(column in head for column in relion5):
        return "relion4"
    return "relion5"


def output_format(path: str | os.PathLike, like: str | None = None) -> str:
    """The format to write ``path`` in: by suffix; a ``.star`` file keeps ``like`` if it is a
    STAR format, else RELION 5."""
    suffix = Path(path).suffix.lower()
    if suffix == ".tbl":
        return "dynamo"
    if suffix == ".em":
        return "em"
    if suffix == ".star":
        return like if like in ("relion5", "relion4", "stopgap") else "relion5"
    raise ParticleTableError(f"{path}: expected a .star, .tbl or .em name (or give --to "
                             f"{'/'.join(FORMATS)})")


def output_table(output: str | None, to: str | None, particles: ParticleSet,
                 stem: str) -> tuple[Path, str]:
    """The table a command writes and its format: ``to`` if given, else by the suffix of
    ``output``, else the format ``particles`` were read in (RELION 5 for a set without
    one); the name defaults to ``stem`` with the format's suffix."""
    source_format = particles.source.format if particles.source is not None else "relion5"
    fmt = to or source_format
    path = Path(output or f"{stem}{FORMATS[fmt].suffix}")
    if output is not None and to is None:
        fmt = output_format(path, source_format)
    return path, fmt


def read_particles(path: str | os.PathLike, format: str | None = None, *,
                   pixel_size: float | None = None, subtomograms: str | os.PathLike | None = None,
                   tomograms: str | os.PathLike | None = None, wedge=None,
                   tilt_axis: str | None = None,
                   project_dir: str | os.PathLike | None = None) -> ParticleSet:
    """Read a particle set and give it its wedges.

    A 2-D stack set's particles take their wedges from their visible tilts
    (:func:`subalign.io.stacks.assign_stack_wedges`); the others from the file, the tomogram
    table, then ``wedge``.

    Parameters
    ----------
    path : str or path-like
        A particle table, or a RELION 5 optimisation set (:mod:`subalign.io.optimisation_set`),
        which also names the tomogram table (unless ``tomograms`` is given).
    format : str, optional
        A name of :data:`FORMATS`; default :func:`detect_format`.
    pixel_size : float, optional
        Angstrom per voxel, for formats that hold none (checked against those that do).
    subtomograms : str or path-like, optional
        Where numbered formats keep subtomograms: Dynamo's particle folder, AV3's and
        STOPGAP's file prefix.
    tomograms : str or path-like, optional
        A per-tomogram table (:mod:`subalign.io.tomograms`): tilt ranges, files, sizes.
    wedge : TiltRange or [min, max], optional
        The tilt range of particles that get none from the file or the table.
    tilt_axis : {"y", "x"}, optional
        The tilt axis of the wedges given here.
    project_dir : str or path-like, optional
        The RELION project directory, where relative names of an optimisation set and of
        tilt-series files start.

    Returns
    -------
    ParticleSet
    """
    if format is None and is_optimisation_set(path):
        found = read_optimisation_set(path, project_dir=project_dir)
        path, project_dir = found.particles, found.project_dir
        tomograms = tomograms if tomograms is not None else found.tomograms
    name = _check_name(format) if format is not None else detect_format(path)
    if FORMATS[name].numbered:
        particles = FORMATS[name].read(path, pixel_size=pixel_size, subtomograms=subtomograms)
    elif subtomograms not in (None, ""):
        raise ParticleTableError(
            f"{path}: subtomograms={subtomograms} applies to the numbered formats (Dynamo, "
            f"AV3, STOPGAP); a {name} table names each particle's file itself")
    else:
        particles = FORMATS[name].read(path, pixel_size=pixel_size)
    if not len(particles):
        raise ParticleTableError(f"{path}: expected at least one particle, found an empty table")
    return assign_stack_wedges(_with_tomograms(particles, tomograms, project_dir, wedge,
                                               tilt_axis, pixel_size))


def _with_tomograms(particles: ParticleSet, tomograms, project_dir, wedge, tilt_axis,
                    pixel_size) -> ParticleSet:
    """``particles`` with a tomogram table merged in (where the two agree:
    :func:`subalign.io.agreement.check_tomogram_table`) and unknown wedges filled."""
    table = (read_tomogram_table(tomograms, project_dir=project_dir) if tomograms is not None
             else None)
    default = None
    if wedge is not None:
        default = wedge if isinstance(wedge, TiltRange) else TiltRange.parse(wedge, field="wedge")
    if table is not None:
        check_tomogram_table(particles, table, str(tomograms), tilt_axis=tilt_axis,
                             given_pixel_size=pixel_size)
    if table is None and default is None:
        return particles
    return particles.assign_wedges(tomograms=table, default=default, tilt_axis=tilt_axis,
                                   table=str(tomograms))


def write_particles(particles: ParticleSet, path: str | os.PathLike, format: str | None = None, *,
                    subtomograms: str | os.PathLike | None = None) -> Path:
    """Write a set in ``format`` (default :func:`output_format` of ``path``).

    ``subtomograms``: for numbered formats, where to link each particle's file (Dynamo's
    particle folder, AV3's and STOPGAP's prefix).

    Returns
    -------
    Path
    """
    like = particles.source.format if particles.source is not None else None
    name = _check_name(format) if format is not None else output_format(path, like)
    if FORMATS[name].numbered:
        return FORMATS[name].write(particles, path, subtomograms=subtomograms)
    return FORMATS[name].write(particles, path)


def summarize(particles: ParticleSet) -> dict:
    """Counts and distributions of a set, for ``subalign show``.

    Returns
    -------
    dict
        ``count``, ``pixel_size``, ``box_size``, ``source``; ``tomograms``, ``wedges``,
        ``half_sets``, ``classes`` (value -> count, wedges as ``"min..max axis"``, ``"unknown"``
        for none); ``tilt_quartiles_deg`` (of the ZYZ theta of the rotations; uniform
        rotations give about 60, 90, 120); ``mean_direction`` (length of the mean of the
        rotated z axes: 0 for uniform, 1 for all alike); ``shift_voxels`` (median, max).
    """
    fields = particles.fields

    def counts(values) -> dict:
        series = pd.Series(values).value_counts(sort=True)
        return {str(k): int(v) for k, v in series.items()}

    low, high = fields["tilt_min"].to_numpy(float), fields["tilt_max"].to_numpy(float)
    wedges = np.where(np.isnan(low) | np.isnan(high), "unknown",
                      [f"{a:g}..{b:g} {axis}" for a, b, axis in zip(low, high, fields["tilt_axis"])])
    theta = matrix_to_euler_zyz(particles.rotations)[:, 1] if len(particles) else np.zeros(0)
    directions = particles.rotations[:, :, 2]
    lengths = np.linalg.norm(particles.shifts, axis=1)
    return {
        "count": len(particles),
        "source": particles.label if particles.source is None else
        f"{particles.source.path} ({particles.source.format})",
        "pixel_size": particles.pixel_size,
        "box_size": particles.box_size,
        "tomograms": counts(fields["tomogram"].replace("", "none")),
        "wedges": counts(wedges),
        "half_sets": counts(fields["half_set"].replace(0, "none")),
        "classes": counts(fields["class_number"].replace(0, "none")),
        "tilt_quartiles_deg": [float(v) for v in np.percentile(theta, [25, 50, 75])] if len(theta) else [],
        "mean_direction": float(np.linalg.norm(directions.mean(axis=0))) if len(particles) else 0.0,
        "shift_voxels": [float(np.median(lengths)), float(lengths.max())] if len(particles) else [],
    }
