"""The inputs of a refinement (``subalign average``, ``subalign classify``), read and checked
before anything is written or started.

:func:`read_inputs` checks the settings the two commands share and reads the particle set
(every subtomogram file must exist and the first is read for the box, as ``subalign batch``
does: :mod:`subalign.workflows.batch.plan`), the mask and the truth set. A bad input raises one
line naming the file or field, what was found and what was expected. Maps (references,
masks) must be cubes of the particles' box; a voxel size in their header must be the
particles' pixel size.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from subalign.errors import ConfigError, VolumeError, check_number
from subalign.execution.cluster import check_executor
from subalign.io.figures import figures_available
from subalign.io.files import check_output_dir, input_sha
from subalign.io.formats import FORMATS, output_table, read_particles
from subalign.io.mrc import read_map
from subalign.io.particles import ParticleSet, row_error
from subalign.numerics.symmetry import PointGroup
from subalign.numerics.volumes import box_centre, check_volume
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import default_plugin_set
from subalign.workflows.maps import parse_symmetry, soft_sphere_mask
from subalign.workflows.batch.plan import (
    _tilts,
    align_part,
    check_alignable,
    reads_weights,
)
from subalign.workflows.particle_files import CheckedParticles, check_particles
from subalign.workflows.rounds.config import ScheduleConfig

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MASK_RADIUS", "RefineInputs", "read_box_map", "read_inputs"]

#: Radius of the default soft sphere, as a fraction of the box edge (less if its edge would
#: pass the box's faces).
DEFAULT_MASK_RADIUS = 0.4
#: Width of the default soft edge, voxels.
DEFAULT_MASK_EDGE = 3.0
#: Settings that say where and how a run goes, or when it stops: not its identity (a rerun
#: with more rounds continues a finished run).
NOT_IDENTITY = ("executor", "output_dir", "figures", "rounds", "min_improvement", "min_changes",
                "min_moved",
                "hand_check", "wait")
#: ``align`` fields a refinement does not take from the config (wedges come per particle).


@dataclass
class RefineInputs:
    """A checked refinement's inputs.

    Attributes
    ----------
    particles : ParticleSet
    tilts : ndarray of shape (n, 2)
        Each particle's tilt range, degrees.
    box : int
        Box edge ``N``, voxels.
    edge : {"error", "zero", "mean"}
        Boxes reaching past a tomogram's face (:mod:`subalign.io.subtomograms`).
    pixel_size : float
        Angstrom per voxel.
    mask : ndarray of shape (N, N, N)
        In [0, 1]: the user's, or the soft sphere.
    radius : float
        The particle's radius in voxels (the mask's extent): sets the angular steps.
    symmetry : PointGroup
        The maps' point group (:func:`~subalign.numerics.symmetry.parse_symmetry`).
    align : dict
        The merged ``align`` settings (plain containers) without wedges.
    output_dir : Path
    output : Path
        The particle set written each round, relative to a round's directory.
    output_format : str
    truth : ParticleSet or None
        The true poses of ``particles`` (the rows of duplicates and skipped particles left out).
    record : dict
        The run's identity, for ``job.json``.
    checked : CheckedParticles
        The particles' files: their stamps (the rest of the identity) and those skipped.
    """

    particles: ParticleSet
    tilts: np.ndarray
    box: int
    edge: str
    pixel_size: float
    mask: np.ndarray
    radius: float
    symmetry: PointGroup
    align: dict
    output_dir: Path
    output: Path
    output_format: str
    truth: ParticleSet | None
    record: dict
    checked: CheckedParticles

    def tilt(self, row: int) -> TiltRange:
        """Particle ``row``'s tilt range."""
        return TiltRange(float(self.tilts[row, 0]), float(self.tilts[row, 1]))


