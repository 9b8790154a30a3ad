"""RELION 5 / WarpTools 2-D stacks, per-tilt tables, tilt frames and composed orientations.

Ground truth: volumes projected by the simulator's own (voxel-driven) projector, a simulated
RELION 5 stack set whose tomogram frame is turned 85 degrees from the simulator's, RELION's
own projection matrices written beside its angles (RELION 5 test project), and eulerangles'
ZYZ matrices for the composed orientations.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import eulerangles
import numpy as np
import pandas as pd
import pytest
import starfile

from subalign.align.pair import align_pair
from subalign.io.formats import read_particles, write_particles
from subalign.io.particles import ParticleTableError
from subalign.io.subtomograms import SubtomogramReader
from subalign.io.tiltseries import Optics, read_tilt_table
from subalign.numerics.geometry import rotation_distance_deg
from subalign.numerics.insertion import insert_sections, reconstruct
from subalign.numerics.tilt_geometry import single_axis_frame
from subalign.numerics.volumes import flip_volume
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import default_plugin_set
from subalign.simulation.imaging import tilt_series_geometry
from subalign.simulation.output import write_simulation
from subalign.simulation.simulate import load_density, simulation_config
from subalign.workflows.averaging import WedgeAccumulator
from subalign.workflows.fsc import fsc, resolutions

DATA = Path(__file__).parent / "data" / "real_tables"


def rotation_about(axis, angle_deg: float) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.radians(angle_deg)
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def simulator_rows(angles_deg) -> np.ndarray:
    """The simulator's tilt rows: image x ``(cos a, 0, sin a)``, image y, beam."""
    a = np.radians(np.asarray(angles_deg, float))
    rows = np.zeros((len(a), 3, 3))
    rows[:, 0, 0], rows[:, 0, 2] = np.cos(a), np.sin(a)
    rows[:, 1, 1] = 1.0
    rows[:, 2, 0], rows[:, 2, 2] = -np.sin(a), np.cos(a)
    return rows


# ---------------------------------------------------------------- Fourier insertion


@pytest.fixture(scope="module")
def density():
    return load_density(simulation_config()).astype(np.float64)


def test_inserting_projections_of_the_full_range_gives_back_the_volume(density):
    angles = np.arange(-90.0, 90.0, 1.5)
    images = tilt_series_geometry(32, tuple(angles)).project(density)  # [tilt, y, u], width W
    start = images.shape[2] // 2 - 16
    volume = reconstruct(insert_sections(images[:, :, start:start + 32], simulator_rows(angles)))
    assert np.corrcoef(volume.ravel(), density.ravel())[0, 1] > 0.97


def test_a_partial_tilt_range_fills_exactly_its_wedge(density):
    """The wedge convention of subalign.numerics.wedge: an asymmetric range [-30, 60] about
    y measures the coefficients wedge_mask says it does, and not the mirrored range."""
    from subalign.numerics.fourier import forward
    from subalign.numerics.wedge import wedge_mask

    angles = np.arange(-30.0, 60.5, 1.0)
    images = tilt_series_geometry(32, tuple(angles)).project(density)
    start = images.shape[2] // 2 - 16
    sections = insert_sections(images[:, :, start:start + 32], simulator_rows(angles))
    spectrum, truth = np.abs(forward(reconstruct(sections))), np.abs(forward(density))
    measured = wedge_mask((32,) * 3, TiltRange(30, 60), margin=1.5)  # in the range only
    unmeasured = wedge_mask((32,) * 3, TiltRange(-60, -30), margin=1.5)  # in the mirror only
    assert spectrum[measured].mean() > 0.8 * truth[measured].mean()
    assert spectrum[unmeasured].mean() < 0.05 * truth[unmeasured].mean()


def test_one_box_from_37_tilts_keeps_the_weights_of_its_sections():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(37, 32, 32))
    weights = np.full(images.shape, 0.5)
    sections = insert_sections(images, simulator_rows(np.linspace(-54, 54, 37)), weights)
    np.testing.assert_allclose(sections.weight, 0.5 * sections.multiplicity, atol=1e-9)
    q = np.fft.fftfreq(32) * 32
    inside = int(((q[:, None] ** 2 + q[None, :] ** 2) <= 15**2).sum())
    assert sections.multiplicity.sum() == pytest.approx(37 * inside)  # trilinear shares sum to 1


# ---------------------------------------------------------------- tilt frames


