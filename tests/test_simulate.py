"""The simulator against ground truth: SNR calibration, fidelity, pair truth, seeds, files."""

import hashlib
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import subalign
from subalign.simulation.density import phantom
from subalign.errors import ConfigError
from subalign.numerics.fourier import forward, inverse
from subalign.numerics.geometry import RigidTransform, rotation_distance_deg
from subalign.io.formats import read_particles
from subalign.io.mrc import read_volume
from subalign.simulation.mixture import load_densities, particle_classes
from subalign.simulation.simulate import (
    check_fits,
    check_simulation,
    load_density,
    simulate_pair,
    simulate_particle,
    simulate_subtomogram,
    simulation_config,
)
from subalign.simulation.output import pair_indices, write_simulation
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange, wedge_mask

N = 32
DENSITY = phantom(N)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("snr", [1.0, 0.5, 0.1])
def test_measured_snr_matches_the_request(snr):
    """Rerun the chain noise-free for the same pose; the rest of the volume is noise."""
    config = simulation_config({"imaging": {"snr": snr}})
    particle = simulate_particle(config, DENSITY, 3)
    clean = simulate_particle(simulation_config({"imaging": {"snr": float("inf")}}), DENSITY, 3)
    noise = particle.subtomogram.volume - clean.subtomogram.volume
    assert clean.subtomogram.volume.var() / noise.var() == pytest.approx(snr, rel=0.05)


def test_noise_free_full_tilt_without_ctf_reproduces_the_map():
    config = simulation_config(
        {"imaging": {"tilt_range_deg": [-90, 90], "snr": float("inf"), "ctf": None}}
    )
    particle = simulate_particle(config, DENSITY, 0)
    truth = transform_volume(DENSITY, particle.pose)
    assert correlation(particle.subtomogram.volume, truth) > 0.95


def test_pair_truth_maps_moving_onto_fixed_without_wedge():
    config = simulation_config({"imaging": {"tilt_range_deg": [-90, 90], "snr": float("inf")}})
    pair = simulate_pair(config, DENSITY, 0)
    assert correlation(transform_volume(pair.moving, pair.truth), pair.fixed) > 0.95
    # The pair differs before the truth is applied, so the check can fail.
    assert correlation(pair.moving, pair.fixed) < 0.5


def test_pair_truth_maps_moving_onto_fixed_under_the_common_mask():
    tilt = TiltRange(-60.0, 60.0)
    config = simulation_config({"imaging": {"tilt_range_deg": [-60, 60], "snr": float("inf")}})
    pair = simulate_pair(config, DENSITY, 1)
    aligned = transform_volume(pair.moving, pair.truth)
    common = wedge_mask((N,) * 3, tilt) & wedge_mask((N,) * 3, tilt, pair.truth.rotation)

    def constrained(volume):
        return inverse(forward(volume) * common, (N,) * 3)

    assert correlation(constrained(aligned), constrained(pair.fixed)) > 0.9
    wrong = transform_volume(pair.moving, pair.truth.compose(
        RigidTransform.from_euler_zyz([30.0, 20.0, 0.0])))
    assert correlation(constrained(wrong), constrained(pair.fixed)) < 0.7


def test_same_seed_same_particle_other_seed_other_noise():
    config = simulation_config({"seed": 5})
    first = simulate_particle(config, DENSITY, 2).subtomogram
    again = simulate_particle(config, DENSITY, 2).subtomogram
    np.testing.assert_array_equal(first.volume, again.volume)
    other = simulate_particle(simulation_config({"seed": 6}), DENSITY, 2).subtomogram
    assert correlation(first.noise, other.noise) < 0.2


def test_noise_free_subtomogram_has_no_noise_and_does_not_draw():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    config = simulation_config({"imaging": {"snr": float("inf")}})
    result = simulate_subtomogram(DENSITY, RigidTransform.identity(), config.imaging, rng)
    assert rng.bit_generator.state == state
    assert result.noise is None and np.array_equal(result.volume, result.signal)


@pytest.mark.parametrize("override, field", [
    ({"imaging": {"snr": 0.0}}, "imaging.snr"),
    ({"density": {"source": "sketch"}}, "density.source"),
    ({"density": {"source": "map"}}, "density.path"),
    ({"density": {"blobs": [{"centre": [0, 0, 0]}]}}, "density.blobs"),
])
def test_bad_settings_name_the_field(override, field):
    config = simulation_config(override)
    with pytest.raises(ConfigError, match=field):
        simulate_particle(config, load_density(config), 0)


