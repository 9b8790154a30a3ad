"""Everything a batch needs, read and checked before anything is written or started.

:func:`prepare_batch` validates a composed :class:`~subalign.workflows.batch.config.BatchConfig`
and reads its inputs: the particle set (every subtomogram file is checked to exist, the
first is read for the box size), the wedges, the reference or the pair list. A bad input
raises one line naming the file or field, what was found and what was expected. The
result, :class:`BatchPlan`, holds the workers' :class:`~subalign.workflows.batch.worker.BatchContext`
and the record of the job's identity (``job.json``: every setting but where it runs, and
each input file's SHA-256).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from subalign.align.config import AlignSettings, align_settings
from subalign.errors import ConfigError, VolumeError, check_number
from subalign.execution.cluster import check_executor
from subalign.io.figures import figures_available
from subalign.io.files import check_output_dir, input_sha
from subalign.io.formats import FORMATS, output_table, read_particles
from subalign.io.mrc import read_map
from subalign.io.particles import ParticleSet, row_error
from subalign.io.stacks import off_axis_summary
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import check_volume
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import default_plugin_set
from subalign.workflows.batch.config import BATCH_MODES, REFERENCE_SPECTRA, SEARCHES
from subalign.workflows.batch.worker import BatchContext
from subalign.workflows.hand import check_hand, reference_hand
from subalign.workflows.particle_files import CheckedParticles, check_particles
from subalign.workflows.reference_spectrum import check_matchable

__all__ = ["BatchPlan", "align_part", "prepare_batch", "read_pair_list"]

#: ``align`` fields a batch sets itself (inputs, wedges per particle) or does not use.
#: Settings that say where and how a batch runs, not what it computes.
logger = logging.getLogger(__name__)

_NOT_IDENTITY = ("executor", "output_dir", "histogram", "hand_check", "wait")


@dataclass
class BatchPlan:
    """A checked batch.

    Attributes
    ----------
    context : BatchContext
        What the workers share.
    count : int
        Items: particles (mode ``reference``) or pairs.
    output_dir : Path
    output : Path or None
        The aligned particle set (modes ``reference`` and ``all`` with ``classes``).
    output_format : str or None
    record : dict
        The job's identity, for ``job.json``.
    truths : list of RigidTransform or None
        Mode ``pairs``: each pair's true transform, when the pair list gives them all.
    checked : CheckedParticles
        The particles' files: their stamps (the rest of the identity) and those skipped.
    """

    context: BatchContext
    count: int
    output_dir: Path
    output: Path | None
    output_format: str | None
    record: dict
    truths: list | None
    checked: CheckedParticles

    def items_of(self, particles: np.ndarray) -> np.ndarray:
        """The items (particles, or pairs) that involve any of ``particles`` (rows of the
        set), as an int array."""
        if self.context.mode == "reference":
            return np.asarray(particles, dtype=np.int64)
        return np.flatnonzero(np.isin(self.context.pairs, particles).any(axis=1))


def align_part(config: DictConfig) -> dict:
    """The ``align`` settings of a batch config, merged onto the schema, as plain containers
    (the fields of :class:`~subalign.align.config.AlignSettings`; a batch sets each item's
    inputs and wedges)."""
    names = [f.name for f in dataclasses.fields(AlignSettings)]
    merged = align_settings({name: OmegaConf.to_container(config[name], resolve=True)
                             if OmegaConf.is_config(config[name]) else config[name]
                             for name in names})
    plain = OmegaConf.to_container(merged, resolve=True)
    return {name: plain[name] for name in names}


def _check_choices(config: DictConfig) -> None:
    for name, choices in (("mode", BATCH_MODES), ("search", SEARCHES),
                          ("reference_spectrum", REFERENCE_SPECTRA)):
        if config[name] not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, found {config[name]!r}")
    if config.reference_spectrum == "match" and config.mode != "reference":
        raise ConfigError(f"reference_spectrum: expected given for mode {config.mode} (match fits "
                          "a reference to the particles), found 'match'")
    if config.search == "local" and config.mode != "reference":
        raise ConfigError(f"search: expected global for mode {config.mode} (a local search needs "
                          "each particle's pose against a reference), found 'local'")
    if config.output_dir in (None, ""):
        raise ConfigError("output_dir: expected a directory for the results (rerun the same "
                          "command with it to resume), found null")
    local = config.local
    check_number(local.cone_deg, "local.cone_deg", above=0, at_most=180)
    check_number(local.spacing_deg, "local.spacing_deg", above=0, at_most=180)
    check_number(local.max_shift_voxels, "local.max_shift_voxels", at_least=0)
    check_number(local.keep, "local.keep", at_least=1, integer=True)
    if config.box_size is not None:
        check_number(config.box_size, "box_size", at_least=8, integer=True)
    if config.to is not None and config.to not in FORMATS:
        raise ConfigError(f"to: expected one of {', '.join(FORMATS)}, found {config.to!r}")
    check_executor(config.executor)


def _read_set(config: DictConfig) -> ParticleSet:
    if config.particles in (None, ""):
        raise ConfigError("particles: expected a particle set file (.star, .tbl, .em), found null")
    if not Path(config.particles).is_file():
        raise ConfigError(f"particles: expected a particle set file, found no file "
                          f"{config.particles}")
    wedge = config.particle_wedge.tilt_range_deg
    particles = read_particles(
        config.particles, config.format, pixel_size=config.pixel_size,
        subtomograms=config.subtomograms, tomograms=config.tomograms, project_dir=config.project_dir,
        wedge=None if wedge is None else TiltRange.parse(wedge, field="particle_wedge.tilt_range_deg"))
    check_alignable(particles)
    least = 1 if config.mode != "all" else 2
    if len(particles) < least:
        raise ConfigError(f"{config.particles}: expected at least {least} particles for mode "
                          f"{config.mode}, found {len(particles)}")
    return particles


def check_alignable(particles: ParticleSet) -> None:
    """Refuse, in one line, sets whose boxes the alignment cannot model yet: several pixel
    sizes, and 3-D boxes extracted in rotated frames (RELION 5 pseudo-subtomograms with
    ``rlnTomoSubtomogramRot/Tilt/Psi``: their wedge is not one about ``y``). Warn about 2-D
    stacks far from a single-axis series."""
    approximate = off_axis_summary(particles)
    if approximate is not None:
        logger.warning(approximate)
    if particles.pixel_sizes is not None:
        particles.require_pixel_size("alignment")
    turned = particles.box_rotations
    if turned is not None and not particles.stacks:
        moved = np.abs(turned - np.eye(3)).reshape(len(particles), -1).max(axis=1) > 1e-9
        if moved.any():
            row = int(np.argmax(moved))
            raise row_error(particles.label, row, "rlnTomoSubtomogramRot/Tilt/Psi",
                            "the subtomogram was extracted in a rotated frame, where its wedge is "
                            "not one about y; expected 2-D stacks or subtomograms in the tomogram's "
                            "frame for alignment (show and convert take it)")


def _tilts(particles: ParticleSet) -> np.ndarray:
    ranges = particles.tilt_ranges()
    axes = particles.fields["tilt_axis"].to_numpy()
    if np.any(axes != "y"):
        row = int(np.argmax(axes != "y"))
        raise row_error(particles.label, row, particles.column("tilt_axis"),
                        f"tilt axis {axes[row]!r}; expected y (the alignment models wedges "
                        "about y only)")
    return np.array([[r.min_deg, r.max_deg] for r in ranges], dtype=float)


def reads_weights(align: dict) -> bool:
    """Whether the run's measurement plugin reads weight volumes (``rlnCtfImage``)."""
    from subalign.workflows.batch.worker import measurement_plugin

    return bool(getattr(measurement_plugin(align), "uses_transfer", True))


