"""Merging particle sets of one format into one, every column kept (``subalign merge``).

Rules (also in docs/particles.md):

* the sets are of one format (RELION 5, RELION 3/4, Dynamo, TOM/AV3 or STOPGAP; convert
  first to mix them), of one pixel size, all with poses or all without, and RELION sets
  with the same ``data_general`` block;
* RELION optics groups of equal settings (every column but ``rlnOpticsGroup`` and
  ``rlnOpticsGroupName``) become one group; a group whose settings differ gets the next
  free number (and the name ``opticsGroup<number>`` if its own is taken), and its
  particles' ``rlnOpticsGroup`` follows;
* a column only some inputs have is filled in the others' rows with the format's empty
  value: 0 for numbers, ``""`` for text (RELION's defaults for a label a row lacks; a
  RELION 5 subtomogram angle of 0 is no rotation). No pose is ever filled in: sets with
  and without poses are refused;
* file names are rewritten to resolve from the output's folder
  (:func:`subalign.io.selection.rebased`); coordinates are put in the first set's frame and
  unit;
* a particle listed twice, by the same file or the same tomogram and coordinate (to 0.001
  of the coordinate unit), is refused unless ``allow_duplicates``; formats that name
  particles by tag (Dynamo, TOM/AV3, STOPGAP) refuse a tag in two sets.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.particles import ParticleSet, ParticleTableError, SourceTable
from subalign.io.selection import rebased

__all__ = ["merge_sets"]

_NUMBERED = ("dynamo", "em", "stopgap")
_OPTICS_KEYS = ("rlnOpticsGroup", "rlnOpticsGroupName")


def _check_alike(sets: list[ParticleSet]) -> None:
    """One format, one pixel size, poses in all or none, one ``data_general``."""
    first = sets[0]
    for other in sets:
        if other.source is None:
            raise ParticleTableError(f"{other.label}: expected a set read from a file")
        if other.pixel_sizes is not None:
            raise ParticleTableError(f"{other.label}: {other.pixel_size_groups()}; expected one "
                                     "pixel size per set to merge (take one optics group)")
    for other in sets[1:]:
        if other.source.format != first.source.format:
            raise ParticleTableError(
                f"{other.label}: a {other.source.format} table; expected the format of "
                f"{first.label} ({first.source.format}): merge sets of one format (subalign "
                "convert first)")
        a, b = first.pixel_size, other.pixel_size
        if (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-4 * a):
            raise ParticleTableError(
                f"{other.label}: pixel size {b if b is None else f'{b:g} A'}; expected the pixel "
                f"size of {first.label} ({a if a is None else f'{a:g} A'}): sets of one pixel size")
        if other.poses_given != first.poses_given:
            has, lacks = (first, other) if first.poses_given else (other, first)
            raise ParticleTableError(
                f"{lacks.label}: no poses (no rotation columns) while {has.label} has them; "
                "expected all sets with poses or all without (none is invented)")
        general = (first.source.blocks.get("general"), other.source.blocks.get("general"))
        if general[0] != general[1] or first.stacks != other.stacks:
            raise ParticleTableError(
                f"{other.label}: data_general {general[1]}; expected that of {first.label} "
                f"({general[0]}): sets of one kind")


def _empty(column: pd.Series):
    """The format's empty value for a column: 0 for numbers, "" for text."""
    return 0 if pd.api.types.is_numeric_dtype(column) else ""


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Tables one after another, every column of any; missing cells get :func:`_empty`."""
    columns = list(dict.fromkeys(c for table in tables for c in table.columns))
    example = {c: next(t[c] for t in tables if c in t.columns) for c in columns}
    filled = []
    for table in tables:
        table = table.copy()
        for column in columns:
            if column not in table.columns:
                table[column] = pd.Series([_empty(example[column])] * len(table),
                                          dtype=example[column].dtype, index=table.index)
        filled.append(table[columns])
    return pd.concat(filled, ignore_index=True)


def _same_settings(a: pd.Series, b: pd.Series) -> bool:
    keys = [k for k in a.index.union(b.index) if k not in _OPTICS_KEYS]
    if any(k not in a.index or k not in b.index for k in keys):
        return False
    for key in keys:
        x, y = a[key], b[key]
        numbers = pd.to_numeric(pd.Series([x, y]), errors="coerce").to_numpy(dtype=float)
        if np.isfinite(numbers).all():
            if not np.isclose(numbers[0], numbers[1], rtol=1e-6, atol=0):
                return False
        elif str(x) != str(y):
            return False
    return True


def _merge_optics(sets: list[ParticleSet]) -> tuple[pd.DataFrame | None, list[pd.DataFrame]]:
    """The merged ``data_optics`` and each set's table with its groups renumbered."""
    optics = [s.source.blocks.get("optics") for s in sets]
    tables = [s.source.table for s in sets]
    present = [isinstance(o, pd.DataFrame) for o in optics]
    if not any(present):
        return None, tables
    if not all(present):
        lacking = sets[present.index(False)]
        raise ParticleTableError(f"{lacking.label}: no data_optics while {sets[present.index(True)].label} "
                                 "has one; expected RELION tables of one version (3.1+ or 3.0)")
    merged = optics[0].reset_index(drop=True)
    renumbered = [tables[0]]
    for block, table in zip(optics[1:], tables[1:]):
        mapping = {}
        for _, row in block.iterrows():
            match = next((m for _, m in merged.iterrows() if _same_settings(m, row)), None)
            if match is not None:
                mapping[row["rlnOpticsGroup"]] = match["rlnOpticsGroup"]
                continue
            number = int(pd.to_numeric(merged["rlnOpticsGroup"]).max()) + 1
            mapping[row["rlnOpticsGroup"]] = number
            added = row.copy()
            added["rlnOpticsGroup"] = number
            if "rlnOpticsGroupName" in added.index and added["rlnOpticsGroupName"] in set(
                    merged.get("rlnOpticsGroupName", [])):
                added["rlnOpticsGroupName"] = f"opticsGroup{number}"
            merged = _concat([merged, added.to_frame().T.astype(block.dtypes.to_dict())])
        if "rlnOpticsGroup" in table.columns:
            table = table.copy()
            table["rlnOpticsGroup"] = table["rlnOpticsGroup"].map(mapping).astype(np.int64)
        renumbered.append(table)
    return merged, renumbered


