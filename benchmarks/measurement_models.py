"""Measurement models on simulated 2-D tilt stacks: what the real geometry and the CTF gain.

For each of two structures from ``../shared/data`` (the 30S ribosomal subunit, asymmetric,
and the 20S proteasome, D7, whose errors are taken to the nearest symmetric copy: its
7-fold axis from the density's inertia, its 2-folds from the best self-correlation; 32^3 at
10 Angstrom, 20 Angstrom low-pass), ``--count`` particles at random poses are measured as
RELION 5 stack particles are: 41 tilts over +-60 degrees (3-degree steps, dose-symmetric,
3 e/A^2 per tilt), each image a central section of the posed particle (2x oversampled
spectrum), multiplied by its tilt's CTF (300 kV, Cs 2.7 mm, 7 % amplitude contrast, 3.5-4.5
um underfocus, 3 % astigmatism) and dose weight, white noise added, then CTF-premultiplied;
each box is made from its images by Fourier insertion, as ``subalign`` makes boxes from
stacks (:mod:`subalign.io.stacks`). SNR 0.5 in the box (signal over noise variance). Two
geometries: a single-axis series, and one whose beams wander up to 8 degrees off it
(EMPIAR-10499's Unt_076 reaches 12.5).

Printed per structure and geometry, for the models ``tilt_range`` (binary single-axis),
``planes`` (binary, real geometry) and ``ctf`` (CTF^2 x dose^2 per plane) with the
default weighting ``both``, and ``ctf`` with ``support`` (:mod:`subalign.numerics.measurement`):

1. the average of the boxes at their true poses (:class:`WedgeAccumulator` with each model)
   against the density: FSC 0.5 and 0.143 crossings (0.143 sits at Nyquist, 20 A, for all)
   and the mean FSC over shells 8-15 (40-21 A);
2. global alignment of every box to the density (``align_pair``, defaults, the model for
   the box and none missing for the density): median rotation error, failures beyond 20
   degrees, median seconds per pair;
3. the cost of one value and Jacobian of RCS at full size (median over ``--runs``).

    python benchmarks/measurement_models.py --count 40 --runs 20
    python benchmarks/measurement_models.py --count 0 --runs 50     # the cost only
"""

import argparse
import logging
import time
from pathlib import Path

from _common import median_seconds

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial.transform import Rotation

from subalign import align_pair
from subalign.numerics.ctf import ctf_2d, dose_weight_2d
from subalign.numerics.geometry import RigidTransform, rotation_distance_deg
from subalign.numerics.insertion import insert_sections, reconstruct
from subalign.numerics.measurement import Acquisition, relative
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import default_plugin_set
from subalign.scoring.measured import prepare_score
from subalign.simulation.density import density_from_structure
from subalign.testing.measurement import tilt_sections
from subalign.workflows.averaging import WedgeAccumulator
from subalign.workflows.fsc import fsc, resolutions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE, PIXEL, SNR = 32, 10.0, 0.5
ANGLES = np.arange(-60.0, 60.1, 3.0)
MODELS = ("tilt_range", "planes", "ctf")
#: (model, score.measurement_weighting) of each alignment and average.
VARIANTS = (("tilt_range", "both"), ("planes", "both"), ("ctf", "both"), ("ctf", "support"))


def structures() -> dict[str, tuple[np.ndarray, int]]:
    """Name -> (density, dihedral order; 0 for none)."""
    def load(name):
        return density_from_structure(SHARED / "structures" / name, voxel_size_nm=1.0,
                                      resolution_nm=2.0, size=SIZE)
    return {"30S": (load("4v4r_30S.pdb.gz"), 0), "proteasome": (load("3j9i_proteasome20S.pdb.gz"), 7)}