@pytest.mark.parametrize("turn_deg", [0.0, 85.0, -30.0])
def test_the_tilt_frame_recovers_a_turned_single_axis_series(turn_deg):
    angles = np.arange(-54.0, 61.0, 3.0)
    turn = rotation_about([0, 0, 1], turn_deg)
    beams = simulator_rows(angles)[:, 2] @ turn.T
    frame = single_axis_frame(beams)
    np.testing.assert_allclose(frame.angles_deg, angles, atol=1e-9)
    np.testing.assert_allclose(frame.off_axis_deg, 0.0, atol=1e-9)
    np.testing.assert_allclose(frame.rotation @ turn, np.eye(3), atol=1e-9)
    assert frame.axis_angle_deg() == pytest.approx(abs(turn_deg), abs=1e-9)


def test_off_axis_tilts_are_measured():
    beams = simulator_rows([-40.0, 0.0, 40.0])[:, 2]
    beams[1] = rotation_about([1, 0, 0], 10.0) @ beams[1]  # the middle beam leaves the plane
    frame = single_axis_frame(beams)
    assert 5.0 < frame.off_axis_deg.max() < 10.0


def test_relion5_angles_give_relions_own_projection_matrices():
    """RELION 5's Python writes rlnTomoProjX/Y/Z/W beside the angles they come from."""
    path = DATA / "relion5_tomopy_testproject" / "tilt_series" / "220728_TS_01.star"
    table = starfile.read(path)
    optics = Optics(pixel_size=1.35)
    from_angles = read_tilt_table(table.drop(columns=[f"rlnTomoProj{a}" for a in "XYZW"]),
                                  "TS", str(path), optics, (4000, 4000, 3000))
    written = read_tilt_table(table, "TS", str(path), optics, (4000, 4000, 3000))
    np.testing.assert_allclose(from_angles.rotations, written.rotations, atol=1e-5)
    np.testing.assert_allclose(from_angles.projections[:, 2], written.projections[:, 2], atol=1e-2)


# ---------------------------------------------------------------- simulated RELION 5 stacks


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stacks")
    config = simulation_config({"n": 8, "seed": 5, "stacks": True, "stack_axis_deg": 85.0})
    write_simulation(config, folder, command="test")
    return folder


def test_simulated_stacks_read_with_their_tilt_frame_and_wedges(simulated):
    particles = read_particles(simulated / "relion5_stacks" / "optimisation_set.star")
    assert particles.stacks and len(particles) == 8
    np.testing.assert_allclose(particles.fields[["tilt_min", "tilt_max"]].to_numpy(), [[-60, 60]] * 8)
    frame = particles.tomograms["sim"].tilt_series.frame
    assert frame.axis_angle_deg() == pytest.approx(85.0, abs=1e-6)


def pose_errors(particles, density) -> np.ndarray:
    """Each particle's rotation and shift error (degrees, voxels) after a global alignment of
    its box to the density, taken back into the set's frame, shape (n, 2)."""
    config = {"fixed_wedge": {"tilt_range_deg": [-90.0, 90.0]},
              "moving_wedge": {"tilt_range_deg": [-60.0, 60.0]}}
    errors = []
    with SubtomogramReader(particles) as reader:
        for index in range(len(particles)):
            box = reader(index)
            found = box.set_pose(align_pair(config, density, box.volume).transform.inverse())
            errors.append((float(rotation_distance_deg(found.rotation, particles.rotations[index])),
                           float(np.linalg.norm(found.translation - particles.shifts[index]))))
    return np.array(errors)


def test_boxes_from_stacks_give_poses_as_precise_as_3d_subtomograms(simulated):
    """Noisy particles (SNR 0.5) aligned to the density, poses taken back to the tomogram
    frame (turned 85 degrees): as close to the truth as the 3-D subtomograms made from the
    same images (measured: medians 1.5 and 1.4 degrees, none beyond 4.3)."""
    density = load_density(simulation_config())
    stacks = pose_errors(read_particles(simulated / "relion5_stacks" / "optimisation_set.star"), density)
    volumes = pose_errors(read_particles(simulated / "particles.star", wedge=[-60, 60]), density)
    assert np.median(stacks[:, 0]) < 1.3 * np.median(volumes[:, 0]) + 0.5
    assert stacks[:, 0].max() < 6.0 and stacks[:, 1].max() < 0.5


