"""Particle sets (subalign.io.particles, subtomograms, tomograms): the geometric test of
every format against simulated ground truth, subtomograms cropped from tomograms, wedges
from tables, and the errors of missing or wrong files."""

from __future__ import annotations

import emfile
import eulerangles
import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
from scipy.spatial.transform import Rotation

import dynamotable
from subalign.workflows.averaging import wedge_compensated_average
from subalign.workflows.fsc import fsc, resolution_at
from subalign.io.formats import FORMATS, read_particles, write_particles
from subalign.io.mrc import write_volume
from subalign.io.particles import ParticleSet, Tomogram
from subalign.io.subtomograms import SubtomogramReader
from subalign.io.tomograms import read_tomogram_table
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.wedge import TiltRange, tilt_axis_rotation, wedge_mask
from subalign.simulation.simulate import load_density, simulate_particle, simulation_config
from test_formats import one_line_error

PIXEL = 10.0
SIZE = 32
COUNT = 24


# --- the geometric test -------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulation(tmp_path_factory):
    """24 noise-free 32^3 particles (+-60 deg about y, random poses, shifts up to 3 voxels),
    their MRC files, the true map and the ground-truth set."""
    config = simulation_config({"n": COUNT, "seed": 3, "size": SIZE, "max_translation_voxels": 3.0,
                                "imaging": {"snr": float("inf"), "ctf": None, "mtf": False,
                                            "tilt_range_deg": [-60, 60]}})
    density = load_density(config)
    simulated = [simulate_particle(config, density, i) for i in range(COUNT)]
    directory = tmp_path_factory.mktemp("geometry")
    names = [f"subtomograms/particle_{i:06d}.mrc" for i in range(COUNT)]
    for name, particle in zip(names, simulated):
        write_volume(directory / name, particle.subtomogram.volume, voxel_size=PIXEL)
    truth = ParticleSet.create(
        np.stack([p.pose.rotation for p in simulated]), np.stack([p.pose.translation for p in simulated]),
        pixel_size=PIXEL, subtomogram=np.array(names, dtype=object),
        tomogram=np.array(["1"] * COUNT, dtype=object), tilt_min=np.full(COUNT, -60.0),
        tilt_max=np.full(COUNT, 60.0), half_set=1 + np.arange(COUNT) % 2, base_dir=str(directory))
    (directory / "wedges.csv").write_text("tomogram,tilt_min,tilt_max\n1,-60,60\n")
    volumes = [p.subtomogram.volume for p in simulated]
    return density, volumes, truth, directory


def resolution(density, volumes, poses, tilts) -> float:
    """FSC 0.5 resolution (Angstrom) against the true map of the wedge-compensated average of
    the particles, each brought into the reference frame by the inverse of its pose."""
    average = wedge_compensated_average(volumes, [pose.inverse() for pose in poses], tilts)
    frequency, correlation = fsc(average, density)
    return resolution_at(frequency, correlation, 0.5, PIXEL)


@pytest.fixture(scope="module")
def truth_resolution(simulation):
    density, volumes, truth, _ = simulation
    return resolution(density, volumes, [truth.pose(i) for i in range(COUNT)], truth.tilt_ranges())


def written(simulation, name):
    """The ground truth written in format ``name`` (numbered formats get a particle folder
    or prefix of links) and read back, with its subtomogram folder or prefix."""
    _, _, truth, directory = simulation
    folder = directory / name
    path = folder / f"particles{FORMATS[name].suffix}"
    subtomograms = folder / ("particles" if name == "dynamo" else "particle")
    write_particles(truth, path, name, subtomograms=subtomograms if FORMATS[name].numbered else None)
    back = read_particles(path, name, pixel_size=PIXEL if name in ("em", "stopgap") else None,
                          subtomograms=subtomograms if FORMATS[name].numbered else None,
                          tomograms=None if name == "dynamo" else directory / "wedges.csv")
    return path, back