def _reference(config: DictConfig, particles: ParticleSet, box: int) -> np.ndarray:
    if config.reference in (None, ""):
        raise ConfigError("reference: expected an MRC map to align the particles to (mode "
                          "reference), found null")
    read = read_map(config.reference)
    volume = check_volume(read.data, str(config.reference)).astype(np.float32)
    if volume.shape != (box,) * 3:
        raise VolumeError(f"{config.reference}: expected a ({box}, {box}, {box}) map like the "
                          f"particles' boxes, found {volume.shape}")
    voxel, pixel = float(read.voxel_size[2]), particles.pixel_size
    if voxel > 0 and pixel is not None and abs(voxel - pixel) > 1e-3 * pixel:
        raise VolumeError(f"{config.reference}: voxel size {voxel:g} Angstrom; expected the "
                          f"particles' pixel size {pixel:g} Angstrom")
    return reference_hand(volume, config.reference_flip)


def read_pair_list(path: str | os.PathLike, particles: ParticleSet) -> tuple[np.ndarray, list | None]:
    """The pairs of a pair list as particle rows, and their truths if every pair has one.

    Parameters
    ----------
    path : str or path-like
        JSON ``{"pairs": [{"fixed": f, "moving": m, "truth": record?}, ...]}``; ``f`` and
        ``m`` are row numbers (from 0) or subtomogram names, relative ones taken from the
        pair list's directory.
    particles : ParticleSet

    Returns
    -------
    ndarray of int, shape (P, 2), and list of RigidTransform or None
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pair_list: expected a JSON pair list, found no file {path}")
    try:
        pairs = json.loads(path.read_text())["pairs"]
        if not isinstance(pairs, list) or not pairs:
            raise ValueError("no pairs")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: expected {{\"pairs\": [{{\"fixed\": ..., \"moving\": ...}}, "
                          f"...]}}, found {type(exc).__name__}: {exc}") from None
    names = particles.fields["subtomogram"].to_numpy()
    by_name = {name: row for row, name in enumerate(names) if name}
    by_path = {str(particles.resolve(name).resolve()): row for name, row in by_name.items()}
    rows = np.zeros((len(pairs), 2), dtype=np.int64)
    truths = []
    for k, pair in enumerate(pairs):
        for side, role in enumerate(("fixed", "moving")):
            value = pair.get(role) if isinstance(pair, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(particles):
                rows[k, side] = value
                continue
            if isinstance(value, str):
                found = by_name.get(value)
                if found is None:
                    found = by_path.get(str((path.parent / value).resolve()))
                if found is not None:
                    rows[k, side] = found
                    continue
            raise ConfigError(f"{path}: pairs[{k}].{role}: expected a subtomogram of "
                              f"{particles.label} or a row from 0 to {len(particles) - 1}, "
                              f"found {value!r}")
        if rows[k, 0] == rows[k, 1]:
            raise ConfigError(f"{path}: pairs[{k}]: fixed and moving are both particle row "
                              f"{rows[k, 0] + 1}; expected two different particles")
        truth = pair.get("truth")
        try:
            truths.append(None if truth is None else RigidTransform.from_record(
                truth, source=f"{path}: pairs[{k}].truth"))
        except (ValueError, TypeError) as exc:
            raise ConfigError(str(exc)) from None
    return rows, (truths if all(t is not None for t in truths) else None)


def prepare_batch(config: DictConfig) -> BatchPlan:
    """Check ``config`` and read its inputs (module docstring); writes nothing.

    Raises
    ------
    SubalignError
        The first problem, in one line naming the file or field.
    """
    _check_choices(config)
    align = align_part(config)
    plugins = default_plugin_set()
    for kind in ("score", "optimizer", "sampler", "constraint", "refiner", "measurement"):
        plugins.create(kind, align[kind])
    full = _read_set(config)
    tilts = _tilts(full)  # a wedge missing from the tables is refused, not skipped
    checked = check_particles(full, config.box_size, config.edge, weights=reads_weights(align),
                              bad_particles=config.bad_particles)
    particles, box, tilts = checked.particles, checked.box, tilts[checked.rows]
    if config.search == "local":
        particles.require_poses("search=local")
    if config.reference_spectrum == "match":
        check_matchable(particles, reads_weights(align))
    reference, reference_tilt, pairs, truths = None, [-90.0, 90.0], np.zeros((0, 2), int), None
    if config.mode == "reference":
        reference = _reference(config, particles, box)
        check_number(config.hand_check, "hand_check", at_least=0, integer=True)
        if config.reference_wedge.tilt_range_deg is not None:
            tilt = TiltRange.parse(config.reference_wedge.tilt_range_deg,
                                   field="reference_wedge.tilt_range_deg")
            reference_tilt = [tilt.min_deg, tilt.max_deg]
    elif config.mode == "all":
        first, second = np.triu_indices(len(particles), k=1)
        pairs = np.stack([first, second], axis=1).astype(np.int64)
    else:
        if config.pair_list in (None, ""):
            raise ConfigError("pair_list: expected a JSON pair list (mode pairs), found null")
        pairs, truths = _kept_pairs(*read_pair_list(config.pair_list, full), checked)
    if config.classes is not None:
        if config.mode != "all":
            raise ConfigError(f"classes: expected null for mode {config.mode} (clustering needs "
                              f"mode all), found {config.classes}")
        check_number(config.classes, "classes", at_least=1, at_most=len(particles), integer=True)
    if config.histogram and not figures_available("histogram"):
        config.histogram = False
    output_dir = check_output_dir(config.output_dir)
    output, fmt = _output_table(config, particles, output_dir)
    if reference is not None:  # the costliest check last
        check_hand(particles, tilts, reference, align, count=int(config.hand_check),
                   box_size=box, edge=config.edge)
    local = (OmegaConf.to_container(config.local, resolve=True)
             if config.search == "local" else None)
    context = BatchContext(mode=config.mode, align=align, particles=particles, tilts=tilts,
                           box_size=config.box_size or box, edge=config.edge,
                           reference=reference, reference_tilt=reference_tilt, pairs=pairs,
                           local=local, stamps=checked.stamps)
    count = len(particles) if config.mode == "reference" else len(pairs)
    return BatchPlan(context=context, count=count, output_dir=output_dir, output=output,
                     output_format=fmt, record=_identity(config, align), truths=truths,
                     checked=checked)


def _output_table(config: DictConfig, particles: ParticleSet, output_dir: Path) -> tuple:
    """The aligned set's path and format (modes ``reference``, and ``all`` with classes;
    else None, None), checked to be writable from this set."""
    if config.mode != "reference" and config.classes is None:
        return None, None
    output, fmt = output_table(config.output, config.to, particles, "aligned")
    output = output if output.is_absolute() else output_dir / output
    if fmt.startswith("relion"):
        particles.require_pixel_size(f"the origins in Angstrom of {output.name}, or to= a "
                                     "format with shifts in voxels")
    return output, fmt


def _kept_pairs(pairs: np.ndarray, truths: list | None, checked: CheckedParticles) -> tuple:
    """A pair list's pairs (rows of the input set) as rows of the checked set: the pairs of a
    skipped particle left out, with their truths."""
    keep = np.isin(pairs, checked.rows).all(axis=1)
    if not keep.any():
        raise ConfigError("pair_list: every pair has a skipped particle (bad_particles=skip); "
                          "expected at least one pair of particles that passed the checks")
    kept = np.searchsorted(checked.rows, pairs[keep])
    return kept, (None if truths is None else [t for t, k in zip(truths, keep) if k])


def _identity(config: DictConfig, align: dict) -> dict:
    """The batch's identity in its ``job.json``: the settings that change results, the
    alignment's, and every input file's SHA-256."""
    settings = OmegaConf.to_container(config, resolve=True)
    for name in _NOT_IDENTITY:
        settings.pop(name, None)
    if settings["reference_spectrum"] == "given":  # as before the setting: old jobs resume
        settings.pop("reference_spectrum")
    if config.search != "local":
        settings.pop("local")
    settings.update({name: align[name] for name in align})
    settings["inputs"] = {role: input_sha(config[role])
                          for role in ("particles", "tomograms", "reference", "pair_list")}
    return settings
