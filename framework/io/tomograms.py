"""Per-tomogram tables: files, sizes and tilt ranges, by tomogram name.

They give particles their wedges (:meth:`subalign.io.particles.ParticleSet.assign_wedges`)
and their tomograms' geometry (RELION 5's centred coordinates need the size). Three kinds,
told apart by the file name:

``.csv``
    A header row with ``tomogram`` and any of ``tilt_min``, ``tilt_max`` (degrees),
    ``tilt_axis`` (``y`` or ``x``), ``path``, ``size_x``, ``size_y``, ``size_z`` (voxels),
    ``pixel_size`` (Angstrom per voxel of that size) and ``number``.
``.star``
    RELION 5's or WarpTools' ``tomograms.star``: ``data_global`` with ``rlnTomoName`` and any
    of ``rlnTomoSizeX/Y/Z`` with ``rlnTomoTiltSeriesPixelSize`` (the unbinned grid),
    ``rlnTomoReconstructedTomogram``, the microscope and hand; and each tomogram's tilts
    (:mod:`subalign.io.tiltseries`): a block ``data_<name>`` in the same file (WarpTools) or
    the file ``rlnTomoTiltSeriesStarFile`` names (RELION 5; relative to the RELION project
    directory, else beside the table, else the working directory). The tilt range is that of
    the tilts' least-squares single-axis frame (:mod:`subalign.numerics.tilt_geometry`), axis
    ``y`` of that frame.
``.em``
    A TOM/AV3 wedge list: one column per tomogram holding (number, min tilt, max tilt); the
    tomogram's name is its number.

Other relative file names are looked up beside the table first, then in the working
directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.particles import (
    ParticleSet,
    ParticleTableError,
    Tomogram,
    finite_column,
    require_columns,
    row_error,
)
from subalign.io.star import loop_block, read_star
from subalign.io.tiltseries import Optics, TiltSeries, read_tilt_table
from subalign.numerics.wedge import TILT_AXES, TiltRange

__all__ = ["read_tomogram_table", "tomogram_name", "tomogram_numbers"]


def tomogram_name(number: float) -> str:
    """The name of a numbered tomogram (Dynamo, TOM/AV3, STOPGAP): ``"7"`` for 7."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def tomogram_numbers(particles: ParticleSet) -> tuple[np.ndarray, dict[int, str]]:
    """Numbers for formats that number tomograms, and the names they stand for.

    A tomogram keeps the number it was read with; a name that is a positive integer is its
    own number; the others get the next free numbers in order of appearance.

    Returns
    -------
    numbers : ndarray of int, shape (n,)
        Each particle's tomogram number.
    names : dict of int to str
        Number -> file (or name) for every tomogram whose name is not its number (what
        Dynamo's ``.doc`` map holds).
    """
    names = particles.fields["tomogram"].to_numpy()
    unique = pd.unique(names)
    numbering = {}
    for name in unique:
        tomogram = particles.tomograms.get(name)
        if tomogram is not None and tomogram.number is not None:
            numbering[name] = tomogram.number
        elif str(name).isdigit() and int(name) > 0:
            numbering[name] = int(name)
    following = max(numbering.values(), default=0) + 1
    files = {}
    for name in unique:
        if name not in numbering:
            numbering[name], following = following, following + 1
        if name != tomogram_name(numbering[name]):
            tomogram = particles.tomograms.get(name)
            files[numbering[name]] = tomogram.path if tomogram is not None and tomogram.path else name
    return np.array([numbering[name] for name in names], dtype=np.int64), files


