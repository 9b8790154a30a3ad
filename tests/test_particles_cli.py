"""Particle sets through the console script: simulate's ground-truth tables, convert, show and
aligned, run as subprocesses from a scratch directory (like tests/test_cli.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from subalign.io.formats import read_particles
from subalign.io.mrc import read_volume, write_volume
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange
from subalign.simulation.simulate import load_density, simulation_config

SUBALIGN = Path(sys.executable).parent / "subalign"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBALIGN_")}
    return subprocess.run([str(SUBALIGN), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """``subalign simulate n=4 imaging.snr=inf`` in a scratch directory, and its true poses."""
    directory = tmp_path_factory.mktemp("cli")
    done = run(directory, "simulate", "n=4", "imaging.snr=inf", "seed=5", "output_dir=sim")
    assert done.returncode == 0, done.stderr
    record = json.loads((directory / "sim/simulation.json").read_text())
    poses = [RigidTransform.from_record(p["pose"]) for p in record["particles"]]
    return directory, poses


def test_simulate_writes_its_truth_as_relion5_and_dynamo_sets(simulated):
    directory, poses = simulated
    sim = directory / "sim"
    relion = read_particles(sim / "particles.star", tomograms=sim / "wedges.csv")
    dynamo = read_particles(sim / "particles.tbl", subtomograms=sim / "dynamo")
    for particles in (relion, dynamo):
        assert len(particles) == 4 and particles.pixel_size == pytest.approx(10.0)
        np.testing.assert_allclose(particles.rotations, [p.rotation for p in poses], atol=1e-9)
        np.testing.assert_allclose(particles.shifts, [p.translation for p in poses], atol=1e-9)
        assert particles.tilt_ranges() == [TiltRange(-60.0, 60.0)] * 4
        with SubtomogramReader(particles) as reader:
            for i in range(4):
                expected = read_volume(sim / f"subtomograms/particle_{i:06d}.mrc").data
                np.testing.assert_array_equal(reader(i).volume, expected)
    assert list(relion.fields["half_set"]) == [1, 2, 1, 2]
    assert sorted(p.name for p in (sim / "dynamo").iterdir()) == [f"particle_0000{i}.mrc" for i in range(1, 5)]


def test_convert_then_show_a_set(simulated):
    directory, poses = simulated
    done = run(directory, "convert", "sim/particles.star", "out/particles.em",
               "--write-subtomograms", "out/particle")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote 4 particles: sim/particles.star (relion5) -> out/particles.em (em)"
    converted = read_particles(directory / "out/particles.em", pixel_size=10.0,
                               subtomograms=directory / "out/particle")
    assert np.abs(converted.rotations - np.stack([p.rotation for p in poses])).max() < 1e-6
    shown = run(directory, "show", "out/particles.em", "--pixel-size", "10",
                "--tomograms", "sim/wedges.csv")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "4 particles in out/particles.em (em)"
    assert lines[1] == "pixel size: 10 A; box: unknown"
    assert lines[2] == "tomograms (1): 1: 4"
    assert lines[3] == "wedges: -60..60 y: 4"
    assert lines[5].startswith("poses: ZYZ theta quartiles ")
    lengths = np.linalg.norm([p.translation for p in poses], axis=1)
    assert lines[6].startswith(f"shifts: median {np.median(lengths):.3g} voxels, largest {lengths.max():.3g} voxels")


def test_aligned_particle_is_the_inverse_pose_applied(simulated):
    directory, poses = simulated
    done = run(directory, "aligned", "p2.mrc", "--particles", "sim/particles.star", "--index", "2")
    assert done.returncode == 0, done.stderr
    written = read_volume(directory / "p2.mrc")
    particle = read_volume(directory / "sim/subtomograms/particle_000001.mrc").data
    expected = transform_volume(particle, poses[1].inverse())
    np.testing.assert_allclose(written.data, expected, atol=1e-5)
    assert written.voxel_size == pytest.approx(10.0)
    density = load_density(simulation_config({"seed": 5}))
    before = np.corrcoef(particle.ravel(), density.ravel())[0, 1]
    after = np.corrcoef(written.data.ravel(), density.ravel())[0, 1]
    assert after > 0.6 and after > before + 0.3  # CTF and wedge keep it below 1


def test_aligned_alignment_result_applies_tau_a_lambda_r_to_moving(tmp_path):
    rng = np.random.default_rng(30)
    moving = rng.normal(size=(16, 16, 16))
    write_volume(tmp_path / "b.mrc", moving, voxel_size=4.0)
    truth = RigidTransform.from_euler_zyz([30.0, 50.0, -20.0], [1.0, -0.5, 2.0])
    (tmp_path / "alignment.json").write_text(json.dumps(truth.to_record()))
    done = run(tmp_path, "aligned", "out.mrc", "--alignment", "alignment.json", "--moving", "b.mrc")
    assert done.returncode == 0, done.stderr
    written = read_volume(tmp_path / "out.mrc")
    np.testing.assert_allclose(written.data, transform_volume(moving.astype(np.float32), truth), atol=1e-5)
    assert written.voxel_size == pytest.approx(4.0)


@pytest.mark.parametrize("args, message", [
    (("show", "missing.star"), "subalign: error: missing.star: no such file (expected a particle STAR file)"),
    (("aligned", "x.mrc"), "subalign: error: aligned: expected either --particles SET --index I or "
                           "--alignment alignment.json --moving volume.mrc"),
    (("convert", "a.star", "b.txt"), "subalign: error: a.star: no such file (expected a particle STAR file)"),
])
def test_particle_command_errors_are_one_line_with_exit_code_2(tmp_path, args, message):
    done = run(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [message]
