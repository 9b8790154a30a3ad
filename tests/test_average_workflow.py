"""subalign average: map operations, half sets, pose errors against a known frame, and
refinement runs on simulated sets checked against their true poses and true-pose maps;
resuming after an interruption gives the same maps; bad inputs are one-line errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from batch_support import perturbed, simulate
from refine_support import QUICK, keep_log_handlers  # noqa: F401 (autouse fixture)
from subalign.cli.compose import compose_config
from subalign.cli.dispatch import main
from subalign.errors import ConfigError
from subalign.execution.arraylog import ArrayLog
from subalign.io.formats import read_particles
from subalign.io.mrc import read_volume, write_volume
from subalign.io.particles import ParticleTableError
from subalign.numerics.fourier import forward, fourier_grid
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange
from subalign.workflows.averaging import WedgeAccumulator, wedge_compensated_average
from subalign.workflows.fsc import fsc, read_fsc_table, resolution_at
from subalign.workflows.postprocess import fsc_curves
from subalign.workflows.maps import (lowpass, parse_symmetry, soft_sphere_mask, symmetrize,
                                     symmetry_rotations)
from subalign.workflows.rounds.average import final_round, run_average
from subalign.workflows.rounds.loop import assign_half_sets
from subalign.workflows.rounds.truth import pose_errors
from subalign.workflows.batch.worker import FIELDS

SUBALIGN = Path(sys.executable).parent / "subalign"


def _config(*overrides: str):
    return compose_config("average", [*QUICK, *overrides])


@pytest.fixture(scope="module")
def sim16(tmp_path_factory):
    """12 particles of the paper phantom, 16^3, SNR 2, +-60 degrees, with the true map."""
    return simulate(tmp_path_factory.mktemp("sim16"), "n=12", "size=16", "seed=5",
                    "max_translation_voxels=1", "imaging.snr=2")


@pytest.fixture(scope="module")
def other3(tmp_path_factory):
    """3 particles of another simulation: a truth set of the wrong length."""
    return simulate(tmp_path_factory.mktemp("other3"), "n=3", "size=16",
                    "max_translation_voxels=1")


def _inputs(sim: Path) -> list[str]:
    return [f"particles={sim / 'particles.star'}", f"tomograms={sim / 'wedges.csv'}"]


# --- maps -----------------------------------------------------------------------------

def test_soft_sphere_is_one_inside_zero_outside_and_half_at_mid_edge():
    mask = soft_sphere_mask(32, radius=8.0, edge=4.0)
    centre = 16
    assert mask[centre, centre, centre] == 1.0 and mask[centre, centre, centre + 8] == 1.0
    assert mask[centre, centre, centre + 10] == pytest.approx(0.5)
    assert mask[centre, centre, centre + 12] == 0.0 and mask[0, 0, 0] == 0.0
    assert np.all(np.diff(mask[centre, centre, centre:]) <= 0)


def test_lowpass_keeps_shells_below_the_cutoff_and_removes_those_above():
    noise = np.random.default_rng(0).standard_normal((32, 32, 32))
    filtered = lowpass(noise, 0.25)
    frequency, correlation = fsc(noise, filtered)
    spectrum = np.abs(forward(filtered))
    grid = fourier_grid(noise.shape)
    radius = np.sqrt(grid.fx ** 2 + grid.fy ** 2 + grid.fz ** 2)
    assert np.all(correlation[frequency < 0.25 - 1 / 32] > 0.999)
    assert spectrum[radius > 0.25 + 1 / 32].max() < 1e-9
    assert np.array_equal(lowpass(noise, 0.5), noise)  # at Nyquist: nothing to remove


def test_symmetrize_makes_a_map_invariant_under_its_cn_rotations():
    volume = np.zeros((24, 24, 24))
    volume[12, 12, 16] = volume[14, 15, 12] = 1.0
    from scipy.ndimage import gaussian_filter
    volume = gaussian_filter(volume, 1.5)
    symmetric = symmetrize(volume, 4)
    quarter = transform_volume(symmetric, RigidTransform(symmetry_rotations(4)[1], np.zeros(3)))
    assert np.abs(quarter - symmetric).max() < 0.02 * symmetric.max()
    assert np.abs(transform_volume(volume, RigidTransform(symmetry_rotations(4)[1], np.zeros(3)))
                  - volume).max() > 0.5 * volume.max()  # the input was not
    assert np.array_equal(symmetrize(volume, 1), volume)
    rotations = symmetry_rotations(7)
    assert np.allclose(np.linalg.matrix_power(rotations[1], 7), np.eye(3))


@pytest.mark.parametrize("text", ["D0", "c0", "X5", "7", "I5"])
def test_only_relion_point_groups_are_accepted(text):
    with pytest.raises(ConfigError, match=r"symmetry: expected C<n>, D<n>, T, O or I<1-4>"):
        parse_symmetry(text)
    assert parse_symmetry("C7") == parse_symmetry("c7") and parse_symmetry("c7").order == 7


def test_wedge_accumulators_merge_into_the_average_of_all():
    rng = np.random.default_rng(1)
    volumes = [rng.standard_normal((16, 16, 16)) for _ in range(4)]
    poses = [RigidTransform(Rotation.random(random_state=k).as_matrix(), rng.normal(size=3))
             for k in range(4)]
    tilts = [TiltRange(-60, 60), TiltRange(-45, 50), TiltRange(-60, 60), TiltRange(-30, 60)]
    first, second = WedgeAccumulator(16), WedgeAccumulator(16)
    for k in range(4):
        (first if k % 2 else second).add(volumes[k], poses[k], tilts[k])
    together = wedge_compensated_average(volumes, poses, tilts)
    assert np.allclose(first.merged(second).average(), together, atol=1e-12)
    assert first.merged(second).count == 4 and first.count == 2


def test_half_sets_come_from_the_file_or_a_seeded_balanced_split():
    given = np.array([1, 2, 2, 1, 1])
    assert assign_half_sets(given, 0) == (pytest.approx(given), False)
    for partial in (np.zeros(7, dtype=int), np.array([1, 1, 1, 0, 2, 2, 2]), np.ones(7, int)):
        halves, assigned = assign_half_sets(partial, 3)
        assert assigned and sorted(np.bincount(halves)[1:]) == [3, 4]
        assert np.array_equal(halves, assign_half_sets(partial, 3)[0])
    assert not np.array_equal(assign_half_sets(np.zeros(40, int), 3)[0],
                              assign_half_sets(np.zeros(40, int), 4)[0])


# --- errors against the truth ---------------------------------------------------------

def test_pose_errors_are_measured_in_the_common_frame_and_up_to_symmetry():
    rng = np.random.default_rng(2)
    n = 60
    truth = Rotation.random(n, random_state=3).as_matrix()
    truth_shifts = rng.uniform(-2, 2, (n, 3))
    frame = RigidTransform(Rotation.from_rotvec([0.3, -1.1, 0.4]).as_matrix(), [1.0, -0.5, 0.2])
    noise = Rotation.from_rotvec(rng.normal(size=(n, 3)) * np.radians(2.0) / np.sqrt(3)).as_matrix()
    copies = symmetry_rotations(3)[rng.integers(0, 3, n)]
    found = noise @ truth @ frame.rotation @ copies
    found_shifts = truth_shifts + truth @ frame.translation + rng.normal(size=(n, 3)) * 0.1
    found[:5] = Rotation.random(5, random_state=9).as_matrix()  # five gross failures
    errors = pose_errors(found, found_shifts, truth, truth_shifts, symmetry=3)
    assert 1.0 < errors["median_rotation_error_deg"] < 3.0
    assert errors["median_shift_error_voxels"] < 0.3
    copies_deg = [np.degrees(Rotation.from_matrix(frame.rotation @ c).magnitude())
                  for c in symmetry_rotations(3)]  # the frame is known up to the symmetry
    assert min(abs(errors["frame_rotation_deg"] - a) for a in copies_deg) < 1.0
    assert errors["gross_failures"] >= 4
    ignored = pose_errors(found, found_shifts, truth, truth_shifts, symmetry=1)
    assert ignored["median_rotation_error_deg"] > 30  # the C3 copies are errors without symmetry


# --- runs -----------------------------------------------------------------------------

def _resolution(run_dir: Path, number: int) -> float:
    return json.loads((run_dir / f"round_{number:03d}" / "round.json").read_text())[
        "resolution"]["0.143"]


# refinement rounds end to end on 16^3 boxes: 1-5 s (2026-12-06)
def test_local_refinement_from_perturbed_poses_recovers_the_true_poses(tmp_path):
    sim = simulate(tmp_path / "sim", "n=24", "size=16", "seed=11", "max_translation_voxels=1",
                   "imaging.snr=inf")
    before = perturbed(sim / "particles.star", tmp_path / "start.star", 8.0, 0.7)
    run = run_average(_config(f"particles={tmp_path / 'start.star'}",
                              f"tomograms={sim / 'wedges.csv'}", "start=poses", "rounds=1",
                              f"truth={sim / 'particles.star'}", f"output_dir={tmp_path / 'run'}"),
                      inline=True)
    rounds = [json.loads((tmp_path / "run" / f"round_{k:03d}" / "round.json").read_text())
              for k in range(2)]
    # the common frame fitted to the particles absorbs a little of the random perturbations
    assert rounds[0]["truth"]["median_rotation_error_deg"] > 0.75 * np.median(before)
    final = rounds[1]["truth"]
    assert final["median_rotation_error_deg"] < 0.4 * np.median(before)
    assert final["median_shift_error_voxels"] < 0.3 and final["gross_failures"] == 0
    assert rounds[1]["search"] == "local" and rounds[1]["local"]["cone_deg"] >= 6.0
    assert rounds[1]["moved"] > 12  # most particles turned by more than MOVED_DEG
    written = read_particles(tmp_path / "run" / "particles.star")  # the best round's set
    assert np.array_equal(written.fields["half_set"], 1 + np.arange(24) % 2)
    assert np.allclose(written.rotations, np.load(tmp_path / "run" / "round_001" / "state.npz")[
        "rotations"], atol=1e-6)
    assert run.summary["final_round"] == 1 and run.summary["ran"] == 2


@pytest.mark.slow
def test_refinement_from_a_lowpassed_true_map_reaches_the_true_pose_resolution(tmp_path):
    """24^3 at SNR 0.3: the true poses give 29.5 A, below the 20 A Nyquist limit, so rounds
    can be told apart. From the true map low-passed to 40 A, the refinement reaches the
    true-pose resolution, and no round's pose error grows by more than the 0.5 deg a round
    of local searches moves a particle by chance (measured 3.26, 2.10, 2.37 deg with the
    default search; 0 beyond 20 deg)."""
    sim = simulate(tmp_path / "sim", "n=24", "size=24", "seed=11", "imaging.snr=0.3",
                   "max_translation_voxels=1.5")
    truth = run_average(_config(*_inputs(sim), "start=poses", "rounds=0",
                                f"output_dir={tmp_path / 'truth'}"), inline=True)
    assert truth.summary["resolution"]["0.143"] > 25.0  # not at the Nyquist cap
    reached = run_average(_config(*_inputs(sim), f"reference={sim / 'reference.mrc'}",
                                  "initial_lowpass_angstrom=40", "rounds=3", "min_improvement=0",
                                  f"truth={sim / 'particles.star'}",
                                  f"output_dir={tmp_path / 'refined'}"), inline=True)
    assert reached.summary["resolution"]["0.143"] <= 1.05 * truth.summary["resolution"]["0.143"]
    rounds = [json.loads((tmp_path / "refined" / f"round_{k:03d}" / "round.json").read_text())
              for k in range(1, reached.summary["rounds"] + 1)]
    errors = [r["truth"]["median_rotation_error_deg"] for r in rounds]
    assert len(errors) >= 2 and errors[-1] < 5.0, errors
    assert all(later <= earlier + 0.5 for earlier, later in zip(errors, errors[1:])), errors
    assert all(r["truth"]["gross_failures"] == 0 for r in rounds)
    assert rounds[0]["search"] == "global" and rounds[1]["search"] == "local"


@pytest.mark.slow
def test_without_a_reference_the_particles_aligned_to_one_give_the_structure(tmp_path):
    # 32^3: particle-to-particle searches between two wedged 16^3 phantoms mostly fail
    sim = simulate(tmp_path / "sim", "n=6", "size=32", "seed=8", "imaging.snr=inf")
    run = run_average(_config(*_inputs(sim), "rounds=1", "initial_lowpass_angstrom=30",
                              f"truth={sim / 'particles.star'}", f"output_dir={tmp_path / 'run'}"),
                      inline=True)
    assert run.summary["start"] == "particle"
    start = json.loads((tmp_path / "run" / "round_000" / "round.json").read_text())
    assert start["independent"] is False and start["search"] == "global"
    final = json.loads((tmp_path / "run" / "round_001" / "round.json").read_text())
    # the cheap global search (QUICK: 4 candidates) may flip one or two of the six
    assert final["truth"]["median_rotation_error_deg"] < 3 and final["truth"]["gross_failures"] <= 2
    assert final["truth"]["frame_rotation_deg"] > 10  # the frame is particle 0's, not the map's


def test_symmetry_and_a_user_mask_shape_the_maps_and_the_fsc(sim16, tmp_path):
    mask = soft_sphere_mask(16, 4.0, 2.0)
    write_volume(tmp_path / "mask.mrc", mask, voxel_size=10.0)
    run_average(_config(*_inputs(sim16), "start=poses", "rounds=0", "symmetry=C4",
                        f"mask.file={tmp_path / 'mask.mrc'}", "figures=true",
                        f"output_dir={tmp_path / 'run'}"), inline=True)
    round0 = tmp_path / "run" / "round_000"
    half1, half2 = (read_volume(round0 / f"half{h}.mrc").data.astype(float) for h in (1, 2))
    quarter = RigidTransform(symmetry_rotations(4)[1], np.zeros(3))
    inside = soft_sphere_mask(16, 7.0, 0.0) > 0  # a box's edge rows leave it when turned
    turned = transform_volume(half1, quarter)
    assert np.abs(turned - half1)[inside].max() < 0.05 * np.abs(half1).max()
    frequency, correlation = fsc(half1 * mask, half2 * mask)
    stored = read_fsc_table(round0 / "fsc.csv", 10.0)[1]  # corrected for the mask
    start = fsc_curves(half1, half2, mask).randomized_from
    assert start is not None and start + 2 < len(stored)
    np.testing.assert_allclose(stored[:start + 2], correlation[:start + 2], atol=1e-5)
    assert np.all(stored[start + 2:] <= correlation[start + 2:] + 1e-5)  # it only lowers
    record = json.loads((round0 / "round.json").read_text())
    assert record["resolution_masked"]["0.143"] == pytest.approx(
        resolution_at(frequency, correlation, 0.143, 10.0), rel=1e-3)
    assert _resolution(tmp_path / "run", 0) == pytest.approx(
        resolution_at(frequency, stored, 0.143, 10.0), rel=1e-3)
    report = (tmp_path / "run" / "report.md").read_text()
    for name in ("fsc_rounds.png", "round_000/slices.png"):
        assert f"({name})" in report and (tmp_path / "run" / name).is_file()
    assert read_volume(tmp_path / "run" / "map.mrc").voxel_size == pytest.approx(10.0)


def test_rerun_does_nothing_more_rounds_continue_and_other_settings_are_refused(sim16, tmp_path):
    args = [*_inputs(sim16), "start=poses", "local.keep=1", "refiner.n_max_iter=8", "rounds=0",
            f"output_dir={tmp_path / 'run'}"]
    assert run_average(_config(*args), inline=True).ran == 1
    assert run_average(_config(*args), inline=True).ran == 0
    with pytest.raises(ConfigError, match="job.json: holds a refinement made with symmetry="):
        run_average(_config(*args, "symmetry=C2"), inline=True)
    continued = run_average(_config(*args[:-2], "rounds=1", args[-1]), inline=True)
    assert continued.ran == 1 and continued.summary["rounds"] == 1
    assert (tmp_path / "run" / "round_001" / "round.json").is_file()


def _round_maps(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*.mrc"))}


@pytest.mark.slow  # refinement rounds end to end: 20-30 s
def test_a_run_interrupted_during_a_round_resumes_it_and_gives_the_same_maps(sim16, tmp_path,
                                                                             monkeypatch):
    perturbed(sim16 / "particles.star", tmp_path / "start.star", 6.0, 0.5)
    args = [f"particles={tmp_path / 'start.star'}", f"tomograms={sim16 / 'wedges.csv'}",
            "start=poses", "rounds=2", "min_improvement=0", "local.keep=1",
            "refiner.n_max_iter=8"]
    run_average(_config(*args, f"output_dir={tmp_path / 'whole'}"), inline=True)

    from subalign.workflows.batch import worker
    real, calls = worker.align_pair, []

    def failing(*a, **k):
        calls.append(1)
        if len(calls) == 12 + 3:  # round 1 done (12), two of round 2 committed, the third cut
            raise KeyboardInterrupt("killed")
        return real(*a, **k)

    monkeypatch.setattr(worker, "align_pair", failing)
    with pytest.raises(KeyboardInterrupt):
        run_average(_config(*args, f"output_dir={tmp_path / 'cut'}"), inline=True)
    assert (tmp_path / "cut" / "round_001" / "round.json").is_file()
    assert not (tmp_path / "cut" / "round_002" / "round.json").exists()
    calls.clear()
    monkeypatch.setattr(worker, "align_pair", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    resumed = run_average(_config(*args, f"output_dir={tmp_path / 'cut'}"), inline=True)
    assert len(calls) == 12 - 2 and resumed.ran == 1  # only round 2's missing alignments
    for h in (1, 2):
        store = ArrayLog(tmp_path / "cut" / "round_002" / f"align_half{h}.bin", FIELDS, 6)
        assert store.present.all() and store.duplicates == 0
    whole, cut = _round_maps(tmp_path / "whole"), _round_maps(tmp_path / "cut")
    assert whole.keys() == cut.keys() and all(whole[k] == cut[k] for k in whole)


@pytest.mark.slow
def test_sigkill_during_a_round_then_rerun_gives_the_maps_of_an_uninterrupted_run(sim16, tmp_path):
    perturbed(sim16 / "particles.star", tmp_path / "start.star", 6.0, 0.5)
    args = ["average", f"particles={tmp_path / 'start.star'}", f"tomograms={sim16 / 'wedges.csv'}",
            "start=poses", "rounds=2", "min_improvement=0", "local.keep=1", "refiner.n_max_iter=8",
            "executor.workers=1", *QUICK]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBALIGN_")}
    subprocess.run([str(SUBALIGN), *args, f"output_dir={tmp_path / 'whole'}"], check=True,
                   env=env, capture_output=True)
    kill = {**env, "PYTHONPATH": str(Path(__file__).parent / "kill_hook"),
            "SUBALIGN_TEST_KILL_AFTER": "1",
            "SUBALIGN_TEST_KILL_FILE": "round_002/align_half1.bin"}  # no timer: tests/kill_hook
    process = subprocess.Popen([str(SUBALIGN), *args, f"output_dir={tmp_path / 'cut'}"],
                               env=kill, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    assert process.wait(timeout=600) == -signal.SIGKILL
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its workers, if any are left
    assert ArrayLog(tmp_path / "cut" / "round_002" / "align_half1.bin", FIELDS, 6).present.sum() == 1
    assert not (tmp_path / "cut" / "round_002" / "round.json").exists()
    rerun = subprocess.run([str(SUBALIGN), *args, f"output_dir={tmp_path / 'cut'}"], env=env,
                           capture_output=True, text=True, check=True)
    assert "1 round(s) computed now" in rerun.stdout
    whole, cut = _round_maps(tmp_path / "whole"), _round_maps(tmp_path / "cut")
    assert whole.keys() == cut.keys() and all(whole[k] == cut[k] for k in whole)


@pytest.mark.parametrize("extra, message", [
    (["symmetry=D0"], "symmetry: expected C<n>, D<n>, T, O or I<1-4>, found 'D0'"),
    (["reference=missing.mrc"], "reference: expected an MRC map, found no file missing.mrc"),
    (["start=particle", "reference=REF"], "reference: expected null for start=particle"),
    (["start=reference"], "reference: expected an MRC map for start=reference, found null"),
    (["start=poses", "mask.radius_angstrom=90"], "mask.radius_angstrom: expected a sphere inside"),
    (["start=poses", "truth=TRUTH"], "expected the 12 particles of"),
    (["start=poses", "local.keep=0"], "local.keep: expected an integer >= 1, found 0"),
    (["start=particle", "start_particle=12"], "start_particle: expected an integer >= 0 and <= 11"),
    (["reference=SMALL"], "expected a (16, 16, 16) map like the particles' boxes, found (8, 8, 8)"),
    (["start=triangle"], "start: expected one of reference, particle, poses, found 'triangle'"),
])
def test_bad_inputs_are_one_line_errors_with_exit_code_2(sim16, other3, tmp_path, capsys, extra,
                                                        message):
    write_volume(tmp_path / "small.mrc", np.random.default_rng(0).random((8, 8, 8)), voxel_size=10)
    replace = {"REF": str(sim16 / "reference.mrc"), "SMALL": str(tmp_path / "small.mrc"),
               "TRUTH": str(other3 / "particles.star")}
    extra = [e.split("=")[0] + "=" + replace.get(e.split("=")[1], e.split("=")[1]) for e in extra]
    with pytest.raises(SystemExit) as exit_info:
        main(["average", *_inputs(sim16), *extra, f"output_dir={tmp_path / 'run'}"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and message in error, error
    assert not (tmp_path / "run").exists()


def test_a_particle_in_both_halves_is_refused_and_dedupe_drops_it(tmp_path):
    """The same file in half 1 and half 2 fools the gold standard: refused, naming both
    rows; with dedupe_angstrom the repeat (and a particle 4 A from another in the same
    tomogram) is dropped instead, and the set passes."""
    from subalign.io.particles import ParticleTableError
    from subalign.workflows.rounds.inputs import check_half_sets, drop_duplicates

    (tmp_path / "set.star").write_text(
        "data_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 10.0\n\n"
        "data_particles\n\nloop_\n_rlnTomoName #1\n_rlnCoordinateX #2\n_rlnCoordinateY #3\n"
        "_rlnCoordinateZ #4\n_rlnAngleRot #5\n_rlnAngleTilt #6\n_rlnAnglePsi #7\n"
        "_rlnImageName #8\n_rlnRandomSubset #9\n_rlnOpticsGroup #10\n"
        "TS 100 100 50 0 0 0 a.mrc 1 1\nTS 300 100 50 0 0 0 b.mrc 2 1\n"
        "TS 500 100 50 0 0 0 a.mrc 2 1\nTS 300.4 100 50 0 0 0 c.mrc 1 1\n")
    particles = read_particles(tmp_path / "set.star")
    with pytest.raises(ParticleTableError, match="row 3, column rlnRandomSubset: the particle of "
                                                 "row 1 again \\(same file\\), in the other half set"):
        check_half_sets(particles)
    kept, rows = drop_duplicates(particles, distance=5.0)
    assert kept.fields["subtomogram"].tolist() == ["a.mrc", "b.mrc"]
    assert rows.tolist() == [0, 1]
    check_half_sets(kept)


def test_a_duplicated_halves_set_is_refused_and_after_dedupe_gives_the_honest_resolution(
        sim16, tmp_path):
    """Six of the 12 particles listed again in the other half: ``average`` refuses the set;
    with ``dedupe_angstrom`` the repeats are dropped and the half maps, FSC and resolution
    are the honest set's, bit for bit."""
    lines = (sim16 / "particles.star").read_text().splitlines()
    rows = [line for line in lines if line.endswith("\t1\t1") or line.endswith("\t2\t1")]
    assert len(rows) == 12
    swapped = [row[:-3] + ("2" if row[-3] == "1" else "1") + row[-2:] for row in rows[:6]]
    (sim16 / "duplicated.star").write_text("\n".join(lines + swapped) + "\n")
    inputs = [f"tomograms={sim16 / 'wedges.csv'}", "start=poses", "rounds=0"]
    honest = run_average(_config(f"particles={sim16 / 'particles.star'}", *inputs,
                                 f"output_dir={tmp_path / 'honest'}"), inline=True)
    with pytest.raises(ParticleTableError, match="in the other half set"):
        run_average(_config(f"particles={sim16 / 'duplicated.star'}", *inputs,
                            f"output_dir={tmp_path / 'fooled'}"), inline=True)
    assert not (tmp_path / "fooled").exists()
    deduped = run_average(_config(f"particles={sim16 / 'duplicated.star'}", *inputs,
                                  "dedupe_angstrom=1", f"output_dir={tmp_path / 'deduped'}"),
                          inline=True)
    assert deduped.summary["resolution"] == honest.summary["resolution"]
    for half in ("half1.mrc", "half2.mrc"):
        np.testing.assert_array_equal(read_volume(tmp_path / "deduped" / half).data,
                                      read_volume(tmp_path / "honest" / half).data)