def read_box_map(path: str, field: str, box: int, pixel_size: float, *,
                 constant_ok: bool = False) -> np.ndarray:
    """A map the size of the particles' boxes, as float32 ``[z, y, x]`` (``constant_ok``: a
    constant map allowed, as for a mask).

    Raises
    ------
    ConfigError
        No file at ``path`` (named as ``field``).
    VolumeError
        Unreadable, not a cube of ``box`` voxels, or a header voxel size other than
        ``pixel_size``.
    """
    if path in (None, "") or not Path(path).is_file():
        raise ConfigError(f"{field}: expected an MRC map, found no file {path}")
    read = read_map(path)
    volume = check_volume(read.data, str(path), constant_ok=constant_ok)
    if volume.shape != (box,) * 3:
        raise VolumeError(f"{path}: expected a ({box}, {box}, {box}) map like the particles' "
                          f"boxes, found {volume.shape}")
    voxel = float(read.voxel_size[2])
    if voxel > 0 and abs(voxel - pixel_size) > 1e-3 * pixel_size:
        raise VolumeError(f"{path}: voxel size {voxel:g} Angstrom; expected the particles' "
                          f"pixel size {pixel_size:g} Angstrom")
    return volume.astype(np.float32)


def _check_settings(config: DictConfig) -> PointGroup:
    """Range and choice checks of the shared fields; returns the point group."""
    if config.output_dir in (None, ""):
        raise ConfigError("output_dir: expected a directory for the rounds (rerun the same "
                          "command with it to resume), found null")
    check_number(config.rounds, "rounds", at_least=0, integer=True)
    check_number(config.half_set_seed, "half_set_seed", at_least=0, integer=True)
    check_number(config.initial_lowpass_angstrom, "initial_lowpass_angstrom", above=0)
    local = config.local
    for name in (f.name for f in dataclasses.fields(ScheduleConfig)):
        if local[name] is None:
            continue
        integer = name in ("global_rounds", "keep")
        check_number(local[name], f"local.{name}", at_least=1 if name == "keep" else 0,
                     integer=integer)
    check_number(local.min_cone_deg, "local.min_cone_deg", above=0, at_most=180)
    check_number(local.max_cone_deg, "local.max_cone_deg", at_least=local.min_cone_deg,
                 at_most=180)
    check_number(local.min_step_deg, "local.min_step_deg", above=0)
    check_number(local.max_shift_voxels, "local.max_shift_voxels",
                 at_least=local.min_shift_voxels)
    mask = config.mask
    if mask.radius_angstrom is not None:
        check_number(mask.radius_angstrom, "mask.radius_angstrom", above=0)
    if mask.edge_angstrom is not None:
        check_number(mask.edge_angstrom, "mask.edge_angstrom", at_least=0)
    if config.box_size is not None:
        check_number(config.box_size, "box_size", at_least=8, integer=True)
    if config.to is not None and config.to not in FORMATS:
        raise ConfigError(f"to: expected one of {', '.join(FORMATS)}, found {config.to!r}")
    check_executor(config.executor)
    return parse_symmetry(config.symmetry)


def _read_set(config: DictConfig, path: str, field: str) -> ParticleSet:
    if path in (None, "") or not Path(path).is_file():
        raise ConfigError(f"{field}: expected a particle set file (.star, .tbl, .em), found "
                          f"{'null' if path in (None, '') else 'no file ' + str(path)}")
    wedge = config.particle_wedge.tilt_range_deg
    return read_particles(
        path, config.format, pixel_size=config.pixel_size, subtomograms=config.subtomograms,
        tomograms=config.tomograms, project_dir=config.project_dir,
        wedge=None if wedge is None else TiltRange.parse(wedge, field="particle_wedge.tilt_range_deg"))