def file_poses(name, path) -> list[RigidTransform]:
    """Poses read from the file's columns with the formats' documented conventions, written
    out here with eulerangles, starfile, dynamotable and emfile (not subalign's readers)."""
    def zyz(a):
        return np.asarray(eulerangles.euler2matrix(a, axes="zyz", intrinsic=True,
                                                   right_handed_rotation=True)).reshape(-1, 3, 3)

    def zxz(a):
        return np.asarray(eulerangles.euler2matrix(a, axes="zxz", intrinsic=False,
                                                   right_handed_rotation=True)).reshape(-1, 3, 3)

    if name.startswith("relion"):
        table = starfile.read(path, always_dict=True)["particles"]
        rotations = np.swapaxes(zyz(table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()), 1, 2)
        shifts = -table[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy() / PIXEL
    elif name == "dynamo":
        table = dynamotable.read(str(path))
        rotations = np.swapaxes(zxz(table[["tdrot", "tilt", "narot"]].to_numpy()), 1, 2)
        shifts = table[["dx", "dy", "dz"]].to_numpy()
    elif name == "em":
        values = emfile.read(path)[1][0].astype(float)
        rotations = zxz(values[:, [16, 18, 17]])  # Rz(psi) Rx(theta) Rz(phi)
        shifts = values[:, 10:13]
    else:
        table = starfile.read(path)
        rotations = zxz(table[["phi", "the", "psi"]].to_numpy())
        shifts = table[["x_shift", "y_shift", "z_shift"]].to_numpy()
    return [RigidTransform(r, t) for r, t in zip(rotations, shifts)]


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_averages_to_the_true_map_like_the_true_poses(simulation, truth_resolution, name):
    density, volumes, truth, _ = simulation
    path, back = written(simulation, name)
    with SubtomogramReader(back) as reader:
        boxes = [reader(i) for i in range(COUNT)]
    for box, volume in zip(boxes, volumes):
        np.testing.assert_array_equal(box.volume, volume.astype(np.float32))
    tilts = back.tilt_ranges()
    assert set(tilts) == {TiltRange(-60.0, 60.0)}
    from_reader = resolution(density, volumes, [box.pose for box in boxes], tilts)
    from_columns = resolution(density, volumes, file_poses(name, path), tilts)
    assert truth_resolution < 2.5 * PIXEL  # close to Nyquist (20 A): the test can tell
    for found in (from_reader, from_columns):
        assert abs(found - truth_resolution) <= 0.05 * truth_resolution, (name, found, truth_resolution)


def wrong_conventions(path) -> dict[str, list[RigidTransform]]:
    """The RELION file's poses read three wrong ways."""
    table = starfile.read(path, always_dict=True)["particles"]
    angles = table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()
    shifts = -table[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy() / PIXEL
    right = Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix().transpose(0, 2, 1)
    zxz = Rotation.from_euler("ZXZ", angles, degrees=True).as_matrix().transpose(0, 2, 1)
    return {
        "R^T": [RigidTransform(r.T, t) for r, t in zip(right, shifts)],
        "ZXZ for ZYZ": [RigidTransform(r, t) for r, t in zip(zxz, shifts)],
        "flipped shift sign": [RigidTransform(r, -t) for r, t in zip(right, shifts)],
    }


@pytest.mark.parametrize("mistake", ["R^T", "ZXZ for ZYZ", "flipped shift sign"])
def test_a_wrong_convention_fails_the_same_test(simulation, truth_resolution, mistake):
    density, volumes, truth, _ = simulation
    path, back = written(simulation, "relion5")
    found = resolution(density, volumes, wrong_conventions(path)[mistake], back.tilt_ranges())
    assert found > 1.05 * truth_resolution, (mistake, found, truth_resolution)


# --- subtomograms cropped from tomograms -----------------------------------------------------

TOMOGRAM_XYZ = (96, 80, 64)  # x, y, z voxels
BOX = 16


@pytest.fixture(scope="module")
def tomogram(tmp_path_factory):
    """A noise tomogram (seeded) with its MRC file; three box centres (0-based voxel index)
    well inside it, with fractional parts that the crop must move into the shift."""
    directory = tmp_path_factory.mktemp("tomogram")
    data = np.random.default_rng(20).normal(size=TOMOGRAM_XYZ[::-1]).astype(np.float32)
    with mrcfile.new(directory / "tomo.mrc") as mrc:
        mrc.set_data(data)
        mrc.voxel_size = PIXEL
    centres = np.array([[20, 30, 25], [70, 40, 32], [48, 61, 40]])
    fractions = np.array([[0.3, -0.2, 0.45], [-0.4, 0.1, 0.0], [0.2, 0.49, -0.3]])
    return directory, data, centres, fractions


def expected_box(data, centre) -> np.ndarray:
    """The documented crop, by slicing: box centre voxel BOX // 2 at the 0-based ``centre``
    (Dynamo's V[x - N/2 : x + N/2 - 1] with 1-based x = centre + 1)."""
    x, y, z = centre
    h = BOX // 2
    return data[z - h:z + h, y - h:y + h, x - h:x + h]


def crop_tables(directory, centres, fractions, shifts) -> dict:
    """The same three particles in RELION 3/4 (0-based pixels), RELION 5 (Angstrom from the
    centre voxel, size // 2) and Dynamo (1-based) text, written here by hand."""
    position = centres + fractions
    angles = np.zeros((3, 3))
    relion4 = pd.DataFrame({"rlnMicrographName": ["tomo.mrc"] * 3,
                            "rlnCoordinateX": position[:, 0], "rlnCoordinateY": position[:, 1],
                            "rlnCoordinateZ": position[:, 2],
                            "rlnOriginXAngst": -shifts[:, 0] * PIXEL, "rlnOriginYAngst": -shifts[:, 1] * PIXEL,
                            "rlnOriginZAngst": -shifts[:, 2] * PIXEL,
                            "rlnAngleRot": angles[:, 0], "rlnAngleTilt": angles[:, 1], "rlnAnglePsi": angles[:, 2]})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [PIXEL], "rlnImageSize": [BOX]})
    starfile.write({"optics": optics, "particles": relion4}, directory / "relion4.star", float_format="%.8f")
    centred = (position - np.array(TOMOGRAM_XYZ) // 2) * PIXEL
    relion5 = relion4.drop(columns=["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"])
    relion5.insert(0, "rlnTomoName", "tomo")
    for axis, value in zip("XYZ", centred.T):
        relion5[f"rlnCenteredCoordinate{axis}Angst"] = value
    starfile.write({"optics": optics, "particles": relion5}, directory / "relion5.star", float_format="%.8f")
    rows = []
    for k in range(3):
        row = [0.0] * 35
        row[0], row[3:6], row[19] = k + 1, list(shifts[k]), 1
        row[23:26] = list(position[k] + 1)
        rows.append(" ".join(repr(float(v)) for v in row))
    (directory / "dynamo.tbl").write_text("\n".join(rows) + "\n")
    (directory / "dynamo.doc").write_text("1 tomo.mrc\n")
    (directory / "tomograms.csv").write_text("tomogram,path,tilt_min,tilt_max\ntomo,tomo.mrc,-60,60\n")
    return {"relion4": {}, "relion5": {"tomograms": directory / "tomograms.csv"},
            "dynamo": {"pixel_size": PIXEL}}


@pytest.mark.parametrize("name", ["relion4", "relion5", "dynamo"])
def test_crops_follow_each_formats_coordinates_and_keep_the_remainder_in_the_shift(tomogram, name):
    directory, data, centres, fractions = tomogram
    shifts = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [-1.5, 2.5, 1.0]])
    options = crop_tables(directory, centres, fractions, shifts)
    particles = read_particles(directory / f"{name}{FORMATS[name].suffix}", name, **options[name])
    with SubtomogramReader(particles, box_size=BOX) as reader:
        for k in range(3):
            box = reader(k)
            np.testing.assert_array_equal(box.volume, expected_box(data, centres[k]))
            np.testing.assert_allclose(box.pose.translation, shifts[k] + fractions[k], atol=1e-6)


