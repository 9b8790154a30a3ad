"""TOM/AV3 motive lists: a 20 x N EM file, one column per particle.

Convention (AV3's ``av3_trans_rot_alig`` documentation; ``tom_rotate`` and
``tom_pointrotate``), rows counted from 1:

* rows 17, 18, 19 ``phi, psi, theta``: ``tom_rotate(reference, [phi, psi, theta])`` moves a
  point ``p`` to ``Rz(psi) Rx(theta) Rz(phi) p`` (``tom_pointrotate``), and the particle is
  that rotated reference shifted: our ``R = Rz(psi) Rx(theta) Rz(phi)``
  (:func:`subalign.io.euler.zxz_to_matrix` of ``(phi, theta, psi)``).
* rows 11-13: the shift applied after the rotation (``tom_shift``): our ``t`` (voxels).
  Rows 14-16 (the shift before the rotation, ``R^T t``) are kept as read, or computed
  for a new list.
* rows 8-10: the box centre in the tomogram as a voxel index counted from 1 (MATLAB;
  ``av3_average`` crops ``[x - r, x + r)``): our ``"index1"`` frame, in pixels; all three 0
  is no coordinate (a blank column).
* row 1 score, row 4 particle number (the tag; subtomograms are ``<prefix>_<number>.em``),
  row 5 tomogram number, row 20 class. Rows 2, 3, 6, 7 are kept as read.

Motive lists carry no pixel size, half set or wedge (AV3 keeps wedges in a separate list,
:mod:`subalign.io.tomograms`). New lists are written as float32, as AV3 writes them; a
list read is written back in its own type.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.euler import matrix_to_zxz, zxz_to_matrix
from subalign.io.files import atomic_path
from subalign.io.particles import ParticleSet, ParticleTableError, SourceTable, Tomogram, link_files
from subalign.io.tables import index1_coordinates
from subalign.io.tomograms import tomogram_name, tomogram_numbers

__all__ = ["ROWS", "angles_to_rotations", "numbered_files", "read_motivelist",
           "rotations_to_angles", "write_motivelist"]

#: Motive-list rows (counted from 1) and their meaning.
ROWS = {1: "score", 4: "particle", 5: "tomogram", 8: "x", 9: "y", 10: "z", 11: "dx", 12: "dy",
        13: "dz", 17: "phi", 18: "psi", 19: "theta", 20: "class"}


def angles_to_rotations(phi: np.ndarray, psi: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Our ``R = Rz(psi) Rx(theta) Rz(phi)`` from TOM/AV3 angles (degrees), shape (n, 3, 3)."""
    return zxz_to_matrix(np.column_stack([phi, theta, psi]))


def rotations_to_angles(rotations: np.ndarray) -> np.ndarray:
    """Inverse of :func:`angles_to_rotations`: columns ``phi, psi, theta``, shape (n, 3)."""
    phi, theta, psi = matrix_to_zxz(rotations).T
    return np.column_stack([phi, psi, theta])


def numbered_files(prefix: str | os.PathLike, numbers: np.ndarray) -> np.ndarray:
    """AV3's and STOPGAP's subtomogram names ``<prefix>_<number>.mrc`` (``.em`` if the first
    ``.mrc`` does not exist)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    extension = "mrc" if len(numbers) and Path(f"{prefix}_{numbers[0]}.mrc").exists() else "em"
    return np.array([f"{prefix}_{k}.{extension}" for k in numbers], dtype=object)


def link_numbered(particles: ParticleSet, prefix: str | os.PathLike, numbers: np.ndarray) -> None:
    """Make ``<prefix>_<number>.<ext>`` name each particle's subtomogram file."""
    sources = [particles.resolve(name) for name in particles.fields["subtomogram"]]
    link_files([f"{prefix}_{k}{Path(s).suffix or '.mrc'}" for k, s in zip(numbers, sources)], sources)