def test_averages_of_stacks_reach_the_resolution_of_the_3d_subtomograms(simulated):
    density = load_density(simulation_config())
    found = {}
    for label, particles in (
            ("stacks", read_particles(simulated / "relion5_stacks" / "optimisation_set.star")),
            ("3D", read_particles(simulated / "particles.star", wedge=[-60, 60]))):
        total = WedgeAccumulator(32)
        with SubtomogramReader(particles) as reader:
            for index in range(len(particles)):
                box = reader(index)
                total.add(box.volume, box.pose.inverse(), TiltRange(-60, 60))
        frequency, correlation = fsc(total.average(), density)
        found[label] = resolutions(frequency, correlation, 10.0)["0.143"]
    assert found["stacks"] <= 1.1 * found["3D"]


def test_a_stack_set_converts_to_relion5_without_loss(simulated):
    source = simulated / "relion5_stacks" / "particles.star"
    particles = read_particles(source)
    again = write_particles(particles, source.with_name("again.star"))  # beside it: same names
    before, after = starfile.read(source, always_dict=True), starfile.read(again, always_dict=True)
    assert list(after) == list(before)
    pd.testing.assert_frame_equal(after["particles"], before["particles"])
    assert after["general"] == before["general"]


def test_the_real_warptools_set_converts_to_relion5_without_loss(tmp_path):
    folder = DATA / "warptools_export"
    source = folder / "warptools_test_4-tomos_10-ptcls_box-32_angpix-12.star"
    write_particles(read_particles(source), tmp_path / "again.star")
    before = starfile.read(source, always_dict=True)
    after = starfile.read(tmp_path / "again.star", always_dict=True)
    pd.testing.assert_frame_equal(after["particles"], before["particles"])
    pd.testing.assert_frame_equal(after["optics"], before["optics"])


# ---------------------------------------------------------------- bad stacks, one line each


def one_line_error(call) -> str:
    with pytest.raises(ParticleTableError) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.fixture
def stack_copy(simulated, tmp_path):
    shutil.copytree(simulated / "relion5_stacks", tmp_path / "set")
    return tmp_path / "set"


def read_box(folder: Path, index: int = 0):
    particles = read_particles(folder / "optimisation_set.star")
    with SubtomogramReader(particles) as reader:
        return reader(index)


def test_a_missing_stack_is_named(stack_copy):
    (stack_copy / "stacks" / "particle_000001.mrcs").unlink()
    assert "stack stacks/particle_000001.mrcs not found" in one_line_error(lambda: read_box(stack_copy))


def test_a_stack_with_the_wrong_number_of_tilts_is_named(stack_copy):
    from subalign.io.mrc import read_map, write_volume

    path = stack_copy / "stacks" / "particle_000001.mrcs"
    write_volume(path, read_map(path).data[:50], voxel_size=10.0)
    assert one_line_error(lambda: read_box(stack_copy)).endswith(
        "stack stacks/particle_000001.mrcs holds 50 images; expected 121 (one per tilt of the "
        "tomogram) or 121 (one per visible tilt)")


def test_a_tomogram_without_a_per_tilt_table_is_named(stack_copy):
    blocks = starfile.read(stack_copy / "tomograms.star", always_dict=True)
    starfile.write({"global": blocks["global"]}, stack_copy / "tomograms.star", overwrite=True)
    message = one_line_error(lambda: read_box(stack_copy))
    assert message.endswith("tomogram 'sim' has no per-tilt table in its tomogram table; a 2-D "
                            "stack needs each tilt's projection")


def test_a_projection_matrix_that_is_not_a_rotation_is_named(stack_copy):
    blocks = starfile.read(stack_copy / "tomograms.star", always_dict=True)
    blocks["sim"].loc[3, "rlnTomoProjX"] = "[2.0,0.0,0.0,0.0]"
    starfile.write(blocks, stack_copy / "tomograms.star", overwrite=True)
    message = one_line_error(lambda: read_particles(stack_copy / "optimisation_set.star"))
    assert "row 4, column rlnTomoProjX/Y/Z: projection matrix" in message
    assert message.endswith("is not a rotation; expected orthonormal rows (within 1e-3)")


def test_a_tilt_series_file_not_found_stops_neither_show_nor_convert(tmp_path):
    folder = DATA / "relion5_tutorial"
    particles = read_particles(folder / "R5_tutorial_run_data.star",
                               tomograms=folder / "R5_tutorial_run_tomograms.star")
    assert len(particles) == 50
    write_particles(particles, tmp_path / "out.tbl")
    message = one_line_error(particles.tilt_ranges)
    assert "its tilt-series file Tomograms/job006/tilt_series/TS_01.star" in message
    assert "(give --project-dir, or the optimisation set)" in message


