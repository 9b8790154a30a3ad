"""Particle-set formats (subalign.io): lossless round trips, conversions between every pair,
convention oracles that do not come from subalign, and one-line errors.

Round-trip inputs are written here as text (STAR, Dynamo) or with emfile, the way the
packages that make them write them, with columns subalign does not know; the written files
are read back with starfile, dynamotable and emfile, not with subalign.
"""

from __future__ import annotations

from itertools import permutations

import emfile
import eulerangles
import numpy as np
import pandas as pd
import pytest
import starfile
from scipy.spatial.transform import Rotation

import dynamotable
from subalign.io.formats import FORMATS, detect_format, read_particles, write_particles
from subalign.io.particles import ParticleSet, ParticleTableError, Tomogram
from subalign.numerics.wedge import TiltRange

N = 40
PIXEL = 2.7


def relion_matrix(angles) -> np.ndarray:
    """RELION's particle rotation from its angles: eulerangles' ZYZ matrix, transposed
    (RELION's A rotates the reference into the particle)."""
    matrices = eulerangles.euler2matrix(np.asarray(angles, float).reshape(-1, 3), axes="zyz",
                                        intrinsic=True, right_handed_rotation=True)
    return np.swapaxes(np.asarray(matrices).reshape(-1, 3, 3), -1, -2)


def dynamo_matrix(angles) -> np.ndarray:
    """Dynamo's rotation of the template: eulerangles' extrinsic zxz matrix, transposed."""
    matrices = eulerangles.euler2matrix(np.asarray(angles, float).reshape(-1, 3), axes="zxz",
                                        intrinsic=False, right_handed_rotation=True)
    return np.swapaxes(np.asarray(matrices).reshape(-1, 3, 3), -1, -2)


def tom_matrix(phi, psi, theta) -> np.ndarray:
    """``tom_pointrotate``'s matrix, transcribed: Rz(psi) * Rx(theta) * Rz(phi)."""
    def rz(a):
        c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])

    def rx(a):
        c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])

    return np.stack([rz(p) @ rx(t) @ rz(f) for f, p, t in zip(phi, psi, theta)])


def angles(rng, n=N) -> np.ndarray:
    """Random Euler triples, second angle in (0, 180) (unique representation)."""
    return np.column_stack([rng.uniform(-180, 180, n), rng.uniform(1, 179, n), rng.uniform(-180, 180, n)])


def star_text(blocks: list[tuple[str, pd.DataFrame | dict]]) -> str:
    """A STAR file as RELION prints it: 6 decimals, %e for large values, columns numbered."""
    lines = ["", "# version 50001", ""]
    for name, block in blocks:
        lines += [f"data_{name}", ""]
        if isinstance(block, dict):
            lines += [f"_{k}    {v}" for k, v in block.items()] + ["", ""]
            continue
        lines += ["loop_"] + [f"_{c} #{i + 1}" for i, c in enumerate(block.columns)]
        for row in block.itertuples(index=False):
            cells = []
            for v in row:
                if isinstance(v, (float, np.floating)):
                    cells.append(f"{v:12.6e}" if abs(v) > 1e5 else f"{v:12.6f}")
                else:
                    cells.append(f"{v}")
            lines.append(" ".join(cells))
        lines += ["", ""]
    return "\n".join(lines) + "\n"


def relion5_blocks(rng) -> list:
    a = angles(rng)
    particles = pd.DataFrame({
        "rlnTomoName": [f"TS_0{1 + i % 2}" for i in range(N)],
        "rlnTomoSubtomogramRot": 0.0, "rlnAngleRot": a[:, 0], "rlnAngleTilt": a[:, 1],
        "rlnAnglePsi": a[:, 2], "rlnOpticsGroup": 1,
        "rlnTomoParticleName": [f"TS_0{1 + i % 2}/{i}" for i in range(N)],
        "rlnTomoVisibleFrames": "[0,0,1,1,1,1,1,0]",
        "rlnImageName": [f"Extract/job013/Subtomograms/TS_0{1 + i % 2}/{i}_data.mrc" for i in range(N)],
        "rlnOriginXAngst": rng.uniform(-9, 9, N), "rlnOriginYAngst": rng.uniform(-9, 9, N),
        "rlnOriginZAngst": rng.uniform(-9, 9, N),
        "rlnCenteredCoordinateXAngst": rng.uniform(-2000, 2000, N),
        "rlnCenteredCoordinateYAngst": rng.uniform(-2000, 2000, N),
        "rlnCenteredCoordinateZAngst": rng.uniform(-500, 500, N),
        "rlnGroupNumber": 1, "rlnClassNumber": rng.integers(1, 4, N),
        "rlnNormCorrection": 1.0, "rlnRandomSubset": 1 + np.arange(N) % 2,
        "rlnLogLikeliContribution": rng.uniform(3e5, 4e5, N),
        "rlnMaxValueProbDistribution": rng.uniform(0, 1, N),
    })
    optics = pd.DataFrame({
        "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
        "rlnTomoTiltSeriesPixelSize": [1.35], "rlnOpticsGroup": [1], "rlnOpticsGroupName": ["optics1"],
        "rlnCtfDataAreCtfPremultiplied": [1], "rlnImageDimensionality": [3],
        "rlnTomoSubtomogramBinning": [2.0], "rlnImagePixelSize": [PIXEL], "rlnImageSize": [64],
    })
    return [("general", {"rlnTomoSubTomosAre2DStacks": 0}), ("optics", optics), ("particles", particles)]


