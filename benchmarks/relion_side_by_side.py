"""RELION 3.1 and ``subalign average`` side by side on the same simulated particles (issue #25).

For each seed: ``subalign simulate`` makes ``--n`` particles of a real structure (default the
30S subunit, 4v4r) in 32^3 boxes of 15 A, +-60 deg, SNR 0.5, with its true map
(``density.mrc``). Both methods start from that map low-passed to 60 A
(:func:`subalign.workflows.maps.lowpass`, ``start.mrc``) and keep the simulator's half sets:

* RELION 3.1 (:data:`RELION_COMMAND`, run in ``WORK/seed<S>/relion``): 3-D subtomograms,
  normalized as ``relion_preprocess`` does (background outside the particle diameter to mean
  0, standard deviation 1; RELION warns about other boxes), each with a binary-wedge
  ``rlnCtfImage`` volume (RELION 3.1's 3-D CTF model: the full ``N^3`` cube, origin at
  ``N // 2``; made with :func:`subalign.numerics.wedge.measured` and checked by reading it back
  with :func:`subalign.io.weights.read_weight_volume`), angles 0 (auto-refine searches
  globally first). ``--ctf`` makes RELION use the wedge volumes; ``--ctf_corrected_ref`` says
  the start map has no wedge, so that the first iteration applies them too (without it RELION
  aligns its first iteration to an unweighted reference).
* ``subalign average`` on the simulator's own files, ``reference=start.mrc
  initial_lowpass_angstrom=60 executor.workers=2``, every other setting its default.

Printed, one table per seed: each final map against the true map (FSC at 0.5 and 0.143, both
maps times the same soft sphere as ``subalign average``'s default mask, the map first moved
into the truth's frame by the frame :func:`subalign.workflows.rounds.truth.pose_errors`
finds; at 15 A/voxel the 0.143 crossing is often Nyquist, 30 A, so the mean FSC over the
shells from 60 A to Nyquist is given too), pose errors against the true poses (median,
beyond 20 deg, in that common frame and in the identity frame), CPU seconds of the method's processes (``getrusage(RUSAGE_CHILDREN)``:
MPI ranks and Dask workers included) and wall time, and each method's own FSC-0.143
resolution (RELION: ``run_model.star``'s ``rlnCurrentResolution``, from the unmasked half-map
FSC; subalign: ``summary.json``, the FSC corrected for the mask, and the masked one). Two
rows of true poses: ``subalign average start=poses rounds=0`` and ``relion_reconstruct --ctf
--3d_rot`` of RELION's inputs (a check, in RELION, of the wedge volumes and the angles).

    nice -n 10 python benchmarks/relion_side_by_side.py [--seeds 7301 7302] [--n 40]
        [--structure 4v4r_30S.pdb.gz] [--work /tmp/relion_side_by_side] [--reuse]
        [--report-only]

Skipped (one line, exit 0) where neither ``relion_refine_mpi`` nor ``relion_refine`` is on
PATH. Debian/Ubuntu: ``apt-get install relion`` (3.1.3, CPU, MPI). Needs gemmi
(``pip install subalign[structures]``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np
import pandas as pd

from subalign.io.formats import read_particles
from subalign.io.mrc import read_map, write_volume
from subalign.io.star import read_star
from subalign.io.weights import read_weight_volume
from subalign.numerics.geometry import RigidTransform, rotation_distance_deg
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange, measured, wedge_mask
from subalign.workflows.fsc import fsc, resolution_at
from subalign.workflows.maps import lowpass, soft_sphere_mask
from subalign.workflows.rounds.truth import GROSS_ERROR_DEG, pose_errors

STRUCTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "structures"
SIZE, PIXEL, TILT, SNR, START_ANGSTROM = 32, 15.0, (-60.0, 60.0), 0.5, 60.0
#: subalign average's default mask (radius 0.4 x box, 3-voxel cosine edge), also used for the
#: FSC against the truth; RELION's particle diameter is the same sphere's.
MASK_RADIUS, MASK_EDGE = 0.4 * SIZE, 3.0
DIAMETER = 2 * MASK_RADIUS * PIXEL

#: The RELION command, run in the seed's ``relion/`` directory (mpirun prefix added when
#: relion_refine_mpi is there: 1 leader + 2 followers).
RELION_COMMAND = [
    "--o", "out/run", "--auto_refine", "--split_random_halves", "--i", "particles.star",
    "--ref", "start.mrc", "--firstiter_cc", "--ini_high", f"{START_ANGSTROM:g}",
    "--dont_combine_weights_via_disc", "--pool", "3", "--pad", "2",
    "--ctf", "--ctf_corrected_ref", "--particle_diameter", f"{DIAMETER:g}",
    "--flatten_solvent", "--zero_mask", "--oversampling", "1", "--healpix_order", "2",
    "--auto_local_healpix_order", "4", "--offset_range", "5", "--offset_step", "2",
    "--sym", "C1", "--low_resol_join_halves", "40", "--norm", "--scale", "--j", "1",
    "--random_seed", "0",
]
MPI_PREFIX = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "3"]


def relion_executable() -> list[str] | None:
    """The command prefix that runs RELION's refinement, or None without RELION."""
    if shutil.which("relion_refine_mpi") and shutil.which("mpirun"):
        return [*MPI_PREFIX, "relion_refine_mpi"]
    if shutil.which("relion_refine"):
        return ["relion_refine"]
    return None


