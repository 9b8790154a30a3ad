"""A particle table and its tomogram table must agree where they state the same thing.

A tomogram table (:mod:`subalign.io.tomograms`) is merged into a particle set by
:meth:`subalign.io.particles.ParticleSet.assign_wedges`, which fills only what the particle
table leaves unknown. Where both state a value, they must agree, or one of them is wrong and
no choice between them is safe: :func:`check_tomogram_table` refuses, in one line naming both
places and values.

pixel size
    A CSV table's ``pixel_size`` is Angstrom per voxel of its ``size_x/y/z``: the grid the
    particles were cropped from, or the one their coordinates count. It must be the set's
    pixel size (RELION's ``rlnImagePixelSize``, Dynamo's ``apix`` or ``--pixel-size``), or
    the pixel size of the tilt series the coordinates count (RELION 3/4 and 5:
    ``rlnTomoTiltSeriesPixelSize`` in ``data_optics``). RELION 5's ``tomograms.star`` states
    the tilt series' pixel size, which must equal the particle table's
    ``rlnTomoTiltSeriesPixelSize`` where that is given.
tilt range
    A particle table that holds wedges (Dynamo's ``ftype`` with its tilt columns) and a
    tomogram table with a tilt range for the same tomogram must give the same range and axis
    (to :data:`TILT_TOLERANCE_DEG`); ``--tilt-axis`` must agree with an axis the table states.
    2-D stack sets are not compared: their wedges come from each particle's visible tilts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.particles import ParticleSet, ParticleTableError, Tomogram, row_error

__all__ = ["TILT_TOLERANCE_DEG", "check_tomogram_table"]

#: Tilt ranges stated in two places agree within this many degrees.
TILT_TOLERANCE_DEG = 0.01

_PIXEL_TOLERANCE = 1e-4  # relative, as check_pixel_size


def check_tomogram_table(particles: ParticleSet, tomograms: dict[str, Tomogram], table: str, *,
                         tilt_axis: str | None = None, given_pixel_size: float | None = None) -> None:
    """Raise :class:`ParticleTableError` where ``tomograms`` (read from the file ``table``)
    contradicts ``particles`` (module docstring).

    Only the tomograms the particles name are compared; rows count from 1 in the tomogram
    table's order. ``given_pixel_size``: the user's ``--pixel-size``, named as the place of
    the set's pixel size when the particle file states none.
    """
    rows = {name: row for row, name in enumerate(tomograms)}
    used = [name for name in pd.unique(particles.fields["tomogram"].to_numpy()) if name in tomograms]
    csv = Path(table).suffix.lower() not in (".star", ".em")
    for name in used:
        tomogram = tomograms[name]
        if tomogram.voxel_size is not None:
            if csv:
                _check_csv_pixel(particles, tomogram, table, rows[name], given_pixel_size)
            else:
                _check_series_pixel(particles, tomogram, table, rows[name])
        if tilt_axis is not None and tomogram.tilt_axis is not None and tomogram.tilt_axis != tilt_axis:
            raise row_error(table, rows[name], "tilt_axis",
                            f"tomogram {name!r} is tilted about {tomogram.tilt_axis}; --tilt-axis "
                            f"says {tilt_axis}; expected one axis (leave out --tilt-axis, or mend "
                            "the table)")
        if tomogram.tilt_range is not None and not particles.stacks:
            _check_tilt(particles, tomogram, table, rows[name])


def _optics_series_pixel(particles: ParticleSet) -> float | None:
    """``rlnTomoTiltSeriesPixelSize`` of a RELION table's first optics group (None: absent)."""
    source = particles.source
    optics = source.blocks.get("optics") if source is not None else None
    if not isinstance(optics, pd.DataFrame) or "rlnTomoTiltSeriesPixelSize" not in optics.columns:
        return None
    value = pd.to_numeric(optics["rlnTomoTiltSeriesPixelSize"], errors="coerce").iloc[0]
    return float(value) if np.isfinite(value) and value > 0 else None


def _differs(a: float, b: float) -> bool:
    return abs(a - b) > _PIXEL_TOLERANCE * max(abs(a), abs(b))