def drop_duplicates(particles: ParticleSet, distance: float) -> tuple[ParticleSet, np.ndarray]:
    """``particles`` without those that repeat an earlier one: the same file, or a centre
    (coordinate plus shift, Angstrom) within ``distance`` of an earlier one's in the same
    tomogram. Logs how many were dropped and the first rows.

    Returns
    -------
    ParticleSet, and ndarray of int of shape (k,)
        The set kept, and its particles' rows in ``particles``.
    """
    from scipy.spatial import cKDTree

    names = [str(particles.resolve(n).resolve()) if n else f"#{k}"
             for k, n in enumerate(particles.fields["subtomogram"])]
    first = {}
    keep = np.array([first.setdefault(name, k) == k for k, name in enumerate(names)])
    if particles.has("x") and particles.coordinate_unit is not None and particles.pixel_size:
        centres = (particles.coordinates(particles.coordinate_frame, 1.0)
                   + particles.shifts * particles.pixel_size)
        tomograms = particles.fields["tomogram"].to_numpy()
        for name in pd.unique(tomograms):
            rows = np.flatnonzero((tomograms == name) & ~np.isnan(centres).any(axis=1))
            for first, second in sorted(cKDTree(centres[rows]).query_pairs(distance)):
                if keep[rows[first]]:
                    keep[rows[second]] = False
    dropped = np.flatnonzero(~keep)
    if len(dropped):
        logger.warning("dropped %d duplicate particle(s) (same file, or within %g A): rows %s",
                       len(dropped), distance, ", ".join(str(r + 1) for r in dropped[:10])
                       + (" ..." if len(dropped) > 10 else ""))
    return particles.take(keep), np.flatnonzero(keep)


def check_half_sets(particles: ParticleSet) -> None:
    """A gold standard that cannot be fooled: half-set labels are 1 or 2 for every particle
    (or absent, for a random split), and no particle, by file or by position in its
    tomogram, is in both halves.

    Raises
    ------
    ParticleTableError
        Naming the first bad row, or both rows of a particle in both halves.
    """
    halves = particles.fields["half_set"].to_numpy()
    column = particles.column("half_set")
    if np.any(halves != 0):
        bad = ~np.isin(halves, (1, 2))
        if bad.any():
            row = int(np.argmax(bad))
            raise row_error(particles.label, row, column,
                            f"found {halves[row]}; expected 1 or 2 for every particle (or no "
                            "half sets at all, for a random split)")
    names = [str(particles.resolve(n).resolve()) if n else "" for n in particles.fields["subtomogram"]]
    xyz = particles.fields[["x", "y", "z"]].to_numpy(dtype=float)
    places = np.array([f"{t} {x:.3f} {y:.3f} {z:.3f}" for t, (x, y, z)
                       in zip(particles.fields["tomogram"], xyz)])
    known = ~np.isnan(xyz).any(axis=1)
    for keys, use, what in ((np.array(names), np.array(names) != "", "file"), (places, known, "position")):
        first: dict = {}
        for row in np.flatnonzero(use):
            other = first.setdefault(keys[row], row)
            if other != row and halves[other] != halves[row]:
                raise row_error(particles.label, row, column,
                                f"the particle of row {other + 1} again (same {what}), in the other "
                                "half set; expected each particle in one half (shared particles "
                                "make the half maps agree beyond the true resolution)")


def _mask(config: DictConfig, box: int, pixel: float) -> tuple[np.ndarray, float]:
    """The mask and the particle radius it implies (voxels)."""
    if config.mask.file not in (None, ""):
        mask = read_box_map(config.mask.file, "mask.file", box, pixel, constant_ok=True).astype(float)
        if mask.min() < -1e-3 or mask.max() > 1 + 1e-3:
            raise VolumeError(f"{config.mask.file}: expected mask values from 0 to 1, found "
                              f"{mask.min():.3g} to {mask.max():.3g}")
        inside = np.argwhere(mask >= 0.5)
        if not len(inside):
            raise VolumeError(f"{config.mask.file}: expected a mask with values >= 0.5 inside "
                              "the particle, found none")
        radius = float(np.sqrt(((inside - box_centre(mask.shape)) ** 2).sum(axis=1)).max())
        return np.clip(mask, 0.0, 1.0), max(radius, 1.0)
    edge = (config.mask.edge_angstrom / pixel if config.mask.edge_angstrom is not None
            else DEFAULT_MASK_EDGE)
    if config.mask.radius_angstrom is None:
        radius = max(min(DEFAULT_MASK_RADIUS * box, box / 2 - edge), 1.0)
    else:
        radius = config.mask.radius_angstrom / pixel
        if radius + edge > box / 2:
            raise ConfigError(f"mask.radius_angstrom: expected a sphere inside the {box}-voxel "
                              f"box (radius + edge <= {box / 2 * pixel:g} Angstrom), found "
                              f"{radius * pixel:g} + {edge * pixel:g} Angstrom")
    return soft_sphere_mask(box, radius, edge), float(radius)