def relion4_blocks(rng) -> list:
    a = angles(rng)
    particles = pd.DataFrame({
        "rlnTomoName": [f"TS_00{1 + i % 3}" for i in range(N)],
        "rlnTomoParticleId": np.arange(N) + 91,
        "rlnMicrographName": [f"tomograms/TS_00{1 + i % 3}/TS_00{1 + i % 3}_aligned.st:mrc" for i in range(N)],
        "rlnCoordinateX": rng.uniform(0, 4000, N), "rlnCoordinateY": rng.uniform(0, 4000, N),
        "rlnCoordinateZ": rng.uniform(0, 1000, N),
        "rlnImageName": [f"rec/particles/subtomo_{i}.mrc" for i in range(N)],
        "rlnOriginXAngst": rng.uniform(-9, 9, N), "rlnOriginYAngst": rng.uniform(-9, 9, N),
        "rlnOriginZAngst": rng.uniform(-9, 9, N),
        "rlnAngleRot": a[:, 0], "rlnAngleTilt": a[:, 1], "rlnAnglePsi": a[:, 2],
        "rlnClassNumber": 1, "rlnOpticsGroup": 1, "rlnRandomSubset": 1 + np.arange(N) % 2,
        "rlnDefocusU": rng.uniform(8e4, 9e4, N), "rlnCtfImage": "ctf.mrc",
    })
    optics = pd.DataFrame({
        "rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
        "rlnSphericalAberration": [2.7], "rlnVoltage": [300.0],
        "rlnTomoTiltSeriesPixelSize": [1.35], "rlnImagePixelSize": [PIXEL],
        "rlnImageDimensionality": [3], "rlnImageSize": [128],
    })
    return [("optics", optics), ("particles", particles)]


def dynamo_rows(rng) -> np.ndarray:
    """43 columns: Dynamo's 42 and one past them."""
    a = angles(rng)
    table = np.zeros((N, 43))
    table[:, 0] = np.arange(N) + 1
    table[:, 1:3] = 1
    table[:, 3:6] = np.round(rng.uniform(-3, 3, (N, 3)), 4)
    table[:, 6:9] = a
    table[:, 9] = np.round(rng.uniform(0, 1, N), 5)
    table[:, 12] = 1
    table[:, 13:17] = [-57, 62, -60, 60]
    table[:, 19] = 1 + np.arange(N) % 2
    table[:, 21] = rng.integers(0, 3, N)
    table[:, 23:26] = np.round(rng.uniform(1, 900, (N, 3)), 2)
    table[:, 35] = PIXEL
    table[:, 42] = rng.uniform(0, 5, N)
    return table


def write_dynamo_text(path, table) -> None:
    integer_columns = {0, 1, 2, 12, 13, 14, 15, 16, 19, 21}
    path.write_text("\n".join(" ".join(f"{int(v)}" if j in integer_columns else repr(float(v))
                                       for j, v in enumerate(row)) for row in table) + "\n")


def motivelist(rng) -> np.ndarray:
    a = angles(rng)
    values = np.zeros((N, 20), dtype=np.float32)
    values[:, 0] = rng.uniform(0, 1, N)
    values[:, 1:3] = rng.uniform(0, 500, (N, 2))
    values[:, 3] = np.arange(N) + 1
    values[:, 4] = 1 + np.arange(N) % 3
    values[:, 5] = np.arange(N)
    values[:, 7:10] = np.round(rng.uniform(1, 500, (N, 3)))
    values[:, 10:13] = rng.uniform(-3, 3, (N, 3))
    values[:, 13:16] = rng.uniform(-3, 3, (N, 3))
    values[:, 16], values[:, 17], values[:, 18] = a[:, 0], a[:, 2], a[:, 1]
    values[:, 19] = rng.integers(1, 3, N)
    return values