def _check_csv_pixel(particles: ParticleSet, tomogram: Tomogram, table: str, row: int,
                     given: float | None) -> None:
    stated = {}  # value -> where the particle side states it
    if particles.pixel_size is not None:
        stated[particles.pixel_size] = (
            f"--pixel-size {particles.pixel_size:g}" if given is not None and not _file_states_pixel(particles)
            else f"{particles.label} states a pixel size of {particles.pixel_size:g} A")
    series = _optics_series_pixel(particles)
    if series is not None:
        stated.setdefault(series, f"{particles.label} data_optics rlnTomoTiltSeriesPixelSize {series:g} A")
    unit = particles.coordinate_unit
    if unit is not None and particles.coordinate_frame != "centre":
        stated.setdefault(unit, f"{particles.label} counts coordinates in pixels of {unit:g} A")
    if not stated or not all(_differs(tomogram.voxel_size, value) for value in stated):
        return
    raise row_error(table, row, "pixel_size",
                    f"tomogram {tomogram.name!r} has a pixel size of {tomogram.voxel_size:g} A, "
                    f"but {'; '.join(stated.values())}; expected the same pixel size in both "
                    "(the table's sizes in voxels of the particles, or of the tilt series their "
                    "coordinates count)")


def _file_states_pixel(particles: ParticleSet) -> bool:
    """Whether the particle file itself states a pixel size (else it came from the user)."""
    source = particles.source
    if source is None:
        return False
    if source.format == "dynamo":
        apix = pd.to_numeric(source.table.get("apix", pd.Series(dtype=float)), errors="coerce")
        return bool((apix > 0).any())
    optics = source.blocks.get("optics")
    return source.format.startswith("relion") and isinstance(optics, pd.DataFrame) and bool(
        {"rlnImagePixelSize", "rlnTomoTiltSeriesPixelSize"} & set(optics.columns))


def _check_series_pixel(particles: ParticleSet, tomogram: Tomogram, table: str, row: int) -> None:
    series = _optics_series_pixel(particles)
    if series is None or not _differs(tomogram.voxel_size, series):
        return
    raise ParticleTableError(
        f"{table}: data_global row {row + 1}, column rlnTomoTiltSeriesPixelSize: tomogram "
        f"{tomogram.name!r} has a tilt-series pixel size of {tomogram.voxel_size:g} A, but "
        f"{particles.label} data_optics rlnTomoTiltSeriesPixelSize is {series:g} A; expected the "
        "same tilt series in both tables")


def _check_tilt(particles: ParticleSet, tomogram: Tomogram, table: str, row: int) -> None:
    fields = particles.fields
    low = fields["tilt_min"].to_numpy(dtype=float)
    high = fields["tilt_max"].to_numpy(dtype=float)
    axis = fields["tilt_axis"].to_numpy()
    mine = (fields["tomogram"].to_numpy() == tomogram.name) & ~np.isnan(low) & ~np.isnan(high)
    expected_axis = tomogram.tilt_axis or "y"
    wrong = mine & ((np.abs(low - tomogram.tilt_range.min_deg) > TILT_TOLERANCE_DEG)
                    | (np.abs(high - tomogram.tilt_range.max_deg) > TILT_TOLERANCE_DEG)
                    | ((axis != expected_axis) & ~((low <= -90) & (high >= 90))))
    if not wrong.any():
        return
    first = int(np.argmax(wrong))
    column = ("13-17 (ftype, ymintilt, ymaxtilt, xmintilt, xmaxtilt)"
              if particles.source is not None and particles.source.format == "dynamo" else "tilt range")
    raise row_error(particles.label, first, column,
                    f"tilt range [{low[first]:g}, {high[first]:g}] about {axis[first]}, but {table} "
                    f"row {row + 1} gives tomogram {tomogram.name!r} [{tomogram.tilt_range.min_deg:g}, "
                    f"{tomogram.tilt_range.max_deg:g}] about {expected_axis}; expected the same tilt "
                    "range in both (mend one, or leave it out of one)")
