"""RELION particle STAR files: RELION 5 tomography and RELION 3/4 subtomogram sets.

Convention (RELION's documentation, *Conventions*; our :mod:`subalign.io.particles`):

* ``rlnAngleRot, rlnAngleTilt, rlnAnglePsi`` are ZYZ Euler angles whose matrix
  ``A = (Rz(rot) Ry(tilt) Rz(psi))^T`` "rotates the reference into the particle": our
  active ``R = A`` (the transpose of :func:`subalign.numerics.geometry.euler_zyz_to_matrix`;
  the ``relion`` convention of ``eulerangles``: intrinsic ZYZ, passive).
* ``rlnOriginX/Y/ZAngst`` (RELION >= 3.1; ``rlnOriginX/Y/Z`` in pixels before) are where the
  box centre sits relative to the particle: the particle's centre is at box centre minus
  origin, so our shift ``t = -origin / pixel size``.
* RELION 5: ``rlnCenteredCoordinateX/Y/ZAngst`` is the box centre in Angstrom from the
  tomogram's centre voxel (index ``size // 2``; our ``"centre"`` frame, unit 1 Angstrom).
  The tomogram is ``rlnTomoName``; the optics block holds ``rlnImagePixelSize``.
* RELION 3/4: ``rlnCoordinateX/Y/Z`` is the box centre in pixels counted from 0 at the first
  voxel (our ``"index0"`` frame), in units of the optics ``rlnTomoTiltSeriesPixelSize``
  (RELION 4: unbinned tilt-series pixels) or else of the particle pixel size. WarpTools'
  RELION 5 sets give them in particle pixels (``rlnImagePixelSize``; WarpTools
  ``TiltSeries.ReconstructParticleSeries.cs``: the position divided by the binned pixel size); the tomogram
  is ``rlnTomoName`` or else ``rlnMicrographName``. RELION 3.0 files without an optics block
  give the pixel size as ``rlnDetectorPixelSize * 1e4 / rlnMagnification``.
* ``rlnImageName`` is the subtomogram, ``rlnRandomSubset`` the half set, ``rlnClassNumber``
  the class. RELION has no score column; scores are not written.

Composed orientations (RELION 5, ``src/jaz/tomography/particle_set.cpp``,
``ParticleSet::getMatrix3x3``): with ``rlnTomoSubtomogramRot/Tilt/Psi`` the particle's
orientation in the tomogram is ``A_subtomogram A_particle``, both RELION matrices of the
angles above; ``rlnAngle*`` and ``rlnOrigin*Angst`` are relative to the pseudo-subtomogram,
which RELION extracted in the frame ``A_subtomogram`` (the particle sits at the coordinate
minus ``A_subtomogram origin``, ``particle_set.cpp``). subalign's pose is the composed one, in the tomogram's frame, so
every format gets the same rotation; the pseudo-subtomogram's frame is kept
(:attr:`ParticleSet.box_rotations`: ``A_subtomogram^T``, tomogram -> box) for reading its
box, and RELION 5 is written relative to it again (lossless).

Optics groups of different pixel sizes (RELION 3.1+): each particle's origins are converted
with its group's ``rlnImagePixelSize`` (:attr:`ParticleSet.pixel_sizes`); such a set is
shown and written as RELION again, and refused in one line naming the groups wherever one
pixel size is needed (alignment, averaging, other formats' Angstrom columns).

2-D stacks (``rlnTomoSubTomosAre2DStacks 1`` in ``data_general``): ``rlnImageName`` is each
particle's stack of tilt images (:mod:`subalign.io.stacks`). WarpTools writes such sets with
``rlnCoordinateX/Y/Z`` in pixels rather than centred Angstrom; both read as RELION 5.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.particles import (
    ParticleSet,
    ParticleTableError,
    SourceTable,
    Tomogram,
    assign_column,
    check_pixel_size,
    finite_column,
    rebase_names,
    require_columns,
    row_error,
)
from subalign.io.star import loop_block, read_star, write_star
from subalign.numerics.geometry import euler_zyz_to_matrix, matrix_to_euler_zyz

__all__ = ["read_relion", "write_relion4", "write_relion5"]

ANGLES = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
ORIGINS = ["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]
PIXEL_ORIGINS = ["rlnOriginX", "rlnOriginY", "rlnOriginZ"]
CENTRED = ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
PIXEL_COORDINATES = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
SUBTOMOGRAM_ANGLES = ["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]


def _particles_block(blocks: dict, source: str) -> pd.DataFrame:
    if isinstance(blocks.get("particles"), pd.DataFrame):
        return blocks["particles"]
    loops = [name for name, block in blocks.items()
             if isinstance(block, pd.DataFrame) and name not in ("optics", "general")]
    if len(loops) == 1:  # RELION 3.0: one unnamed table
        return blocks[loops[0]]
    return loop_block(blocks, "particles", source)


def _per_particle(optics: pd.DataFrame | None, particles: pd.DataFrame, column: str,
                  source: str) -> np.ndarray | None:
    """An optics-group value for every particle (None if the optics block lacks it)."""
    if optics is None or column not in optics.columns:
        return None
    values = finite_column(optics, column, f"{source} data_optics", "a number")
    if "rlnOpticsGroup" not in optics.columns or "rlnOpticsGroup" not in particles.columns:
        return np.full(len(particles), values[0]) if len(values) == 1 else values
    by_group = dict(zip(optics["rlnOpticsGroup"].astype(int), values))
    groups = particles["rlnOpticsGroup"].astype(int).to_numpy()
    unknown = ~np.isin(groups, list(by_group))
    if unknown.any():
        row = int(np.argmax(unknown))
        raise row_error(source, row, "rlnOpticsGroup",
                        f"optics group {groups[row]} is not in data_optics (it has {sorted(by_group)})")
    return np.array([by_group[g] for g in groups])


def _group_pixels(optics, particles, source, given) -> np.ndarray | None:
    """Each particle's pixel size when the optics groups state different ones (module
    docstring), else None."""
    image = _per_particle(optics, particles, "rlnImagePixelSize", source)
    if given is not None or image is None or optics is None or len(optics) < 2:
        return None
    stated = np.unique(image[np.isfinite(image) & (image > 0)])
    return image if stated.size > 1 and np.ptp(stated) > 1e-4 * stated.max() else None


def _pixel_size(optics, particles, source, given) -> tuple[float | None, str]:
    """The set's pixel size and the column it came from (module docstring)."""
    image = _per_particle(optics, particles, "rlnImagePixelSize", source)
    if image is not None:
        if _group_pixels(optics, particles, source, given) is not None:
            return None, "rlnImagePixelSize"
        return check_pixel_size(image, given, source, "rlnImagePixelSize"), "rlnImagePixelSize"
    series = _per_particle(optics, particles, "rlnTomoTiltSeriesPixelSize", source)
    if series is not None:
        binning = _per_particle(optics, particles, "rlnTomoSubtomogramBinning", source)
        values = series * (1.0 if binning is None else binning)
        column = "rlnTomoTiltSeriesPixelSize"
        return check_pixel_size(values, given, source, column), column
    if {"rlnDetectorPixelSize", "rlnMagnification"} <= set(particles.columns):
        detector = finite_column(particles, "rlnDetectorPixelSize", source, "a pixel size in micrometres")
        magnification = finite_column(particles, "rlnMagnification", source, "a magnification")
        return (check_pixel_size(detector * 1e4 / magnification, given, source, "rlnDetectorPixelSize"),
                "rlnDetectorPixelSize")
    return check_pixel_size(np.array([]), given, source, "rlnImagePixelSize"), "rlnImagePixelSize"


