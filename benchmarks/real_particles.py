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
   with defaults but for ``measurement`` (``ctf``, the default, and ``tilt_range``, the
   binary single-axis wedge) and ``score`` (``rcs``, ``fcs``), and the angle between each
   pose found and the table's, per tomogram (median, beyond 20 degrees), and for each pose
   beyond 20 degrees whether the score or the search was at fault;
5. with ``--simulated N``: N simulated particles (70S-like phantom default, SNR 0.5,
   +-60 degrees) written both as 3-D subtomograms and as a RELION 5 stack set whose
   tomogram frame is turned 85 degrees: the true-pose average's FSC 0.143 against the
   density for each, and ``subalign batch`` (global, defaults) of each against the density:
   median rotation error and failures beyond 20 degrees.

    python benchmarks/real_particles.py --runs 5 --batch --simulated 40 --out /tmp/real
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from subalign.io.formats import read_particles
from subalign.io.mrc import read_map, write_volume
from subalign.io.stacks import read_stack, reconstruct_stack
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.geometry import rotation_distance_deg
from subalign.numerics.threads import single_blas_thread
from subalign.numerics.volumes import flip_volume
from subalign.numerics.wedge import TiltRange
from subalign.workflows.averaging import WedgeAccumulator
from subalign.workflows.fsc import fsc, fsc_figure, resolutions
from subalign.workflows.batch.worker import local_search, measurement_plugin
from subalign.workflows.hand import LOCAL, check_hand
from subalign.workflows.maps import soft_sphere_mask
from subalign.align.config import align_settings
from subalign.align.pair import align_pair
from subalign.plugin.manager import default_plugin_set

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "empiar10499_subset"


#: (measurement model, score) of each batch run: the default model and the binary
#: single-axis one it replaces, for both built-in scores.
VARIANTS = (("ctf", "rcs"), ("ctf", "fcs"), ("tilt_range", "rcs"), ("tilt_range", "fcs"))


def box_cost(particles, runs: int) -> float:
    """Median milliseconds to make one box from its stack in memory."""
    stacks = [read_stack(particles.resolve(name))[0] for name in particles.fields["subtomogram"]]
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
    """The average at the table's poses per tomogram and of all, with each particle's
    single-axis wedge (``tilt_range``) and with its ``ctf`` model."""
    sums: dict[str, WedgeAccumulator] = {}
    builders = {name: default_plugin_set().create("measurement", name) for name in ("tilt_range", "ctf")}
    with SubtomogramReader(particles) as reader:
        for index in range(len(particles)):
            box = reader(index)
            tilt = TiltRange(float(particles.fields["tilt_min"][index]),
                             float(particles.fields["tilt_max"][index]))
            name = str(particles.fields["tomogram"][index]).removesuffix(".tomostar")
            for model_name, builder in builders.items():
                model = builder.build(box.acquisition(tilt))
                for key in (f"{name} {model_name}", f"all 20 {model_name}"):
                    sums.setdefault(key, WedgeAccumulator(box.volume.shape[0]))
                    sums[key].add(box.volume, box.pose.inverse(), model)
    return {key: total.average() for key, total in sorted(sums.items())}


