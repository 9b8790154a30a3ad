"""2-D particle stacks (RELION 5, WarpTools): a particle's tilt images made into a box.

A set with ``rlnTomoSubTomosAre2DStacks 1`` names per particle an MRC stack
(``rlnImageName``) of ``N x N`` images at the set's pixel size, centred on the particle
(:mod:`subalign.io.relion`). Its tomogram's per-tilt table (:mod:`subalign.io.tiltseries`)
gives each slice its projection and CTF; ``rlnTomoVisibleFrames`` (``[1,0,1,...]``, one
flag per tilt in table order; absent: all visible) says which tilts hold the particle.

Slices. A stack holds one slice per visible tilt, in table order (RELION), or one per tilt
with blank slices where the particle is not visible (older WarpTools); which one is told
by counting, and any other count is an error naming the stack.

The box (:func:`reconstruct_stack`) is made by Fourier insertion of every visible slice as a
central section (:mod:`subalign.numerics.insertion`), in the tomogram's *tilt frame*
(:mod:`subalign.numerics.tilt_geometry`): there the tilt axis is ``y``, so the particle's
wedge is the tilt range of its visible tilts about ``y`` (the ``tilt_range`` measurement
model; ``planes`` and ``ctf`` follow the real geometry, :mod:`subalign.numerics.measurement`).
The box's frame is ``Q``: a pose ``tau_t Lambda_R`` of the
set (tomogram frame) is ``tau_(Q t) Lambda_(Q R)`` for the box. The images of RELION 5 and
WarpTools stacks are CTF-premultiplied (``rlnCtfDataAreCtfPremultiplied``); they are
inserted as they are. Beside the box come the multiplicity and the weight
``sum CTF^2 x dose^2`` of the inserted sections (CTF from the tilt's defocus, scale and the
tomogram's microscope; dose weights ``D`` from each tilt's pre-exposure,
:mod:`subalign.numerics.ctf`). ``D`` enters squared: the images carry the radiation damage
``D`` and are dose-weighted by ``D`` again (RELION's and WarpTools' practice), so their
signal is ``CTF^2 D^2`` and their noise ``CTF D``. Measured on EMPIAR-10499: the power of
the boxes divided by the noise variance this predicts, ``sum CTF^2 D^2 / multiplicity^2``,
is flatter across shells (3.5 to 0.25 from shell 2 to 16) than with ``D`` (4.1 to 0.22) or
no dose (4.7 to 0.18). The particle's depth is not added to the tilt's defocus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from subalign.io.particles import ParticleSet, ParticleTableError, row_error
from subalign.io.tiltseries import TiltSeries
from subalign.numerics.ctf import ctf_2d, dose_weight_2d
from subalign.numerics.insertion import insert_sections, reconstruct
from subalign.numerics.measurement import relative

__all__ = ["StackBox", "assign_stack_wedges", "reconstruct_stack", "stack_layout", "tilt_geometry",
           "tilt_series_of", "visible_frames", "OFF_AXIS_LIMIT_DEG", "off_axis_summary", "read_stack"]

VISIBLE = "rlnTomoVisibleFrames"


@dataclass(frozen=True)
class StackBox:
    """A particle's box made from its stack (module docstring).

    Attributes
    ----------
    volume : ndarray of shape (N, N, N)
        float32 ``[z, y, x]`` in the tilt frame.
    frame : ndarray of shape (3, 3)
        ``Q``: tomogram ``(x, y, z)`` -> box coordinates.
    multiplicity, weight : ndarray of shape (N, N, N)
        On the full DFT grid, ``numpy.fft`` order.
    beams : ndarray of shape (T, 3)
        The beam direction of each inserted (visible) tilt in box coordinates.
    """

    volume: np.ndarray
    frame: np.ndarray
    multiplicity: np.ndarray
    weight: np.ndarray
    beams: np.ndarray

    @property
    def transfer(self) -> np.ndarray:
        """The box's transfer ``weight / max(multiplicity, 1)`` (:mod:`subalign.numerics.measurement`),
        shape (N, N, N) on the full DFT grid."""
        return self.weight / np.maximum(self.multiplicity, 1.0)

    @property
    def noise(self) -> np.ndarray:
        """The box's relative noise variance ``weight / max(multiplicity, 1)^2``, shape
        (N, N, N), median 1 where positive: white noise in the tilt images, multiplied by
        ``CTF`` (premultiplied) and averaged over the sections that meet at each frequency."""
        return relative(self.weight / np.maximum(self.multiplicity, 1.0) ** 2)


def tilt_series_of(particles: ParticleSet, index: int) -> TiltSeries:
    """The per-tilt table of particle ``index``'s tomogram, or an error saying why none."""
    name = particles.fields["tomogram"].iloc[index]
    tomogram = particles.tomograms.get(name)
    if tomogram is not None and tomogram.tilt_series is not None:
        return tomogram.tilt_series
    if tomogram is None:
        why = "is in no tomogram table (give --tomograms tomograms.star, or the optimisation set)"
    elif tomogram.tilt_series_file is not None:
        why = f"has its tilts in {tomogram.tilt_series_file}, which was not found (give --project-dir)"
    else:
        why = "has no per-tilt table in its tomogram table"
    raise row_error(particles.label, index, particles.column("tomogram"),
                    f"tomogram {name!r} {why}; a 2-D stack needs each tilt's projection")