def test_a_box_past_the_tomogram_face_is_an_error_or_padded(tomogram):
    directory, data, _, _ = tomogram
    particles = ParticleSet.create(np.eye(3)[None], np.zeros((1, 3)), pixel_size=PIXEL,
                                   tomogram=np.array(["tomo.mrc"], dtype=object), x=[3.0], y=[40.0],
                                   z=[30.0], coordinate_frame="index0", coordinate_unit=PIXEL,
                                   base_dir=str(directory))
    message = one_line_error(lambda: SubtomogramReader(particles, box_size=BOX)(0))
    assert message == (f"<particles>: row 1, column tomogram: a box of 16 voxels at (x, y, z) = "
                       f"(3.0, 40.0, 30.0) reaches outside tomogram {directory / 'tomo.mrc'} of "
                       "(96, 80, 64) voxels; expected it inside (or --edge zero / mean to pad)")
    inside = data[22:38, 32:48, 0:11]
    zero = SubtomogramReader(particles, box_size=BOX, edge="zero")(0).volume
    np.testing.assert_array_equal(zero[:, :, 5:], inside)
    assert not zero[:, :, :5].any()
    mean = SubtomogramReader(particles, box_size=BOX, edge="mean")(0).volume
    np.testing.assert_allclose(mean[:, :, :5], inside.mean(), rtol=1e-6)


