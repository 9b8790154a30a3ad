"""Checks and edits of particle tables (pandas DataFrames) that every format reader shares,
and linking particle files into an output folder.

Every error names the table, and where it can the row (1-based) and column, what was found
and what was expected.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.errors import SubalignError

__all__ = ["ParticleTableError", "assign_column", "check_pixel_size", "finite_column",
           "index1_coordinates", "link_files", "rebase_names", "require_columns", "row_error"]


class ParticleTableError(SubalignError, ValueError):
    """A particle or tomogram table is missing columns or holds values it cannot hold.

    The message names the file, the row (counted from 1) and column where it applies, what
    was found and what was expected, in one line.
    """


def row_error(source: str, row: int | None, column: str | None, message: str) -> ParticleTableError:
    """A :class:`ParticleTableError` ``"<source>: row <row + 1>, column <column>: <message>"``.

    ``row`` counts from 0 (it is printed from 1); None leaves the row or column out.
    """
    where = ([f"row {row + 1}"] if row is not None else []) + (
        [f"column {column}"] if column is not None else [])
    return ParticleTableError(": ".join([source, ", ".join(where), message] if where else [source, message]))


def require_columns(table: pd.DataFrame, columns, source: str, what: str) -> None:
    """Raise naming ``source`` and every column of ``columns`` that ``table`` lacks.

    ``what`` says what the columns are for, e.g. ``"RELION 5 particles"``.
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ParticleTableError(
            f"{source}: missing column(s) {', '.join(missing)}; expected {what} with "
            f"{', '.join(columns)}"
        )


def assign_column(table: pd.DataFrame, column: str, values) -> None:
    """Set a whole column of a format's table; an integer column stays integer when every
    value is a whole number, so a value read as ``12`` is written as ``12``, not ``12.0``."""
    values = np.asarray(values)
    if (column in table.columns and np.issubdtype(table[column].dtype, np.integer)
            and np.issubdtype(values.dtype, np.number) and np.all(values == np.round(values))):
        values = values.astype(np.int64)
    table[column] = values


def finite_column(table: pd.DataFrame, column: str, source: str, what: str,
                  label: str | None = None) -> np.ndarray:
    """Column ``column`` as float64, raising at its first value that is not a finite number.

    ``label`` names the column in the message (default: ``column``).

    Returns
    -------
    ndarray of shape (n,)
    """
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        found = table[column].iloc[row]
        found = found.item() if isinstance(found, np.generic) else found
        raise row_error(source, row, label or column, f"expected {what}, found {found!r}")
    return values


def index1_coordinates(x, y, z) -> dict[str, np.ndarray]:
    """Coordinates counted from 1 (Dynamo, TOM/AV3, STOPGAP) as fields ``x, y, z``, NaN
    (unknown) where all three are 0: those formats' blank value, outside any tomogram
    (its first voxel is 1), which read as a place would be written to RELION as -1."""
    values = np.column_stack([np.asarray(v, dtype=float) for v in (x, y, z)])
    values[(values == 0).all(axis=1)] = np.nan
    return dict(zip("xyz", values.T))


def check_pixel_size(found: np.ndarray, given: float | None, source: str, column: str) -> float | None:
    """The one pixel size of a set: the values a file states (any number of rows) and the
    one given by the user must agree to 1e-4 relative; 0 or NaN in the file means absent.

    Returns
    -------
    float or None
        None when neither the file nor the user states one.
    """
    values = np.asarray(found, dtype=float).ravel()
    if (values < 0).any():
        raise ParticleTableError(f"{source}: column {column}: found a pixel size of "
                                 f"{values[values < 0][0]:g} Angstrom; expected a positive one (0 for none)")
    stated = np.unique(values[np.isfinite(values) & (values > 0)])
    if stated.size and (stated.max() - stated.min()) > 1e-4 * stated.max():
        raise ParticleTableError(
            f"{source}: column {column}: inconsistent pixel sizes {', '.join(f'{v:g}' for v in stated[:4])}"
            f" Angstrom; expected one pixel size for the set"
        )
    if given is not None:
        given = float(given)
        if not (np.isfinite(given) and given > 0):
            raise ParticleTableError(f"pixel size: expected a positive number of Angstrom, found {given:g}")
        if stated.size and abs(stated[0] - given) > 1e-4 * given:
            raise ParticleTableError(
                f"{source}: column {column}: pixel size {stated[0]:g} Angstrom is inconsistent "
                f"with the given pixel size {given:g} Angstrom"
            )
        return given
    return float(stated[0]) if stated.size else None


def link_files(targets: list[str | os.PathLike], sources: list[str | os.PathLike]) -> None:
    """Make each ``targets[i]`` name the file ``sources[i]``: a relative symbolic link (a
    copy where links are not allowed). An earlier link is replaced; a file that is not a
    link is the user's and is never replaced: it is an error.

    Formats that name subtomograms by number (Dynamo's particle folder, TOM/AV3 and STOPGAP
    prefixes) get their files this way without copying the volumes.
    """
    import shutil

    for target, source in zip(targets, sources):
        target, source = Path(target), Path(source).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            if target.resolve() == source:
                continue
            if not target.is_symlink():
                raise ParticleTableError(f"{target}: exists and is not a link to a particle; "
                                         "expected no file there (subalign replaces only its own "
                                         "links: choose another folder or prefix)")
            target.unlink()
        try:
            target.symlink_to(os.path.relpath(source, target.parent.resolve()))
        except OSError:
            shutil.copyfile(source, target)


def rebase_names(names, base_dir: str | os.PathLike, directory: str | os.PathLike) -> np.ndarray:
    """File names written in a table of ``base_dir``, as a table in ``directory`` must write
    them (:meth:`subalign.io.particles.ParticleSet.subtomograms_from`: one decision from the first relative name).

    Returns
    -------
    ndarray of object, shape (n,)
    """
    names = np.asarray(names, dtype=object)
    relative = [n for n in names if isinstance(n, str) and n and not os.path.isabs(n)]
    here = Path(directory).resolve()
    if not relative or Path(base_dir).resolve() == here:
        return names
    anchors = [a for a in (Path(base_dir), Path.cwd()) if (a / relative[0]).exists()]
    if not anchors:
        return names
    prefix = os.path.relpath(anchors[0].resolve(), here)
    if prefix == ".":
        return names
    return np.array([n if not isinstance(n, str) or not n or os.path.isabs(n)
                     else os.path.normpath(os.path.join(prefix, n)) for n in names], dtype=object)