def test_fsc_weighting_scales_each_shell_by_its_wiener_gain():
    """A random map filtered by a falling FSC curve: each shell's power is multiplied by the
    gain squared (negative FSC: 0), the mean kept."""
    from subalign.workflows.fsc import fsc_weighted

    rng = np.random.default_rng(3)
    half = rng.normal(size=(16,) * 3)
    correlation = np.linspace(1.0, -0.2, 8)
    filtered = fsc_weighted(half, correlation)
    grid = fourier_grid(half.shape)
    shells = np.floor(grid.radius * 16).astype(int)
    before, after = np.abs(forward(half)) ** 2, np.abs(forward(filtered)) ** 2
    for shell in range(1, 8):
        inside = shells == shell
        gain = max(correlation[shell], 0.0)
        assert after[inside].sum() == pytest.approx(gain ** 2 * before[inside].sum(), abs=1e-9)
    assert filtered.mean() == pytest.approx(half.mean())


def test_fsc_filtered_references_and_the_final_post_processing(sim16, tmp_path):
    """reference_filter=fsc: round 1's references are round 0's half maps Wiener-filtered by
    its corrected FSC (then masked); the run ends by post-processing its final round."""
    from subalign.workflows.fsc import fsc_weighted

    run_average(_config(*_inputs(sim16), "start=poses", "rounds=1", "min_improvement=0",
                        "reference_filter=fsc", f"output_dir={tmp_path / 'run'}"), inline=True)
    round0, round1 = tmp_path / "run" / "round_000", tmp_path / "run" / "round_001"
    correlation = read_fsc_table(round0 / "fsc.csv", 10.0)[1]
    mask = soft_sphere_mask(16, 5.0, 3.0)  # the default: 0.4 N, the edge inside the box
    for h in (1, 2):
        expected = fsc_weighted(read_volume(round0 / f"half{h}.mrc").data, correlation) * mask
        np.testing.assert_allclose(read_volume(round1 / f"reference_half{h}.mrc").data,
                                   expected, atol=1e-5)
    post = json.loads((tmp_path / "run" / "postprocess" / "postprocess.json").read_text())
    assert post["round"] == 1 and post["resolution_angstrom"] >= 20.0  # Nyquist at 10 A/voxel