def read_tomogram_table(path: str | os.PathLike, *,
                        project_dir: str | os.PathLike | None = None) -> dict[str, Tomogram]:
    """Read a per-tomogram table (module docstring) into tomograms by name.

    ``project_dir``: where RELION 5's relative tilt-series file names start (the RELION
    project; default: beside the table, then the working directory).

    Raises
    ------
    ParticleTableError
        Missing file or column, a tilt range outside ``-90 <= min <= max <= 90``, an unknown
        tilt axis, a tilt-series file that does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ParticleTableError(f"{path}: no such file (expected a tomogram table: .csv, "
                                 "RELION 5 tomograms.star or a TOM/AV3 wedge list .em)")
    suffix = path.suffix.lower()
    if suffix == ".star":
        return _relion_tomograms(path, None if project_dir is None else Path(project_dir))
    if suffix == ".em":
        return _wedge_list(path)
    return _csv_tomograms(path)


def _tilt(low: float, high: float, source: str, row: int) -> TiltRange:
    try:
        return TiltRange.parse((low, high), field="tilt range")
    except ValueError as exc:
        raise row_error(source, row, "tilt_min/tilt_max", str(exc).partition(": ")[2]) from None


def _beside(name: str, table: Path) -> str:
    candidate = table.parent / name
    return str(candidate) if not Path(name).is_absolute() and candidate.exists() else name


def _given(table: pd.DataFrame, column: str, row: int) -> bool:
    """Whether ``table`` has a non-empty ``column`` in ``row`` (an empty CSV cell is NaN)."""
    return column in table.columns and not pd.isna(table[column].iloc[row]) and \
        str(table[column].iloc[row]).strip() != ""


def _positive(table: pd.DataFrame, column: str, source: str, what: str, *,
              whole: bool = False) -> np.ndarray:
    """Column ``column`` as float64, raising at its first value that is not a positive
    (``whole``: whole) number."""
    expected = f"{'a positive whole number' if whole else 'a positive number'} ({what})"
    values = finite_column(table, column, source, expected)
    bad = (values <= 0) | ((values != np.round(values)) if whole else False)
    if np.any(bad):
        row = int(np.argmax(bad))
        raise row_error(source, row, column, f"expected {expected}, found {values[row]:g}")
    return values


def _unique_names(names: pd.Series, source: str, column: str) -> None:
    """Raise at the first tomogram named a second time (which row would hold?)."""
    repeated = names.duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        first = int(np.argmax((names == names.iloc[row]).to_numpy()))
        raise row_error(source, row, column, f"tomogram {names.iloc[row]!r} again (row {first + 1}); "
                                             "expected one row per tomogram")


def _csv_tomograms(path: Path) -> dict[str, Tomogram]:
    source = str(path)
    try:
        table = pd.read_csv(path, dtype={"tomogram": str, "path": str, "tilt_axis": str},
                            skipinitialspace=True)
    except Exception as exc:  # pandas raises several parser errors
        raise ParticleTableError(f"{path}: expected a CSV table, found {exc}") from None
    require_columns(table, ["tomogram"], source, "a tomogram table")
    has_tilt = {"tilt_min", "tilt_max"} & set(table.columns)
    if has_tilt:
        require_columns(table, ["tilt_min", "tilt_max"], source, "tilt ranges")
        low = finite_column(table, "tilt_min", source, "a tilt angle in degrees")
        high = finite_column(table, "tilt_max", source, "a tilt angle in degrees")
    has_size = {"size_x", "size_y", "size_z", "pixel_size"} & set(table.columns)
    if has_size:
        require_columns(table, ["size_x", "size_y", "size_z", "pixel_size"], source,
                        "tomogram sizes")
        sizes = np.column_stack([_positive(table, f"size_{a}", source, "a size in voxels", whole=True)
                                 for a in "xyz"]).astype(int)
        voxel = _positive(table, "pixel_size", source, "a pixel size in Angstrom")
    numbers = (_positive(table, "number", source, "a tomogram number", whole=True).astype(int)
               if "number" in table.columns else None)
    _unique_names(table["tomogram"].astype(str), source, "tomogram")
    tomograms = {}
    for row, name in enumerate(table["tomogram"].astype(str)):
        axis = table["tilt_axis"].iloc[row] if "tilt_axis" in table.columns else None
        if axis is not None and axis not in TILT_AXES:
            raise row_error(source, row, "tilt_axis", f"expected one of {', '.join(TILT_AXES)}, found {axis!r}")
        tomograms[name] = Tomogram(
            name,
            path=_beside(str(table["path"].iloc[row]), path) if _given(table, "path", row) else None,
            size=tuple(int(v) for v in sizes[row]) if has_size else None,
            voxel_size=float(voxel[row]) if has_size else None,
            tilt_range=_tilt(low[row], high[row], source, row) if has_tilt else None,
            tilt_axis=axis,
            number=int(numbers[row]) if numbers is not None else None,
        )
    return tomograms


def _global_optics(table: pd.DataFrame, row: int, source: str) -> Optics:
    """The microscope of ``data_global``'s row ``row`` (defaults where a column is absent)."""
    def value(column: str, default):
        if column not in table.columns:
            return default
        number = pd.to_numeric(table[column], errors="coerce").iloc[row]
        if not np.isfinite(number):
            raise row_error(source, row, column, f"found {table[column].iloc[row]!r}; expected a number")
        return float(number)

    return Optics(voltage_kv=value("rlnVoltage", 300.0), cs_mm=value("rlnSphericalAberration", 2.7),
                  amplitude_contrast=value("rlnAmplitudeContrast", 0.1),
                  pixel_size=value("rlnTomoTiltSeriesPixelSize", None),
                  hand=value("rlnTomoHand", 1.0),
                  fractional_dose=value("rlnTomoImportFractionalDose", None))