def test_a_project_dir_finds_relion5_tilt_series_files(tmp_path):
    folder = DATA / "relion5_tutorial"
    series = tmp_path / "Tomograms" / "job006" / "tilt_series"
    series.mkdir(parents=True)
    shutil.copy(folder / "relion5_TS_01_tilt.star", series / "TS_01.star")
    particles = read_particles(folder / "R5_tutorial_run_data.star",
                               tomograms=folder / "R5_tutorial_run_tomograms.star", project_dir=tmp_path)
    series = particles.tomograms["TS_01"].tilt_series
    np.testing.assert_allclose(series.frame.angles_deg, np.arange(-57.0, 60.5, 3.0), atol=0.01)
    # particle 1 is visible in frames 12-28 of the table: -24 to +24 degrees
    first = particles.tilt_ranges()[0]
    assert (first.min_deg, first.max_deg) == pytest.approx((-24.0, 24.0), abs=0.01)


# ---------------------------------------------------------------- composed orientations


def relion_matrix(angles) -> np.ndarray:
    """RELION's A from its angles, by eulerangles (intrinsic ZYZ, transposed)."""
    matrices = eulerangles.euler2matrix(np.asarray(angles, float).reshape(-1, 3), axes="zyz",
                                        intrinsic=True, right_handed_rotation=True)
    return np.swapaxes(np.asarray(matrices).reshape(-1, 3, 3), -1, -2)


@pytest.mark.parametrize("target, tolerance_deg", [
    ("out.tbl", 1e-6), ("relion4.star", 1e-6),
    ("out.em", 2e-5),  # TOM/AV3 motive lists hold float32: 100 degrees to 7.6e-6 degrees
])
def test_composed_orientations_reach_every_format_as_one_rotation(tmp_path, target, tolerance_deg):
    source = DATA / "relion5_tutorial" / "R5_tutorial_run_data.star"
    table = starfile.read(source, always_dict=True)["particles"]
    expected = (relion_matrix(table[["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt",
                                     "rlnTomoSubtomogramPsi"]].to_numpy())
                @ relion_matrix(table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()))
    particles = read_particles(source, tomograms=DATA / "relion5_tutorial" / "R5_tutorial_run_tomograms.star")
    np.testing.assert_allclose(particles.rotations, expected, atol=1e-9)
    fmt = "relion4" if target == "relion4.star" else None
    back = read_particles(write_particles(particles, tmp_path / target, fmt), fmt)
    assert rotation_distance_deg(back.rotations, expected).max() < tolerance_deg


def test_composed_orientations_stay_relative_in_relion5(tmp_path):
    source = DATA / "relion5_tutorial" / "R5_tutorial_run_data.star"
    write_particles(read_particles(source), tmp_path / "again.star")
    before = starfile.read(source, always_dict=True)["particles"]
    after = starfile.read(tmp_path / "again.star", always_dict=True)["particles"]
    pd.testing.assert_frame_equal(after, before)


# ---------------------------------------------------------------- mirrored maps


def test_flipping_twice_is_the_identity_and_the_centre_stays(density):
    for axis in "xyz":
        np.testing.assert_array_equal(flip_volume(flip_volume(density, axis), axis), density)
    point = np.zeros((32,) * 3)
    point[16, 10, 16] = 1.0  # (x, y, z) = (16, 10, 16)
    assert np.argwhere(flip_volume(point, "y") == 1.0).tolist() == [[16, 22, 16]]
    assert np.argwhere(flip_volume(point, "z") == 1.0).tolist() == [[16, 10, 16]]


# ---------------------------------------------------------------- weight volumes (rlnCtfImage)


@pytest.fixture
def wedge_weight():
    """A +-50 degree wedge's weights on the half spectrum, and the same as a centred cube."""
    from subalign.numerics.wedge import wedge_mask

    half = wedge_mask((32,) * 3, TiltRange(-50, 50)).astype(float)
    full = np.zeros((32,) * 3)
    full[:, :, :17] = half
    full[:, :, 17:] = half[(-np.arange(32)) % 32][:, (-np.arange(32)) % 32][:, :, 15:0:-1]
    return half, np.fft.fftshift(full)