def test_pair_lists():
    assert pair_indices(5, "consecutive") == [(0, 1), (2, 3)]
    assert pair_indices(4, "all") == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    with pytest.raises(ConfigError, match="pairs"):
        pair_indices(4, "ring")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = tmp_path_factory.mktemp("simulation")
    config = simulation_config({"n": 4, "seed": 11})
    write_simulation(config, directory)
    return config, directory


def test_written_volumes_match_the_in_memory_particles(written):
    config, directory = written
    record = json.loads((directory / "simulation.json").read_text())
    assert record["status"] == "complete" and len(record["particles"]) == 4
    for index in (0, 3):
        volume = read_volume(directory / record["particles"][index]["file"])
        particle = simulate_particle(config, load_density(config), index)
        np.testing.assert_allclose(volume.data, particle.subtomogram.volume, rtol=1e-6, atol=1e-6)
        assert volume.voxel_size == pytest.approx(10.0)
        assert np.allclose(RigidTransform.from_record(record["particles"][index]["pose"]).rotation,
                           particle.pose.rotation)


def test_star_table_follows_relion_conventions(written):
    """RELION: A(rot, tilt, psi) = (Rz Ry Rz)^T rotates the reference onto the particle;
    the particle centre sits at the box centre minus the origin."""
    import starfile

    config, directory = written
    table = starfile.read(directory / "poses.star")
    record = json.loads((directory / "simulation.json").read_text())
    for row, particle in zip(table.itertuples(), record["particles"]):
        pose = RigidTransform.from_record(particle["pose"])
        angles = [row.rlnAngleRot, row.rlnAngleTilt, row.rlnAnglePsi]
        relion = Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix().T
        assert rotation_distance_deg(relion, pose.rotation) < 1e-4  # STAR keeps 6 decimals
        origin = np.array([row.rlnOriginXAngst, row.rlnOriginYAngst, row.rlnOriginZAngst])
        np.testing.assert_allclose(origin, -10.0 * pose.translation, atol=1e-4)
        assert row.rlnImageName == particle["file"]


def test_pair_list_truth_is_in_the_alignment_convention(written):
    config, directory = written
    pairs = json.loads((directory / "pairs.json").read_text())["pairs"]
    assert [(p["fixed"][-8:-4], p["moving"][-8:-4]) for p in pairs] == [("0000", "0001"),
                                                                        ("0002", "0003")]
    in_memory = simulate_pair(config, load_density(config), 1)
    truth = RigidTransform.from_record(pairs[1]["truth"])
    assert rotation_distance_deg(truth.rotation, in_memory.truth.rotation) < 1e-9
    np.testing.assert_allclose(truth.translation, in_memory.truth.translation, atol=1e-9)


def test_rerun_resumes_and_reproduces_the_same_bytes(written, tmp_path):
    config, directory = written
    copy = tmp_path / "copy"
    write_simulation(config, copy)
    for index in range(4):
        name = f"subtomograms/particle_{index:06d}.mrc"
        assert (copy / name).read_bytes() == (directory / name).read_bytes()
    (copy / "subtomograms/particle_000002.mrc").unlink()
    record = write_simulation(config, copy)
    assert record["made"] == 1
    assert ((copy / "subtomograms/particle_000002.mrc").read_bytes()
            == (directory / "subtomograms/particle_000002.mrc").read_bytes())


def test_a_different_config_is_refused_in_the_same_directory(written):
    config, directory = written
    with pytest.raises(ConfigError, match="simulation.json: holds a simulation made with "
                                          "seed=11, this command has seed=12; expected"):
        write_simulation(simulation_config({"n": 4, "seed": 12}), directory)


def test_bad_config_is_refused_before_the_directory_is_claimed(tmp_path):
    with pytest.raises(ConfigError, match="density.path"):
        write_simulation(simulation_config({"n": 2, "density": {"source": "map"}}), tmp_path)
    assert not (tmp_path / "simulation.json").exists()
    write_simulation(simulation_config({"n": 2}), tmp_path)  # the corrected run is accepted
    assert json.loads((tmp_path / "simulation.json").read_text())["status"] == "complete"