def read_motivelist(path: str | os.PathLike, *, pixel_size: float | None = None,
                    subtomograms: str | os.PathLike | None = None) -> ParticleSet:
    """Read a TOM/AV3 motive list (module docstring).

    Parameters
    ----------
    path : str or path-like
    pixel_size : float, optional
        Angstrom per voxel (the list holds none).
    subtomograms : str or path-like, optional
        The prefix of the particle files, ``<prefix>_<particle number>.em`` (or ``.mrc``).

    Returns
    -------
    ParticleSet
    """
    import emfile

    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ParticleTableError(f"{path}: no such file (expected a TOM/AV3 motive list .em)")
    try:
        _, data = emfile.read(path)
    except Exception as exc:  # struct and numpy errors on a malformed file
        raise ParticleTableError(f"{path}: expected an EM file, found {type(exc).__name__}: {exc}") from None
    if data.shape[0] != 1 or data.shape[2] != 20:
        raise ParticleTableError(f"{path}: expected a motive list of 20 rows x N particles, found "
                                 f"an EM array of {data.shape[2]} x {data.shape[1]} x {data.shape[0]}")
    values = np.asarray(data[0], dtype=float)
    for row in (4, 11, 12, 13, 17, 18, 19):
        bad = ~np.isfinite(values[:, row - 1])
        if bad.any():
            particle = int(np.argmax(bad))
            raise ParticleTableError(
                f"{source}: particle {particle + 1} (column {particle + 1}), row {row} "
                f"({ROWS[row]}): expected a finite number, found {values[particle, row - 1]!r}")
    rotations = angles_to_rotations(values[:, 16], values[:, 17], values[:, 18])
    tags = values[:, 3].astype(np.int64)
    names = np.array([tomogram_name(v) for v in values[:, 4]], dtype=object)
    tomograms = {name: Tomogram(name, number=int(number))
                 for name, number in zip(pd.unique(names), pd.unique(values[:, 4]))}
    fields = {"tag": tags, "tomogram": names, "score": values[:, 0],
              "class_number": values[:, 19].astype(np.int64),
              **index1_coordinates(values[:, 7], values[:, 8], values[:, 9])}
    if subtomograms is not None:
        fields["subtomogram"] = numbered_files(subtomograms, tags)
    table = pd.DataFrame(values, columns=[str(r) for r in range(1, 21)])
    return ParticleSet.create(
        rotations, values[:, 10:13], pixel_size=pixel_size, **fields, coordinate_frame="index1",
        coordinate_unit=pixel_size, tomograms=tomograms, base_dir=str(path.parent),
        source=SourceTable("em", source, table, {"dtype": data.dtype.str},
                           {"tomogram": "row 5 (tomogram)", "subtomogram": "particle file",
                            "class_number": "row 20 (class)"}))


def write_motivelist(particles: ParticleSet, path: str | os.PathLike, *,
                     subtomograms: str | os.PathLike | None = None) -> Path:
    """Write a TOM/AV3 motive list; with ``subtomograms`` (a prefix) also link each
    particle's file as ``<prefix>_<particle number>.<ext>``.

    Returns
    -------
    Path
    """
    import emfile

    path = Path(path)
    source = particles.source
    n = len(particles)
    same = source is not None and source.format == "em"
    values = source.table.to_numpy(dtype=float).copy() if same else np.zeros((n, 20))
    dtype = np.dtype(source.blocks["dtype"]) if same else np.dtype(np.float32)
    fields = particles.fields
    values[:, 3] = fields["tag"].to_numpy()
    if particles.has("tomogram"):
        values[:, 4] = tomogram_numbers(particles)[0]
    if particles.has("score"):
        values[:, 0] = fields["score"].fillna(0.0).to_numpy()
    if particles.has("class_number"):
        values[:, 19] = fields["class_number"].to_numpy()
    if fields[["x", "y", "z"]].notna().all(axis=None):
        values[:, 7:10] = particles.coordinates("index1", particles.pixel_size)
    values[:, 10:13] = particles.shifts
    if not same:
        values[:, 13:16] = np.einsum("nji,nj->ni", particles.rotations, particles.shifts)
    values[:, 16:19] = rotations_to_angles(particles.rotations)
    with atomic_path(path) as temporary:
        emfile.write(temporary, values.astype(dtype)[None], overwrite=True)
    if subtomograms is not None and particles.has("subtomogram"):
        link_numbered(particles, subtomograms, fields["tag"].to_numpy())
    return path
