"""Conventions of the particle-set formats at their edges (subalign.io.relion, .dynamo,
.em_motivelist): the cases the round trips of test_formats.py do not reach, each against an
oracle that does not come from subalign (eulerangles, the formats' documentation, tables
written with starfile, dynamotable and emfile). Written for the survivors of
``benchmarks/mutation.py`` (issue #24).
"""

from __future__ import annotations

from pathlib import Path

import eulerangles
import numpy as np
import pandas as pd
import pytest
import starfile

from subalign.io.relion import read_relion, write_relion5

PIXEL = 2.5


def relion_matrix(angles) -> np.ndarray:
    """RELION's matrix A of (rot, tilt, psi): eulerangles' intrinsic ZYZ matrix, transposed
    (it rotates the reference into the particle: our active R)."""
    matrices = eulerangles.euler2matrix(np.asarray(angles, float).reshape(-1, 3), axes="zyz",
                                        intrinsic=True, right_handed_rotation=True)
    return np.swapaxes(np.asarray(matrices).reshape(-1, 3, 3), -1, -2)


def angle_triples(rng, n) -> np.ndarray:
    return np.column_stack([rng.uniform(-180, 180, n), rng.uniform(5, 175, n), rng.uniform(-180, 180, n)])


def relion5_particles(rng, n, **extra) -> pd.DataFrame:
    a = angle_triples(rng, n)
    return pd.DataFrame({
        "rlnTomoName": "TS_01", "rlnAngleRot": a[:, 0], "rlnAngleTilt": a[:, 1],
        "rlnAnglePsi": a[:, 2], "rlnOriginXAngst": rng.uniform(-9, 9, n),
        "rlnOriginYAngst": rng.uniform(-9, 9, n), "rlnOriginZAngst": rng.uniform(-9, 9, n),
        "rlnCenteredCoordinateXAngst": rng.uniform(-900, 900, n),
        "rlnCenteredCoordinateYAngst": rng.uniform(-900, 900, n),
        "rlnCenteredCoordinateZAngst": rng.uniform(-300, 300, n),
        "rlnImageName": [f"Subtomograms/TS_01/{i}_data.mrc" for i in range(n)],
        "rlnOpticsGroup": 1, **extra})


def optics(**extra) -> pd.DataFrame:
    return pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["optics1"],
                         "rlnImagePixelSize": [PIXEL], "rlnImageSize": [48], **extra})


def write_star(path, particles, optics_block=None, general=None):
    """Write the blocks with starfile; return the path and the particle table as written
    (6 decimals), the values the oracle starts from."""
    blocks = {}
    if general is not None:
        blocks["general"] = general
    if optics_block is not None:
        blocks["optics"] = optics_block
    blocks["particles"] = particles
    starfile.write(blocks, path)
    return path, starfile.read(path, always_dict=True)["particles"]


# --- RELION ---------------------------------------------------------------------------------