def test_truncated_or_altered_particle_is_made_again_not_trusted(written, tmp_path):
    config, directory = written
    copy = tmp_path / "copy"
    write_simulation(config, copy)
    names = [f"subtomograms/particle_{index:06d}.mrc" for index in range(4)]
    original = {name: (directory / name).read_bytes() for name in names}
    (copy / names[1]).write_bytes(original[names[1]][:1000])  # truncated
    altered = bytearray(original[names[3]])
    altered[-5] ^= 0xFF  # same size, one voxel changed
    (copy / names[3]).write_bytes(bytes(altered))
    record = write_simulation(config, copy)
    assert record["made"] == 2 and record["parts"] == 2
    assert {name: (copy / name).read_bytes() for name in names} == original
    for particle, name in zip(record["particles"], names):
        assert particle["sha256"] == hashlib.sha256(original[name]).hexdigest()


def test_simulation_record_has_provenance(written):
    config, directory = written
    record = json.loads((directory / "simulation.json").read_text())
    assert record["subalign"]["version"] == subalign.__version__
    assert record["config"]["seed"] == 11 and record["inputs"] == {"density.path": None}
    assert {"platform", "host", "cpus", "python", "numpy"} <= set(record["machine"])


@pytest.mark.parametrize("override, message", [
    ({"max_translation_voxels": 100},
     "max_translation_voxels: expected at most 5.0 voxels in a 32-voxel box holding a particle "
     "of radius 10.0 voxels (more moves it across the box faces, where it wraps around), "
     "found 100"),
    ({"size": 16},
     "max_translation_voxels: expected at most 1.9 voxels in a 16-voxel box holding a particle "
     "of radius 5.1 voxels (more moves it across the box faces, where it wraps around), "
     "found 2"),
])
def test_translations_that_wrap_the_particle_are_refused(override, message):
    config = simulation_config(override)
    with pytest.raises(ConfigError) as info:
        check_fits(config, load_density(config))
    assert str(info.value) == message


def test_the_largest_allowed_translation_keeps_the_particle_mass_inside():
    config = simulation_config({"size": 32})
    density = load_density(config)
    allowed = check_fits(config, density)
    # The worst case for a face: all mass beyond radius (15 - allowed) moved onto it.
    offsets = np.indices(density.shape) - 16
    beyond = np.sqrt((offsets ** 2).sum(axis=0)) > 15 - allowed
    assert density[beyond].sum() <= 0.01 * density.sum()
    assert check_fits(simulation_config({"max_translation_voxels": allowed}), density) == allowed


# --- mixtures -------------------------------------------------------------------------------

#: Two structures a 16-voxel box tells apart: the paper's phantom and a rod of three blobs.
ROD = [{"centre": [0.0, 0.0, z], "sigma": 0.06, "amplitude": 1.0} for z in (-0.2, 0.0, 0.2)]
MIXTURE = {"structures": [{"source": "phantom"}, {"source": "phantom", "blobs": ROD}],
           "proportions": [0.7, 0.3]}


@pytest.mark.parametrize("n, proportions", [(20, [0.7, 0.3]), (7, [0.5, 0.5]),
                                            (10, [0.25, 0.0, 0.75]), (9, None)])
def test_class_counts_match_the_proportions(n, proportions):
    structures = [{"source": "phantom"}] * (3 if proportions is None else len(proportions))
    config = simulation_config({"n": n, "seed": 4, "structures": structures,
                                "proportions": proportions})
    classes = particle_classes(config)
    shares = np.full(len(structures), 1 / len(structures)) if proportions is None else proportions
    counts = np.bincount(classes, minlength=len(structures) + 1)[1:]
    assert counts.sum() == n and np.all(np.abs(counts - n * np.asarray(shares)) < 1)
    np.testing.assert_array_equal(particle_classes(config), classes)  # same seed, same classes
    other = particle_classes(simulation_config({**config, "seed": 5}))
    np.testing.assert_array_equal(np.sort(other), np.sort(classes))


def test_a_particle_is_the_same_whatever_its_class():
    """Pose and noise come from the particle's own stream; its class only picks the map."""
    config = simulation_config({"n": 6, "size": 16, **MIXTURE})
    densities = load_densities(config)
    alone = simulation_config({"size": 16, "density": MIXTURE["structures"][1]})
    mixed = simulate_particle(config, densities[1], 3)
    single = simulate_particle(alone, load_density(alone), 3)
    np.testing.assert_array_equal(mixed.subtomogram.volume, single.subtomogram.volume)


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mixture")
    config = simulation_config({"n": 10, "seed": 2, "size": 16, "max_translation_voxels": 1,
                                "pairs": "all", "imaging": {"snr": float("inf"), "ctf": None},
                                **MIXTURE})
    write_simulation(config, directory)
    return config, directory


