"""Shared by the batch tests and benchmarks/batch.py: simulated particle sets on disk.

Every set is made by ``subalign simulate``'s own writer, so the particle files are the ones
a user gets (``particles.star`` in RELION 5, ``wedges.csv``, ``pairs.json``); the reference
map is the simulation's true density.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subalign.cli.compose import compose_config
from subalign.execution.arraylog import ArrayLog
from subalign.io.formats import read_particles, write_particles
from subalign.io.mrc import write_volume
from subalign.io.particles import ParticleSet
from subalign.numerics.geometry import rotation_distance_deg, rotation_vector_to_matrix
from subalign.simulation.output import write_simulation
from subalign.simulation.simulate import load_density
from subalign.workflows.batch.worker import FIELDS

#: The cheapest alignment that still runs every stage: for tests of the machinery, not of
#: accuracy (40 rotations scanned, one candidate, a few optimizer steps).
TINY = ["scan.keep=1", "sampler.spacing_deg=90", "search_score=null", "polish_max_steps=3",
        "refiner.n_max_iter=5", "histogram=false"]

#: A second structure for classification: four other blobs, as asymmetric as the paper
#: phantom (a rod of three blobs, nearly symmetric, made the cheap searches fail).
OTHER_PHANTOM = ("density.blobs=[{centre:[0.15,0.1,-0.05],sigma:0.06,amplitude:1},"
                 "{centre:[-0.15,0.05,0.05],sigma:0.045,amplitude:0.9},"
                 "{centre:[0,-0.17,0],sigma:0.05,amplitude:0.8},"
                 "{centre:[0.02,0.05,0.18],sigma:0.035,amplitude:0.7}]")


def simulate(directory: Path, *overrides: str) -> Path:
    """``subalign simulate`` into ``directory`` with its true density as ``reference.mrc``."""
    config = compose_config("simulate", [f"output_dir={directory}", *overrides])
    write_simulation(config, directory)
    write_volume(directory / "reference.mrc", load_density(config),
                 voxel_size=float(config.voxel_size_nm) * 10)
    return directory


def two_structures(directory: Path, per_class: int, size: int, snr: float, seed: int = 0) -> Path:
    """``per_class`` particles of the paper phantom then of :data:`OTHER_PHANTOM`, as one RELION 5
    set ``two.star`` (absolute subtomogram paths) with ``wedges.csv``; class 1, then 2."""
    parts = [simulate(directory / name, f"n={per_class}", f"size={size}", f"seed={seed + k}",
                      f"imaging.snr={snr}", *extra)
             for k, (name, extra) in enumerate((("a", ()), ("b", (OTHER_PHANTOM,))))]
    sets = [read_particles(part / "particles.star", tomograms=part / "wedges.csv")
            for part in parts]
    names = np.concatenate([[str(s.resolve(n).resolve()) for n in s.fields["subtomogram"]]
                            for s in sets])
    combined = ParticleSet.create(
        np.concatenate([s.rotations for s in sets]), np.concatenate([s.shifts for s in sets]),
        pixel_size=sets[0].pixel_size, subtomogram=names.astype(object),
        tomogram=np.array(["1"] * len(names), dtype=object),
        class_number=np.repeat([1, 2], per_class), box_size=size)
    write_particles(combined, directory / "two.star", "relion5")
    (directory / "wedges.csv").write_text((parts[0] / "wedges.csv").read_text())
    return directory / "two.star"


def without_angles(sim, name="noposes.star"):
    """``sim``'s set as freshly extracted: no rlnAngleRot/Tilt/Psi, no origins."""
    import starfile

    blocks = starfile.read(sim / "particles.star", always_dict=True)
    blocks["particles"] = blocks["particles"].drop(columns=[
        "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi",
        "rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"])
    starfile.write(blocks, sim / name)
    return sim / name


def perturbed(source: Path, target: Path, angle_deg: float, shift_voxels: float,
              seed: int = 0) -> np.ndarray:
    """Write ``source``'s set with every rotation turned by ``angle_deg`` about a random
    axis and every shift moved by ``shift_voxels`` in a random direction (priors for a
    local search); returns the rotation errors of the priors, degrees."""
    particles = read_particles(source)
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(len(particles), 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    turns = np.stack([rotation_vector_to_matrix(np.radians(angle_deg) * a) for a in axes])
    moves = rng.normal(size=(len(particles), 3))
    moves *= shift_voxels / np.linalg.norm(moves, axis=1, keepdims=True)
    particles.rotations = turns @ particles.rotations
    particles.shifts = particles.shifts + moves
    write_particles(particles, target, "relion5")
    return rotation_distance_deg(read_particles(target).rotations, read_particles(source).rotations)


def pose_errors(found: Path, truth: Path) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (degrees) and shift (voxels) errors of each particle of ``found``."""
    a, b = read_particles(found), read_particles(truth)
    return (rotation_distance_deg(a.rotations, b.rotations),
            np.linalg.norm(a.shifts - b.shifts, axis=1))


def stored(output_dir: Path, count: int) -> np.ndarray:
    """Every field of ``results.bin`` but the seconds, shape (count, len(FIELDS) - 1)."""
    store = ArrayLog(output_dir / "results.bin", FIELDS, count)
    assert store.present.all(), f"{(~store.present).sum()} items missing"
    keep = [k for k, name in enumerate(FIELDS) if name != "seconds"]
    return store.values[:, keep]


def record_indices(output_dir: Path) -> np.ndarray:
    """The item index of every record in ``results.bin``, in file order."""
    store = ArrayLog(output_dir / "results.bin", FIELDS, 0)
    data = (output_dir / "results.bin").read_bytes()
    assert len(data) % store.record_bytes == 0, "a torn record left in a finished run"
    return np.frombuffer(data, dtype=store.dtype)["index"]
