"""The experiment machinery: averaging, FSC, ARI and resumable records against known
answers, and a quick variant of every experiment run through the CLI and the report."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from subalign.workflows.averaging import wedge_compensated_average
from subalign.workflows.fsc import fsc, resolution_at
from subalign.simulation.density import phantom
from subalign.experiments.classification import adjusted_rand_index, cluster
from subalign.experiments.pairs import steps_to_optimum
from subalign.execution.store import RowLog
from subalign.experiments.records import median_mad
from subalign.numerics.fourier import forward, inverse
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange, wedge_mask

SUBALIGN = Path(sys.executable).parent / "subalign"
N = 32


def correlation(a, b) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_adjusted_rand_index_known_values():
    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 2, 2]) == pytest.approx(1.0)
    truth = [0, 0, 0, 1, 1, 1]
    found = [0, 0, 1, 1, 2, 2]
    # Contingency [[2, 1, 0], [0, 1, 2]]: 2 pairs together in both; 6 together in truth,
    # 3 in found, 15 pairs in all.
    expected = (2 - 6 * 3 / 15) / ((6 + 3) / 2 - 6 * 3 / 15)
    assert adjusted_rand_index(truth, found) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    chance = [adjusted_rand_index(rng.integers(0, 4, 80), rng.integers(0, 4, 80))
              for _ in range(20)]
    assert abs(np.mean(chance)) < 0.05


def test_cluster_separates_blocks():
    labels = np.repeat([0, 1, 2], 4)
    rng = np.random.default_rng(1)
    matrix = 1.0 + 0.1 * rng.random((12, 12))
    matrix[labels[:, None] == labels[None, :]] = 0.3
    matrix = (matrix + matrix.T) / 2
    np.fill_diagonal(matrix, 0)
    assert adjusted_rand_index(labels, cluster(matrix, 3)) == pytest.approx(1.0)


def test_fsc_of_a_volume_with_itself_is_one_and_with_noise_falls():
    volume = phantom(N)
    frequency, same = fsc(volume, volume)
    assert np.allclose(same[same != 0], 1.0)
    noisy = volume + np.random.default_rng(2).standard_normal(volume.shape) * 0.05
    _, curve = fsc(volume, noisy)
    assert curve[1] > 0.99 and curve[-1] < 0.5
    assert frequency[0] == pytest.approx(0.5 / N)


def test_resolution_at_interpolates_the_crossing():
    frequency = (np.arange(16) + 0.5) / 32
    curve = np.clip(1.0 - frequency / 0.4, 0, 1)  # crosses 0.5 at f = 0.2
    assert resolution_at(frequency, curve, 0.5, voxel_size=1.0) == pytest.approx(5.0, rel=1e-6)
    assert resolution_at(frequency, np.ones(16), 0.5) == 2.0  # never below: Nyquist
    assert math.isinf(resolution_at(frequency, np.r_[1.0, np.zeros(15)], 0.5))


def test_wedge_compensated_average_fills_the_wedge_from_rotated_copies():
    """Copies of the phantom seen at several orientations, each missing a +-60 wedge in its
    own frame: brought back to the phantom's frame and averaged with compensation, they
    recover it far better than any single copy, and better than a plain average."""
    density = phantom(N)
    tilt = TiltRange(-60.0, 60.0)
    mask = wedge_mask((N,) * 3, tilt)
    volumes, transforms = [], []
    for rotation in Rotation.random(8, random_state=3).as_matrix():
        pose = RigidTransform(rotation, np.zeros(3))
        posed = transform_volume(density, pose)
        volumes.append(inverse(forward(posed) * mask, (N,) * 3))
        transforms.append(pose.inverse())
    average = wedge_compensated_average(volumes, transforms, [tilt] * len(volumes))
    single = transform_volume(volumes[0], transforms[0])
    plain = np.mean([transform_volume(v, t) for v, t in zip(volumes, transforms)], axis=0)
    assert correlation(average, density) > 0.97
    assert correlation(average, density) > correlation(plain, density) > correlation(single,
                                                                                     density)


def test_steps_to_optimum_counts_to_99_percent_of_the_improvement():
    trace = [10.0, 9.0, 5.0, 1.05, 1.01, 1.0]
    assert steps_to_optimum(trace) == 4  # 1.05 <= 1 + 0.01 * 9
    assert steps_to_optimum([2.0]) == 1 and steps_to_optimum([]) == 0


def test_median_mad():
    assert median_mad([1, 2, 3, 4, 100]) == (3.0, 1.0)


def test_row_log_resumes_and_drops_a_torn_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    log = RowLog(path)
    log.add({"index": 0, "value": 1.5})
    log.add({"index": 2, "value": 2.5})
    with open(path, "a") as handle:
        handle.write('{"index": 3, "val')  # interrupted mid-line
    torn = path.read_text()
    again = RowLog(path)
    assert sorted(again.rows) == [0, 2] and again.done(2) and not again.done(3)
    assert [r["value"] for r in again.ordered()] == [1.5, 2.5]
    assert path.read_text() == torn  # reading leaves the file alone
    again.add({"index": 3, "value": 3.5})
    assert [json.loads(line)["index"] for line in path.read_text().splitlines()] == [0, 2, 3]


# --- quick variants of every experiment, through the CLI ------------------------------------

def _complex_atoms(rng: np.random.Generator) -> np.ndarray:
    """Carbon positions (Angstrom) of a made-up asymmetric complex: four lumps of atoms at
    random places (within 45 A of the origin), of different widths and sizes."""
    lumps = []
    for _ in range(4):
        centre = rng.uniform(-45, 45, 3)
        lumps.append(centre + rng.normal(0, rng.uniform(6, 12), (int(rng.integers(300, 900)), 3)))
    return np.concatenate(lumps)


@pytest.fixture(scope="module")
def structures(tmp_path_factory) -> Path:
    """Four PDB files of made-up complexes (the shared structures are not needed for CI)."""
    directory = tmp_path_factory.mktemp("structures")
    rng = np.random.default_rng(4)
    for name in ("a", "b", "c", "d"):
        lines = [f"ATOM  {i + 1:5d}  CA  ALA A{(i % 9999) + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}"
                 "  1.00  0.00           C"
                 for i, (x, y, z) in enumerate(_complex_atoms(rng))]
        (directory / f"{name}.pdb").write_text("\n".join(lines) + "\nEND\n")
    return directory


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBALIGN_")}
    done = subprocess.run([str(SUBALIGN), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def results(directory: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(directory.rglob("result.json"))]


def rows(directory: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(directory.rglob("rows.jsonl"))
            for line in p.read_text().splitlines()]


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory, structures) -> Path:
    """Every experiment at CI size, noise-free where a ground-truth check needs it."""
    root = tmp_path_factory.mktemp("experiments")
    sweeps = {
        "table1_2": ["experiment=table1_2", "n_pairs=2", "snr=inf,0.5", "tilt=60",
                     "sampler.interval_deg=60", "score=rcs"],
        "table3_4": ["experiment=table3_4", "n_pairs=2", "snr=inf", "tilt=90,60",
                     "sampler.interval_deg=60", "score=fcs"],
        "convergence": ["experiment=convergence", "n_pairs=2", "score=rcs"],
        "speedup": ["experiment=speedup", "n_pairs=1", "sampler.interval_deg=60", "score=rcs"],
        "averaging": ["experiment=averaging", "snr=inf", "averaging.n=6",
                      "averaging.iterations=2", "workers=2"],
        "classification": ["experiment=classification", "snr=inf", "classification.per_class=2",
                           f"classification.structures_dir={structures}",
                           "classification.structures=[a.pdb,b.pdb,c.pdb,d.pdb]",
                           "workers=2"],
        "baseline": ["experiment=baseline", "n_pairs=1", "method=stochastic60,scan10",
                     "sampler.interval_deg=45"],
    }
    for name, overrides in sweeps.items():
        run_cli(root, "experiment", "-m", *overrides, f"hydra.sweep.dir=runs/{name}")
    run_cli(root, "report", "runs", "--output", "report/report.md")
    return root


@pytest.mark.slow  # the quick_runs experiments: 1-2 min together
def test_table1_2_quick_noise_free_cell_is_accurate(quick_runs):
    jobs = results(quick_runs / "runs/table1_2")
    assert sorted(j["cell"]["snr"] for j in jobs) == [0.5, math.inf]
    noise_free = next(j for j in jobs if math.isinf(j["cell"]["snr"]))
    assert noise_free["n_pairs"] == 2 and noise_free["summary"]["rotation_error_deg"][0] < 1.0


@pytest.mark.slow  # the quick_runs experiments: 1-2 min together
def test_table3_4_quick_is_axis_constrained_and_accurate(quick_runs):
    jobs = results(quick_runs / "runs/table3_4")
    assert {j["cell"]["constraint"] for j in jobs} == {"axis"}
    assert all(j["summary"]["rotation_error_deg"][0] < 1.0 for j in jobs)
    assert all(r["n_candidates"] == 6 for r in rows(quick_runs / "runs/table3_4"))


@pytest.mark.slow  # the quick_runs experiments: 1-2 min together
def test_convergence_quick_records_every_step(quick_runs):
    for row in rows(quick_runs / "runs/convergence"):
        record = np.asarray(row["trace"]["record"][:row["search_steps"]])
        assert len(record) == row["search_steps"] > 0
        assert np.all(np.diff(record) <= 1e-12)  # a record minimum never rises
        assert row["trace"]["rotation_error_deg"][-1] == pytest.approx(
            row["rotation_error_deg"], abs=1e-6)


@pytest.mark.slow  # the quick_runs experiments: 1-2 min together
def test_speedup_quick_compares_against_independent(quick_runs):
    (row,) = rows(quick_runs / "runs/speedup")
    assert row["baseline"]["search_steps"] > row["search_steps"] > row["search_steps_to_optimum"]
    assert row["speedup"] > 1


@pytest.mark.slow  # the quick_runs experiments: 1-2 min together
def test_averaging_quick_reaches_the_perfect_alignment_fsc(quick_runs):
    (job,) = results(quick_runs / "runs/averaging")
    rounds, perfect = job["summary"]["rounds"], job["summary"]["perfect_alignment"]
    assert len(rounds) == 2 and rounds[-1]["rotation_error_deg"][0] < 1.0
    assert rounds[-1]["resolution_nm_fsc_0.5"] <= 1.1 * perfect["resolution_nm_fsc_0.5"]


@pytest.mark.slow  # the quick_runs experiments: 1-2 min together
def test_classification_quick_separates_the_complexes(quick_runs):
    (job,) = results(quick_runs / "runs/classification")
    assert job["n_pairs"] == 28
    assert job["summary"]["adjusted_rand_index"]["after"] == pytest.approx(1.0)
    assert len(job["summary"]["class_averages"]) == 4


@pytest.mark.slow  # the quick_runs experiments: 1-2 min together
def test_baseline_quick_has_both_methods(quick_runs):
    refiners = {j["cell"]["refiner"] for j in results(quick_runs / "runs/baseline")}
    assert refiners == {"exhaustive_scan", "stochastic_parallel"}


@pytest.mark.slow  # the quick_runs experiments: 1-2 min together
def test_report_has_every_section_and_figure(quick_runs):
    report = (quick_runs / "report/report.md").read_text()
    for name in ("table1_2", "table3_4", "convergence", "speedup", "averaging",
                 "classification", "baseline"):
        assert f"## {name}" in report
    assert "3.7 ± 2.4" in report  # the paper's RCS value beside our SNR 0.5, +-60 cell
    for figure in ("convergence.png", "speedup.png", "averaging_fsc_0.png",
                   "averaging_slices_0.png", "classification_matrices_0.png",
                   "classification_averages_0.png"):
        assert (quick_runs / "report/figures" / figure).read_bytes()[:4] == b"\x89PNG"