def _rotations(particles: pd.DataFrame, source: str, columns: list[str]) -> np.ndarray:
    """Rotations (n, 3, 3) from RELION's ZYZ angles in ``columns`` (module docstring:
    RELION's matrix is the transpose of subalign's pose)."""
    require_columns(particles, columns, source, "RELION particle poses")
    angles = np.column_stack([finite_column(particles, c, source, "a finite angle in degrees")
                              for c in columns])
    return np.swapaxes(euler_zyz_to_matrix(angles), -1, -2)


def _shifts(particles: pd.DataFrame, pixel, pixel_column: str, source: str) -> np.ndarray:
    """Shifts (n, 3) in voxels, ``(x, y, z)``: minus RELION's origins (Angstrom, or pixels
    in RELION 3.0); zeros without origin columns. ``pixel``: one size, or one per particle
    (n,)."""
    n = len(particles)
    shifts = np.zeros((n, 3))
    origin_columns = [c for c in ORIGINS + PIXEL_ORIGINS if c in particles.columns]
    if any(c in particles.columns for c in ORIGINS):
        require_columns(particles, ORIGINS, source, "RELION origins")
        if pixel is None:
            raise ParticleTableError(
                f"{source}: pixel size absent; expected {pixel_column} in data_optics to convert "
                "rlnOriginX/Y/ZAngst to voxels (or give --pixel-size)")
        shifts = -np.column_stack([finite_column(particles, c, source, "a finite shift in Angstrom")
                                   for c in ORIGINS]) / np.reshape(pixel, (-1, 1))
    elif origin_columns:
        require_columns(particles, PIXEL_ORIGINS, source, "RELION 3.0 origins in pixels")
        shifts = -np.column_stack([finite_column(particles, c, source, "a finite shift in pixels")
                                   for c in PIXEL_ORIGINS])
    return shifts


