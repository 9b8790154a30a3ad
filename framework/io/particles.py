"""Particle sets: poses, sources, tomograms and wedges of many subtomograms, array-backed.

A :class:`ParticleSet` keeps ``n`` particles in numpy arrays and one pandas DataFrame, so a
set of 100,000 particles costs tens of MB and every conversion is vectorized. The format
modules (:mod:`subalign.io.relion`, :mod:`subalign.io.dynamo`,
:mod:`subalign.io.em_motivelist`, :mod:`subalign.io.stopgap`) convert their conventions to
the ones below when reading and back when writing; nothing else converts.

Conventions
-----------
pose
    ``rotations[i]`` (3x3, active on ``(x, y, z)``) and ``shifts[i]`` (``(x, y, z)``, voxels
    of the subtomogram) state that subtomogram ``i`` holds ``tau_t Lambda_R`` of the
    reference, ``v_i(x) = ref(R^-1 (x - t))`` about the box centre ``N // 2``
    (:mod:`subalign.numerics.geometry`): the reference's centre sits at box centre ``+ t``.
    ``pose(i).inverse()`` brings the particle into the reference frame.
pixel size
    ``pixel_size``: Angstrom per subtomogram voxel (None: unknown). Shifts in Angstrom are
    ``shifts * pixel_size``.
coordinates
    ``fields[["x", "y", "z"]]``: where the box centre sits in the particle's tomogram
    (NaN: unknown), in ``coordinate_frame``:

    * ``"index0"``: voxel index counted from 0 (the first voxel's centre is 0);
    * ``"index1"``: voxel index counted from 1 (MATLAB: Dynamo, TOM/AV3, STOPGAP);
    * ``"centre"``: offset from the tomogram's centre voxel, index ``size // 2`` per axis;

    in units of ``coordinate_unit`` Angstrom (None: pixels of an unknown size). Converting
    between ``centre`` and the index frames needs the tomogram's size (:class:`Tomogram`).
wedge
    ``tilt_min``, ``tilt_max`` (degrees, NaN: unknown) and ``tilt_axis`` (``"y"`` or ``"x"``,
    :func:`subalign.numerics.wedge.tilt_axis_rotation`) of the tilt series.
labels
    ``tag`` (particle number, > 0), ``tomogram`` (name, ``""``: none), ``subtomogram`` (file
    as written in the table, ``""``: none; relative names are resolved against
    ``base_dir``, then the working directory), ``half_set`` (1, 2; 0: none),
    ``class_number`` (0: none), ``score`` (NaN: none).

Everything a file holds that the model does not is kept in :attr:`ParticleSet.source`
(the file's table, row by row, and its other blocks), so writing the same format again
loses nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.tables import (  # the table helpers, re-exported for the format modules
    ParticleTableError,
    assign_column,
    check_pixel_size,
    finite_column,
    link_files,
    rebase_names,
    require_columns,
    row_error,
)
from subalign.io.tiltseries import TiltSeries
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.wedge import TILT_AXES, TiltRange

__all__ = [
    "COORDINATE_FRAMES",
    "FIELD_COLUMNS",
    "ParticleSet",
    "ParticleTableError",
    "SourceTable",
    "Tomogram",
    "assign_column",
    "check_pixel_size",
    "finite_column",
    "link_files",
    "require_columns",
    "rebase_names",
    "row_error",
]

COORDINATE_FRAMES = ("index0", "index1", "centre")

#: Columns of :attr:`ParticleSet.fields` and their empty values.
FIELD_COLUMNS = {
    "tag": 0, "tomogram": "", "subtomogram": "", "x": np.nan, "y": np.nan, "z": np.nan,
    "half_set": 0, "class_number": 0, "score": np.nan, "tilt_min": np.nan,
    "tilt_max": np.nan, "tilt_axis": "y",
}


@dataclass(frozen=True)
class Tomogram:
    """What is known of one tomogram.

    Attributes
    ----------
    name : str
        The name particles refer to it by.
    path : str, optional
        Its MRC file (for cropping subtomograms).
    size : tuple of int, optional
        ``(x, y, z)`` voxels of the grid whose voxel is ``voxel_size``.
    voxel_size : float, optional
        Angstrom per voxel of ``size``.
    tilt_range : TiltRange, optional
        The tilt series' range.
    tilt_axis : {"y", "x"}, optional
    number : int, optional
        Its number in formats that number tomograms (Dynamo, TOM/AV3, STOPGAP).
    tilt_series : TiltSeries, optional
        Its tilts: projections, CTF and dose (:mod:`subalign.io.tiltseries`).
    tilt_series_file : str, optional
        Where its per-tilt table should be, when it was not found (a RELION 5 tilt-series
        file); an error names it when the tilts are needed.
    """

    name: str
    path: str | None = None
    size: tuple[int, int, int] | None = None
    voxel_size: float | None = None
    tilt_range: TiltRange | None = None
    tilt_axis: str | None = None
    number: int | None = None
    tilt_series: TiltSeries | None = None
    tilt_series_file: str | None = None

    @property
    def centre_angstrom(self) -> np.ndarray | None:
        """``(x, y, z)`` Angstrom from the first voxel's centre to the centre voxel
        (index ``size // 2``), or None if the size or voxel size is unknown."""
        if self.size is None or self.voxel_size is None:
            return None
        return np.array([n // 2 for n in self.size], dtype=float) * self.voxel_size


@dataclass
class SourceTable:
    """What a file held, kept so that writing the same format again loses nothing.

    Attributes
    ----------
    format : str
        The format name (:mod:`subalign.io.formats`).
    path : str
        The file, for messages.
    table : DataFrame
        Its particle table as read, one row per particle (every column, known or not).
    blocks : dict
        Its other blocks (e.g. RELION's ``general`` and ``optics``), as read.
    columns : dict
        The file's column for each model field (``"subtomogram": "rlnImageName"``), for
        messages.
    """

    format: str
    path: str
    table: pd.DataFrame
    blocks: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)


@dataclass
class ParticleSet:
    """n particles: poses, labels, coordinates and wedges (module docstring: conventions).

    Attributes
    ----------
    rotations : ndarray of shape (n, 3, 3)
    shifts : ndarray of shape (n, 3)
        Voxels, ``(x, y, z)``.
    fields : DataFrame
        n rows, the columns of :data:`FIELD_COLUMNS`.
    pixel_size : float or None
        Angstrom per subtomogram voxel.
    coordinate_frame : {"index0", "index1", "centre"}
    coordinate_unit : float or None
        Angstrom per coordinate unit.
    box_size : int or None
        Subtomogram edge in voxels, if the file states it.
    tomograms : dict of str to Tomogram
    base_dir : str
        Directory relative subtomogram and tomogram paths are resolved against first.
    source : SourceTable or None
    stacks : bool
        Each particle's ``subtomogram`` file is a 2-D stack of its tilt images
        (:mod:`subalign.io.stacks`), not a volume.
    pixel_sizes : ndarray of shape (n,) or None
        Each particle's pixel size when the set mixes optics groups of different pixel sizes
        (then :attr:`pixel_size` is None and :meth:`require_pixel_size` names the groups).
    box_rotations : ndarray of shape (n, 3, 3) or None
        Where a file's subtomograms were extracted in a rotated frame (RELION 5's
        pseudo-subtomograms): the rotation from the tomogram's frame to each box's, so a
        box's pose is ``tau_(B t) Lambda_(B R)``. None: every box is in the tomogram's frame.
    poses_given : bool
        False for a table with no rotations (freshly extracted): identity rotations, no
        angles written for it, refused where a pose is needed (:meth:`require_poses`).
    """

    rotations: np.ndarray
    shifts: np.ndarray
    fields: pd.DataFrame
    pixel_size: float | None = None
    coordinate_frame: str = "index0"
    coordinate_unit: float | None = None
    box_size: int | None = None
    tomograms: dict = field(default_factory=dict)
    base_dir: str = "."
    source: SourceTable | None = None
    stacks: bool = False
    box_rotations: np.ndarray | None = None
    pixel_sizes: np.ndarray | None = None
    poses_given: bool = True

    def __post_init__(self) -> None:
        self.rotations = np.asarray(self.rotations, dtype=float)
        self.shifts = np.asarray(self.shifts, dtype=float)
        n = len(self.fields)
        if self.rotations.shape != (n, 3, 3) or self.shifts.shape != (n, 3):
            raise ValueError(f"ParticleSet needs rotations (n, 3, 3) and shifts (n, 3) for the "
                             f"{n} rows of fields; found {self.rotations.shape} and {self.shifts.shape}")
        if self.coordinate_frame not in COORDINATE_FRAMES:
            raise ValueError(f"coordinate_frame: expected one of {COORDINATE_FRAMES}, "
                             f"found {self.coordinate_frame!r}")
        if self.source is not None and len(self.source.table) != n:
            raise ValueError(f"source table has {len(self.source.table)} rows for {n} particles")

    @classmethod
    def create(cls, rotations, shifts, *, pixel_size: float | None = None, **attributes) -> "ParticleSet":
        """A set from poses; any field of :data:`FIELD_COLUMNS` may be given as an array
        (``tomogram=[...]``, ``x=[...]``), the rest are empty; ``tag`` defaults to 1..n.
        Other keyword arguments are :class:`ParticleSet` attributes."""
        rotations = np.asarray(rotations, dtype=float)
        n = len(rotations)
        columns = {}
        for name, empty in FIELD_COLUMNS.items():
            given = attributes.pop(name, None)
            if given is None:
                given = np.arange(1, n + 1) if name == "tag" else [empty] * n
            columns[name] = given
        fields = pd.DataFrame(columns)
        for name, empty in FIELD_COLUMNS.items():
            fields[name] = fields[name].astype(type(empty) if isinstance(empty, str) else
                                               np.asarray(empty).dtype)
        return cls(rotations, np.asarray(shifts, dtype=float), fields, pixel_size=pixel_size,
                   **attributes)

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def label(self) -> str:
        """The file the set was read from, or ``<particles>``, for messages."""
        return self.source.path if self.source is not None else "<particles>"

    def column(self, name: str) -> str:
        """The source file's column for model field ``name`` (the field name itself if none)."""
        return self.source.columns.get(name, name) if self.source is not None else name

    def pose(self, index: int) -> RigidTransform:
        """Particle ``index``'s pose ``tau_t Lambda_R`` (module conventions)."""
        return RigidTransform(self.rotations[index], self.shifts[index])

    def shifts_angstrom(self) -> np.ndarray:
        """Shifts in Angstrom, shape (n, 3); needs the pixel size."""
        return self.shifts * self.require_pixel_size("shifts in Angstrom")

    def require_pixel_size(self, purpose: str) -> float:
        """The pixel size, or an error saying it is absent and what needed it."""
        if self.pixel_size is None and self.pixel_sizes is not None:
            raise ParticleTableError(f"{self.label}: {self.pixel_size_groups()}; expected one pixel "
                                     f"size for {purpose} (take one optics group)")
        if self.pixel_size is None:
            raise ParticleTableError(
                f"{self.label}: pixel size absent; expected one for {purpose} (give --pixel-size "
                "or a file that states it)")
        return self.pixel_size

    def require_poses(self, purpose: str) -> None:
        """Refuse a set without poses for ``purpose`` (e.g. ``"search=local"``), in one line."""
        if not self.poses_given:
            raise ParticleTableError(f"{self.label}: no poses (the table has no rotation columns); "
                                     f"expected them for {purpose} (a global search needs none)")

    def pixel_size_groups(self) -> str:
        """``"pixel sizes 2.446 A (optics group 1: 2 particles), ..."``, for messages."""
        table = self.source.table if self.source is not None else pd.DataFrame()
        groups = table["rlnOpticsGroup"].to_numpy() if "rlnOpticsGroup" in table else np.zeros(len(self), int)
        parts = []
        for value in np.unique(self.pixel_sizes):
            rows = self.pixel_sizes == value
            names = ", ".join(str(g) for g in pd.unique(groups[rows]))
            parts.append(f"{value:g} A (optics group {names}: {int(rows.sum())} particles)")
        return "pixel sizes " + ", ".join(parts)

    def take(self, indices) -> "ParticleSet":
        """The particles at ``indices`` (any numpy index), in that order, as a new set."""
        rows = np.arange(len(self))[indices]
        source = None
        if self.source is not None:
            source = replace(self.source, table=self.source.table.iloc[rows].reset_index(drop=True))
        pixel_size, pixel_sizes = self.pixel_size, None
        if self.pixel_sizes is not None:
            pixel_sizes = self.pixel_sizes[rows]
            if len(pixel_sizes) and np.ptp(pixel_sizes) <= 1e-4 * pixel_sizes.max():
                pixel_size, pixel_sizes = float(pixel_sizes[0]), None  # one optics group left
        return replace(self, rotations=self.rotations[rows], shifts=self.shifts[rows],
                       fields=self.fields.iloc[rows].reset_index(drop=True), source=source,
                       box_rotations=None if self.box_rotations is None else self.box_rotations[rows],
                       pixel_size=pixel_size, pixel_sizes=pixel_sizes)

    def has(self, name: str) -> bool:
        """Whether any particle has a value for field ``name`` (coordinates: all three)."""
        values = self.fields[name]
        empty = FIELD_COLUMNS[name]
        if isinstance(empty, float):
            return bool(values.notna().any())
        return bool((values != empty).any())

    def tomogram_geometry(self, purpose: str) -> np.ndarray:
        """Each particle's tomogram centre in Angstrom from its first voxel, shape (n, 3).

        Raises naming the first particle whose tomogram's size or voxel size is unknown.
        """
        names = self.fields["tomogram"].to_numpy()
        centres = np.empty((len(self), 3))
        for name in pd.unique(names):
            tomogram = self.tomograms.get(name)
            centre = None if tomogram is None else tomogram.centre_angstrom
            rows = names == name
            if centre is None:
                row = int(np.argmax(rows))
                raise row_error(self.label, row, self.column("tomogram"),
                                f"tomogram {name!r} has no known size and voxel size; expected "
                                f"them for {purpose} (give a tomogram table with size_x, size_y, "
                                "size_z and pixel_size, or RELION 5's tomograms.star)")
            centres[rows] = centre
        return centres

    def coordinates(self, frame: str, unit: float | None) -> np.ndarray:
        """Coordinates in ``frame`` and ``unit`` Angstrom (None: the set's own unit).

        Returns
        -------
        ndarray of shape (n, 3)
            ``(x, y, z)``; NaN where unknown.

        Raises
        ------
        ParticleTableError
            The conversion needs a unit or tomogram size that is unknown.
        """
        values = self.fields[["x", "y", "z"]].to_numpy(dtype=float)
        own = self.coordinate_unit
        if unit is None:
            unit = own
        same_unit = (unit is None and own is None) or (
            unit is not None and own is not None and abs(unit - own) <= 1e-9 * own)
        indexed = {"index0": 0.0, "index1": 1.0}
        if same_unit and frame in indexed and self.coordinate_frame in indexed:
            return values + (indexed[frame] - indexed[self.coordinate_frame])
        if same_unit and frame == self.coordinate_frame:
            return values
        if own is None or unit is None:
            raise ParticleTableError(
                f"{self.label}: coordinates are in pixels of unknown size; expected a pixel size "
                f"to convert them to {frame} coordinates (give --pixel-size)")
        known = ~np.isnan(values).any(axis=1)
        if not known.any():
            return values
        if self.coordinate_frame == "centre" or frame == "centre":
            centres = self.take(known).tomogram_geometry(f"{frame} coordinates")
        else:
            centres = np.zeros((int(known.sum()), 3))
        # Angstrom from the first voxel's centre, then into the target frame.
        angstrom = values[known] * own
        if self.coordinate_frame == "index1":
            angstrom -= own
        elif self.coordinate_frame == "centre":
            angstrom += centres
        if frame == "centre":
            angstrom -= centres
        result = np.full_like(values, np.nan)
        result[known] = angstrom / unit + indexed.get(frame, 0.0)
        return result

    def tilt_ranges(self) -> list[TiltRange]:
        """Each particle's :class:`TiltRange`; raises at the first particle with no wedge."""
        low = self.fields["tilt_min"].to_numpy(dtype=float)
        high = self.fields["tilt_max"].to_numpy(dtype=float)
        missing = np.isnan(low) | np.isnan(high)
        if missing.any():
            row = int(np.argmax(missing))
            raise row_error(self.label, row, self.column("tomogram"), self._no_wedge(row))
        cache: dict[tuple[float, float], TiltRange] = {}
        return [cache.setdefault((a, b), TiltRange.parse((a, b), field=f"{self.label}: row {i + 1}: tilt range"))
                for i, (a, b) in enumerate(zip(low, high))]

    def _no_wedge(self, row: int) -> str:
        """Why particle ``row`` has no wedge, and what would give it one."""
        name = self.fields["tomogram"].iloc[row]
        tomogram = self.tomograms.get(name)
        fix = "expected a tilt range from the file, a tomogram table (--tomograms) or a default (--wedge MIN MAX)"
        if tomogram is None:
            listed = f" (the tomograms known are {_names(self.tomograms)})" if self.tomograms else ""
            return f"no wedge known for tomogram {name!r}: it is in no tomogram table{listed}; {fix}"
        if tomogram.tilt_series_file is not None:
            return (f"no wedge known for tomogram {name!r}: its tilt-series file "
                    f"{tomogram.tilt_series_file} was not found; expected it in the RELION project "
                    "directory (give --project-dir, or the optimisation set)")
        return (f"no wedge known for tomogram {name!r}: its table has no tilt range or per-tilt "
                f"table for it; {fix}")

    def assign_wedges(self, *, tomograms: dict | None = None, default: TiltRange | None = None,
                      tilt_axis: str | None = None, table: str = "tomogram table") -> "ParticleSet":
        """Fill unknown wedges from a per-tomogram table, then from one default.

        Parameters
        ----------
        tomograms : dict of str to Tomogram, optional
            By name; merged into :attr:`tomograms`. Particles whose wedge is unknown take
            their tomogram's tilt range (and axis).
        default : TiltRange, optional
            For particles still without a wedge.
        tilt_axis : {"y", "x"}, optional
            The axis of every wedge filled here (default: the table's, else ``y``).
        table : str
            Names the table in messages.

        Returns
        -------
        ParticleSet
            A copy with the wedges filled.

        Particles whose tomogram is not in the table, or has no tilt range, keep an unknown
        wedge (:meth:`tilt_ranges` names the reason when one is needed).
        """
        if tilt_axis is not None and tilt_axis not in TILT_AXES:
            raise ParticleTableError(f"tilt axis: expected one of {', '.join(TILT_AXES)}, found {tilt_axis!r}")
        fields = self.fields.copy()
        merged = dict(self.tomograms)
        for name, tomogram in (tomograms or {}).items():
            merged[name] = _merge_tomogram(merged.get(name), tomogram)
        unknown = fields["tilt_min"].isna().to_numpy() | fields["tilt_max"].isna().to_numpy()
        if tomograms:
            names = fields["tomogram"].to_numpy()
            for name in pd.unique(names[unknown]):
                tomogram = tomograms.get(name)
                if tomogram is None or tomogram.tilt_range is None:
                    continue  # tilt_ranges() says why, for whoever needs the wedges
                rows = unknown & (names == name)
                fields.loc[rows, "tilt_min"] = tomogram.tilt_range.min_deg
                fields.loc[rows, "tilt_max"] = tomogram.tilt_range.max_deg
                fields.loc[rows, "tilt_axis"] = tilt_axis or tomogram.tilt_axis or "y"
            unknown = fields["tilt_min"].isna().to_numpy() | fields["tilt_max"].isna().to_numpy()
        if default is not None and unknown.any():
            fields.loc[unknown, "tilt_min"] = default.min_deg
            fields.loc[unknown, "tilt_max"] = default.max_deg
            fields.loc[unknown, "tilt_axis"] = tilt_axis or "y"
        return replace(self, fields=fields, tomograms=merged)

    def subtomograms_from(self, directory: str | os.PathLike) -> np.ndarray:
        """The subtomogram names as a table in ``directory`` must write them: relative names
        taken from where :meth:`resolve` finds the first (beside the source, else the working
        directory), rewritten relative to ``directory``; absolute and empty names stay. One
        decision for the whole set, so 100,000 names cost no file-system call each.

        Returns
        -------
        ndarray of object, shape (n,)
        """
        return rebase_names(self.fields["subtomogram"].to_numpy(dtype=object), self.base_dir,
                            directory)

    def resolve(self, name: str) -> Path:
        """A file named in the table: absolute as is, else under :attr:`base_dir` if it
        exists there, else relative to the working directory (as RELION resolves it)."""
        path = Path(name)
        if path.is_absolute():
            return path
        beside = Path(self.base_dir) / path
        return beside if beside.exists() else path


def _merge_tomogram(old: Tomogram | None, new: Tomogram) -> Tomogram:
    """``new`` with every attribute it leaves unknown taken from ``old``."""
    if old is None:
        return new
    values = {key: getattr(new, key) if getattr(new, key) is not None else getattr(old, key)
              for key in ("path", "size", "voxel_size", "tilt_range", "tilt_axis", "number",
                          "tilt_series", "tilt_series_file")}
    return Tomogram(new.name, **values)


def _names(tomograms: dict) -> str:
    names = sorted(tomograms)
    return ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
