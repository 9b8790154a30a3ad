"""Write a simulation to disk: volumes, a STAR pose table, a JSON sidecar and pair lists.

Layout of ``output_dir``::

    subtomograms/particle_000000.mrc ...   one MRC per particle (voxel size in the header)
    poses.star       RELION-style pose table (conventions in simulation.json)
    pairs.json       pair list with each pair's ground-truth relative transform
    density.mrc      the true map; in a mixture, density_1.mrc, density_2.mrc ... (one per
                     class) instead
    particles.star, particles.tbl, dynamo/, wedges.csv
                     the ground truth as RELION 5 and Dynamo particle sets
                     (:mod:`subalign.simulation.particle_tables`)
    simulation.json  status, provenance (version, resolved config, input files, machine),
                     every convention, each particle's pose, size and SHA-256, timing
    particles.jsonl  size and SHA-256 of each particle, recorded as it is written
    clock.jsonl      time spent by each run on this directory

Runs can be resumed. ``simulation.json`` is written first with ``"status": "running"``; a
rerun with the same config keeps the volumes already written whose size and SHA-256 match
``particles.jsonl`` (each was written atomically, and particle ``i`` does not depend on the
others) and makes the rest: a particle file that is missing, truncated or altered is made
again, never trusted. A different config in the same directory is refused. The tables are
written last, and ``"status": "complete"`` only after them; ``seconds`` adds up the time of
every run that worked on the directory. The same config gives the same bytes in every file
but ``simulation.json`` (which records time and machine), however the run was interrupted.

A mixture (``structures``, :mod:`subalign.simulation.mixture`) writes each particle's true
class (1-based) into every table: ``rlnClassNumber`` in the STAR files, Dynamo's ``class``
column, ``"class"`` in ``simulation.json`` and ``pairs.json``. Its pairs are made within each
class only (the pair list of each class's members, in index order): a truth transform
between particles of two different structures would mean nothing.
"""

from __future__ import annotations

import json
import logging
import time
from itertools import combinations
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from subalign.errors import ConfigError
from subalign.numerics.geometry import TRANSFORM_CONVENTION
from subalign.execution import JobClock, RowLog, provenance
from subalign.execution.jobs import first_difference
from subalign.io.files import file_record, matches_record, write_json
from subalign.io.mrc import write_volume
from subalign.io.star import write_star
from subalign.simulation.particle_tables import relion_pose_columns, write_truth_tables
from subalign.simulation.mixture import (
    class_entry,
    density_of,
    load_densities,
    particle_classes,
    structure_entries,
)
from subalign.simulation.stacks import write_relion5_stacks
from subalign.simulation.simulate import (
    check_fits,
    check_simulation,
    particle_rng,
    random_pose,
    simulate_particle,
)

__all__ = ["PAIR_LISTS", "check_directory", "relion_pose_columns", "pair_indices",
           "write_simulation"]

log = logging.getLogger("subalign")

PAIR_LISTS = ("consecutive", "all")

POSE_CONVENTION = (
    "particle = tau_t Lambda_R density: v(x) = d(R^-1 (x - t)), R active on (x, y, z) about "
    "the box centre N // 2, t in voxels. rlnAngleRot/Tilt/Psi are RELION's ZYZ angles: "
    "R = (Rz(rot) Ry(tilt) Rz(psi))^T, i.e. RELION's matrix A(rot, tilt, psi) (which rotates "
    "coordinates) equals R. rlnOriginX/Y/ZAngst = -t * voxel size in Angstrom (RELION: the "
    "particle centre sits at the box centre minus the origin)."
)