def _coordinates(particles: pd.DataFrame, optics: pd.DataFrame | None, version: str,
                 pixel: float | None, source: str) -> tuple[np.ndarray, str, float]:
    """Coordinates (n, 3) ``(x, y, z)`` (NaN where the table has none), their frame
    (``centre`` or ``index0``) and unit (Angstrom per coordinate unit)."""
    n = len(particles)
    coordinates = np.full((n, 3), np.nan)
    frame, unit = "centre", 1.0
    if version == "relion5" and any(c in particles.columns for c in CENTRED):
        require_columns(particles, CENTRED, source, "RELION 5 coordinates")
        coordinates = np.column_stack([finite_column(particles, c, source, "a coordinate in Angstrom")
                                       for c in CENTRED])
    elif "rlnCoordinateX" in particles.columns:
        require_columns(particles, PIXEL_COORDINATES, source, "RELION pixel coordinates")
        coordinates = np.column_stack([finite_column(particles, c, source, "a coordinate in pixels")
                                       for c in PIXEL_COORDINATES])
        series = _per_particle(optics, particles, "rlnTomoTiltSeriesPixelSize", source)
        frame = "index0"
        unit = (check_pixel_size(series, None, source, "rlnTomoTiltSeriesPixelSize")
                if series is not None and version == "relion4" else pixel)
    return coordinates, frame, unit


def _labels(particles: pd.DataFrame, source: str) -> dict[str, np.ndarray]:
    """``half_set`` and ``class_number`` (n,) where the table has them."""
    labels = {}
    if "rlnRandomSubset" in particles.columns:
        labels["half_set"] = finite_column(particles, "rlnRandomSubset", source,
                                           "a half set 1 or 2").astype(int)
    if "rlnClassNumber" in particles.columns:
        labels["class_number"] = finite_column(particles, "rlnClassNumber", source,
                                               "a class number").astype(int)
    return labels


def _version(particles: pd.DataFrame, general: dict) -> str:
    """``relion5`` for RELION 5 tables (centred coordinates, 2-D stacks, visible frames),
    ``relion4`` for RELION 3/4 ones (pixel coordinates only)."""
    relion5 = ("rlnCenteredCoordinateXAngst" in particles.columns or "rlnTomoSubTomosAre2DStacks" in general
               or "rlnTomoVisibleFrames" in particles.columns)
    return "relion4" if "rlnCoordinateX" in particles.columns and not relion5 else "relion5"


def _images(particles: pd.DataFrame, optics, source: str) -> tuple[np.ndarray | str, int | None]:
    """``rlnImageName`` per particle (``""``: none) and the box edge if one for all."""
    images = ("" if "rlnImageName" not in particles.columns
              else particles["rlnImageName"].astype(str).to_numpy())
    sizes = _per_particle(optics, particles, "rlnImageSize", source)
    return images, (int(sizes[0]) if sizes is not None and len(np.unique(sizes)) == 1 else None)