def dihedral_group(volume: np.ndarray, order: int) -> np.ndarray:
    """The 2n rotations (2n, 3, 3) of a D_n particle: its n-fold axis the inertia axis whose
    moment stands apart, its 2-folds at the azimuth whose half turn best matches the volume."""
    if order == 0:
        return np.eye(3)[None]
    z, y, x = np.indices(volume.shape) - SIZE // 2
    weights = np.clip(volume, 0, None).ravel()
    points = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    inertia = (points.T * weights) @ points
    values, vectors = np.linalg.eigh(inertia)
    apart = int(np.argmax([abs(values[k] - np.delete(values, k).mean()) for k in range(3)]))
    axis = vectors[:, apart]
    first = vectors[:, (apart + 1) % 3]
    second = np.cross(axis, first)

    def half_turn(phi):
        return Rotation.from_rotvec(np.pi * (np.cos(phi) * first + np.sin(phi) * second)).as_matrix()
    scores = [np.corrcoef(volume.ravel(), transform_volume(volume, RigidTransform(half_turn(phi), np.zeros(3))).ravel())[0, 1]
              for phi in np.radians(np.arange(0, 180 / order, 0.5))]
    flip = half_turn(np.radians(0.5 * int(np.argmax(scores))))
    turns = [Rotation.from_rotvec(2 * np.pi * k / order * axis).as_matrix() for k in range(order)]
    group = np.array([t for t in turns] + [t @ flip for t in turns])
    check = min(np.corrcoef(volume.ravel(), transform_volume(volume, RigidTransform(g, np.zeros(3))).ravel())[0, 1]
                for g in group)
    print(f"  D{order} operators found; worst self-correlation under them {check:.3f}")
    return group


def symmetric_error(found: np.ndarray, truth: np.ndarray, group: np.ndarray) -> float:
    """Degrees between ``found`` and the nearest of ``g truth`` (a pose of a symmetric
    particle is defined up to its group)."""
    return min(rotation_distance_deg(found, g @ truth) for g in group)


def sections_of(volume: np.ndarray, sections: np.ndarray) -> np.ndarray:
    """The central sections (T, N, N) ``[tilt, y, x]`` of ``volume``'s spectrum at the rows
    ``a_u, a_v`` of ``sections`` (T, 3, 3), from a 2x zero-padded transform (numpy.fft order)."""
    padded = np.zeros((2 * SIZE,) * 3)
    padded[SIZE // 2:SIZE // 2 + SIZE, SIZE // 2:SIZE // 2 + SIZE, SIZE // 2:SIZE // 2 + SIZE] = volume
    spectrum = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(padded)))  # box centre at the origin
    q = np.fft.fftfreq(SIZE, 1 / SIZE)
    qv, qu = np.meshgrid(q, q, indexing="ij")
    points = (qu[None, ..., None] * sections[:, None, None, 0] + qv[None, ..., None] * sections[:, None, None, 1])
    index = (2 * points[..., ::-1] + SIZE).reshape(-1, 3).T  # (z, y, x) on the padded grid
    values = (map_coordinates(spectrum.real, index, order=1) + 1j * map_coordinates(spectrum.imag, index, order=1))
    return values.reshape(len(sections), SIZE, SIZE)


def measure(volume: np.ndarray, pose: RigidTransform, sections: np.ndarray, rng) -> tuple[np.ndarray, Acquisition]:
    """One particle's box and acquisition (module docstring)."""
    count = len(sections)
    defocus = rng.uniform(35000, 45000) + rng.normal(0, 500, count)
    ctf = ctf_2d(SIZE, PIXEL, defocus, defocus * 1.03, rng.uniform(0, 180, count), voltage_kv=300,
                 cs_mm=2.7, amplitude_contrast=0.07)
    dose = dose_weight_2d(SIZE, PIXEL, 3.0 * np.argsort(np.argsort(np.abs(ANGLES))))
    # raw = CTF D F + n; dose-weighted by D, CTF-premultiplied: CTF^2 D^2 F + CTF D n
    signal = sections_of(transform_volume(volume, pose), sections) * (ctf * dose) ** 2
    noise = np.fft.fft2(rng.standard_normal((count, SIZE, SIZE))) * ctf * dose
    boxes = []
    for spectra in (signal, noise):
        images = np.fft.fftshift(np.fft.ifft2(spectra).real, axes=(1, 2))
        inserted = insert_sections(images, sections, ctf**2 * dose**2)
        boxes.append(reconstruct(inserted).astype(float))
    box = boxes[0] + boxes[1] * np.sqrt(boxes[0].var() / (SNR * boxes[1].var()))
    transfer = inserted.weight / np.maximum(inserted.multiplicity, 1.0)
    noise_model = relative(inserted.weight / np.maximum(inserted.multiplicity, 1.0) ** 2)
    return box, Acquisition(SIZE, TiltRange(-60.0, 60.0), sections[:, 2], transfer, noise_model)