def test_subtomogram_files_missing_or_of_the_wrong_size_are_errors(tmp_path):
    rng = np.random.default_rng(21)
    write_volume(tmp_path / "a.mrc", rng.normal(size=(8, 8, 8)), voxel_size=PIXEL)
    write_volume(tmp_path / "b.mrc", rng.normal(size=(10, 10, 10)), voxel_size=PIXEL)
    write_volume(tmp_path / "c.mrc", rng.normal(size=(8, 8, 8)), voxel_size=4.0)
    star = tmp_path / "p.star"
    table = pd.DataFrame({"rlnImageName": ["a.mrc", "b.mrc", "missing.mrc", "c.mrc"],
                          "rlnAngleRot": 0.0, "rlnAngleTilt": 0.0, "rlnAnglePsi": 0.0})
    starfile.write({"optics": pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [PIXEL]}),
                    "particles": table}, star)
    reader = SubtomogramReader(read_particles(star))
    assert reader(0).volume.shape == (8, 8, 8)
    assert one_line_error(lambda: reader(1)) == (
        f"{star}: row 2, column rlnImageName: b.mrc holds a (z, y, x) = (10, 10, 10) volume; "
        "expected (8, 8, 8) like the set's other subtomograms")
    assert one_line_error(lambda: reader(2)) == (
        f"{star}: row 3, column rlnImageName: subtomogram missing.mrc not found (looked in "
        f"{tmp_path} and the working directory)")
    assert one_line_error(lambda: reader(3)) == (
        f"{star}: row 4, column rlnImageName: {tmp_path / 'c.mrc'} has a voxel size of 4 Angstrom, "
        "inconsistent with the set's pixel size 10 Angstrom")


# --- wedges and tomogram tables ----------------------------------------------------------------


def test_tilt_axis_x_measures_the_plane_through_x_and_its_tilts():
    """About x, tilting by a measures the plane through x and (0, cos a, sin a)."""
    size = 32
    mask = wedge_mask((size,) * 3, TiltRange(-60, 60), tilt_axis_rotation("x"))
    y_axis = wedge_mask((size,) * 3, TiltRange(-60, 60))

    def measured(m, x, y, z):  # (x, y, z) frequency in voxels -> rfftn index [z, y, x]
        return bool(m[z % size, y % size, x])

    assert measured(mask, 5, 0, 0) and measured(mask, 0, 8, 0)  # the tilt axis; 0 deg
    assert not measured(mask, 0, 0, 8) and not measured(mask, 0, 2, 8)  # 90 and 76 deg missing
    assert measured(mask, 0, 8, 8) and measured(mask, 0, 8, -8)  # +-45 deg measured
    assert not measured(y_axis, 0, 2, 8) and measured(y_axis, 0, 8, 0)
    assert measured(y_axis, 8, 0, 8) and not measured(mask, 8, 0, 8)  # (1, 0, 1): 45 deg about y only