def report_maps(particles, reference: np.ndarray, out: Path) -> None:
    pixel = particles.pixel_size
    mask = soft_sphere_mask(reference.shape[0], 13.0, 3.0)
    curves = {}
    for key, average in averages(particles).items():
        for hand, target in (("mirrored z", flip_volume(reference, "z")), ("as given", reference)):
            frequency, correlation = fsc(average * mask, target * mask)
            found = resolutions(frequency, correlation, pixel)
            print(f"  {key:18s} vs reference {hand:10s}: FSC 0.5 {found['0.5']:5.1f} A, "
                  f"0.143 {found['0.143']:5.1f} A, mean FSC 100-30 A {band_mean(frequency, correlation, pixel):.3f}")
            if key.startswith("all 20"):
                curves[f"{key}, reference {hand}"] = (frequency, correlation)
    write_volume(out / "average_table_poses.mrc", averages(particles)["all 20 ctf"].astype(np.float32),
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
    names = particles.fields["tomogram"].to_numpy()
    for measurement, score in VARIANTS:
        folder = out / f"batch_{measurement}_{score}"
        print(f"  subalign batch particles={DATA / 'optimisation_set.star'} reference={mirrored} "
              f"measurement={measurement} score={score} output_dir={folder}")
        started = time.perf_counter()
        found = read_particles(run_batch(DATA / "optimisation_set.star", mirrored, folder,
                                         f"measurement={measurement}", f"score={score}"))
        print(f"  {time.perf_counter() - started:.1f} s")
        errors = rotation_distance_deg(particles.rotations, found.rotations)
        for name in [*np.unique(names), None]:
            rows = np.ones(len(names), bool) if name is None else names == name
            print(f"  {name or 'all':17s}: median {np.median(errors[rows]):5.1f} deg, beyond 20 deg "
                  f"{int((errors[rows] > 20).sum())} of {int(rows.sum())}; errors "
                  f"{np.round(np.sort(errors[rows])).astype(int).tolist()}")
        scores = np.loadtxt(folder / "alignments.csv", delimiter=",", skiprows=1, usecols=8)
        blame_gross(particles, flip_volume(reference, "z"), errors, scores,
                    {"measurement": {"name": measurement}, "score": {"name": score}})


def blame_gross(particles, reference: np.ndarray, errors: np.ndarray, found: np.ndarray,
                settings: dict) -> None:
    """For each pose beyond 20 degrees: the score at the table's pose (a local search around
    it) against the score of the pose found, with the run's measurement model and score.
    Lower found: the score prefers a wrong pose (score's fault); higher: the search missed a
    better basin (search's fault)."""
    tilts = particles.fields[["tilt_min", "tilt_max"]].to_numpy(float)
    align = align_settings(settings)
    measurement = measurement_plugin(align)
    counts = {"score": 0, "search": 0}
    with SubtomogramReader(particles) as reader:
        for row in np.flatnonzero(errors > 20):
            box = reader(int(row))
            model = measurement.build(box.acquisition(TiltRange(*tilts[row])))
            config = {**align, **local_search(box.pose.inverse(), LOCAL)}
            at_table = align_pair(config, reference, box.volume,
                                  models=(TiltRange(-90.0, 90.0), model)).score_value
            fault = "score" if found[row] <= at_table else "search"
            counts[fault] += 1
            print(f"    row {row + 1}: {errors[row]:5.1f} deg; score found {found[row]:.4f}, near the "
                  f"table pose {at_table:.4f}: the {fault}'s fault")
    print(f"  gross failures: {counts['score']} the score's fault, {counts['search']} the search's")


def run_batch(particles_file: Path, reference: Path, out: Path, *extra: str) -> Path:
    command = [str(Path(sys.executable).parent / "subalign"), "batch", f"particles={particles_file}",
               f"reference={reference}", f"output_dir={out}", *extra]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return out / "aligned.star"


def report_simulated(count: int, out: Path) -> None:
    from subalign.simulation.output import write_simulation
    from subalign.simulation.simulate import load_density, simulation_config

    folder = out / "simulated"
    config = simulation_config({"n": count, "seed": 11, "stacks": True})
    write_simulation(config, folder, command="benchmark")
    density = load_density(config)
    write_volume(folder / "density.mrc", density, voxel_size=10.0)
    kinds = {"3-D subtomograms": (folder / "particles.star", ["tomograms=" + str(folder / "wedges.csv")]),
             "RELION 5 stacks": (folder / "relion5_stacks" / "optimisation_set.star", [])}
    for label, (table, extra) in kinds.items():
        truth = read_particles(table, tomograms=folder / "wedges.csv" if extra else None)
        total = WedgeAccumulator(32)
        with SubtomogramReader(truth) as reader:
            for index in range(len(truth)):
                box = reader(index)
                total.add(box.volume, box.pose.inverse(), TiltRange(-60, 60))
        frequency, correlation = fsc(total.average(), density)
        found = read_particles(run_batch(table, folder / "density.mrc", folder / label.split()[0], *extra))
        errors = rotation_distance_deg(truth.rotations, found.rotations)
        print(f"  {label:17s}: true-pose average FSC 0.143 {resolutions(frequency, correlation, 10.0)['0.143']:.1f} A; "
              f"batch median {np.median(errors):.2f} deg, beyond 20 deg {int((errors > 20).sum())} of {len(errors)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", action="store_true", help="also run subalign batch")
    parser.add_argument("--simulated", type=int, default=0, help="also simulate this many particles")
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
    if args.simulated:
        print(f"simulated, {args.simulated} particles, SNR 0.5, +-60 deg (3-D vs RELION 5 stacks):")
        report_simulated(args.simulated, args.out)


if __name__ == "__main__":
    main()