def _find(name: str, places: list[Path]) -> Path | None:
    """``name`` as is if absolute, else under the first of ``places`` that has it."""
    if Path(name).is_absolute():
        return Path(name) if Path(name).is_file() else None
    return next((place / name for place in places if (place / name).is_file()), None)


def _tilt_series(blocks: dict, table: pd.DataFrame, row: int, name: str, path: Path,
                 places: list[Path], size) -> tuple[TiltSeries | None, str | None]:
    """A tomogram's tilts: its block in ``tomograms.star`` (WarpTools), else the file
    ``rlnTomoTiltSeriesStarFile`` names (RELION 5), looked up in ``places``; (None, file)
    when that file is not found, (None, None) when the table names none."""
    optics = _global_optics(table, row, str(path))
    if isinstance(blocks.get(name), pd.DataFrame):
        return read_tilt_table(blocks[name], name, f"{path} data_{name}", optics, size), None
    if "rlnTomoTiltSeriesStarFile" not in table.columns:
        return None, None
    file = str(table["rlnTomoTiltSeriesStarFile"].iloc[row])
    found = _find(file, places)
    if found is None:
        return None, file
    series_blocks = read_star(found)
    tables = [b for b in series_blocks.values() if isinstance(b, pd.DataFrame)]
    block = series_blocks.get(name) if isinstance(series_blocks.get(name), pd.DataFrame) else (
        tables[0] if len(tables) == 1 else None)
    if block is None:
        raise ParticleTableError(f"{found}: expected a table data_{name} (the tilts of tomogram "
                                 f"{name!r}), found {', '.join('data_' + k for k in series_blocks)}")
    return read_tilt_table(block, name, f"{found} data_{name}", optics, size), None


def _relion_tomograms(path: Path, project_dir: Path | None) -> dict[str, Tomogram]:
    source = str(path)
    blocks = read_star(path)
    table = loop_block(blocks, "global", source)
    require_columns(table, ["rlnTomoName"], source, "RELION 5 tomograms")
    size_columns = ["rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ", "rlnTomoTiltSeriesPixelSize"]
    has_size = all(c in table.columns for c in size_columns)
    if has_size:
        sizes = np.column_stack([_positive(table, c, source, "a size in pixels", whole=True)
                                 for c in size_columns[:3]]).astype(int)
        voxel = _positive(table, size_columns[3], source, "a pixel size in Angstrom")
    places = [p for p in (project_dir, path.parent, Path.cwd()) if p is not None]
    _unique_names(table["rlnTomoName"].astype(str), f"{source} data_global", "rlnTomoName")
    tomograms = {}
    for row, name in enumerate(table["rlnTomoName"].astype(str)):
        size = tuple(int(v) for v in sizes[row]) if has_size else None
        series, missing = _tilt_series(blocks, table, row, name, path, places, size)
        tilt = None
        if series is not None:
            angles = series.frame.angles_deg
            tilt = _tilt(float(angles.min()), float(angles.max()), source, row)
        reconstructed = (_beside(str(table["rlnTomoReconstructedTomogram"].iloc[row]), path)
                         if "rlnTomoReconstructedTomogram" in table.columns else None)
        tomograms[name] = Tomogram(
            name, path=reconstructed, size=size, voxel_size=float(voxel[row]) if has_size else None,
            tilt_range=tilt, tilt_axis="y" if tilt is not None else None, tilt_series=series,
            tilt_series_file=None if missing is None else
            f"{missing} (looked in {', '.join(str(p) for p in places)})")
    return tomograms


def _wedge_list(path: Path) -> dict[str, Tomogram]:
    import emfile

    try:
        _, data = emfile.read(path)
    except Exception as exc:  # struct and numpy errors on a malformed file
        raise ParticleTableError(f"{path}: expected a TOM/AV3 wedge list (.em), found {exc}") from None
    columns = np.asarray(data, dtype=float).reshape(-1, data.shape[-1])
    if columns.shape[1] < 3:
        raise ParticleTableError(f"{path}: expected a wedge list with rows (tomogram number, min "
                                 f"tilt, max tilt), found {columns.shape[1]} row(s)")
    tomograms = {}
    for row, (number, low, high) in enumerate(columns[:, :3]):
        if not (np.isfinite(number) and number == round(number) and number > 0):
            raise ParticleTableError(f"{path}: column {row + 1}, row 1 (tomogram number): expected a "
                                     f"positive whole number, found {number:g}")
        name = tomogram_name(number)
        tomograms[name] = Tomogram(name, tilt_range=_tilt(low, high, str(path), row), number=int(number))
    return tomograms