def test_tomogram_tables_give_tilt_ranges_sizes_and_files(tmp_path):
    (tmp_path / "TS_01.star").write_text(star_text_tilts("TS_01", [-54.0, -3.0, 0.0, 3.0, 63.0]))
    starfile.write({"global": pd.DataFrame({
        "rlnTomoName": ["TS_01"], "rlnTomoTiltSeriesStarFile": ["TS_01.star"],
        "rlnTomoSizeX": [4092], "rlnTomoSizeY": [4092], "rlnTomoSizeZ": [1392],
        "rlnTomoTiltSeriesPixelSize": [2.39], "rlnTomoReconstructedTomogram": ["rec_TS_01.mrc"]})},
        tmp_path / "tomograms.star")
    relion = read_tomogram_table(tmp_path / "tomograms.star")["TS_01"]
    assert relion.tilt_range == TiltRange(-54.0, 63.0)
    assert relion.size == (4092, 4092, 1392) and relion.voxel_size == 2.39
    np.testing.assert_allclose(relion.centre_angstrom, [2046 * 2.39, 2046 * 2.39, 696 * 2.39])
    emfile.write(tmp_path / "wedges.em", np.array([[[1, -60, 55], [2, -45, 50]]], dtype=np.float32))
    wedges = read_tomogram_table(tmp_path / "wedges.em")
    assert {k: (v.tilt_range, v.number) for k, v in wedges.items()} == {
        "1": (TiltRange(-60, 55), 1), "2": (TiltRange(-45, 50), 2)}
    (tmp_path / "t.csv").write_text("tomogram,tilt_min,tilt_max,tilt_axis\nA,-50,50,x\nB,-40,70,y\n")
    particles = ParticleSet.create(np.tile(np.eye(3), (3, 1, 1)), np.zeros((3, 3)),
                                   tomogram=np.array(["A", "B", "A"], dtype=object))
    given = particles.assign_wedges(tomograms=read_tomogram_table(tmp_path / "t.csv"))
    assert given.tilt_ranges() == [TiltRange(-50, 50), TiltRange(-40, 70), TiltRange(-50, 50)]
    assert list(given.fields["tilt_axis"]) == ["x", "y", "x"]
    (tmp_path / "bad.csv").write_text("tomogram,tilt_min,tilt_max\nA,-50,95\n")
    assert one_line_error(lambda: read_tomogram_table(tmp_path / "bad.csv")) == (
        f"{tmp_path / 'bad.csv'}: row 1, column tilt_min/tilt_max: expected -90 <= min <= max <= 90 "
        "degrees, found [-50, 95]")


def star_text_tilts(name, tilts) -> str:
    lines = [f"data_{name}", "", "loop_", "_rlnTomoNominalStageTiltAngle #1"]
    return "\n".join(lines + [f"{t:.6f}" for t in tilts]) + "\n\n"


def test_a_particle_without_a_wedge_is_named_when_one_is_needed():
    particles = ParticleSet.create(np.tile(np.eye(3), (2, 1, 1)), np.zeros((2, 3)),
                                   tomogram=np.array(["A", "B"], dtype=object),
                                   tilt_min=[-60.0, np.nan], tilt_max=[60.0, np.nan])
    assert one_line_error(particles.tilt_ranges) == (
        "<particles>: row 2, column tomogram: no wedge known for tomogram 'B': it is in no "
        "tomogram table; expected a tilt range from the file, a tomogram table (--tomograms) or "
        "a default (--wedge MIN MAX)")


def test_centred_coordinates_need_the_tomogram_size():
    particles = ParticleSet.create(np.eye(3)[None], np.zeros((1, 3)), pixel_size=PIXEL,
                                   tomogram=np.array(["TS_9"], dtype=object), x=[0.0], y=[0.0], z=[0.0],
                                   coordinate_frame="centre", coordinate_unit=1.0)
    assert one_line_error(lambda: particles.coordinates("index0", PIXEL)) == (
        "<particles>: row 1, column tomogram: tomogram 'TS_9' has no known size and voxel size; "
        "expected them for index0 coordinates (give a tomogram table with size_x, size_y, size_z "
        "and pixel_size, or RELION 5's tomograms.star)")
    sized = ParticleSet.create(np.eye(3)[None], np.zeros((1, 3)), pixel_size=PIXEL,
                               tomogram=np.array(["TS_9"], dtype=object), x=[0.0], y=[0.0], z=[0.0],
                               coordinate_frame="centre", coordinate_unit=1.0,
                               tomograms={"TS_9": Tomogram("TS_9", size=(101, 80, 40), voxel_size=PIXEL)})
    np.testing.assert_allclose(sized.coordinates("index1", PIXEL), [[51, 41, 21]])


def test_subtomogram_names_follow_a_table_written_elsewhere(simulation):
    density, volumes, truth, directory = simulation
    path = write_particles(truth, directory / "elsewhere/deeper/p.star", "relion4")
    table = starfile.read(path, always_dict=True)["particles"]
    assert table["rlnImageName"].iloc[3] == "../../subtomograms/particle_000003.mrc"
    with SubtomogramReader(read_particles(path)) as reader:
        np.testing.assert_array_equal(reader(3).volume, volumes[3].astype(np.float32))
