"""Read a 100,000-particle RELION 5 STAR file and write it back: time and peak memory.

The file is made first (seeded): 100,000 particles in 50 tomograms with random poses,
origins and centred coordinates, an optics block and the columns a RELION 5 refinement
writes that subalign does not model. Then ``read_particles`` and ``write_particles`` (into
another directory, so every ``rlnImageName`` is rewritten relative to it) are timed
(median of the repeats), and run once more under ``tracemalloc`` for the peak of
Python-allocated memory (numpy and pandas buffers included); the process's peak resident
size is reported as well.

    python benchmarks/particle_io.py [--particles 100000] [--repeats 3] [--keep DIR]
"""

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from subalign.io.formats import read_particles, write_particles
from subalign.io.star import write_star


def make_star(path: Path, count: int) -> None:
    """A RELION 5 particles STAR file of ``count`` particles (seed 0)."""
    rng = np.random.default_rng(0)
    angles = Rotation.random(count, random_state=rng).as_euler("ZYZ", degrees=True)
    tomograms = np.array([f"TS_{k:03d}" for k in range(50)])[rng.integers(0, 50, count)]
    particles = pd.DataFrame({
        "rlnTomoName": tomograms,
        "rlnTomoParticleName": [f"{t}/{i}" for i, t in enumerate(tomograms)],
        "rlnTomoVisibleFrames": "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]",
        "rlnImageName": [f"Extract/job010/Subtomograms/{t}/{i}_data.mrc" for i, t in enumerate(tomograms)],
        "rlnCenteredCoordinateXAngst": rng.uniform(-3000, 3000, count).round(6),
        "rlnCenteredCoordinateYAngst": rng.uniform(-3000, 3000, count).round(6),
        "rlnCenteredCoordinateZAngst": rng.uniform(-800, 800, count).round(6),
        "rlnOriginXAngst": rng.uniform(-10, 10, count).round(6),
        "rlnOriginYAngst": rng.uniform(-10, 10, count).round(6),
        "rlnOriginZAngst": rng.uniform(-10, 10, count).round(6),
        "rlnAngleRot": angles[:, 0].round(6), "rlnAngleTilt": angles[:, 1].round(6),
        "rlnAnglePsi": angles[:, 2].round(6),
        "rlnOpticsGroup": 1, "rlnGroupNumber": rng.integers(1, 51, count),
        "rlnClassNumber": 1, "rlnNormCorrection": 1.0, "rlnRandomSubset": 1 + np.arange(count) % 2,
        "rlnLogLikeliContribution": rng.uniform(3e5, 4e5, count).round(1),
        "rlnMaxValueProbDistribution": rng.uniform(0, 1, count).round(6),
        "rlnNrOfSignificantSamples": rng.integers(1, 20, count),
    })
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["optics1"],
                           "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                           "rlnAmplitudeContrast": [0.1], "rlnTomoTiltSeriesPixelSize": [1.35],
                           "rlnTomoSubtomogramBinning": [4.0], "rlnImagePixelSize": [5.4],
                           "rlnImageSize": [64], "rlnImageDimensionality": [3]})
    write_star(path, {"general": {"rlnTomoSubTomosAre2DStacks": 0}, "optics": optics,
                      "particles": particles})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="directory to keep the files in")
    args = parser.parse_args()
    directory = args.keep or Path(tempfile.mkdtemp(prefix="particle_io_"))
    directory.mkdir(parents=True, exist_ok=True)
    source, target = directory / "particles.star", directory / "written" / "particles.star"
    started = time.perf_counter()
    make_star(source, args.particles)
    print(f"made {source} ({source.stat().st_size / 1e6:.1f} MB, {args.particles} particles) "
          f"in {time.perf_counter() - started:.1f} s")

    read_times, write_times = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        particles = read_particles(source)
        read_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        write_particles(particles, target)
        write_times.append(time.perf_counter() - started)
    print(f"read {np.median(read_times):.2f} s, write {np.median(write_times):.2f} s "
          f"(median of {args.repeats}; read min {min(read_times):.2f} s, write min {min(write_times):.2f} s)")

    tracemalloc.start()
    particles = read_particles(source)
    _, read_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    write_particles(particles, target)
    _, write_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"peak traced memory: read {read_peak / 1e6:.0f} MB, write {write_peak / 1e6:.0f} MB; "
          f"peak resident size of the process {resident:.0f} MB")
    same = np.abs(read_particles(target).rotations - particles.rotations).max()
    print(f"written file: {target.stat().st_size / 1e6:.1f} MB; largest rotation-matrix "
          f"difference after the round trip {same:.1e}")


if __name__ == "__main__":
    main()
