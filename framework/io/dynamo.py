"""Dynamo tables (``.tbl``), their tomogram map (``.doc``) and their particle folders.

Convention (Dynamo wiki: *Table convention*, *Euler angles*, *Volume center*; ``eulerangles``
names Dynamo extrinsic ZXZ and passive, like RELION):

* columns 7-9 ``tdrot, tilt, narot`` give ``M = Rz(narot) Rx(tilt) Rz(tdrot)``
  (:func:`subalign.io.euler.zxz_to_matrix`); Dynamo rotates the template by ``M^T``
  (clockwise ``tdrot`` about z, then ``tilt`` about the new x, ``narot`` about the new z), so
  our ``R = M^T``. The same pose in RELION is ``rot = narot - 90, tilt = tilt,
  psi = tdrot + 90``.
* columns 4-6 ``dx, dy, dz``: the particle's centre is at box centre ``+ d``: our ``t = d``
  (voxels).
* columns 24-26 ``x, y, z``: the box centre in the tomogram as a voxel index counted from 1
  (our ``"index1"`` frame, in pixels of the particles).
* column 20 ``tomo``: the tomogram's number; ``<table>.doc`` (lines ``number file``) names
  its file, which becomes the tomogram's name. Column 22 ``class``; column 10 ``cc`` the
  score; column 36 ``apix`` the pixel size (0: absent).
* column 13 ``ftype`` with 14-17 ``ymintilt, ymaxtilt, xmintilt, xmaxtilt``: ``0`` no
  missing wedge, ``1`` tilt axis y (columns 14-15), ``2`` tilt axis x (16-17); other types
  leave the wedge unknown, and so does ``0`` with all four tilt columns 0 (a blank row, as
  ``dynamo_table_blank`` and subalign write a particle of unknown wedge; a full wedge is
  written ``0, -90, 90``).
* columns 24-26 all 0: no coordinate (a blank row; index 0 is outside the tomogram).
* particle folder: ``<folder>/particle_<tag, 5 digits>.em`` (or ``.mrc``).

Dynamo has no half-set column. Tables are read with ``dynamotable`` and written with pandas
(``dynamotable.write`` drops columns past 42 and renames the file): every column read is
written back, unknown ones unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.euler import matrix_to_zxz, zxz_to_matrix
from subalign.io.files import atomic_path
from subalign.io.particles import (
    ParticleSet,
    ParticleTableError,
    SourceTable,
    assign_column,
    Tomogram,
    check_pixel_size,
    finite_column,
    link_files,
    require_columns,
)
from subalign.io.tables import index1_coordinates
from subalign.io.tomograms import tomogram_name, tomogram_numbers

__all__ = ["particle_file", "read_dynamo", "write_dynamo"]

_PADDING = 5


def _number(name: str) -> int:
    """Dynamo's (1-based) column number of a column name."""
    from dynamotable.constants import COLUMN_NAME_TO_COLUMN_NUMBER

    return COLUMN_NAME_TO_COLUMN_NUMBER[name]


def _label(name: str) -> str:
    return f"{_number(name)} ({name})"


def particle_file(folder: str | os.PathLike, tag: int, extension: str = "em") -> Path:
    """Dynamo's name for particle ``tag`` in a particle folder: ``particle_00007.em``."""
    return Path(folder) / f"particle_{int(tag):0{_PADDING}d}.{extension}"


def _read_table(path: Path) -> pd.DataFrame:
    import dynamotable

    if not path.is_file():
        raise ParticleTableError(f"{path}: no such file (expected a Dynamo table)")
    try:
        table = dynamotable.read(str(path))
    except Exception as exc:  # pandas parser errors, empty files
        raise ParticleTableError(f"{path}: expected a Dynamo table (numbers in columns), "
                                 f"found {type(exc).__name__}: {exc}") from None
    # dynamotable names columns past 42 ""; give them their numbers.
    table.columns = [name or f"column{i + 1}" for i, name in enumerate(table.columns)]
    return table