def visible_frames(particles: ParticleSet, index: int, tilts: int) -> np.ndarray:
    """Which of the ``tilts`` tilts show particle ``index``, bool shape (tilts,)."""
    table = particles.source.table if particles.source is not None else None
    if table is None or VISIBLE not in table.columns:
        return np.ones(tilts, dtype=bool)
    text = str(table[VISIBLE].iloc[index])
    try:
        flags = np.asarray(json.loads(text), dtype=float)
    except (ValueError, TypeError):
        flags = np.array([])
    if flags.shape != (tilts,) or not np.all(np.isin(flags, (0, 1))):
        raise row_error(particles.label, index, VISIBLE,
                        f"found {text[:60]!r}; expected {tilts} flags 0 or 1, one per tilt of the "
                        "tomogram's tilt table")
    return flags.astype(bool)


def stack_layout(particles: ParticleSet, index: int, count: int, name: str) -> np.ndarray | None:
    """Which slices of particle ``index``'s stack of ``count`` images to use, told by
    counting (module docstring): a bool mask over the slices (one per tilt), or None (one per
    visible tilt: all of them). Anything else is an error naming the stack.

    Returns
    -------
    ndarray of bool, shape (count,), or None
    """
    visible = visible_frames(particles, index, len(tilt_series_of(particles, index)))
    if count == len(visible):
        return visible
    if count == int(visible.sum()):
        return None
    raise row_error(particles.label, index, "rlnImageName",
                    f"stack {name} holds {count} images; expected {len(visible)} (one per tilt "
                    f"of the tomogram) or {int(visible.sum())} (one per visible tilt)")


def reconstruct_stack(particles: ParticleSet, index: int, stack: np.ndarray, name: str) -> StackBox:
    """The box of particle ``index`` from its stack (module docstring).

    Parameters
    ----------
    particles : ParticleSet
        A 2-D stack set whose tomograms have their tilts.
    index : int
    stack : ndarray of shape (k, N, N)
        The stack as read, ``[slice, y, x]``.
    name : str
        The stack's file, for messages.

    Returns
    -------
    StackBox
    """
    series = tilt_series_of(particles, index)
    visible = visible_frames(particles, index, len(series))
    layout = stack_layout(particles, index, len(stack), name)
    images = np.asarray(stack, dtype=np.float32)
    images = images if layout is None else images[layout]
    if not visible.any():
        raise row_error(particles.label, index, VISIBLE, "no tilt is visible; expected at least one")
    frame = series.frame.rotation
    rotations = series.rotations[visible] @ frame.T  # rows in box coordinates
    size = images.shape[-1]
    pixel = particles.require_pixel_size("the CTF of a 2-D stack")
    optics = series.optics
    ctf = ctf_2d(size, pixel, series.defocus_u[visible], series.defocus_v[visible],
                 series.defocus_angle[visible], voltage_kv=optics.voltage_kv, cs_mm=optics.cs_mm,
                 amplitude_contrast=optics.amplitude_contrast, scale=series.ctf_scale[visible])
    dose = dose_weight_2d(size, pixel, series.pre_exposure[visible])
    sections = insert_sections(images, rotations, ctf**2 * dose**2)
    return StackBox(reconstruct(sections), frame, sections.multiplicity, sections.weight,
                    rotations[:, 2])