def test_relion5_composed_orientation_is_subtomogram_then_particle(tmp_path):
    """RELION 5 (particle_set.cpp): the pose in the tomogram is A_subtomogram A_particle, and
    the origin is in the pseudo-subtomogram's frame: the particle sits at A_subtomogram
    (-origin) from the box centre."""
    rng = np.random.default_rng(1)
    n = 6
    sub = angle_triples(rng, n)
    table = relion5_particles(rng, n, rlnTomoSubtomogramRot=sub[:, 0],
                              rlnTomoSubtomogramTilt=sub[:, 1], rlnTomoSubtomogramPsi=sub[:, 2])
    path, table = write_star(tmp_path / "p.star", table, optics())
    particles = read_relion(path)
    sub = table[["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]].to_numpy()
    a_sub = relion_matrix(sub)
    a_particle = relion_matrix(table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy())
    np.testing.assert_allclose(particles.rotations, a_sub @ a_particle, atol=1e-9)
    origins = table[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy()
    np.testing.assert_allclose(particles.shifts, np.einsum("nij,nj->ni", a_sub, -origins / PIXEL),
                               atol=1e-9)


def test_relion_without_an_optics_group_column_reads_the_optics_values(tmp_path):
    """An optics block of one row with no rlnOpticsGroup gives every particle its values."""
    rng = np.random.default_rng(2)
    table = relion5_particles(rng, 4).drop(columns="rlnOpticsGroup")
    block = optics().drop(columns="rlnOpticsGroup")
    path, table = write_star(tmp_path / "p.star", table, block)
    particles = read_relion(path)
    assert particles.pixel_size == PIXEL and particles.box_size == 48
    origins = table[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy()
    np.testing.assert_allclose(particles.shifts, -origins / PIXEL, atol=1e-9)


def test_relion_single_particle_reads_box_size_and_file_name(tmp_path):
    rng = np.random.default_rng(3)
    table = relion5_particles(rng, 1)
    particles = read_relion(write_star(tmp_path / "p.star", table, optics())[0])
    assert len(particles) == 1 and particles.box_size == 48
    assert list(particles.fields["subtomogram"]) == ["Subtomograms/TS_01/0_data.mrc"]


def test_relion_particle_files_and_box_size_are_read(tmp_path):
    rng = np.random.default_rng(4)
    table = relion5_particles(rng, 5)
    particles = read_relion(write_star(tmp_path / "p.star", table, optics())[0])
    assert list(particles.fields["subtomogram"]) == list(table["rlnImageName"])
    assert particles.box_size == 48


def test_relion_without_coordinates_or_stack_flag_reads_as_relion5_subtomograms(tmp_path):
    """read_relion: a file with neither rlnCenteredCoordinate* nor rlnCoordinate* is RELION 5;
    without rlnTomoSubTomosAre2DStacks (RELION's default 0) its particles are 3-D."""
    rng = np.random.default_rng(5)
    table = relion5_particles(rng, 3).drop(columns=[
        "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"])
    particles = read_relion(write_star(tmp_path / "p.star", table, optics())[0])
    assert particles.source.format == "relion5"
    assert particles.stacks is False
    stacked = read_relion(write_star(tmp_path / "s.star", table, optics(),
                                     general={"rlnTomoSubTomosAre2DStacks": 1})[0])
    assert stacked.stacks is True


def test_relion_without_angles_reads_identity_poses_and_writes_none(tmp_path):
    rng = np.random.default_rng(6)
    table = relion5_particles(rng, 4).drop(columns=["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"])
    particles = read_relion(write_star(tmp_path / "p.star", table, optics())[0])
    assert particles.poses_given is False
    np.testing.assert_array_equal(particles.rotations, np.tile(np.eye(3), (4, 1, 1)))
    written = starfile.read(write_relion5(particles, tmp_path / "out.star"))["particles"]
    assert not {"rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"} & set(written.columns)


def test_binned_set_written_as_relion5_states_its_particle_pixel_size(tmp_path):
    """Optics with only the tilt-series pixel and the subtomogram binning (RELION 4) give
    the particle pixel as their product; RELION 5 states it as rlnImagePixelSize in
    data_optics, and the written file reads back with the same pixel size and shifts."""
    rng = np.random.default_rng(7)
    n = 4
    a = angle_triples(rng, n)
    table = pd.DataFrame({
        "rlnTomoName": "TS_01", "rlnAngleRot": a[:, 0], "rlnAngleTilt": a[:, 1], "rlnAnglePsi": a[:, 2],
        "rlnOriginXAngst": rng.uniform(-9, 9, n), "rlnOriginYAngst": rng.uniform(-9, 9, n),
        "rlnOriginZAngst": rng.uniform(-9, 9, n), "rlnOpticsGroup": 1})
    block = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["optics1"],
                          "rlnTomoTiltSeriesPixelSize": [1.35], "rlnTomoSubtomogramBinning": [2.0]})
    path, table = write_star(tmp_path / "binned.star", table, block)
    particles = read_relion(path)
    assert particles.pixel_size == pytest.approx(2.7)
    written = write_relion5(particles, tmp_path / "p5.star")
    assert starfile.read(written)["optics"]["rlnImagePixelSize"].tolist() == pytest.approx([2.7])
    again = read_relion(written)
    assert again.pixel_size == pytest.approx(2.7)
    origins = table[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy()
    np.testing.assert_allclose(again.shifts, -origins / 2.7, atol=1e-6)


def test_warptools_relion5_set_keeps_its_pixel_coordinates_when_written(tmp_path):
    """WarpTools writes RELION 5 sets with rlnCoordinateX/Y/Z in particle pixels
    (rlnImagePixelSize); written as RELION 5 again they stay pixel coordinates, the same
    numbers, with no centred columns invented (that would need the tomograms' sizes)."""
    rng = np.random.default_rng(8)
    table = relion5_particles(rng, 4).drop(columns=[
        "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"])
    table["rlnCoordinateX"], table["rlnCoordinateY"], table["rlnCoordinateZ"] = \
        rng.uniform(0, 900, (3, 4)).round(2)
    table["rlnTomoVisibleFrames"] = "[1,1,1,1,1]"
    path, table = write_star(tmp_path / "warp.star", table, optics())
    particles = read_relion(path)
    assert particles.source.format == "relion5" and particles.coordinate_unit == PIXEL
    written = starfile.read(write_relion5(particles, tmp_path / "out.star"))["particles"]
    assert "rlnCenteredCoordinateXAngst" not in written.columns
    for axis in "XYZ":
        np.testing.assert_allclose(written[f"rlnCoordinate{axis}"], table[f"rlnCoordinate{axis}"], atol=1e-6)


# --- Dynamo ---------------------------------------------------------------------------------


def dynamo_table(rng, n) -> np.ndarray:
    """n rows of Dynamo's 42 columns and one past them (column 43)."""
    table = np.zeros((n, 43))
    table[:, 0] = np.arange(n) + 1                      # 1 tag
    table[:, 3:6] = np.round(rng.uniform(-3, 3, (n, 3)), 4)  # 4-6 dx dy dz
    table[:, 6:9] = np.round(angle_triples(rng, n), 4)  # 7-9 tdrot tilt narot
    table[:, 9] = np.round(rng.uniform(0, 1, n), 4)     # 10 cc
    table[:, 19] = 1 + np.arange(n) % 2                 # 20 tomo
    table[:, 21] = 1                                    # 22 class
    table[:, 23:26] = np.round(rng.uniform(1, 900, (n, 3)), 2)  # 24-26 x y z
    table[:, 35] = PIXEL                                # 36 apix
    table[:, 42] = np.round(rng.uniform(0, 5, n), 4)    # 43: no Dynamo name
    return table


def write_dynamo_table(path, table) -> None:
    path.write_text("\n".join(" ".join(repr(float(v)) for v in row) for row in table) + "\n")


def test_dynamo_scores_tomogram_files_and_numbered_columns_are_read(tmp_path):
    """Column 10 (cc) is the score, <table>.doc names each tomogram number's file, and a
    column past Dynamo's 42 is queried by its number (``column43``)."""
    from subalign.io.dynamo import read_dynamo
    from subalign.io.selection import Filters, select_rows

    rng = np.random.default_rng(9)
    table = dynamo_table(rng, 10)
    path = tmp_path / "t.tbl"
    write_dynamo_table(path, table)
    (tmp_path / "t.doc").write_text("1 /data/tomo_a.mrc\n2 /data/tomo_b.mrc\n")
    particles = read_dynamo(path)
    np.testing.assert_allclose(particles.fields["score"], table[:, 9])
    rows, _ = select_rows(particles, Filters(min_score=0.5))
    np.testing.assert_array_equal(rows, table[:, 9] >= 0.5)
    assert {t.number: t.path for t in particles.tomograms.values()} == {
        1: "/data/tomo_a.mrc", 2: "/data/tomo_b.mrc"}
    assert list(particles.fields["tomogram"]) == [
        "/data/tomo_a.mrc" if k == 1 else "/data/tomo_b.mrc" for k in table[:, 19]]
    rows, _ = select_rows(particles, Filters(query="column43 > 2.5"))
    np.testing.assert_array_equal(rows, table[:, 42] > 2.5)


@pytest.mark.parametrize("extension", ["mrc", "em"])
def test_dynamo_particle_folder_names_particle_tag_in_five_digits(tmp_path, extension):
    """Dynamo's particle folder: particle_<tag, 5 digits>.mrc when the first exists as
    .mrc, else .em."""
    from subalign.io.dynamo import read_dynamo

    table = dynamo_table(np.random.default_rng(10), 3)
    table[:, 0] = [7, 12, 345]
    write_dynamo_table(tmp_path / "t.tbl", table)
    folder = tmp_path / "particles"
    folder.mkdir()
    if extension == "mrc":
        (folder / "particle_00007.mrc").write_bytes(b"")
    particles = read_dynamo(tmp_path / "t.tbl", subtomograms=folder)
    assert [Path(name).name for name in particles.fields["subtomogram"]] == [
        f"particle_{tag:05d}.{extension}" for tag in (7, 12, 345)]


def new_set(n, **fields):
    """A set made in memory (as from another format): random poses, pixel size PIXEL."""
    from scipy.spatial.transform import Rotation

    from subalign.io.particles import ParticleSet

    rng = np.random.default_rng(11)
    return ParticleSet.create(Rotation.random(n, random_state=11).as_matrix(),
                              rng.uniform(-3, 3, (n, 3)), pixel_size=PIXEL, **fields)


def test_dynamo_written_from_another_format_states_apix_and_links_particle_files(tmp_path):
    """A new Dynamo table gets the pixel size in column 36 (apix), and the particle folder
    links particle_<tag>.mrc to each particle's own file."""
    import dynamotable

    from subalign.io.dynamo import write_dynamo

    files = []
    for k in range(2):
        files.append(tmp_path / f"sub_{k}.mrc")
        files[-1].write_bytes(f"particle {k}".encode())
    particles = new_set(2, tag=np.array([7, 12]), subtomogram=np.array([str(f) for f in files], dtype=object))
    path = write_dynamo(particles, tmp_path / "out.tbl", subtomograms=tmp_path / "folder")
    assert dynamotable.read(str(path))["apix"].tolist() == [PIXEL, PIXEL]
    assert (tmp_path / "folder" / "particle_00007.mrc").read_bytes() == b"particle 0"
    assert (tmp_path / "folder" / "particle_00012.mrc").read_bytes() == b"particle 1"


def test_dynamo_refuses_non_positive_and_repeated_tags_and_counts_them(tmp_path):
    from subalign.io.dynamo import write_dynamo
    from subalign.io.particles import ParticleTableError

    particles = new_set(5, tag=np.array([0, -2, 3, 3, 3]))
    with pytest.raises(ParticleTableError, match="found 2 non-positive and 2 repeated"):
        write_dynamo(particles, tmp_path / "out.tbl")
    assert not (tmp_path / "out.tbl").exists()


def test_dynamo_writes_known_wedges_full_ones_as_ftype_0_and_reads_them_back(tmp_path):
    """Dynamo's wedge columns (module docstring of subalign.io.dynamo): ftype 1 with tilt
    axis y's limits; a full range as ftype 0, -90, 90; a row that knows one limit only is
    unknown, a blank row (ftype 0, tilt columns 0), and no NaN reaches the file. Each known
    wedge reads back as written."""
    import dynamotable

    from subalign.io.dynamo import read_dynamo, write_dynamo

    low, high = np.array([-57.0, -50.0, -90.0, -60.0]), np.array([62.0, np.nan, 90.0, 90.0])
    particles = new_set(4, tag=np.arange(1, 5), tilt_min=low, tilt_max=high)
    path = write_dynamo(particles, tmp_path / "out.tbl")
    assert "nan" not in path.read_text().lower()
    table = dynamotable.read(str(path))
    assert table[["ftype", "ymintilt", "ymaxtilt"]].to_numpy().tolist() == [
        [1, -57, 62], [0, 0, 0], [0, -90, 90], [1, -60, 90]]
    fields = read_dynamo(path).fields
    np.testing.assert_array_equal(fields["tilt_min"], [-57, np.nan, -90, -60])
    np.testing.assert_array_equal(fields["tilt_max"], [62, np.nan, 90, 90])


# --- TOM/AV3 motive lists -------------------------------------------------------------------

#: AV3's motive-list rows (av3_trans_rot_alig's documentation), counted from 1.
AV3_ROWS = {1: "score", 4: "particle", 5: "tomogram", 8: "x", 9: "y", 10: "z", 11: "dx",
            12: "dy", 13: "dz", 17: "phi", 18: "psi", 19: "theta", 20: "class"}


def motive_list(rng, n) -> np.ndarray:
    values = np.zeros((n, 20), dtype=np.float32)
    values[:, 0] = rng.uniform(0, 1, n)
    values[:, 3] = np.arange(n) + 1
    values[:, 4] = 1 + np.arange(n) % 2
    values[:, 7:10] = np.round(rng.uniform(1, 500, (n, 3)))
    values[:, 10:13] = rng.uniform(-3, 3, (n, 3))
    values[:, 16:19] = angle_triples(rng, n)[:, [0, 2, 1]]
    values[:, 19] = rng.integers(1, 4, n)
    return values


def test_motivelist_rows_table_describes_what_the_reader_reads(tmp_path):
    """Each row of ROWS (published with the reader) holds the quantity its name says: the
    reader's fields agree with AV3's layout row by row."""
    import emfile

    from subalign.io.em_motivelist import ROWS, read_motivelist, rotations_to_angles

    values = motive_list(np.random.default_rng(12), 6)
    emfile.write(tmp_path / "m.em", values[None], overwrite=True)
    particles = read_motivelist(tmp_path / "m.em", pixel_size=PIXEL)
    angles = rotations_to_angles(particles.rotations)
    numbers = {t.name: t.number for t in particles.tomograms.values()}
    read = {"score": particles.fields["score"], "particle": particles.fields["tag"],
            "tomogram": [numbers[name] for name in particles.fields["tomogram"]],
            **dict(zip("xyz", particles.coordinates("index1", PIXEL).T)),
            **dict(zip(("dx", "dy", "dz"), particles.shifts.T)),
            **dict(zip(("phi", "psi", "theta"), angles.T)), "class": particles.fields["class_number"]}
    assert ROWS == AV3_ROWS
    for row, name in ROWS.items():
        np.testing.assert_allclose(np.asarray(read[name], dtype=float), values[:, row - 1],
                                   atol=1e-3, err_msg=f"row {row} ({name})")


@pytest.mark.parametrize("row", [4, 11, 12, 13, 17, 18, 19])
def test_motivelist_non_finite_value_names_particle_row_and_meaning(tmp_path, row):
    import emfile

    from subalign.io.em_motivelist import read_motivelist
    from subalign.io.particles import ParticleTableError

    values = motive_list(np.random.default_rng(13), 4)
    values[2, row - 1] = np.nan
    emfile.write(tmp_path / "m.em", values[None], overwrite=True)
    with pytest.raises(ParticleTableError,
                       match=rf"particle 3 \(column 3\), row {row} \({AV3_ROWS[row]}\): expected a finite"):
        read_motivelist(tmp_path / "m.em")


@pytest.mark.parametrize("extension", ["mrc", "em"])
def test_motivelist_subtomograms_are_prefix_underscore_particle_number(tmp_path, extension):
    """AV3 names subtomograms <prefix>_<row 4>.em; .mrc when the first exists as .mrc."""
    import emfile

    from subalign.io.em_motivelist import read_motivelist

    values = motive_list(np.random.default_rng(14), 3)
    values[:, 3] = [5, 9, 11]
    emfile.write(tmp_path / "m.em", values[None], overwrite=True)
    if extension == "mrc":
        (tmp_path / "part_5.mrc").write_bytes(b"")
    particles = read_motivelist(tmp_path / "m.em", subtomograms=tmp_path / "part")
    assert [Path(name).name for name in particles.fields["subtomogram"]] == [
        f"part_{k}.{extension}" for k in (5, 9, 11)]


def test_motivelist_written_with_a_prefix_links_each_particle_under_its_number(tmp_path):
    """write_motivelist(subtomograms=prefix) makes <prefix>_<row 4>.<the file's own
    extension> name each particle's file."""
    from subalign.io.em_motivelist import write_motivelist

    files = [tmp_path / "a.em", tmp_path / "b.mrc"]
    for k, f in enumerate(files):
        f.write_bytes(f"particle {k}".encode())
    particles = new_set(2, tag=np.array([4, 8]), subtomogram=np.array([str(f) for f in files], dtype=object))
    write_motivelist(particles, tmp_path / "out.em", subtomograms=tmp_path / "parts" / "p")
    assert (tmp_path / "parts" / "p_4.em").read_bytes() == b"particle 0"
    assert (tmp_path / "parts" / "p_8.mrc").read_bytes() == b"particle 1"


def test_an_em_file_that_is_not_a_motive_list_is_refused_with_its_shape(tmp_path):
    import emfile

    from subalign.io.em_motivelist import read_motivelist
    from subalign.io.particles import ParticleTableError

    emfile.write(tmp_path / "volume.em", np.zeros((2, 5, 7), dtype=np.float32), overwrite=True)
    with pytest.raises(ParticleTableError, match=r"20 rows x N particles, found an EM array of 7 x 5 x 2$"):
        read_motivelist(tmp_path / "volume.em")


def test_motivelist_rows_of_a_new_list_scores_shift_before_rotation_and_type(tmp_path):
    """A list written from another format: row 1 the score (0 where a particle has none),
    rows 11-13 the shift t, rows 14-16 the shift before the rotation R^T t (tom_shift before
    tom_rotate), rows 17-19 tom_pointrotate's angles of R; float32 as AV3 writes it."""
    import emfile

    from subalign.io.em_motivelist import write_motivelist

    particles = new_set(3, tag=np.array([1, 2, 3]), score=np.array([0.7, np.nan, 0.2]))
    _, values = emfile.read(write_motivelist(particles, tmp_path / "out.em"))
    assert values.dtype == np.float32
    values = values[0].astype(float)
    np.testing.assert_allclose(values[:, 0], [0.7, 0.0, 0.2], atol=1e-7)
    np.testing.assert_allclose(values[:, 10:13], particles.shifts, atol=1e-6)
    np.testing.assert_allclose(values[:, 13:16], np.einsum("nji,nj->ni", particles.rotations,
                                                           particles.shifts), atol=1e-5)
    phi, psi, theta = np.radians(values[:, 16:19]).T
    for rotation, f, p, t in zip(particles.rotations, phi, psi, theta):
        rz = lambda a: np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])  # noqa: E731
        rx = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
        np.testing.assert_allclose(rz(p) @ rx @ rz(f), rotation, atol=1e-5)
