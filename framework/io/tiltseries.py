"""Per-tilt tables of RELION 5 and WarpTools tomograms: projections, CTF and dose per tilt.

Where they are (:func:`subalign.io.tomograms.read_tomogram_table` finds them):

* WarpTools writes them into ``tomograms.star`` itself, one block ``data_<rlnTomoName>`` per
  tomogram, with the projection matrices ``rlnTomoProjX/Y/Z/W``.
* RELION 5 names a file per tomogram in ``rlnTomoTiltSeriesStarFile`` (relative to the
  RELION project directory); its block ``data_<rlnTomoName>`` (or its one table) holds
  ``rlnTomoYTilt``, ``rlnTomoZRot``, optionally ``rlnTomoXTilt`` (degrees) and
  ``rlnTomoXShiftAngst``, ``rlnTomoYShiftAngst``, from which RELION builds the same matrices
  (:func:`relion5_projections`). A table with only ``rlnTomoNominalStageTiltAngle`` is read
  as an ideal single-axis series about ``y`` (:func:`nominal_projections`).

Both hold per tilt ``rlnDefocusU/V`` (Angstrom), ``rlnDefocusAngle`` (degrees),
``rlnCtfScalefactor`` and ``rlnMicrographPreExposure`` (electrons per square Angstrom
before the tilt); ``data_global`` holds the tomogram's ``rlnTomoHand``, pixel size, voltage,
Cs, amplitude contrast and ``rlnTomoImportFractionalDose``.

Convention (RELION 5, ``src/jaz/tomography/tomogram.cpp`` and ``tomogram_set.cpp``; RELION 5
reads ``rlnTomoProjX/Y/Z/W`` in preference to the angles but never writes them): the 4x4
matrix with rows ``rlnTomoProjX, Y, Z, W`` maps a point of the tomogram, ``(x, y, z, 1)`` in
unbinned tilt-series pixels from voxel 0, to ``(u, v, depth, 1)``: ``u, v`` the pixel in the
tilt image and ``depth`` along the beam (WarpTools writes rotations only, no translation). Its 3x3 part is a rotation: rows 1 and 2 are the image axes in
tomogram coordinates, row 3 the beam direction. A matrix whose 3x3 part is not orthonormal
within 1e-3 is refused (:class:`TiltSeries`). Rows follow the tilt table's order, which is
also the order of ``rlnTomoVisibleFrames`` and of the slices of 2-D particle stacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from subalign.io.tables import ParticleTableError, finite_column, require_columns, row_error
from subalign.numerics.tilt_geometry import TiltFrame, check_rotations, single_axis_frame

__all__ = ["MATRIX_COLUMNS", "Optics", "TiltSeries", "nominal_projections", "read_tilt_table",
           "relion5_projections"]

MATRIX_COLUMNS = ["rlnTomoProjX", "rlnTomoProjY", "rlnTomoProjZ", "rlnTomoProjW"]
RELION5_COLUMNS = ["rlnTomoXTilt", "rlnTomoYTilt", "rlnTomoZRot"]
NOMINAL = "rlnTomoNominalStageTiltAngle"


@dataclass(frozen=True)
class Optics:
    """What a tomogram's microscope was: ``voltage_kv``, ``cs_mm``, ``amplitude_contrast``,
    the tilt series' ``pixel_size`` (Angstrom), ``hand`` (RELION's ``rlnTomoHand``, +-1) and
    ``fractional_dose`` (electrons per square Angstrom per tilt; None: unknown)."""

    voltage_kv: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.1
    pixel_size: float | None = None
    hand: float = 1.0
    fractional_dose: float | None = None


@dataclass(frozen=True)
class TiltSeries:
    """One tomogram's tilts (module docstring), in the order of its table.

    Attributes
    ----------
    name : str
    projections : ndarray of shape (m, 4, 4)
        Tomogram ``(x, y, z, 1)`` (unbinned pixels) -> ``(u, v, depth, 1)``.
    defocus_u, defocus_v : ndarray of shape (m,)
        Angstrom, positive underfocus.
    defocus_angle : ndarray of shape (m,)
        Degrees.
    ctf_scale : ndarray of shape (m,)
    pre_exposure : ndarray of shape (m,)
        Electrons per square Angstrom before each tilt.
    optics : Optics
    source : str
        The file (and block), for messages.
    """

    name: str
    projections: np.ndarray
    defocus_u: np.ndarray
    defocus_v: np.ndarray
    defocus_angle: np.ndarray
    ctf_scale: np.ndarray
    pre_exposure: np.ndarray
    optics: Optics = field(default_factory=Optics)
    source: str = ""

    def __post_init__(self) -> None:
        bad = check_rotations(self.rotations)
        if len(bad):
            raise row_error(self.source, int(bad[0]), "rlnTomoProjX/Y/Z",
                            f"projection matrix {np.round(self.projections[bad[0], :3, :3], 4).tolist()}"
                            " is not a rotation; expected orthonormal rows (within 1e-3)")

    def __len__(self) -> int:
        return len(self.projections)

    @property
    def rotations(self) -> np.ndarray:
        """The 3x3 parts, shape (m, 3, 3): rows image ``x``, image ``y``, beam."""
        return self.projections[:, :3, :3]

    @cached_property
    def frame(self) -> TiltFrame:
        """The least-squares single-axis frame of all tilts
        (:mod:`subalign.numerics.tilt_geometry`)."""
        return single_axis_frame(self.rotations[:, 2])


def _matrix(text, source: str, row: int, column: str) -> np.ndarray:
    try:
        values = np.asarray(json.loads(str(text)), dtype=float)
    except (ValueError, TypeError):
        values = np.array([])
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise row_error(source, row, column, f"found {str(text)[:60]!r}; expected four numbers [a,b,c,d]")
    return values


def _per_tilt(table: pd.DataFrame, column: str, source: str, default: float, what: str) -> np.ndarray:
    if column not in table.columns:
        return np.full(len(table), default)
    return finite_column(table, column, source, what)


def relion5_projections(table: pd.DataFrame, source: str, size_xyz, pixel_size: float) -> np.ndarray:
    """Projection matrices (m, 4, 4) from RELION 5's per-tilt angles and shifts.

    RELION 5 (``src/jaz/tomography/tomogram.cpp``, ``Tomogram::setProjectionMatrix``):
    ``P = T(c_image + s) Rz(ZRot) Ry(YTilt) Rx(XTilt) T(-c)`` on ``(x, y, z, 1)``, with the
    tomogram centre ``c = size // 2`` (unbinned pixels), ``s = (XShiftAngst, YShiftAngst, 0)
    / pixel size`` and active right-handed rotations (``rlnTomoXTilt`` optional, 0). The tilt
    image's centre ``c_image`` is not in the tables; subalign leaves it 0, so ``u, v`` are
    pixels from the image centre (only the rotation and the depth row are used here).
    """
    require_columns(table, RELION5_COLUMNS[1:], source, "RELION 5 tilt-series geometry")
    xtilt = (np.radians(finite_column(table, "rlnTomoXTilt", source, "an angle in degrees"))
             if "rlnTomoXTilt" in table.columns else np.zeros(len(table)))
    ytilt, zrot = (np.radians(finite_column(table, c, source, "an angle in degrees"))
                   for c in RELION5_COLUMNS[1:])
    shifts = np.column_stack([_per_tilt(table, c, source, 0.0, "a shift in Angstrom")
                              for c in ("rlnTomoXShiftAngst", "rlnTomoYShiftAngst")]) / pixel_size
    centre = np.array([n // 2 for n in size_xyz], dtype=float)
    matrices = np.zeros((len(table), 4, 4))
    for i, (a, b, g) in enumerate(zip(xtilt, ytilt, zrot)):
        rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
        rz = np.array([[np.cos(g), -np.sin(g), 0], [np.sin(g), np.cos(g), 0], [0, 0, 1]])
        rotation = rz @ ry @ rx
        matrices[i, :3, :3] = rotation
        matrices[i, :3, 3] = -rotation @ centre + np.array([shifts[i, 0], shifts[i, 1], 0.0])
        matrices[i, 3, 3] = 1.0
    return matrices


def nominal_projections(angles_deg: np.ndarray) -> np.ndarray:
    """Projections (m, 4, 4) of an ideal single-axis series about ``y`` at the nominal stage
    angles (used when a table has nothing else): tilt ``alpha`` has the image ``x`` axis
    ``(cos alpha, 0, sin alpha)``, image ``y`` the tomogram's and the beam
    ``(-sin alpha, 0, cos alpha)`` (:mod:`subalign.numerics.wedge`'s convention)."""
    alpha = np.radians(np.asarray(angles_deg, float))
    matrices = np.zeros((len(alpha), 4, 4))
    matrices[:, 0, 0], matrices[:, 0, 2] = np.cos(alpha), np.sin(alpha)
    matrices[:, 1, 1] = 1.0
    matrices[:, 2, 0], matrices[:, 2, 2] = -np.sin(alpha), np.cos(alpha)
    matrices[:, 3, 3] = 1.0
    return matrices


def read_tilt_table(table: pd.DataFrame, name: str, source: str, optics: Optics,
                    size_xyz=None) -> TiltSeries:
    """A tomogram's tilts from its per-tilt table (module docstring).

    Raises
    ------
    ParticleTableError
        No projection matrices and no RELION 5 angles; a malformed or non-orthonormal
        matrix; non-finite CTF values (naming the row and column).
    """
    if len(table) == 0:
        raise ParticleTableError(f"{source}: tomogram {name!r}: found no tilts; expected one row "
                                 "per tilt")
    if all(c in table.columns for c in MATRIX_COLUMNS):
        projections = np.stack([
            np.stack([_matrix(table[c].iloc[row], source, row, c) for c in MATRIX_COLUMNS])
            for row in range(len(table))])
    elif all(c in table.columns for c in RELION5_COLUMNS[1:]):
        if size_xyz is None or optics.pixel_size is None:
            raise ParticleTableError(f"{source}: tomogram {name!r} has no size and pixel size; "
                                     "expected rlnTomoSizeX/Y/Z and rlnTomoTiltSeriesPixelSize "
                                     "in data_global to build its projections")
        projections = relion5_projections(table, source, size_xyz, optics.pixel_size)
    elif NOMINAL in table.columns:
        projections = nominal_projections(finite_column(table, NOMINAL, source, "a tilt angle in degrees"))
    else:
        raise ParticleTableError(
            f"{source}: tomogram {name!r}: found columns {', '.join(map(str, table.columns[:6]))}; "
            f"expected projection matrices {'/'.join(MATRIX_COLUMNS)} or RELION 5's "
            f"{', '.join(RELION5_COLUMNS)}")
    defocus_u = _per_tilt(table, "rlnDefocusU", source, 0.0, "a defocus in Angstrom")
    return TiltSeries(
        name, projections, defocus_u,
        _per_tilt(table, "rlnDefocusV", source, np.nan, "a defocus in Angstrom")
        if "rlnDefocusV" in table.columns else defocus_u.copy(),
        _per_tilt(table, "rlnDefocusAngle", source, 0.0, "an angle in degrees"),
        _per_tilt(table, "rlnCtfScalefactor", source, 1.0, "a CTF scale factor"),
        _per_tilt(table, "rlnMicrographPreExposure", source, 0.0, "an exposure in e/A^2"),
        optics, source)