def read_relion(path: str | os.PathLike, *, pixel_size: float | None = None) -> ParticleSet:
    """Read a RELION 5 or RELION 3/4 particle STAR file (module docstring).

    The version is told by the columns: ``rlnCenteredCoordinateXAngst``,
    ``rlnTomoVisibleFrames`` or ``rlnTomoSubTomosAre2DStacks`` is RELION 5 (WarpTools writes
    RELION 5 2-D stack sets with ``rlnCoordinateX/Y/Z`` in pixels), ``rlnCoordinateX`` alone
    RELION 3/4; a file with neither reads as RELION 5. A table with no
    ``rlnAngleRot/Tilt/Psi`` (freshly extracted) reads with identity rotations and
    ``poses_given=False``.

    Parameters
    ----------
    path : str or path-like
    pixel_size : float, optional
        Angstrom per subtomogram voxel; must agree with the file if it states one.

    Returns
    -------
    ParticleSet
        Its source keeps the particle table and every other block.

    Raises
    ------
    ParticleTableError
        Some but not all angle columns, missing coordinate columns, non-finite values (naming row and column),
        pixel size absent (with Angstrom origins) or inconsistent, unknown optics groups.
    """
    source = str(path)
    blocks = read_star(path)
    particles = _particles_block(blocks, source)
    optics = blocks.get("optics") if isinstance(blocks.get("optics"), pd.DataFrame) else None
    general = blocks.get("general") if isinstance(blocks.get("general"), dict) else {}
    version = _version(particles, general)
    box_rotations = _box_rotations(particles, source)
    poses_given = any(c in particles.columns for c in ANGLES)
    rotations = (_rotations(particles, source, ANGLES) if poses_given
                 else np.tile(np.eye(3), (len(particles), 1, 1)))
    if box_rotations is not None:
        rotations = np.swapaxes(box_rotations, -1, -2) @ rotations
    pixel, pixel_column = _pixel_size(optics, particles, source, pixel_size)
    pixels = _group_pixels(optics, particles, source, pixel_size)
    shifts = _shifts(particles, pixel if pixels is None else pixels, pixel_column, source)
    if box_rotations is not None:  # origins are in the pseudo-subtomogram's frame
        shifts = np.einsum("nji,nj->ni", box_rotations, shifts)
    coordinates, frame, unit = _coordinates(particles, optics, version, pixel, source)
    tomogram_column, names, tomograms = _tomogram_names(particles)
    images, box = _images(particles, optics, source)
    fields = {"tomogram": names, "subtomogram": images,
              "x": coordinates[:, 0], "y": coordinates[:, 1], "z": coordinates[:, 2]}
    fields.update(_labels(particles, source))
    columns = {"tomogram": tomogram_column or "rlnTomoName", "subtomogram": "rlnImageName",
               "half_set": "rlnRandomSubset", "class_number": "rlnClassNumber"}
    return ParticleSet.create(
        rotations, shifts, pixel_size=pixel, **fields, coordinate_frame=frame,
        coordinate_unit=unit, box_size=box, tomograms=tomograms,
        base_dir=str(Path(path).parent), box_rotations=box_rotations, pixel_sizes=pixels,
        stacks=int(general.get("rlnTomoSubTomosAre2DStacks", 0) or 0) == 1,
        poses_given=poses_given, source=SourceTable(version, source, particles,
                           {k: v for k, v in blocks.items() if v is not particles}, columns))


def _tomogram_names(particles: pd.DataFrame) -> tuple[str | None, np.ndarray, dict]:
    """The tomogram column (``rlnTomoName``, else RELION 3's ``rlnMicrographName``, the
    tomogram's file), each particle's tomogram name, and the tomograms a RELION 3 file names."""
    column = "rlnTomoName" if "rlnTomoName" in particles.columns else (
        "rlnMicrographName" if "rlnMicrographName" in particles.columns else None)
    names = (particles[column].astype(str).to_numpy() if column
             else np.full(len(particles), "", dtype=object))
    tomograms = ({name: Tomogram(name, path=name) for name in pd.unique(names)}
                 if column == "rlnMicrographName" else {})
    return column, names, tomograms


def _box_rotations(particles: pd.DataFrame, source: str) -> np.ndarray | None:
    """Tomogram -> pseudo-subtomogram rotations (n, 3, 3), ``A_subtomogram^T`` (our ZYZ
    matrix of the angles), or None where the table has no ``rlnTomoSubtomogramRot/Tilt/Psi``
    (module docstring)."""
    if not any(c in particles.columns for c in SUBTOMOGRAM_ANGLES):
        return None
    angles = np.column_stack([  # RELION takes an absent angle as 0
        finite_column(particles, c, source, "a finite angle in degrees") if c in particles.columns
        else np.zeros(len(particles)) for c in SUBTOMOGRAM_ANGLES])
    return euler_zyz_to_matrix(angles)


def write_relion5(particles: ParticleSet, path: str | os.PathLike) -> Path:
    """Write a RELION 5 tomography particle STAR file (optics and particles blocks)."""
    return _write(particles, Path(path), "relion5")


def write_relion4(particles: ParticleSet, path: str | os.PathLike) -> Path:
    """Write a RELION 3.1/4 subtomogram particle STAR file (pixel coordinates)."""
    return _write(particles, Path(path), "relion4")


def _optics(particles: ParticleSet, pixel: float, table: pd.DataFrame) -> pd.DataFrame:
    source = particles.source
    if source is not None and isinstance(source.blocks.get("optics"), pd.DataFrame):
        optics = source.blocks["optics"].copy()
        stated = (pd.to_numeric(optics["rlnImagePixelSize"], errors="coerce").to_numpy(dtype=float)
                  if "rlnImagePixelSize" in optics.columns else np.array([np.nan]))
        if not np.all(np.abs(stated - pixel) <= 1e-4 * pixel):
            optics["rlnImagePixelSize"] = pixel
        return optics
    optics = {"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
              "rlnImagePixelSize": [pixel], "rlnImageDimensionality": [3]}
    if particles.box_size is not None:
        optics["rlnImageSize"] = [particles.box_size]
    table["rlnOpticsGroup"] = 1
    return pd.DataFrame(optics)