def run_condition(name: str, volume: np.ndarray, group: np.ndarray, wander: float, count: int) -> None:
    plugins = default_plugin_set()
    builders = {m: plugins.create("measurement", m) for m in MODELS}
    rng = np.random.default_rng(2012)
    particles = []
    for index in range(count):
        pose = RigidTransform(Rotation.random(random_state=rng.integers(1 << 31)).as_matrix(),
                              rng.uniform(-2, 2, 3))
        sections = tilt_sections(ANGLES, wander, seed=index)
        particles.append((pose, *measure(volume, pose, sections, rng)))
    for model_name, weighting in VARIANTS:
        total, errors, seconds = WedgeAccumulator(SIZE), [], []
        settings = {"score": {"name": "rcs", "measurement_weighting": weighting}}
        for pose, box, acquisition in particles:
            model = builders[model_name].build(acquisition)
            total.add(box, pose.inverse(), model)
            result = align_pair(settings, volume, box, models=(TiltRange(-90.0, 90.0), model))
            errors.append(symmetric_error(result.transform.rotation, pose.inverse().rotation, group))
            seconds.append(result.seconds)
        frequency, correlation = fsc(total.average(), volume)
        crossings = resolutions(frequency, correlation, PIXEL)
        errors = np.array(errors)
        print(f"  {name:10s} wander {wander:3.0f} deg  {model_name + ' ' + weighting:18s}: true-pose average FSC 0.5 "
              f"{crossings['0.5']:5.1f} A, 0.143 {crossings['0.143']:5.1f} A, mean FSC 40-20 A "
              f"{correlation[8:16].mean():.3f} | global median "
              f"{np.median(errors):5.2f} deg, beyond 20 deg {int((errors > 20).sum())} of {count} "
              f"({np.round(np.sort(errors)[-3:], 1).tolist()} worst) | {np.median(seconds):.2f} s/pair",
              flush=True)


def report_cost(volume: np.ndarray, runs: int) -> None:
    plugins = default_plugin_set()
    rng = np.random.default_rng(1)
    pose = RigidTransform(Rotation.random(random_state=3).as_matrix(), np.zeros(3))
    box, acquisition = measure(volume, pose, tilt_sections(ANGLES, 8.0, 0), rng)
    transform = RigidTransform(pose.inverse().rotation @ Rotation.from_rotvec([0.05, 0, 0]).as_matrix(),
                               np.zeros(3))
    for score in ("rcs", "fcs"):
        built = plugins.create("score", score)
        times = {}
        for model_name in MODELS:
            model = plugins.create("measurement", model_name).build(acquisition)
            objective = prepare_score(built, volume, box, TiltRange(-90.0, 90.0), model)
            counter = iter(range(10**9))

            def evaluate():  # a new rotation each call: nothing remembered
                step = Rotation.from_rotvec([1e-4 * next(counter), 0, 0]).as_matrix()
                moved = RigidTransform(step @ transform.rotation, transform.translation)
                objective.value(moved)
                objective.jacobian(moved)
            times[model_name] = median_seconds(evaluate, runs)[0]
        base = times["tilt_range"]
        print(f"  {score}: value + Jacobian, ms: " + ", ".join(
            f"{m} {1e3 * t:.2f} ({t / base:.2f}x)" for m, t in times.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("subalign").setLevel(logging.ERROR)
    started = time.perf_counter()
    volumes = structures()
    print(f"cost per evaluation (30S, wandering beams, median of {args.runs}):")
    report_cost(volumes["30S"][0], args.runs)
    if args.count:
        print(f"{args.count} particles per structure and geometry, SNR {SNR}, +-60 deg:")
    for name, (volume, order) in volumes.items() if args.count else ():
        group = dihedral_group(volume, order)
        for wander in (0.0, 8.0):
            run_condition(name, volume, group, wander, args.count)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