@pytest.mark.parametrize("layout", ["cube", "half", "half+multiplicity", "float16 half"])
def test_weight_volumes_of_every_layout_give_the_same_half_spectrum(tmp_path, wedge_weight, layout):
    import mrcfile

    from subalign.io.weights import read_weight_volume

    half, cube = wedge_weight
    data = {"cube": cube, "half": half, "half+multiplicity": np.concatenate([half, 3 * half]),
            "float16 half": half}[layout]
    with mrcfile.new(tmp_path / "w.mrc") as mrc:
        mrc.set_data(data.astype(np.float16 if layout.startswith("float16") else np.float32))
    read = read_weight_volume(tmp_path / "w.mrc", 32)
    np.testing.assert_array_equal(read.weight, half)
    if layout == "half+multiplicity":
        np.testing.assert_array_equal(read.multiplicity, 3 * half)


def test_a_weight_volume_of_the_wrong_layout_is_named(tmp_path):
    import mrcfile

    from subalign.io.weights import read_weight_volume

    with mrcfile.new(tmp_path / "w.mrc") as mrc:
        mrc.set_data(np.ones((32, 32, 32), np.float32))
    assert one_line_error(lambda: read_weight_volume(tmp_path / "w.mrc", 24)) == (
        f"{tmp_path / 'w.mrc'}: weight volume of (nx, ny, nz) = (32, 32, 32); expected for a box "
        "of 24: (24, 24, 24) centred, (13, 24, 24) FFTW half or (13, 24, 48) half with "
        "multiplicity")