def read_stack(path) -> tuple[np.ndarray, float]:
    """A stack's images ``(k, N, N)`` float32 (a one-image file, which MRC stores as 2-D,
    gives ``k = 1``) and its pixel size in Angstrom (0: not stated).

    Raises
    ------
    ParticleTableError
        Unreadable, not square images, or non-finite values.
    """
    import warnings

    import mrcfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, permissive=True) as mrc:
                data = None if mrc.data is None else np.array(mrc.data, dtype=np.float32)
                voxel = float(mrc.voxel_size.x)
    except Exception as exc:  # mrcfile raises ValueError, OSError, EOFError, ...
        raise ParticleTableError(f"{path}: expected a readable MRC stack, found: {exc}") from None
    if data is not None and data.ndim == 2:
        data = data[None]
    if data is None or data.ndim != 3 or data.shape[1] != data.shape[2]:
        found = "no data" if data is None else f"an array of shape {data.shape}"
        raise ParticleTableError(f"{path}: expected a stack of square images (tilts, N, N), found {found}")
    if not np.all(np.isfinite(data)):
        raise ParticleTableError(f"{path}: expected finite values, found "
                                 f"{int((~np.isfinite(data)).sum())} non-finite pixel(s)")
    return data, voxel


def tilt_geometry(particles: ParticleSet) -> pd.DataFrame:
    """Per particle whose tomogram has its tilts: the tilt geometry of its visible tilts.

    Returns
    -------
    DataFrame
        One row per such particle (``row``, counted from 0): ``tomogram``, ``axis_deg`` (the
        fitted tilt axis' angle to the tomogram's ``y``), ``tilt_min``, ``tilt_max`` (degrees
        about that axis), ``visible`` (tilts), ``tilts`` (of the tomogram) and ``off_axis_deg``
        (the largest angle of a visible beam to the single-axis plane).
    """
    rows = []
    for index, name in enumerate(particles.fields["tomogram"]):
        tomogram = particles.tomograms.get(name)
        if tomogram is None or tomogram.tilt_series is None:
            continue
        frame = tomogram.tilt_series.frame
        visible = visible_frames(particles, index, len(tomogram.tilt_series))
        angles = frame.angles_deg[visible] if visible.any() else np.array([np.nan])
        rows.append({"row": index, "tomogram": name, "axis_deg": frame.axis_angle_deg(),
                     "tilt_min": float(angles.min()), "tilt_max": float(angles.max()),
                     "visible": int(visible.sum()), "tilts": len(visible),
                     "off_axis_deg": float(frame.off_axis_deg[visible].max()) if visible.any() else np.nan})
    return pd.DataFrame(rows, columns=["row", "tomogram", "axis_deg", "tilt_min", "tilt_max",
                                       "visible", "tilts", "off_axis_deg"])


def assign_stack_wedges(particles: ParticleSet) -> ParticleSet:
    """A 2-D stack set with each particle's wedge from its visible tilts in its tomogram's
    tilt frame (axis ``y``; module docstring); particles whose tomogram has no tilts keep
    theirs. Sets of volumes are returned as they are."""
    if not particles.stacks:
        return particles
    geometry = tilt_geometry(particles)
    if geometry.empty:
        return particles
    fields = particles.fields.copy()
    rows = geometry["row"].to_numpy()
    fields.loc[rows, "tilt_min"] = geometry["tilt_min"].to_numpy()
    fields.loc[rows, "tilt_max"] = geometry["tilt_max"].to_numpy()
    fields.loc[rows, "tilt_axis"] = "y"
    return replace(particles, fields=fields)


#: Beyond this many degrees off the single-axis plane a particle's tilts are flagged: its
#: wedge about ``y`` is then only approximate.
OFF_AXIS_LIMIT_DEG = 5.0


def off_axis_summary(particles: ParticleSet) -> str | None:
    """One line on the particles whose visible tilts lie beyond :data:`OFF_AXIS_LIMIT_DEG`
    off a single-axis series (None if none do)."""
    geometry = tilt_geometry(particles)
    flagged = geometry[geometry["off_axis_deg"] > OFF_AXIS_LIMIT_DEG]
    if flagged.empty:
        return None
    names = ", ".join(str(n) for n in pd.unique(flagged["tomogram"])[:4])
    return (f"{len(flagged)} of {len(particles)} particles have visible tilts up to "
            f"{flagged['off_axis_deg'].max():.1f} deg off a single-axis series (tomograms {names}): "
            "their wedge about the fitted axis is approximate")