def timed(command: list[str], cwd: Path, log: Path) -> dict:
    """Run ``command`` (output to ``log``): CPU seconds of it and all its descendants
    (``getrusage``), wall seconds, and each descendant's CPU seconds by name as last sampled
    (every 2 s; psutil), which splits RELION's CPU between its MPI leader and followers."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    sampled: dict[int, tuple[str, float]] = {}
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            try:
                for child in psutil.Process(process.pid).children(recursive=True):
                    with child.oneshot():
                        times = child.cpu_times()
                        sampled[child.pid] = (child.name(), times.user + times.system)
            except psutil.Error:
                pass
            time.sleep(2.0)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode:
        raise SystemExit(f"{command[0]} ... failed (exit {process.returncode}); see {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu": cpu, "wall": wall,
            "processes": sorted(([name, round(seconds, 1)] for name, seconds in sampled.values()),
                                key=lambda item: -item[1])}


def wedge_cube(size: int, tilt: TiltRange) -> np.ndarray:
    """The binary wedge as RELION 3.1's full-cube ``rlnCtfImage`` (float32 ``[z, y, x]``,
    frequency ``(index - N // 2) / N`` on every axis)."""
    frequency = np.fft.fftshift(np.fft.fftfreq(size))
    fz, _, fx = np.meshgrid(frequency, frequency, frequency, indexing="ij")
    return measured(fx, fz, tilt).astype(np.float32)


def write_wedge(path: Path, size: int, tilt: TiltRange) -> None:
    """Write :func:`wedge_cube` and check that subalign's reader gives back its wedge mask."""
    write_volume(path, wedge_cube(size, tilt), voxel_size=PIXEL)
    back = read_weight_volume(path, size)
    expected = wedge_mask((size,) * 3, tilt)
    if back.layout != "cube" or not np.array_equal(back.weight > 0.5, expected):
        differ = int(np.sum((back.weight > 0.5) != expected))
        raise SystemExit(f"{path}: read back as {back.layout}, {differ} coefficients differ "
                         f"from wedge_mask")


def relion_inputs(simulation: Path, start: Path, directory: Path) -> None:
    """Normalized subtomograms, the wedge volume, ``particles.star`` and ``start.mrc``."""
    (directory / "subtomograms").mkdir(parents=True, exist_ok=True)
    write_wedge(directory / "wedge.mrc", SIZE, TiltRange(*TILT))
    shutil.copy(start, directory / "start.mrc")
    truth = read_particles(simulation / "particles.star")
    centre = np.indices((SIZE,) * 3) - SIZE // 2
    background = np.sqrt((centre ** 2).sum(axis=0)) > DIAMETER / 2 / PIXEL
    rows = []
    for index, name in enumerate(truth.fields["subtomogram"]):
        volume = read_map(simulation / name).data
        values = volume[background]
        target = f"subtomograms/{Path(name).name}"
        write_volume(directory / target, ((volume - values.mean()) / values.std()).astype(
            np.float32), voxel_size=PIXEL)
        rows.append(f"{target}\twedge.mrc\t0\t0\t0\t0\t0\t0\t"
                    f"{int(truth.fields['half_set'][index])}\ttomo1\t1")
    (directory / "particles.star").write_text(
        "# RELION 3.1 subtomograms (benchmarks/relion_side_by_side.py)\n\n"
        "data_optics\n\nloop_\n_rlnOpticsGroupName #1\n_rlnOpticsGroup #2\n"
        "_rlnImagePixelSize #3\n_rlnImageSize #4\n_rlnImageDimensionality #5\n_rlnVoltage #6\n"
        "_rlnSphericalAberration #7\n_rlnAmplitudeContrast #8\n"
        f"opticsGroup1\t1\t{PIXEL:g}\t{SIZE}\t3\t300\t2.0\t0.1\n\n\n"
        "data_particles\n\nloop_\n_rlnImageName #1\n_rlnCtfImage #2\n_rlnAngleRot #3\n"
        "_rlnAngleTilt #4\n_rlnAnglePsi #5\n_rlnOriginXAngst #6\n_rlnOriginYAngst #7\n"
        "_rlnOriginZAngst #8\n_rlnRandomSubset #9\n_rlnMicrographName #10\n"
        "_rlnOpticsGroup #11\n" + "\n".join(rows) + "\n")


def relion_true_poses(simulation: Path, directory: Path) -> Path:
    """``relion_reconstruct --ctf --3d_rot`` of RELION's inputs at the true poses (the
    simulator's RELION angles and origins): a check of the wedge volumes' layout and of the
    angle convention in RELION itself; returns the map."""
    true = read_star(simulation / "particles.star")["particles"]
    head, rows = (directory / "particles.star").read_text().split("_rlnOpticsGroup #11\n")
    lines = []
    for line, (_, row) in zip(rows.strip().split("\n"), true.iterrows()):
        fields = line.split("\t")
        fields[2:8] = [str(row[c]) for c in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi",
                                              "rlnOriginXAngst", "rlnOriginYAngst",
                                              "rlnOriginZAngst")]
        lines.append("\t".join(fields))
    (directory / "true_poses.star").write_text(head + "_rlnOpticsGroup #11\n"
                                               + "\n".join(lines) + "\n")
    subprocess.run(["relion_reconstruct", "--i", "true_poses.star", "--o", "true_poses.mrc",
                    "--ctf", "--3d_rot"], cwd=directory, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return directory / "true_poses.mrc"


def final_relion(directory: Path) -> tuple[Path, Path, str]:
    """RELION's final particles, map and reported resolution (``run_model.star``); for a run
    stopped before it converged, those of its last finished iteration (the map: the mean of
    its two half maps, written as ``out/run_itNNN_mean.mrc``)."""
    out = directory / "out"
    if (out / "run_model.star").exists():
        data, volume, model, label = (out / "run_data.star", out / "run_class001.mrc",
                                      out / "run_model.star", "final")
    else:
        last = max(int(path.name[6:9]) for path in out.glob("run_it???_half1_model.star"))
        stem = out / f"run_it{last:03d}"
        halves = [read_map(f"{stem}_half{h}_class001.mrc").data for h in (1, 2)]
        volume = Path(f"{stem}_mean.mrc")
        write_volume(volume, (halves[0] + halves[1]) / 2, voxel_size=PIXEL)
        data, model, label = Path(f"{stem}_data.star"), Path(f"{stem}_half1_model.star"), \
            f"iteration {last}, unfinished"
    general = read_star(model)["model_general"]
    value = general["rlnCurrentResolution"] if isinstance(general, dict) else \
        general["rlnCurrentResolution"].iloc[0]
    return data, volume, f"{float(value):.1f} A unmasked ({label})"


def compare(name: str, particles: Path, final_map: Path, truth, true_map: np.ndarray,
            mask: np.ndarray) -> dict:
    """Pose errors against ``truth`` and the final map against ``true_map``."""
    found = read_particles(particles)
    errors = pose_errors(found.rotations, found.shifts, truth.rotations, truth.shifts)
    identity = rotation_distance_deg(found.rotations, truth.rotations)
    # The frame X of P_i = T_i X: the map is the truth moved by X^-1, so X brings it back.
    shifts = found.shifts - truth.shifts
    frame = _frame(found.rotations, truth.rotations, shifts, errors)
    volume = read_map(final_map).data
    aligned = transform_volume(volume, frame)
    frequency, correlation = fsc(aligned * mask, true_map * mask)
    raw = fsc(volume * mask, true_map * mask)[1]
    return {"name": name, "n": len(found), "median": errors["median_rotation_error_deg"],
            "gross": errors["gross_failures"],
            "gross_list": sorted(a for a in errors["rotation_errors_deg"] if a > GROSS_ERROR_DEG),
            "median_identity": float(np.median(identity)),
            "gross_identity": int(np.sum(identity > GROSS_ERROR_DEG)),
            "shift": errors["median_shift_error_voxels"],
            "frame_deg": errors["frame_rotation_deg"], "frame_vox": errors["frame_shift_voxels"],
            "fsc05": resolution_at(frequency, correlation, 0.5, PIXEL),
            "fsc0143": resolution_at(frequency, correlation, 0.143, PIXEL),
            "mean_fsc": float(correlation[frequency >= PIXEL / START_ANGSTROM].mean()),
            "fsc05_raw": resolution_at(frequency, raw, 0.5, PIXEL),
            "fsc0143_raw": resolution_at(frequency, raw, 0.143, PIXEL)}


def _frame(rotations, truth_rotations, shifts, errors) -> RigidTransform:
    """The common frame ``X`` (chordal mean of ``T_i^-1 P_i`` over the particles within 10 deg
    of pose_errors' frame), as pose_errors estimates it."""
    inverse = np.swapaxes(truth_rotations, 1, 2)
    keep = np.asarray(errors["rotation_errors_deg"]) <= max(10.0,
                                                             errors["median_rotation_error_deg"])
    u, _, vt = np.linalg.svd((inverse[keep] @ rotations[keep]).mean(axis=0))
    rotation = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    translation = np.einsum("kij,kj->ki", inverse[keep], shifts[keep]).mean(axis=0)
    return RigidTransform(rotation, translation)


def run_seed(seed: int, args, relion: list[str]) -> None:
    work = args.work / f"seed{seed}"
    simulation, average, relion_dir = work / "simulation", work / "subalign", work / "relion"
    work.mkdir(parents=True, exist_ok=True)
    if not (simulation / "density.mrc").exists():
        subprocess.run(["subalign", "simulate", f"n={args.n}", f"size={SIZE}",
                        f"voxel_size_nm={PIXEL / 10:g}", f"seed={seed}", f"imaging.snr={SNR:g}",
                        f"imaging.tilt_range_deg=[{TILT[0]:g},{TILT[1]:g}]",
                        "density.source=structure",
                        f"density.path={STRUCTURES / args.structure}",
                        f"output_dir={simulation}"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    true_map = read_map(simulation / "density.mrc").data
    start = work / "start.mrc"
    write_volume(start, lowpass(true_map, PIXEL / START_ANGSTROM), voxel_size=PIXEL)
    truth = read_particles(simulation / "particles.star")
    mask = soft_sphere_mask(SIZE, MASK_RADIUS, MASK_EDGE)
    # The true poses' own map: the reconstruction at the true poses, no alignment.
    if not ((args.reuse or args.report_only) and (work / "truepose" / "map.mrc").exists()):
        shutil.rmtree(work / "truepose", ignore_errors=True)
        subprocess.run(["subalign", "average", f"particles={simulation / 'particles.star'}",
                        f"tomograms={simulation / 'wedges.csv'}", "start=poses", "rounds=0",
                        "figures=false", f"output_dir={work / 'truepose'}"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # CPU and wall seconds of each method, kept so that --reuse reprints a finished seed.
    timings_file = work / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    if not (args.reuse and "relion" in timings) and not args.report_only:
        relion_inputs(simulation, start, relion_dir)
        shutil.rmtree(relion_dir / "out", ignore_errors=True)
        (relion_dir / "out").mkdir()
        timings["relion"] = timed([*relion, *RELION_COMMAND], relion_dir,
                                  relion_dir / "relion.log")
        timings_file.write_text(json.dumps(timings))
    relion_data, relion_map, relion_own = final_relion(relion_dir)
    if not (args.reuse and "subalign" in timings) and not args.report_only:
        shutil.rmtree(average, ignore_errors=True)
        timings["subalign"] = timed(
            ["subalign", "average", f"particles={simulation / 'particles.star'}",
             f"tomograms={simulation / 'wedges.csv'}", f"reference={start}",
             f"initial_lowpass_angstrom={START_ANGSTROM:g}",
             f"truth={simulation / 'particles.star'}", "executor.workers=2",
             f"output_dir={average}"], work, work / "subalign.log")
        timings_file.write_text(json.dumps(timings))
    unknown = {"cpu": float("nan"), "wall": float("nan"), "processes": []}
    relion_time, subalign_time = (timings.get(k, unknown) for k in ("relion", "subalign"))
    print(f"seed {seed}: CPU seconds by process (sampled): RELION "
          f"{relion_time['processes']}; subalign {subalign_time['processes']}")

    rows = [compare("RELION 3.1.3", relion_data, relion_map, truth, true_map, mask),
            compare("subalign average", average / "particles.star", average / "map.mrc",
                    truth, true_map, mask),
            compare("true poses", simulation / "particles.star", work / "truepose" / "map.mrc",
                    truth, true_map, mask)]
    if shutil.which("relion_reconstruct"):
        rows.append(compare("true poses, relion_reconstruct", simulation / "particles.star",
                            relion_true_poses(simulation, relion_dir), truth, true_map, mask))
    rows[0].update(cpu=relion_time["cpu"], wall=relion_time["wall"], own=relion_own)
    rows[1].update(cpu=subalign_time["cpu"], wall=subalign_time["wall"],
                   own=_subalign_own(average))
    for row in rows[2:]:
        row.update(cpu=float("nan"), wall=float("nan"), own="")
    print_table(seed, rows)


def _subalign_own(average: Path) -> str:
    """The final round's FSC-0.143 resolution as ``summary.json`` reports it (corrected for
    the mask) and the masked one (its ``round.json``)."""
    summary = json.loads((average / "summary.json").read_text())
    record = json.loads((average / f"round_{summary['final_round']:03d}" / "round.json")
                        .read_text())
    return (f"{summary['resolution']['0.143']:.1f} A corrected, "
            f"{record['resolution_masked']['0.143']:.1f} A masked (round "
            f"{summary['final_round']} of {summary['rounds']})")


def print_table(seed: int, rows: list[dict]) -> None:
    table = pd.DataFrame({
        "": [r["name"] for r in rows],
        "median error (common frame)": [f"{r['median']:.2f} deg" for r in rows],
        f"> {GROSS_ERROR_DEG:g} deg": [
            f"{r['gross']} of {r['n']}" + (f" ({', '.join(f'{a:.0f}' for a in r['gross_list'])})"
                                           if r["gross_list"] else "") for r in rows],
        "identity frame: median, > 20": [f"{r['median_identity']:.2f} deg, {r['gross_identity']}"
                                        for r in rows],
        "frame": [f"{r['frame_deg']:.2f} deg, {r['frame_vox']:.2f} vox" for r in rows],
        "shift": [f"{r['shift']:.2f} vox" for r in rows],
        "vs truth FSC 0.5 / 0.143": [f"{r['fsc05']:.1f} / {r['fsc0143']:.1f} A" for r in rows],
        f"mean FSC {START_ANGSTROM:g}-{2 * PIXEL:g} A": [f"{r['mean_fsc']:.3f}" for r in rows],
        "(unmoved)": [f"{r['fsc05_raw']:.1f} / {r['fsc0143_raw']:.1f} A" for r in rows],
        "CPU s": [f"{r['cpu']:.0f}" for r in rows],
        "wall s": [f"{r['wall']:.0f}" for r in rows],
        "own FSC 0.143": [r["own"] for r in rows],
    })
    print(f"\nseed {seed}:")
    print(table.to_string(index=False))
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7301])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--structure", default="4v4r_30S.pdb.gz")
    parser.add_argument("--work", type=Path, default=Path("/tmp/relion_side_by_side"))
    parser.add_argument("--reuse", action="store_true",
                        help="keep a seed's finished runs (timings.json) and only reprint")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing; report what the seeds' directories hold (RELION: "
                             "its last finished iteration when it did not converge)")
    args = parser.parse_args()
    relion = relion_executable()
    if relion is None:
        print("skipped: RELION is not installed (neither relion_refine_mpi nor relion_refine "
              "is on PATH)")
        return
    print(f"{args.n} particles of {args.structure}, {SIZE}^3 at {PIXEL:g} A, "
          f"+-{TILT[1]:g} deg, SNR {SNR:g}; start: the true map low-passed to "
          f"{START_ANGSTROM:g} A; RELION: {' '.join([*relion, *RELION_COMMAND])}; "
          f"niceness {os.nice(0)}; work in {args.work}")
    for seed in args.seeds:
        run_seed(seed, args, relion)


if __name__ == "__main__":
    main()