def test_origins_of_pseudo_subtomograms_are_turned_into_the_tomograms_frame(tmp_path):
    """RELION places the particle at its coordinate minus ``A_subtomogram origin``
    (particle_set.cpp), so subalign's shift is ``-A_subtomogram origin / pixel``; Dynamo gets
    that shift, RELION 5 gets the origin back."""
    source = DATA / "relion5_tutorial" / "R5_tutorial_run_data.star"
    table = starfile.read(source, always_dict=True)["particles"]
    turn = relion_matrix(table[["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt",
                                "rlnTomoSubtomogramPsi"]].to_numpy())
    origins = table[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy()
    expected = -np.einsum("nij,nj->ni", turn, origins) / 1.35
    particles = read_particles(source, tomograms=DATA / "relion5_tutorial" / "R5_tutorial_run_tomograms.star")
    assert np.abs(origins).max() > 1.0  # the test has something to turn
    np.testing.assert_allclose(particles.shifts, expected, atol=1e-9)
    back = read_particles(write_particles(particles, tmp_path / "out.tbl"))
    np.testing.assert_allclose(back.shifts, expected, atol=1e-4)
    again = starfile.read(write_particles(particles, tmp_path / "again.star"), always_dict=True)
    columns = ["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]
    np.testing.assert_allclose(again["particles"][columns].to_numpy(), origins, atol=1e-9)


def test_relion4_converted_to_relion5_is_relion5(tmp_path):
    from subalign.io.formats import detect_format

    (tmp_path / "in.star").write_text(
        "data_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n_rlnTomoTiltSeriesPixelSize #3\n"
        "1 10.0 10.0\n\ndata_particles\n\nloop_\n_rlnTomoName #1\n_rlnCoordinateX #2\n_rlnCoordinateY #3\n"
        "_rlnCoordinateZ #4\n_rlnAngleRot #5\n_rlnAngleTilt #6\n_rlnAnglePsi #7\n_rlnOpticsGroup #8\n"
        "TS 100 200 50 10 20 30 1\n")
    (tmp_path / "tomograms.csv").write_text("tomogram,size_x,size_y,size_z,pixel_size\nTS,400,400,100,10\n")
    particles = read_particles(tmp_path / "in.star", tomograms=tmp_path / "tomograms.csv")
    written = write_particles(particles, tmp_path / "out.star", "relion5")
    assert detect_format(written) == "relion5"
    table = starfile.read(written, always_dict=True)["particles"]
    assert "rlnCoordinateX" not in table.columns
    np.testing.assert_allclose(table[["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                                      "rlnCenteredCoordinateZAngst"]].to_numpy(), [[-1000.0, 0.0, 0.0]])


def test_a_particle_seen_in_one_tilt_has_a_one_image_stack(stack_copy):
    import mrcfile

    blocks = starfile.read(stack_copy / "particles.star", always_dict=True)
    flags = ["0"] * 121
    flags[60] = "1"
    blocks["particles"].loc[0, "rlnTomoVisibleFrames"] = "[" + ",".join(flags) + "]"
    starfile.write(blocks, stack_copy / "particles.star", overwrite=True)
    path = stack_copy / "stacks" / "particle_000001.mrcs"
    with mrcfile.open(path) as mrc:
        zero_tilt = np.array(mrc.data[60])
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(zero_tilt)  # MRC stores one image as 2-D
        mrc.voxel_size = 10.0
    box = read_box(stack_copy)
    assert box.volume.shape == (32, 32, 32)
    assert read_particles(stack_copy / "optimisation_set.star").tilt_ranges()[0].max_deg == pytest.approx(0.0, abs=1e-9)


def test_the_check_before_work_counts_a_stacks_images_from_its_header(stack_copy):
    from subalign.io.mrc import read_map, write_volume

    path = stack_copy / "stacks" / "particle_000002.mrcs"
    write_volume(path, read_map(path).data[:50], voxel_size=10.0)
    particles = read_particles(stack_copy / "optimisation_set.star")
    with SubtomogramReader(particles) as reader:
        reader.check(0)  # the intact stack passes
        message = one_line_error(lambda: reader.check(1))
    assert message.endswith("stack stacks/particle_000002.mrcs holds 50 images; expected 121 (one "
                            "per tilt of the tomogram) or 120 (one per visible tilt)")


def test_a_3d_box_reads_its_weight_volume_when_asked(tmp_path, wedge_weight):
    import mrcfile

    half, _ = wedge_weight
    with mrcfile.new(tmp_path / "w.mrc") as mrc:
        mrc.set_data(np.concatenate([half, 2 * half]).astype(np.float32))
    with mrcfile.new(tmp_path / "p.mrc") as mrc:
        mrc.set_data(np.random.default_rng(3).normal(size=(32,) * 3).astype(np.float32))
    (tmp_path / "set.star").write_text("data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n"
                                       "_rlnAnglePsi #3\n_rlnImageName #4\n_rlnCtfImage #5\n"
                                       "0 0 0 p.mrc w.mrc\n")
    particles = read_particles(tmp_path / "set.star")
    with SubtomogramReader(particles) as reader:
        assert reader(0).weight is None  # not read unless asked
    with SubtomogramReader(particles, weights=True) as reader:
        box = reader(0)
    assert box.weight.layout == "half+multiplicity"
    np.testing.assert_array_equal(box.weight.weight, half)
    (tmp_path / "w.mrc").unlink()  # a weight volume to be read is checked before any work
    with SubtomogramReader(particles, weights=True) as reader:
        with pytest.raises(ParticleTableError, match="rlnCtfImage.*weight volume w.mrc not found"):
            reader.check(0)
    SubtomogramReader(particles).check(0)  # not read unless asked: not checked
    # the ctf measurement model of that box is its weight volume, on the full DFT grid
    model = default_plugin_set().create("measurement", "ctf").build(box.acquisition(TiltRange(-60, 60)))
    k = np.stack(np.meshgrid(*[np.fft.fftfreq(32, 1 / 32)] * 3, indexing="ij"), axis=-1)[..., ::-1]
    np.testing.assert_allclose(model.weights(k / 32, 32)[:, :, :17], half, atol=1e-6)


def test_a_stack_box_carries_its_beams_transfer_and_noise(simulated):
    particles = read_particles(simulated / "relion5_stacks" / "optimisation_set.star")
    with SubtomogramReader(particles) as reader:
        box = reader(0)
    acquisition = box.acquisition(TiltRange(-60, 60))
    series = particles.tomograms[particles.fields["tomogram"].iloc[0]].tilt_series
    visible = np.ones(len(series), bool)
    # the beams are the visible tilts' beams turned into the box's (tilt) frame
    np.testing.assert_allclose(acquisition.beams, series.rotations[visible, 2] @ box.frame.rotation.T,
                               atol=1e-12)
    stack = box.stack
    np.testing.assert_allclose(acquisition.transfer, stack.weight / np.maximum(stack.multiplicity, 1))
    assert np.median(acquisition.noise[acquisition.noise > 0]) == pytest.approx(1.0)
    model = default_plugin_set().create("measurement", "ctf").build(acquisition)
    assert model.kind == "weights" and model.noise is not None