def test_a_mask_of_ones_masks_nothing_and_is_accepted(sim16, tmp_path):
    """A constant mask is a mask (of nothing), not a volume without contrast."""
    write_volume(tmp_path / "ones.mrc", np.ones((16,) * 3, np.float32), voxel_size=10.0)
    run = run_average(_config(*_inputs(sim16), "start=poses", "rounds=0",
                              f"mask.file={tmp_path / 'ones.mrc'}",
                              f"output_dir={tmp_path / 'run'}"), inline=True)
    assert run.summary["status"] == "complete"


def test_the_final_round_is_the_last_unless_it_lost_more_than_a_shell():
    """A 16-voxel box of 10 A (160 A): shell k lies at 160/k A. Rounds within one shell are
    noise to the FSC, and the last is kept; a last round more than a shell coarser than the
    finest gives way to the finest, and says so."""
    def record(number, angstrom, independent=True):
        return {"number": number, "resolution": {"0.143": angstrom}, "independent": independent}

    box = 160.0
    # shells 6.40, 5.82, 6.15: within one shell of the finest, so the last is kept
    assert final_round([record(0, 30.0), record(1, 25.0), record(2, 27.5), record(3, 26.0)],
                       box)[0]["number"] == 3
    # at the Nyquist cap every round ties: the last
    assert final_round([record(1, 20.0), record(2, 20.0), record(3, 20.0)], box)[0]["number"] == 3
    # shell 8 (20 A) against shell 5.33 (30 A): 2.7 shells lost, the finest is kept
    chosen, rule = final_round([record(1, 20.0), record(2, 30.0)], box)
    assert chosen["number"] == 1 and rule.startswith("round 1: the last round resolves 2.7")
    # maps that are not independent halves (round 0 from one reference) do not count
    assert final_round([record(0, 12.0, independent=False), record(1, 30.0)], box)[0]["number"] == 1
    assert final_round([{"number": 0}, {"number": 1}], box)[0]["number"] == 1  # none measured