def read_inputs(config: DictConfig, *, least: int, inputs: dict) -> RefineInputs:
    """Check the shared settings of ``config`` and read the set, mask and truth.

    Parameters
    ----------
    config : DictConfig
        A composed :class:`~subalign.workflows.rounds.config.AverageConfig` or
        :class:`~subalign.workflows.rounds.config.ClassifyConfig`.
    least : int
        Fewest particles the command accepts.
    inputs : dict
        The command's own input maps by setting name (``{"reference": path}``, or a list of
        paths), each checked to exist and recorded in the run's identity by SHA-256.

    Returns
    -------
    RefineInputs

    Raises
    ------
    SubalignError
        The first problem, in one line naming the file or field.
    """
    symmetry = _check_settings(config)
    for role, paths in inputs.items():
        for k, path in enumerate(paths if isinstance(paths, list) else [paths]):
            if path not in (None, "") and not Path(path).is_file():
                name = f"{role}[{k}]" if isinstance(paths, list) else role
                raise ConfigError(f"{name}: expected an MRC map, found no file {path}")
    align = align_part(config)
    plugins = default_plugin_set()
    for kind in ("score", "optimizer", "sampler", "constraint", "refiner"):
        plugins.create(kind, align[kind])
    checked, tilts, truth = _checked_set(config, align, least)
    particles, box = checked.particles, checked.box
    pixel = particles.require_pixel_size("resolutions in Angstrom (give pixel_size=)")
    mask, radius = _mask(config, box, pixel)
    if config.figures and not figures_available("figures"):
        config.figures = False
    output_dir = check_output_dir(config.output_dir)
    output, fmt = output_table(config.output, config.to, particles, "particles")
    return RefineInputs(particles=particles, tilts=tilts, box=box, edge=str(config.edge), pixel_size=float(pixel),
                        mask=mask, radius=radius, symmetry=symmetry, align=align,
                        output_dir=output_dir, output=output, output_format=fmt, truth=truth,
                        record=_identity(config, align, inputs), checked=checked)


def _checked_set(config: DictConfig, align: dict, least: int) -> tuple:
    """The set to refine, checked (duplicates dropped if asked, half sets, wedges, every
    particle's files): the checked set, its tilt ranges (n, 2) and its truth (or None)."""
    particles = _read_set(config, config.particles, "particles")
    check_alignable(particles)
    total = len(particles)
    rows = np.arange(total)
    if config.dedupe_angstrom is not None:
        check_number(config.dedupe_angstrom, "dedupe_angstrom", at_least=0)
        particles, rows = drop_duplicates(particles, float(config.dedupe_angstrom))
    check_half_sets(particles)
    tilts = _tilts(particles)  # a wedge missing from the tables is refused, not skipped
    checked = check_particles(particles, config.box_size, config.edge,
                              weights=reads_weights(align), bad_particles=config.bad_particles)
    if len(checked.particles) < least:
        raise ConfigError(f"{config.particles}: expected at least {least} particles, found "
                          f"{len(checked.particles)}")
    tilts = tilts[checked.rows]
    if config.truth in (None, ""):
        return checked, tilts, None
    truth = _read_set(config, config.truth, "truth")
    if len(truth) != total:
        raise ConfigError(f"{config.truth}: expected the {total} particles of "
                          f"{config.particles} in the same order, found {len(truth)}")
    return checked, tilts, truth.take(rows[checked.rows])


def _identity(config: DictConfig, align: dict, inputs: dict) -> dict:
    """The run's identity in its ``job.json``: the settings that change results, the
    alignment's, and every input file's SHA-256."""
    record = OmegaConf.to_container(config, resolve=True)
    for name in NOT_IDENTITY:
        record.pop(name, None)
    record.update(align)
    files = {"particles": config.particles, "tomograms": config.tomograms,
             "mask": config.mask.file, "truth": config.truth, **inputs}
    record["inputs"] = {role: ([input_sha(p) for p in path] if isinstance(path, list)
                               else input_sha(path)) for role, path in files.items()}
    return record
