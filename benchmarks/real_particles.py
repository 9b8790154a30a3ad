"""Real particles (EMPIAR-10499 subset, ``../shared/data/real``): reading, boxes, hand, poses.

Prints, for the 20 in-cell 70S ribosomes exported by WarpTools as RELION 5 2-D stacks:

1. the cost of making one 32^3 box from its 37 tilt images (Fourier insertion only, the
   stack already in memory; median over ``--runs`` rounds of all 20, one core);
2. the wedge-compensated average of the 20 boxes at the table's poses against
   ``relion_reconstruct_40.mrc`` mirrored along z (the poses define that hand) and as given:
   FSC 0.5 / 0.143 crossings and the mean FSC within 100-30 Angstrom, both under a soft
   spherical mask, per tomogram and for all 20; the FSC curves as ``real_fsc.png``;
3. the hand check (:mod:`subalign.workflows.hand`) on the map as given and mirrored;
4. with ``--batch``: ``subalign batch`` of the optimisation set against the mirrored map,
   with defaults, in one command, and the angle between each pose found and the table's,
   per tomogram (median, beyond 20 degrees).

    python benchmarks/real_particles.py --runs 5 --batch --out /tmp/real
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from subalign.io.formats import read_particles
from subalign.io.mrc import read_map, write_volume
from subalign.io.stacks import reconstruct_stack
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.geometry import rotation_distance_deg
from subalign.numerics.threads import single_blas_thread
from subalign.numerics.volumes import flip_volume
from subalign.numerics.wedge import TiltRange
from subalign.workflows.averaging import WedgeAccumulator
from subalign.workflows.fsc import fsc, fsc_figure, resolutions
from subalign.workflows.hand import check_hand
from subalign.workflows.maps import soft_sphere_mask
from subalign.align.config import align_settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "empiar10499_subset"


def box_cost(particles, runs: int) -> float:
    """Median milliseconds to make one box from its stack in memory."""
    stacks = [read_map(particles.resolve(name)).data for name in particles.fields["subtomogram"]]
    reconstruct_stack(particles, 0, stacks[0], "warm-up")
    rounds = []
    with single_blas_thread():
        for _ in range(runs):
            started = time.perf_counter()
            for index, stack in enumerate(stacks):
                reconstruct_stack(particles, index, stack, "")
            rounds.append((time.perf_counter() - started) / len(stacks) * 1e3)
    return float(np.median(rounds))


def band_mean(frequency: np.ndarray, correlation: np.ndarray, pixel: float) -> float:
    """Mean FSC over shells between 100 and 30 Angstrom."""
    band = (frequency >= pixel / 100.0) & (frequency <= pixel / 30.0)
    return float(correlation[band].mean())


def averages(particles) -> dict[str, np.ndarray]:
    """The average at the table's poses per tomogram and of all."""
    sums: dict[str, WedgeAccumulator] = {}
    with SubtomogramReader(particles) as reader:
        for index in range(len(particles)):
            box = reader(index)
            tilt = TiltRange(float(particles.fields["tilt_min"][index]),
                             float(particles.fields["tilt_max"][index]))
            name = str(particles.fields["tomogram"][index]).removesuffix(".tomostar")
            for key in (name, "all 20"):
                sums.setdefault(key, WedgeAccumulator(box.volume.shape[0]))
                sums[key].add(box.volume, box.pose.inverse(), tilt)
    return {key: total.average() for key, total in sums.items()}


def report_maps(particles, reference: np.ndarray, out: Path) -> None:
    pixel = particles.pixel_size
    mask = soft_sphere_mask(reference.shape[0], 13.0, 3.0)
    curves = {}
    for key, average in averages(particles).items():
        for hand, target in (("mirrored z", flip_volume(reference, "z")), ("as given", reference)):
            frequency, correlation = fsc(average * mask, target * mask)
            found = resolutions(frequency, correlation, pixel)
            print(f"  {key:8s} vs reference {hand:10s}: FSC 0.5 {found['0.5']:5.1f} A, "
                  f"0.143 {found['0.143']:5.1f} A, mean FSC 100-30 A {band_mean(frequency, correlation, pixel):.3f}")
            if key == "all 20":
                curves[f"{key}, reference {hand}"] = (frequency, correlation)
    write_volume(out / "average_table_poses.mrc", averages(particles)["all 20"].astype(np.float32),
                 voxel_size=pixel)
    print(f"  wrote {fsc_figure(curves, pixel, out / 'real_fsc.png', title='20 particles at the table poses vs RELION map')}")


def report_hand(particles, reference: np.ndarray) -> None:
    tilts = particles.fields[["tilt_min", "tilt_max"]].to_numpy(float)
    align = align_settings({})
    for hand, target in (("as given", reference), ("mirrored z", flip_volume(reference, "z"))):
        started = time.perf_counter()
        try:
            check = check_hand(particles, tilts, target, align, count=8)
            verdict = f"passes: {check.summary()}"
        except Exception as exc:  # the check refuses in one line
            verdict = f"flags: {exc}"
        print(f"  map {hand}: {verdict} ({time.perf_counter() - started:.1f} s)")


def report_batch(particles, reference: np.ndarray, out: Path) -> None:
    mirrored = out / "reference_mirrored.mrc"
    write_volume(mirrored, flip_volume(reference, "z").astype(np.float32), voxel_size=particles.pixel_size)
    command = [str(Path(sys.executable).parent / "subalign"), "batch",
               f"particles={DATA / 'optimisation_set.star'}", f"reference={mirrored}",
               f"output_dir={out / 'batch'}"]
    print("  " + " ".join(command))
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    print(f"  {time.perf_counter() - started:.1f} s")
    found = read_particles(out / "batch" / "aligned.star")
    errors = rotation_distance_deg(particles.rotations, found.rotations)
    names = particles.fields["tomogram"].to_numpy()
    for name in [*np.unique(names), None]:
        rows = np.ones(len(names), bool) if name is None else names == name
        print(f"  {name or 'all':17s}: median {np.median(errors[rows]):5.1f} deg, beyond 20 deg "
              f"{int((errors[rows] > 20).sum())} of {int(rows.sum())}; errors "
              f"{np.round(np.sort(errors[rows])).astype(int).tolist()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", action="store_true", help="also run subalign batch")
    parser.add_argument("--out", type=Path, default=Path("real_particles"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    particles = read_particles(DATA / "optimisation_set.star")
    reference = read_map(DATA / "relion_reconstruct_40.mrc").data.astype(np.float32)
    print(f"{len(particles)} particles, {particles.pixel_size:g} A, box {particles.box_size}")
    print(f"one box from its stack: {box_cost(particles, args.runs):.1f} ms (median of {args.runs})")
    print("average at the table poses (RELION's map also holds 20 other particles of the data "
          "set, so part of the noise is shared):")
    report_maps(particles, reference, args.out)
    print("hand check (8 particles, local search around the table poses):")
    report_hand(particles, reference)
    if args.batch:
        print("subalign batch, global, defaults, against the mirrored map:")
        report_batch(particles, reference, args.out)


if __name__ == "__main__":
    main()