def _table_map(path: Path) -> dict[int, str]:
    """``<table>.doc``: tomogram number -> file, or empty if there is none."""
    doc = path.with_suffix(".doc")
    if not doc.is_file():
        return {}
    try:
        entries = pd.read_csv(doc, sep=r"\s+", header=None, names=["tomo", "file"],
                              dtype={"file": str})
    except Exception as exc:  # parser errors
        raise ParticleTableError(f"{doc}: expected lines 'tomogram-number file', found {exc}") from None
    return {int(number): name for number, name in zip(entries["tomo"], entries["file"])}


def read_dynamo(path: str | os.PathLike, *, pixel_size: float | None = None,
                subtomograms: str | os.PathLike | None = None) -> ParticleSet:
    """Read a Dynamo table (module docstring).

    Parameters
    ----------
    path : str or path-like
    pixel_size : float, optional
        Angstrom per voxel; must agree with column 36 ``apix`` where it is not 0.
    subtomograms : str or path-like, optional
        The particle folder (``particle_<tag>.em`` or ``.mrc`` by tag).

    Returns
    -------
    ParticleSet
    """
    path = Path(path)
    source = str(path)
    table = _read_table(path)
    required = ["tag", "dx", "dy", "dz", "tdrot", "tilt", "narot"]
    require_columns(table, required, source, "a Dynamo table (columns 1-9)")
    number = {name: finite_column(table, name, source, "a finite number", _label(name))
              for name in required + [c for c in ("cc", "ftype", "ymintilt", "ymaxtilt", "xmintilt",
                                                  "xmaxtilt", "tomo", "class", "x", "y", "z", "apix")
                                      if c in table.columns]}
    angles = np.column_stack([number["tdrot"], number["tilt"], number["narot"]])
    rotations = np.swapaxes(zxz_to_matrix(angles), -1, -2)
    shifts = np.column_stack([number["dx"], number["dy"], number["dz"]])
    pixel = check_pixel_size(number.get("apix", np.array([])), pixel_size, source, _label("apix"))
    n = len(table)
    fields = {"tag": number["tag"].astype(np.int64)}
    tomograms = {}
    if "tomo" in number:
        files = _table_map(path)
        names = []
        for value in pd.unique(number["tomo"]):
            name = files.get(int(value), tomogram_name(value))
            path_of = name if int(value) in files else None
            tomograms[name] = Tomogram(name, path=path_of, number=int(value))
            names.append(name)
        lookup = dict(zip(pd.unique(number["tomo"]), names))
        fields["tomogram"] = np.array([lookup[v] for v in number["tomo"]], dtype=object)
    if "class" in number:
        fields["class_number"] = number["class"].astype(np.int64)
    if "cc" in number:
        fields["score"] = number["cc"]
    if all(c in number for c in "xyz"):
        fields.update(index1_coordinates(number["x"], number["y"], number["z"]))
    if "ftype" in number and all(c in number for c in ("ymintilt", "ymaxtilt", "xmintilt", "xmaxtilt")):
        fields.update(_wedges(number, n))
    if subtomograms is not None:
        fields["subtomogram"] = _particle_paths(subtomograms, fields["tag"])
    return ParticleSet.create(
        rotations, shifts, pixel_size=pixel, **fields, coordinate_frame="index1",
        coordinate_unit=pixel, tomograms=tomograms, base_dir=str(path.parent),
        source=SourceTable("dynamo", source, table, {}, {
            "tomogram": _label("tomo"), "class_number": _label("class"), "score": _label("cc"),
            "subtomogram": "particle folder"}))


def _wedges(number: dict, n: int) -> dict:
    ftype = number["ftype"]
    low, high = np.full(n, np.nan), np.full(n, np.nan)
    axis = np.full(n, "y", dtype=object)
    for code, (a, b), name in ((1, ("ymintilt", "ymaxtilt"), "y"), (2, ("xmintilt", "xmaxtilt"), "x")):
        rows = ftype == code
        low[rows], high[rows], axis[rows] = number[a][rows], number[b][rows], name
    tilts = np.column_stack([number[c] for c in ("ymintilt", "ymaxtilt", "xmintilt", "xmaxtilt")])
    full = (ftype == 0) & (tilts != 0).any(axis=1)  # all zero: a blank row, the wedge unknown
    low[full], high[full] = -90.0, 90.0
    return {"tilt_min": low, "tilt_max": high, "tilt_axis": axis}