def stopgap_block(rng) -> pd.DataFrame:
    a = angles(rng)
    return pd.DataFrame({
        "motl_idx": np.arange(N) + 1, "tomo_num": 1 + np.arange(N) % 2, "object": 1,
        "subtomo_num": np.arange(N) + 1, "halfset": np.where(np.arange(N) % 2, "B", "A"),
        "orig_x": rng.integers(1, 500, N), "orig_y": rng.integers(1, 500, N),
        "orig_z": rng.integers(1, 200, N), "score": rng.uniform(0, 1, N),
        "x_shift": rng.uniform(-3, 3, N), "y_shift": rng.uniform(-3, 3, N),
        "z_shift": rng.uniform(-3, 3, N), "phi": a[:, 0], "psi": a[:, 2], "the": a[:, 1],
        "class": 1,
    })


def assert_other_columns_identical(before: pd.DataFrame, after: pd.DataFrame, pose_columns) -> None:
    assert list(after.columns) == list(before.columns)
    for column in before.columns:
        if column in pose_columns:
            continue
        pd.testing.assert_series_equal(after[column], before[column], check_names=True,
                                       obj=f"column {column}")


# --- round trips: file -> model -> same format ------------------------------------------------


@pytest.mark.parametrize("version", ["relion5", "relion4"])
def test_relion_round_trip_is_lossless(tmp_path, version):
    rng = np.random.default_rng(1 if version == "relion5" else 2)
    blocks = relion5_blocks(rng) if version == "relion5" else relion4_blocks(rng)
    original = tmp_path / "in.star"
    original.write_text(star_text(blocks))
    particles = read_particles(original)
    assert particles.source.format == version and len(particles) == N
    written = write_particles(particles, tmp_path / "out.star")
    before, after = starfile.read(original, always_dict=True), starfile.read(written, always_dict=True)
    assert list(after) == list(before)
    for name in before:
        if isinstance(before[name], dict):
            assert after[name] == before[name]
        elif name != "particles":
            pd.testing.assert_frame_equal(after[name], before[name])
    p, q = before["particles"], after["particles"]
    angle_columns = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
    origins = ["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]
    assert_other_columns_identical(p, q, angle_columns + origins)
    difference = relion_matrix(q[angle_columns].to_numpy()) - relion_matrix(p[angle_columns].to_numpy())
    assert np.abs(difference).max() < 1e-6
    assert np.abs(q[origins].to_numpy() - p[origins].to_numpy()).max() < 1e-4


def test_dynamo_round_trip_is_lossless_including_columns_past_42(tmp_path):
    table = dynamo_rows(np.random.default_rng(3))
    original = tmp_path / "in.tbl"
    write_dynamo_text(original, table)
    (tmp_path / "in.doc").write_text("1 tomograms/a.mrc\n2 tomograms/b.mrc\n")
    particles = read_particles(original)
    assert particles.pixel_size == pytest.approx(PIXEL)
    assert set(particles.fields["tomogram"]) == {"tomograms/a.mrc", "tomograms/b.mrc"}
    assert set(zip(particles.fields["tilt_min"], particles.fields["tilt_max"], particles.fields["tilt_axis"])) == {(-57, 62, "y")}
    written = write_particles(particles, tmp_path / "out.tbl")
    before, after = dynamotable.read(str(original)), dynamotable.read(str(written))
    assert after.shape == before.shape == (N, 43)
    for j in range(43):
        if j in (6, 7, 8):
            continue
        np.testing.assert_array_equal(after.iloc[:, j].to_numpy(), before.iloc[:, j].to_numpy(),
                                      err_msg=f"column {j + 1}")
    difference = dynamo_matrix(after.iloc[:, 6:9].to_numpy()) - dynamo_matrix(before.iloc[:, 6:9].to_numpy())
    assert np.abs(difference).max() < 1e-6
    assert (tmp_path / "out.doc").read_text() == (tmp_path / "in.doc").read_text()


def test_motivelist_round_trip_is_lossless(tmp_path):
    values = motivelist(np.random.default_rng(4))
    original = tmp_path / "in.em"
    emfile.write(original, values[None])
    particles = read_particles(original, pixel_size=PIXEL)
    written = write_particles(particles, tmp_path / "out.em")
    header, after = emfile.read(written)
    assert after.dtype == np.float32 and after.shape == (1, N, 20)
    keep = [r for r in range(20) if r not in (16, 17, 18)]
    np.testing.assert_array_equal(after[0][:, keep], values[:, keep])
    before_r = tom_matrix(values[:, 16], values[:, 17], values[:, 18])
    after_r = tom_matrix(after[0][:, 16], after[0][:, 17], after[0][:, 18])
    assert np.abs(after_r - before_r).max() < 1e-6


def test_stopgap_round_trip_is_lossless(tmp_path):
    block = stopgap_block(np.random.default_rng(5))
    original = tmp_path / "in.star"
    original.write_text(star_text([("stopgap_motivelist", block)]))
    assert detect_format(original) == "stopgap"
    particles = read_particles(original, pixel_size=PIXEL)
    assert list(particles.fields["half_set"][:4]) == [1, 2, 1, 2]
    written = write_particles(particles, tmp_path / "out.star")
    before, after = starfile.read(original), starfile.read(written)
    assert_other_columns_identical(before, after, ["phi", "psi", "the"])
    difference = (tom_matrix(after["phi"], after["psi"], after["the"])
                  - tom_matrix(before["phi"], before["psi"], before["the"]))
    assert np.abs(difference).max() < 1e-6


# --- conversions between every pair of formats -------------------------------------------------


@pytest.fixture(scope="module")
def reference_set(tmp_path_factory):
    """40 particles in tomograms "1" and "2" (400 x 300 x 120 voxels of 2.7 A), with poses,
    shifts, coordinates, classes and scores; and a tomogram table describing the tomograms."""
    rng = np.random.default_rng(6)
    directory = tmp_path_factory.mktemp("tables")
    table = directory / "tomograms.csv"
    table.write_text("tomogram,tilt_min,tilt_max,size_x,size_y,size_z,pixel_size\n"
                     f"1,-60,60,400,300,120,{PIXEL}\n2,-45,55,400,300,120,{PIXEL}\n")
    particles = ParticleSet.create(
        Rotation.random(N, random_state=rng).as_matrix(), rng.uniform(-4, 4, (N, 3)),
        pixel_size=PIXEL, tomogram=np.array([str(1 + i % 2) for i in range(N)], dtype=object),
        x=rng.uniform(20, 380, N).round(3), y=rng.uniform(20, 280, N).round(3),
        z=rng.uniform(20, 100, N).round(3), class_number=rng.integers(1, 4, N),
        score=rng.uniform(0, 1, N).round(4), coordinate_frame="index0", coordinate_unit=PIXEL,
        tomograms={"1": Tomogram("1", size=(400, 300, 120), voxel_size=PIXEL, number=1),
                   "2": Tomogram("2", size=(400, 300, 120), voxel_size=PIXEL, number=2)})
    return particles, table


def convert(particles, directory, name, table):
    path = write_particles(particles, directory / f"{name}{FORMATS[name].suffix}", name)
    return read_particles(path, name, pixel_size=PIXEL, tomograms=table)


@pytest.mark.parametrize("first, second", list(permutations(FORMATS, 2)))
def test_every_pair_of_formats_converts_both_ways_with_the_same_poses(tmp_path, reference_set, first, second):
    particles, table = reference_set
    a = convert(particles, tmp_path / "a", first, table)
    b = convert(a, tmp_path / "b", second, table)
    back = convert(b, tmp_path / "c", first, table)
    for converted in (a, b, back):
        assert np.abs(converted.rotations - particles.rotations).max() < 1e-6
        assert np.abs(converted.shifts_angstrom() - particles.shifts_angstrom()).max() < 1e-4
        np.testing.assert_allclose(converted.coordinates("index0", PIXEL),
                                   particles.coordinates("index0", PIXEL), atol=1e-3)
        assert list(converted.fields["class_number"]) == list(particles.fields["class_number"])
        assert list(converted.fields["tomogram"]) == list(particles.fields["tomogram"])
    assert list(back.fields["tilt_min"]) == [-60.0 if t == "1" else -45.0 for t in particles.fields["tomogram"]]


# --- convention oracles --------------------------------------------------------------------


def test_relion_angles_follow_eulerangles_relion_convention(tmp_path):
    rng = np.random.default_rng(7)
    particles = ParticleSet.create(Rotation.random(N, random_state=rng).as_matrix(), np.zeros((N, 3)),
                                   pixel_size=1.0)
    written = starfile.read(write_particles(particles, tmp_path / "p.star", "relion5"), always_dict=True)
    a = written["particles"][["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()
    assert np.abs(relion_matrix(a) - particles.rotations).max() < 1e-9
    # eulerangles' own conversion RELION -> Dynamo reproduces the pose read from a Dynamo table.
    dynamo = eulerangles.convert_eulers(a, "relion", "dynamo")
    assert np.abs(dynamo_matrix(dynamo) - particles.rotations).max() < 1e-6


def test_dynamo_to_relion_follows_rot_narot_minus_90_psi_tdrot_plus_90(tmp_path):
    rng = np.random.default_rng(8)
    table = dynamo_rows(rng)
    write_dynamo_text(tmp_path / "in.tbl", table)
    path = write_particles(read_particles(tmp_path / "in.tbl"), tmp_path / "out.star", "relion4")
    relion = starfile.read(path, always_dict=True)["particles"]
    tdrot, tilt, narot = table[:, 6], table[:, 7], table[:, 8]

    def same_angle(a, b):
        return np.abs((np.asarray(a) - np.asarray(b) + 180) % 360 - 180).max() < 1e-6

    assert same_angle(relion["rlnAngleRot"], narot - 90)
    assert same_angle(relion["rlnAngleTilt"], tilt)
    assert same_angle(relion["rlnAnglePsi"], tdrot + 90)
    # and eulerangles' conversion of the same angles agrees (away from its gimbal threshold)
    expected = eulerangles.convert_eulers(table[:, 6:9], "dynamo", "relion")
    assert np.abs(relion_matrix(expected) - relion_matrix(relion[["rlnAngleRot", "rlnAngleTilt",
                                                                   "rlnAnglePsi"]].to_numpy())).max() < 1e-6
    # Shifts: RELION's origin is minus Dynamo's shift, in Angstrom.
    np.testing.assert_allclose(relion["rlnOriginXAngst"], -table[:, 3] * PIXEL, atol=1e-9)


def test_dynamo_angles_where_eulerangles_matrix2euler_fails_convert_exactly(tmp_path):
    """eulerangles 1.0.2 takes |R[0, 2]| < 1e-4 for gimbal lock: narot near 0 or 180 with a
    tilt far from 0 gets wrong RELION angles there; subalign's conversion stays exact."""
    triples = np.array([[-2.0248, 80.2896, 0.00135], [33.0, 120.0, 179.9999], [-150.0, 45.0, -0.0004]])
    broken = eulerangles.convert_eulers(triples, "dynamo", "relion")
    assert np.abs(relion_matrix(broken) - dynamo_matrix(triples)).max() > 0.1  # the bug is there
    table = dynamo_rows(np.random.default_rng(9))[:3]
    table[:, 6:9] = triples
    write_dynamo_text(tmp_path / "in.tbl", table)
    path = write_particles(read_particles(tmp_path / "in.tbl"), tmp_path / "out.star", "relion4")
    relion = starfile.read(path, always_dict=True)["particles"]
    found = relion_matrix(relion[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy())
    assert np.abs(found - dynamo_matrix(triples)).max() < 1e-9


def test_motivelist_angles_follow_tom_pointrotate_and_cryocat_dynamo_relation(tmp_path):
    """AV3 rotates the reference by tom_pointrotate's Rz(psi) Rx(theta) Rz(phi); cryoCAT's
    dynamo2emmotl converts with phi = -narot, psi = -tdrot, theta = -tilt."""
    values = motivelist(np.random.default_rng(10))
    emfile.write(tmp_path / "in.em", values[None])
    particles = read_particles(tmp_path / "in.em", pixel_size=PIXEL)
    expected = tom_matrix(values[:, 16].astype(float), values[:, 17].astype(float), values[:, 18].astype(float))
    assert np.abs(particles.rotations - expected).max() < 1e-6
    table = dynamotable.read(str(write_particles(particles, tmp_path / "out.tbl")))
    from_dynamo = tom_matrix(-table["narot"], -table["tdrot"], -table["tilt"])
    assert np.abs(from_dynamo - expected).max() < 1e-6
    np.testing.assert_allclose(table[["dx", "dy", "dz"]].to_numpy(), values[:, 10:13], atol=1e-6)


def test_coordinates_follow_each_formats_counting(tmp_path):
    """RELION counts voxels from 0, Dynamo, AV3 and STOPGAP from 1; RELION 5 measures from
    the tomogram's centre voxel (size // 2) in Angstrom."""
    particles = ParticleSet.create(np.eye(3)[None], np.zeros((1, 3)), pixel_size=PIXEL,
                                   tomogram=np.array(["1"], dtype=object), x=[10.0], y=[20.0], z=[30.0],
                                   coordinate_frame="index0", coordinate_unit=PIXEL,
                                   tomograms={"1": Tomogram("1", size=(401, 300, 120), voxel_size=PIXEL)})
    relion4 = starfile.read(write_particles(particles, tmp_path / "a.star", "relion4"), always_dict=True)
    assert relion4["particles"][["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]].iloc[0].tolist() == [10, 20, 30]
    relion5 = starfile.read(write_particles(particles, tmp_path / "b.star", "relion5"), always_dict=True)
    centred = relion5["particles"][["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                                    "rlnCenteredCoordinateZAngst"]].iloc[0].to_numpy()
    np.testing.assert_allclose(centred, (np.array([10, 20, 30]) - [200, 150, 60]) * PIXEL, atol=1e-9)
    dynamo = dynamotable.read(str(write_particles(particles, tmp_path / "c.tbl")))
    assert dynamo[["x", "y", "z"]].iloc[0].tolist() == [11, 21, 31]
    _, motl = emfile.read(write_particles(particles, tmp_path / "d.em"))
    assert motl[0, 0, 7:10].tolist() == [11, 21, 31]


# --- errors ------------------------------------------------------------------------------


def one_line_error(call) -> str:
    with pytest.raises(ParticleTableError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def relion_file(tmp_path, edit) -> str:
    blocks = relion5_blocks(np.random.default_rng(11))
    edit(dict(blocks))
    path = tmp_path / "bad.star"
    path.write_text(star_text(blocks))
    return path


def test_missing_columns_name_file_and_columns(tmp_path):
    path = relion_file(tmp_path, lambda b: b["particles"].pop("rlnAngleTilt"))
    message = one_line_error(lambda: read_particles(path))
    assert message.startswith(f"{path}: missing column(s) rlnAngleTilt; expected RELION particle poses")


def test_nan_angle_names_file_row_and_column(tmp_path):
    path = relion_file(tmp_path, lambda b: b["particles"].__setitem__(
        "rlnAnglePsi", [np.nan if i == 6 else 1.0 for i in range(N)]))
    assert one_line_error(lambda: read_particles(path)) == (
        f"{path}: row 7, column rlnAnglePsi: expected a finite angle in degrees, found nan")


def test_dynamo_nan_angle_names_the_column_number(tmp_path):
    table = dynamo_rows(np.random.default_rng(12))
    table[2, 7] = np.nan
    write_dynamo_text(tmp_path / "t.tbl", table)
    message = one_line_error(lambda: read_particles(tmp_path / "t.tbl"))
    assert message == f"{tmp_path / 't.tbl'}: row 3, column 8 (tilt): expected a finite number, found nan"


def test_absent_pixel_size_is_an_error_where_angstrom_need_it(tmp_path):
    path = relion_file(tmp_path, lambda b: [b["optics"].pop(c) for c in
                                            ("rlnImagePixelSize", "rlnTomoTiltSeriesPixelSize")])
    assert one_line_error(lambda: read_particles(path)) == (
        f"{path}: pixel size absent; expected rlnImagePixelSize in data_optics to convert "
        "rlnOriginX/Y/ZAngst to voxels (or give --pixel-size)")
    values = motivelist(np.random.default_rng(13))
    emfile.write(tmp_path / "m.em", values[None])
    motl = read_particles(tmp_path / "m.em")
    assert motl.pixel_size is None
    assert one_line_error(lambda: write_particles(motl, tmp_path / "m.star", "relion5")) == (
        f"{tmp_path / 'm.em'}: pixel size absent; expected one for rlnOriginX/Y/ZAngst "
        "(give --pixel-size or a file that states it)")


def test_optics_groups_of_different_pixel_sizes_convert_and_refuse_one_line(tmp_path):
    def two_groups(blocks):
        optics = blocks["optics"]
        blocks["optics"].loc[1] = optics.loc[0]
        blocks["optics"].loc[1, ["rlnOpticsGroup", "rlnImagePixelSize"]] = [2, 5.4]
        blocks["particles"]["rlnOpticsGroup"] = 1 + np.arange(N) % 2

    path = relion_file(tmp_path, two_groups)
    particles = read_particles(path)  # shown and converted, each origin with its group's size
    np.testing.assert_allclose(particles.pixel_sizes, np.where(np.arange(N) % 2, 5.4, 2.7))
    assert one_line_error(lambda: particles.require_pixel_size("alignment")) == (
        f"{path}: pixel sizes 2.7 A (optics group 1: 20 particles), 5.4 A (optics group 2: 20 "
        "particles); expected one pixel size for alignment (take one optics group)")
    again = starfile.read(write_particles(particles, tmp_path / "again.star"), always_dict=True)
    before = starfile.read(path, always_dict=True)
    pd.testing.assert_frame_equal(again["particles"], before["particles"])
    good = relion_file(tmp_path, lambda b: None)
    assert one_line_error(lambda: read_particles(good, pixel_size=3.0)) == (
        f"{good}: column rlnImagePixelSize: pixel size 2.7 Angstrom is inconsistent with the "
        "given pixel size 3 Angstrom")


def test_unknown_tomogram_in_the_wedge_table_names_particle_and_table(tmp_path):
    path = relion_file(tmp_path, lambda b: None)
    table = tmp_path / "wedges.csv"
    table.write_text("tomogram,tilt_min,tilt_max\nTS_01,-60,60\n")
    particles = read_particles(path, tomograms=table)  # show and convert need no wedge
    assert one_line_error(particles.tilt_ranges) == (
        f"{path}: row 2, column rlnTomoName: no wedge known for tomogram 'TS_02': it is in no "
        "tomogram table (the tomograms known are 'TS_01'); expected a tilt range from the file, "
        "a tomogram table (--tomograms) or a default (--wedge MIN MAX)")
    with_default = read_particles(path, tomograms=table, wedge=[-50, 50])
    assert list(with_default.fields["tilt_min"][:2]) == [-60, -50]


def test_unknown_format_and_suffix_are_errors(tmp_path):
    assert one_line_error(lambda: read_particles(tmp_path / "x.star", "relion6")) == (
        "format: expected one of relion5, relion4, dynamo, em, stopgap, found 'relion6'")
    assert one_line_error(lambda: detect_format(tmp_path / "x.csv")).startswith(
        f"{tmp_path / 'x.csv'}: expected a .star, .tbl or .em particle file")


def test_relion_3_0_files_give_pixel_size_from_detector_and_origins_in_pixels(tmp_path):
    """RELION 3.0: one unnamed table, pixel size = rlnDetectorPixelSize * 1e4 / rlnMagnification,
    origins in pixels, the tomogram in rlnMicrographName."""
    text = ("data_\n\nloop_\n_rlnMicrographName #1\n_rlnCoordinateX #2\n_rlnCoordinateY #3\n"
            "_rlnCoordinateZ #4\n_rlnAngleRot #5\n_rlnAngleTilt #6\n_rlnAnglePsi #7\n_rlnOriginX #8\n"
            "_rlnOriginY #9\n_rlnOriginZ #10\n_rlnDetectorPixelSize #11\n_rlnMagnification #12\n"
            "tomo/t1.mrc 100.0 200.0 50.0 10.0 20.0 30.0 1.5 -2.0 0.25 5.0 10000.0\n"
            "tomo/t2.mrc 110.0 210.0 60.0 40.0 50.0 60.0 0.0 1.0 -1.0 5.0 10000.0\n")
    (tmp_path / "r30.star").write_text(text)
    particles = read_particles(tmp_path / "r30.star")
    assert particles.source.format == "relion4" and particles.pixel_size == pytest.approx(5.0)
    np.testing.assert_allclose(particles.shifts, [[-1.5, 2.0, -0.25], [0.0, -1.0, 1.0]])
    assert list(particles.fields["tomogram"]) == ["tomo/t1.mrc", "tomo/t2.mrc"]
    assert particles.tomograms["tomo/t1.mrc"].path == "tomo/t1.mrc"
    np.testing.assert_allclose(particles.coordinates("index1", 5.0), [[101, 201, 51], [111, 211, 61]])
    assert np.abs(particles.rotations - relion_matrix([[10, 20, 30], [40, 50, 60]])).max() < 1e-12


def test_tilt_axis_x_wedges_go_to_dynamo_ftype_2_and_back(tmp_path):
    particles = ParticleSet.create(np.tile(np.eye(3), (2, 1, 1)), np.zeros((2, 3)), pixel_size=PIXEL,
                                   tilt_min=[-50.0, -60.0], tilt_max=[40.0, 60.0],
                                   tilt_axis=np.array(["x", "y"], dtype=object))
    table = dynamotable.read(str(write_particles(particles, tmp_path / "w.tbl")))
    assert table[["ftype", "ymintilt", "ymaxtilt", "xmintilt", "xmaxtilt"]].values.tolist() == [
        [2, 0, 0, -50, 40], [1, -60, 60, 0, 0]]
    back = read_particles(tmp_path / "w.tbl")
    assert list(back.fields["tilt_axis"]) == ["x", "y"]
    assert back.tilt_ranges() == [TiltRange(-50, 40), TiltRange(-60, 60)]


def test_a_copied_table_still_names_its_files_and_weights(tmp_path):
    """Copying a table one folder deeper (a refinement's best round to the top, or back)
    rewrites its relative image and weight names so they name the same files."""
    from subalign.io.star import copy_star

    (tmp_path / "sub").mkdir()
    for name in ("p.mrc", "w.mrc"):
        (tmp_path / "sub" / name).write_bytes(b"")
    (tmp_path / "round_001").mkdir()
    (tmp_path / "round_001" / "set.star").write_text(
        "data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnImageName #2\n_rlnCtfImage #3\n"
        "10 ../sub/p.mrc ../sub/w.mrc\n")
    table = starfile.read(copy_star(tmp_path / "round_001" / "set.star", tmp_path / "set.star"))
    assert table[["rlnImageName", "rlnCtfImage"]].values.tolist() == [["sub/p.mrc", "sub/w.mrc"]]


def test_writing_links_never_replaces_a_users_file(tmp_path):
    from subalign.io.particles import link_files

    source = tmp_path / "volume.mrc"
    source.write_bytes(b"volume")
    (tmp_path / "mine.mrc").write_text("the user's own file")
    with pytest.raises(ParticleTableError, match="mine.mrc: exists and is not a link to a particle"):
        link_files([tmp_path / "mine.mrc"], [source])
    assert (tmp_path / "mine.mrc").read_text() == "the user's own file"
    link_files([tmp_path / "link.mrc"], [source])
    link_files([tmp_path / "link.mrc"], [source])  # its own link: kept
    assert (tmp_path / "link.mrc").is_symlink()


def test_an_empty_path_cell_in_a_tomogram_csv_is_no_path(tmp_path):
    from subalign.io.tomograms import read_tomogram_table

    (tmp_path / "t.csv").write_text("tomogram,tilt_min,tilt_max,path\nTS,-60,60,\nTT,-50,50,tt.mrc\n")
    tomograms = read_tomogram_table(tmp_path / "t.csv")
    assert tomograms["TS"].path is None and tomograms["TT"].path == "tt.mrc"


def test_a_tomogram_table_and_its_mrc_must_agree_on_the_size(tmp_path):
    """A tomogram table's size places centred coordinates; the MRC is what is cropped: when
    they disagree, the box would come from elsewhere than the coordinate says."""
    from subalign.io.mrc import write_volume
    from subalign.io.subtomograms import SubtomogramReader

    write_volume(tmp_path / "ts.mrc", np.random.default_rng(0).normal(size=(20, 40, 40)), voxel_size=10.0)
    (tmp_path / "set.star").write_text(
        "data_particles\n\nloop_\n_rlnTomoName #1\n_rlnAngleRot #2\n_rlnAngleTilt #3\n"
        "_rlnAnglePsi #4\n_rlnCoordinateX #5\n_rlnCoordinateY #6\n_rlnCoordinateZ #7\n"
        "TS 0 0 0 20 20 10\n")
    for size, fine in (("40,40,20", True), ("40,40,30", False)):
        (tmp_path / "t.csv").write_text(f"tomogram,path,size_x,size_y,size_z,pixel_size\nTS,ts.mrc,{size},10\n")
        particles = read_particles(tmp_path / "set.star", tomograms=tmp_path / "t.csv", pixel_size=10.0)
        with SubtomogramReader(particles, box_size=8) as reader:
            if fine:
                assert reader(0).volume.shape == (8, 8, 8)
            else:
                with pytest.raises(ParticleTableError, match=r"tomogram 'TS': its table says \(40, 40, "
                                                             r"30\) voxels of 10 A, .*ts.mrc holds \(40, 40, 20\)"):
                    reader(0)