def pair_indices(n: int, kind: str, classes: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Particle pairs ``(fixed, moving)``: ``consecutive`` (0, 1), (2, 3), ... or ``all`` i < j.

    With ``classes`` (n,), the pairs are made among each class's members in index order
    (the members ``m`` of a class pair as ``(m[0], m[1]), (m[2], m[3])``, ...), sorted.
    """
    if kind not in PAIR_LISTS:
        raise ConfigError(f"pairs: expected one of {', '.join(PAIR_LISTS)}, found {kind!r}")
    if classes is not None:
        members = [np.flatnonzero(classes == label) for label in np.unique(classes)]
        return sorted((int(m[i]), int(m[j])) for m in members for i, j in pair_indices(len(m), kind))
    if kind == "consecutive":
        return [(i, i + 1) for i in range(0, n - 1, 2)]
    return list(combinations(range(n), 2))


def _particle_file(index: int) -> str:
    return f"subtomograms/particle_{index:06d}.mrc"


def _config_record(config: DictConfig) -> dict:
    record = OmegaConf.to_container(config, resolve=True)
    record.pop("output_dir", None)
    return record


def check_directory(config: DictConfig, output_dir: str | Path) -> None:
    """Refuse ``output_dir`` if it holds another simulation (reads only; module docstring)."""
    _check_claim(Path(output_dir), _config_record(config))


def _check_claim(output_dir: Path, config_record: dict) -> None:
    sidecar = output_dir / "simulation.json"
    if sidecar.exists():
        try:
            previous = json.loads(sidecar.read_text())["config"]
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"{sidecar}: expected a subalign simulation record, found {exc}")
        difference = first_difference(previous, config_record)
        if difference is not None:
            name, old, new = difference
            raise ConfigError(
                f"{sidecar}: holds a simulation made with {name}={old}, this command has "
                f"{name}={new}; expected the same config to resume (choose another output_dir)"
            )
        log.info("resuming the simulation in %s", output_dir)


def _claim(output_dir: Path, config_record: dict) -> None:
    _check_claim(output_dir, config_record)
    write_json(output_dir / "simulation.json", {"status": "running", "config": config_record})


def _write_star(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    write_star(path, {"particles": pd.DataFrame(rows)})  # no time stamp: same rows, same bytes


#: The conventions ``simulation.json`` states.
CONVENTIONS = {"pose": POSE_CONVENTION, "pair_truth": TRANSFORM_CONVENTION,
               "arrays": "MRC data are [z, y, x]; voxel size in Angstrom in the header"}


def _write_tables(config: DictConfig, output_dir: Path, particles: list, poses: list,
                  pairs, classes: np.ndarray | None, voxel_angstrom: float) -> None:
    """``poses.star``, the truth tables of every format, and ``pairs.json`` (the true
    transform of each pair); with ``classes`` (n,), each particle's and pair's class."""
    _write_star(output_dir / "poses.star", [
        {"rlnImageName": p["file"], **relion_pose_columns(pose, voxel_angstrom),
         **class_entry(classes, index, "rlnClassNumber")}
        for index, (p, pose) in enumerate(zip(particles, poses))
    ])
    write_truth_tables(config, output_dir, [p["file"] for p in particles], poses, classes)
    write_json(output_dir / "pairs.json", {
        "convention": TRANSFORM_CONVENTION,
        "pairs": [
            {"fixed": particles[i]["file"], "moving": particles[j]["file"],
             **class_entry(classes, i, "class"),
             "truth": poses[i].compose(poses[j].inverse()).to_record()}
            for i, j in pairs
        ],
    })


def _write_truth(config: DictConfig, output_dir: Path, densities: list,
                 voxel_angstrom: float) -> None:
    """The true maps (``density.mrc``, or ``density_K.mrc`` per class of a mixture) and,
    with ``stacks``, the RELION 5 stack set."""
    names = (["density.mrc"] if config.structures is None else
             [f"density_{label}.mrc" for label in range(1, len(densities) + 1)])
    for name, density in zip(names, densities):
        write_volume(output_dir / name, density, voxel_size=voxel_angstrom)
    if config.stacks:
        log.info("wrote the RELION 5 2-D stack set %s",
                 write_relion5_stacks(config, output_dir, *densities))


def _make_particles(config: DictConfig, output_dir: Path, densities: list,
                    classes: np.ndarray | None, clock: JobClock) -> tuple[list, list, int]:
    """Write the particles not yet on disk (module docstring).

    Returns
    -------
    list of dict, list of RigidTransform, int
        Each particle's record and pose, and how many were made in this run.
    """
    voxel_angstrom = float(config.voxel_size_nm) * 10.0
    start, made = time.perf_counter(), 0
    written = RowLog(output_dir / "particles.jsonl")
    every = max(1, int(config.n) // 10)
    particles, poses = [], []
    for index in range(int(config.n)):
        path = output_dir / _particle_file(index)
        fingerprint = written.rows.get(index)
        if fingerprint is not None and matches_record(path, fingerprint):
            pose = random_pose(particle_rng(config, index), float(config.max_translation_voxels))
        else:  # never written, or truncated or corrupted since: made again
            particle = simulate_particle(config, density_of(densities, classes, index), index)
            write_volume(path, particle.subtomogram.volume, voxel_size=voxel_angstrom)
            fingerprint = {"index": index, **file_record(path), "path": _particle_file(index)}
            written.add(fingerprint)
            clock.tick()
            pose, made = particle.pose, made + 1
        poses.append(pose)
        particles.append({"file": _particle_file(index), **class_entry(classes, index, "class"),
                          "pose": pose.to_record(), "bytes": fingerprint["bytes"],
                          "sha256": fingerprint["sha256"]})
        if (index + 1) % every == 0 or index + 1 == int(config.n):
            log.info("particle %d/%d (%.1f s)", index + 1, int(config.n), time.perf_counter() - start)
    return particles, poses, made


def write_simulation(config: DictConfig, output_dir: str | Path, *,
                     command: str | None = None) -> dict:
    """Simulate ``config.n`` particles into ``output_dir`` (resumable; module docstring).

    Parameters
    ----------
    config : DictConfig
        A :class:`subalign.simulation.simulate.SimulateConfig` node.
    output_dir : str or Path
    command : str, optional
        The command line, for the record (default ``sys.argv``).

    Returns
    -------
    dict
        The final ``simulation.json`` record.
    """
    output_dir = Path(output_dir)
    record = _config_record(config)
    check_simulation(config)
    classes = particle_classes(config)
    pairs = pair_indices(int(config.n), config.pairs, classes)
    densities = load_densities(config)  # validated before the directory is claimed
    for density in densities:
        check_fits(config, density)
    _claim(output_dir, record)
    voxel_angstrom = float(config.voxel_size_nm) * 10.0
    clock = JobClock(output_dir / "clock.jsonl")
    particles, poses, made = _make_particles(config, output_dir, densities, classes, clock)
    seconds = clock.tick()
    _write_tables(config, output_dir, particles, poses, pairs, classes, voxel_angstrom)
    _write_truth(config, output_dir, densities, voxel_angstrom)
    inputs = {f"{name}.path": None if entry.source == "phantom" else entry.path
              for name, entry in structure_entries(config)}
    final = {"status": "complete", **provenance(record, inputs, command=command),
             "conventions": CONVENTIONS, "particles": particles, "made": made,
             "seconds": seconds, "parts": clock.parts}
    write_json(output_dir / "simulation.json", final)
    log.info("simulated %d particles (%d new) in %.1f s into %s", len(particles), made, seconds,
             output_dir)
    return final
