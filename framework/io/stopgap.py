"""STOPGAP motive lists: a STAR file with the block ``data_stopgap_motivelist``.

Convention: STOPGAP keeps AV3's motive list (:mod:`subalign.io.em_motivelist`) as named
columns, as the converters between them (cryoCAT's ``emmotl2stopgap``) copy them one to one:

* ``phi, psi, the``: our ``R = Rz(psi) Rx(the) Rz(phi)``;
* ``x_shift, y_shift, z_shift``: our ``t`` (voxels);
* ``orig_x, orig_y, orig_z``: the box centre as a voxel index counted from 1 (``"index1"``;
  all three 0: no coordinate);
* ``subtomo_num`` the tag (subtomograms are ``<subtomo_name>_<subtomo_num>.mrc``),
  ``tomo_num`` the tomogram's number, ``halfset`` ``A``/``B`` (our 1/2), ``score``,
  ``class``; ``motl_idx`` and ``object`` are kept as read (new lists: the tag and 1).

It carries no pixel size; wedges are in STOPGAP's separate wedge list.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.em_motivelist import (
    angles_to_rotations,
    link_numbered,
    numbered_files,
    rotations_to_angles,
)
from subalign.io.particles import (
    ParticleSet,
    SourceTable,
    Tomogram,
    assign_column,
    finite_column,
    require_columns,
    row_error,
)
from subalign.io.star import loop_block, read_star, write_star
from subalign.io.tables import index1_coordinates
from subalign.io.tomograms import tomogram_name, tomogram_numbers

__all__ = ["COLUMNS", "read_stopgap", "write_stopgap"]

COLUMNS = ["motl_idx", "tomo_num", "object", "subtomo_num", "halfset", "orig_x", "orig_y",
           "orig_z", "score", "x_shift", "y_shift", "z_shift", "phi", "psi", "the", "class"]
_HALVES = {"A": 1, "B": 2}


def read_stopgap(path: str | os.PathLike, *, pixel_size: float | None = None,
                 subtomograms: str | os.PathLike | None = None) -> ParticleSet:
    """Read a STOPGAP motive list (module docstring).

    Parameters
    ----------
    path : str or path-like
    pixel_size : float, optional
        Angstrom per voxel (the list holds none).
    subtomograms : str or path-like, optional
        STOPGAP's ``subtomo_name`` with its folder: files ``<prefix>_<subtomo_num>.mrc``.

    Returns
    -------
    ParticleSet
    """
    source = str(path)
    blocks = read_star(path)
    table = loop_block(blocks, "stopgap_motivelist", source)
    require_columns(table, COLUMNS, source, "a STOPGAP motive list")
    number = {c: finite_column(table, c, source, "a finite number")
              for c in COLUMNS if c != "halfset"}
    halves = table["halfset"].astype(str).str.upper().to_numpy()
    unknown = ~np.isin(halves, list(_HALVES))
    if unknown.any():
        row = int(np.argmax(unknown))
        raise row_error(source, row, "halfset", f"expected A or B, found {table['halfset'].iloc[row]!r}")
    tags = number["subtomo_num"].astype(np.int64)
    names = np.array([tomogram_name(v) for v in number["tomo_num"]], dtype=object)
    tomograms = {name: Tomogram(name, number=int(value))
                 for name, value in zip(pd.unique(names), pd.unique(number["tomo_num"]))}
    fields = {"tag": tags, "tomogram": names, "score": number["score"],
              "class_number": number["class"].astype(np.int64),
              "half_set": np.array([_HALVES[h] for h in halves], dtype=np.int64),
              **index1_coordinates(number["orig_x"], number["orig_y"], number["orig_z"])}
    if subtomograms is not None:
        fields["subtomogram"] = numbered_files(subtomograms, tags)
    rotations = angles_to_rotations(number["phi"], number["psi"], number["the"])
    shifts = np.column_stack([number["x_shift"], number["y_shift"], number["z_shift"]])
    return ParticleSet.create(
        rotations, shifts, pixel_size=pixel_size, **fields, coordinate_frame="index1",
        coordinate_unit=pixel_size, tomograms=tomograms, base_dir=str(Path(path).parent),
        source=SourceTable("stopgap", source, table,
                           {k: v for k, v in blocks.items() if v is not table},
                           {"tomogram": "tomo_num", "subtomogram": "subtomogram file",
                            "half_set": "halfset", "class_number": "class"}))


def write_stopgap(particles: ParticleSet, path: str | os.PathLike, *,
                  subtomograms: str | os.PathLike | None = None) -> Path:
    """Write a STOPGAP motive list; with ``subtomograms`` (``subtomo_name`` with its folder)
    also link each particle's file as ``<prefix>_<subtomo_num>.<ext>``.

    Returns
    -------
    Path
    """
    n = len(particles)
    source = particles.source
    fields = particles.fields
    tags = fields["tag"].to_numpy()
    if source is not None and source.format == "stopgap":
        table = source.table.copy()
    else:
        table = pd.DataFrame({c: np.zeros(n) for c in COLUMNS})
        table["motl_idx"], table["object"], table["halfset"] = tags, 1, "A"
        table["tomo_num"] = 1
    columns = {"subtomo_num": tags}
    if particles.has("tomogram"):
        columns["tomo_num"] = tomogram_numbers(particles)[0]
    if particles.has("half_set"):
        halves = fields["half_set"].to_numpy()
        table["halfset"] = np.where(halves == 2, "B", np.where(halves == 1, "A", table["halfset"]))
    if particles.has("score"):
        columns["score"] = fields["score"].fillna(0.0).to_numpy()
    if particles.has("class_number"):
        columns["class"] = fields["class_number"].to_numpy()
    if fields[["x", "y", "z"]].notna().all(axis=None):
        columns.update(zip(("orig_x", "orig_y", "orig_z"),
                           particles.coordinates("index1", particles.pixel_size).T))
    columns.update(zip(("x_shift", "y_shift", "z_shift"), particles.shifts.T))
    columns.update(zip(("phi", "psi", "the"), rotations_to_angles(particles.rotations).T))
    for column, values in columns.items():
        assign_column(table, column, values)
    others = ({k: v for k, v in source.blocks.items()} if source is not None
              and source.format == "stopgap" else {})
    write_star(path, {**others, "stopgap_motivelist": table})
    if subtomograms is not None and particles.has("subtomogram"):
        link_numbered(particles, subtomograms, tags)
    return Path(path)