def _where(sets: list[ParticleSet], index: int) -> str:
    """``"<file>: row <r>"`` of merged particle ``index``."""
    for particles in sets:
        if index < len(particles):
            return f"{particles.label}: row {index + 1}"
        index -= len(particles)
    raise IndexError(index)


def _check_duplicates(sets: list[ParticleSet], merged: ParticleSet) -> None:
    """Refuse a particle listed twice: the same file, or tomogram and coordinate."""
    fields = merged.fields
    keys = []
    files = fields["subtomogram"].to_numpy(dtype=object)
    if merged.has("subtomogram"):
        named = np.array([bool(f) for f in files])
        keys.append(("particle file", named, [os.path.normpath(f) if f else f for f in files]))
    coordinates = np.round(fields[["x", "y", "z"]].to_numpy(dtype=float), 3)
    known = ~np.isnan(coordinates).any(axis=1)
    places = [(t, *c) for t, c in zip(fields["tomogram"], coordinates.tolist())]
    keys.append(("tomogram and coordinate", known, places))
    for what, valid, values in keys:
        seen: dict = {}
        for index in np.flatnonzero(valid):
            first = seen.setdefault(values[index], index)
            if first != index:
                raise ParticleTableError(
                    f"{_where(sets, index)}: the same {what} as {_where(sets, first)} "
                    f"({values[index]}); expected each particle once (--allow-duplicates keeps both)")


def _check_tags(sets: list[ParticleSet]) -> None:
    owner: dict = {}
    for particles in sets:
        for tag in particles.fields["tag"].to_numpy():
            first = owner.setdefault(int(tag), particles.label)
            if first != particles.label:
                raise ParticleTableError(
                    f"{particles.label}: tag {tag} is also in {first}; expected unique tags "
                    f"({particles.source.format} names each particle's file by its tag)")


def merge_sets(sets: list[ParticleSet], directory: str | os.PathLike, *,
               allow_duplicates: bool = False) -> ParticleSet:
    """The sets one after another, as a table in ``directory`` (module docstring: rules).

    Parameters
    ----------
    sets : list of ParticleSet
        Read from files (each has its source table).
    directory : str or path-like
        The folder the merged table is written to; file names resolve from there.
    allow_duplicates : bool
        Keep particles listed twice.

    Returns
    -------
    ParticleSet
        Its source is the merged table, with the first set's other blocks and the merged
        optics.
    """
    _check_alike(sets)
    first = sets[0]
    if first.source.format in _NUMBERED:
        _check_tags(sets)
    parts = [rebased(s, directory) for s in sets]
    optics, tables = _merge_optics(parts)
    fields = []
    for particles in parts:
        placed = particles.fields.copy()
        coordinates = particles.coordinates(first.coordinate_frame, first.coordinate_unit)
        placed[["x", "y", "z"]] = coordinates
        fields.append(placed)
    boxes = None
    if any(p.box_rotations is not None for p in parts):
        boxes = np.concatenate([p.box_rotations if p.box_rotations is not None
                                else np.tile(np.eye(3), (len(p), 1, 1)) for p in parts])
    blocks = dict(first.source.blocks)
    if optics is not None:
        blocks["optics"] = optics
    tomograms = {name: t for p in reversed(parts) for name, t in p.tomograms.items()}
    label = " + ".join(p.label for p in sets)
    source = SourceTable(first.source.format, label, _concat(tables), blocks,
                         dict(first.source.columns))
    merged = replace(parts[0], rotations=np.concatenate([p.rotations for p in parts]),
                     shifts=np.concatenate([p.shifts for p in parts]),
                     fields=pd.concat(fields, ignore_index=True), tomograms=tomograms,
                     base_dir=str(Path(directory)), source=source, box_rotations=boxes,
                     box_size=first.box_size if len({p.box_size for p in parts}) == 1 else None)
    if not allow_duplicates:
        _check_duplicates(sets, merged)
    return merged