def _particle_paths(folder, tags: np.ndarray) -> np.ndarray:
    folder = Path(folder)
    first = particle_file(folder, tags[0], "mrc") if len(tags) else None
    extension = "mrc" if first is not None and first.exists() else "em"
    return np.array([str(particle_file(folder, t, extension)) for t in tags], dtype=object)


def write_dynamo(particles: ParticleSet, path: str | os.PathLike, *,
                 subtomograms: str | os.PathLike | None = None) -> Path:
    """Write a Dynamo table, its ``.doc`` tomogram map if tomograms have names, and (with
    ``subtomograms``) a particle folder of links to the particles' files.

    Parameters
    ----------
    particles : ParticleSet
    path : str or path-like
        The ``.tbl`` file.
    subtomograms : str or path-like, optional
        Particle folder to make: ``particle_<tag>.<ext>`` linking each subtomogram.

    Returns
    -------
    Path
        The table.
    """
    from dynamotable.utils import COLUMN_NAMES

    path = Path(path)
    n = len(particles)
    fields = particles.fields
    source = particles.source
    if source is not None and source.format == "dynamo":
        table = source.table.copy()
    else:
        table = pd.DataFrame({name: np.zeros(n, dtype=np.int64) for name in COLUMN_NAMES})
        table["aligned_value"] = 1
    tags = fields["tag"].to_numpy()
    if np.any(tags <= 0) or len(np.unique(tags)) != n:
        raise ParticleTableError(f"{particles.label}: Dynamo needs unique positive tags; found "
                                 f"{int(np.sum(tags <= 0))} non-positive and {n - len(np.unique(tags))} repeated")
    table["tag"] = tags
    table["dx"], table["dy"], table["dz"] = particles.shifts.T
    table["tdrot"], table["tilt"], table["narot"] = matrix_to_zxz(np.swapaxes(particles.rotations, -1, -2)).T
    if particles.has("score"):
        table["cc"] = fields["score"].fillna(0.0).to_numpy()
    if particles.has("class_number"):
        table["class"] = fields["class_number"].to_numpy()
    _write_wedges(table, fields)
    files = {}
    if particles.has("tomogram"):
        table["tomo"], files = tomogram_numbers(particles)
    if fields[["x", "y", "z"]].notna().all(axis=None):
        table["x"], table["y"], table["z"] = particles.coordinates("index1", particles.pixel_size).T
    if particles.pixel_size is not None and "apix" in table.columns:
        table["apix"] = particles.pixel_size
    with atomic_path(path) as temporary:
        table.to_csv(temporary, sep=" ", header=False, index=False)
    if files:
        with atomic_path(path.with_suffix(".doc")) as temporary:
            temporary.write_text("".join(f"{k} {v}\n" for k, v in sorted(files.items())))
    if subtomograms is not None and particles.has("subtomogram"):
        sources = [particles.resolve(name) for name in fields["subtomogram"]]
        link_files([particle_file(subtomograms, t, Path(s).suffix.lstrip(".") or "mrc")
                    for t, s in zip(tags, sources)], sources)
    return path


def _write_wedges(table: pd.DataFrame, fields: pd.DataFrame) -> None:
    """ftype and tilt columns where the wedge is known (other rows keep the table's values)."""
    low = fields["tilt_min"].to_numpy(dtype=float)
    high = fields["tilt_max"].to_numpy(dtype=float)
    known = ~(np.isnan(low) | np.isnan(high))
    if not known.any():
        return
    axis = fields["tilt_axis"].to_numpy()
    full = known & (low <= -90) & (high >= 90)
    ftype = table["ftype"].to_numpy(dtype=float).copy()
    for code, name, columns in ((1, "y", ("ymintilt", "ymaxtilt")), (2, "x", ("xmintilt", "xmaxtilt"))):
        rows = known & (axis == name)
        ftype[rows & ~full] = code
        for column, values in zip(columns, (low, high)):
            updated = table[column].to_numpy(dtype=float).copy()
            updated[rows] = values[rows]
            assign_column(table, column, updated)
    ftype[full] = 0
    assign_column(table, "ftype", ftype)