def test_each_particle_matches_its_own_class_map_under_its_pose(mixture):
    config, directory = mixture
    truth = read_particles(directory / "particles.star")
    classes = truth.fields["class_number"].to_numpy()
    assert list(np.bincount(classes)[1:]) == [7, 3]
    maps = [read_volume(directory / f"density_{k}.mrc").data for k in (1, 2)]
    assert not (directory / "density.mrc").exists()
    record = json.loads((directory / "simulation.json").read_text())
    for index, particle in enumerate(record["particles"]):
        pose = RigidTransform.from_record(particle["pose"])
        volume = read_volume(directory / particle["file"]).data
        scores = [correlation(volume, transform_volume(m, pose)) for m in maps]
        assert particle["class"] == classes[index] == 1 + int(np.argmax(scores)), scores
        assert max(scores) > 0.7 and max(scores) - min(scores) > 0.4  # a clear decision


def test_mixture_pairs_stay_within_a_class(mixture):
    config, directory = mixture
    record = json.loads((directory / "simulation.json").read_text())
    class_of = {p["file"]: p["class"] for p in record["particles"]}
    pairs = json.loads((directory / "pairs.json").read_text())["pairs"]
    assert len(pairs) == 7 * 6 // 2 + 3 * 2 // 2  # every pair of each class, none across
    for pair in pairs:
        assert class_of[pair["fixed"]] == class_of[pair["moving"]] == pair["class"]
        index = [int(pair[k][-10:-4]) for k in ("fixed", "moving")]
        pose = [RigidTransform.from_record(record["particles"][i]["pose"]) for i in index]
        expected = pose[0].compose(pose[1].inverse())
        assert rotation_distance_deg(RigidTransform.from_record(pair["truth"]).rotation,
                                     expected.rotation) < 1e-9
    classes = np.array([1, 2, 1, 1, 2, 1])
    assert pair_indices(6, "consecutive", classes) == [(0, 2), (1, 4), (3, 5)]


@pytest.mark.parametrize("override, message", [
    ({"proportions": [0.7, 0.2]},
     "proportions: expected numbers summing to 1 (within 1e-06), found [0.7, 0.2] summing to 0.9"),
    ({"proportions": [0.5, 0.3, 0.2]},
     "proportions: expected 2 numbers (one per structure), found 3: [0.5, 0.3, 0.2]"),
    ({"proportions": [1.5, -0.5]},
     "proportions: expected non-negative numbers, found [1.5, -0.5]"),
    ({"structures": [], "proportions": None},
     "structures: expected at least one density ({source: phantom|structure|map, ...}), found []"),
    ({"structures": None},
     "proportions: expected null without structures (one proportion per structure), "
     "found [0.7, 0.3]"),
])
def test_bad_mixtures_are_refused_in_one_line(override, message):
    with pytest.raises(ConfigError) as info:
        check_simulation(simulation_config({**MIXTURE, **override}))
    assert str(info.value) == message


def test_the_command_refuses_a_bad_mixture_with_exit_2(tmp_path, monkeypatch, capsys):
    from subalign.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["simulate", "structures=[{source:phantom},{source:phantom}]",
              "proportions=[0.6,0.6]"])
    assert info.value.code == 2 and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err == ("subalign: error: proportions: expected numbers summing "
                                       "to 1 (within 1e-06), found [0.6, 0.6] summing to 1.2\n")


def test_a_bad_entry_names_its_structure():
    config = simulation_config({"structures": [{"source": "phantom"},
                                               {"source": "phantom", "blobs": [
                                                   {"centre": [0, 0, 0], "sigma": 0,
                                                    "amplitude": 1}]}]})
    with pytest.raises(ConfigError, match=r"^structures\[1\]\.blobs\[0\]\.sigma: expected"):
        load_densities(config)


def test_a_missing_map_in_a_later_structure_is_refused_before_any_folder(tmp_path, monkeypatch,
                                                                          capsys):
    from subalign.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["simulate", "structures=[{source:phantom},{source:map,path:absent.mrc}]"])
    assert info.value.code == 2 and list(tmp_path.iterdir()) == []
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "absent.mrc" in error, error