def _coordinate_unit(particles: ParticleSet, pixel: float) -> float:
    """Unit of ``rlnCoordinateX/Y/Z``: the source's if it was RELION 3/4, else the optics
    tilt-series pixel size, else the particle pixel size."""
    source = particles.source
    if (source is not None and source.format.startswith("relion") and particles.coordinate_frame == "index0"
            and particles.coordinate_unit is not None):
        return particles.coordinate_unit
    optics = source.blocks.get("optics") if source is not None else None
    if isinstance(optics, pd.DataFrame) and "rlnTomoTiltSeriesPixelSize" in optics.columns:
        return float(pd.to_numeric(optics["rlnTomoTiltSeriesPixelSize"]).iloc[0])
    return pixel


def _write(particles: ParticleSet, path: Path, version: str) -> Path:
    source = particles.source
    same_family = source is not None and source.format.startswith("relion")
    table = source.table.copy() if same_family else pd.DataFrame(index=range(len(particles)))
    pixel_relion5 = (version == "relion5" and same_family and source.format == "relion5"
                     and "rlnCoordinateX" in table.columns
                     and "rlnCenteredCoordinateXAngst" not in table.columns)
    own, other = ((CENTRED, PIXEL_COORDINATES) if version == "relion5" and not pixel_relion5
                  else (PIXEL_COORDINATES, CENTRED))
    table = table.drop(columns=[c for c in other + PIXEL_ORIGINS if c in table.columns])
    pixel = (particles.pixel_sizes[:, None] if particles.pixel_sizes is not None and same_family
             else particles.require_pixel_size("rlnOriginX/Y/ZAngst"))
    fields = particles.fields
    if particles.has("tomogram"):
        if version == "relion5" or "rlnTomoName" in table.columns:
            table["rlnTomoName"] = fields["tomogram"].to_numpy()
        else:
            table["rlnMicrographName"] = [
                (particles.tomograms[name].path or name) if name in particles.tomograms else name
                for name in fields["tomogram"]]
    known = fields[["x", "y", "z"]].notna().all(axis=1).to_numpy()
    if known.any():
        if not known.all():
            raise row_error(particles.label, int(np.argmax(~known)), "x/y/z",
                            f"coordinate unknown; expected all particles or none to have one for {version}")
        frame, unit = (("centre", 1.0) if own is CENTRED
                       else ("index0", _coordinate_unit(particles, pixel if np.ndim(pixel) == 0 else None)))
        for column, values in zip(own, particles.coordinates(frame, unit).T):
            assign_column(table, column, values)
    rotations, shifts = particles.rotations, particles.shifts
    keeps_frame = version == "relion5" and particles.box_rotations is not None
    if keeps_frame:  # rlnTomoSubtomogram* stay as the source has them
        rotations = particles.box_rotations @ rotations
        shifts = np.einsum("nij,nj->ni", particles.box_rotations, shifts)
    else:
        table = table.drop(columns=[c for c in SUBTOMOGRAM_ANGLES if c in table.columns])
    invented = not particles.poses_given and np.allclose(rotations, np.eye(3))
    for column, values in zip(ANGLES, matrix_to_euler_zyz(np.swapaxes(rotations, -1, -2)).T):
        if not invented:  # a set read without poses, still without: none written
            assign_column(table, column, values)
    for column, values in zip(ORIGINS, (-shifts * pixel).T):
        assign_column(table, column, values)
    if particles.has("subtomogram"):
        table["rlnImageName"] = particles.subtomograms_from(path.parent)
    if "rlnCtfImage" in table.columns:  # weight volumes move with the table too
        table["rlnCtfImage"] = rebase_names(table["rlnCtfImage"].to_numpy(dtype=object),
                                            particles.base_dir, path.parent)
    if particles.has("half_set"):
        assign_column(table, "rlnRandomSubset", fields["half_set"].to_numpy())
    if particles.has("class_number"):
        assign_column(table, "rlnClassNumber", fields["class_number"].to_numpy())
    blocks = {name: block for name, block in (source.blocks.items() if same_family else [])
              if name not in ("optics",)}
    optics = (source.blocks["optics"] if particles.pixel_sizes is not None
              else _optics(particles, pixel, table))
    ordered = {**({"general": blocks.pop("general")} if "general" in blocks else {}),
               "optics": optics, **blocks, "particles": table}
    return write_star(path, ordered)
