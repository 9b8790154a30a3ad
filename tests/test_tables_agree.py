"""A particle table and its tomogram table agree or are refused; no value is invented.

Ground truth: each case writes two tables that state the same quantity (a pixel size, a
tilt range, a tilt axis), once agreeing, which must be accepted with the stated value, and
once disagreeing, which must be refused in one line naming both places and both values
(:mod:`subalign.io.agreement`). Then formats whose coordinates count from 1 (Dynamo, TOM/AV3,
STOPGAP) read the blank value 0 as "no coordinate", so RELION 4 output never holds the
invented ``rlnCoordinateX/Y/Z = -1``.
"""

from __future__ import annotations

import numpy as np
import pytest
import starfile

from subalign.io.formats import read_particles, write_particles
from subalign.io.particles import ParticleSet, ParticleTableError

OPTICS = "data_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n{series}1 {pixel}{extra}\n\n"
PARTICLES = ("data_particles\n\nloop_\n_rlnTomoName #1\n_rlnAngleRot #2\n_rlnAngleTilt #3\n"
             "_rlnAnglePsi #4\n_rlnCoordinateX #5\n_rlnCoordinateY #6\n_rlnCoordinateZ #7\n"
             "_rlnOpticsGroup #8\nTS 0 0 0 20 20 10 1\n")


def relion4(path, pixel: float, series: float | None = None):
    """A one-particle RELION 4 table of pixel size ``pixel`` (and tilt-series pixel size)."""
    path.write_text(OPTICS.format(
        pixel=pixel, series="_rlnTomoTiltSeriesPixelSize #3\n" if series else "",
        extra=f" {series}" if series else "") + PARTICLES)
    return path


def csv(path, pixel: float | None = None, tilt=None, axis: str | None = None):
    columns, values = ["tomogram"], ["TS"]
    if pixel is not None:
        columns += ["size_x", "size_y", "size_z", "pixel_size"]
        values += ["40", "40", "20", f"{pixel:g}"]
    if tilt is not None:
        columns += ["tilt_min", "tilt_max"]
        values += [f"{tilt[0]:g}", f"{tilt[1]:g}"]
    if axis is not None:
        columns.append("tilt_axis")
        values.append(axis)
    path.write_text(",".join(columns) + "\n" + ",".join(values) + "\n")
    return path


# --- pixel sizes -------------------------------------------------------------------------------


def test_a_tomogram_csv_of_the_particles_pixel_size_is_accepted(tmp_path):
    particles = read_particles(relion4(tmp_path / "set.star", 5.0),
                               tomograms=csv(tmp_path / "t.csv", pixel=5.0))
    assert particles.pixel_size == 5.0
    assert particles.tomograms["TS"].voxel_size == 5.0


def test_a_tomogram_csv_contradicting_the_star_pixel_size_is_refused_naming_both(tmp_path):
    with pytest.raises(ParticleTableError) as info:
        read_particles(relion4(tmp_path / "set.star", 5.0), tomograms=csv(tmp_path / "t.csv", pixel=10.0))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 't.csv'}: row 1, column pixel_size: tomogram 'TS' has a "
                              "pixel size of 10 A")
    assert f"{tmp_path / 'set.star'} states a pixel size of 5 A" in message


def test_the_pixel_size_given_on_the_command_line_is_the_place_named(tmp_path):
    particles = ParticleSet.create(np.eye(3)[None], np.zeros((1, 3)), tomogram=np.array(["TS"], dtype=object))
    table = write_particles(particles, tmp_path / "set.tbl", "dynamo")
    with pytest.raises(ParticleTableError, match=r"but --pixel-size 5; expected the same pixel size"):
        read_particles(table, pixel_size=5.0, tomograms=csv(tmp_path / "t.csv", pixel=7.0))


@pytest.mark.parametrize("table_pixel, fine", [(5.4, True), (1.35, True), (2.7, False)])
def test_relion4_coordinates_in_tilt_series_pixels_accept_either_grid(tmp_path, table_pixel, fine):
    """RELION 4 counts coordinates in tilt-series pixels (1.35 A) while the particles are
    binned (5.4 A): a table in either grid is consistent, a third pixel size is not."""
    star = relion4(tmp_path / "set.star", 5.4, series=1.35)
    table = csv(tmp_path / "t.csv", pixel=table_pixel)
    if fine:
        assert read_particles(star, tomograms=table).tomograms["TS"].voxel_size == table_pixel
    else:
        with pytest.raises(ParticleTableError, match=r"pixel size of 2.7 A, but .*5.4 A; .*"
                                                     r"rlnTomoTiltSeriesPixelSize 1.35 A; expected"):
            read_particles(star, tomograms=table)


@pytest.mark.parametrize("series, fine", [(1.35, True), (1.5, False)])
def test_relion5_tomograms_star_and_the_optics_state_one_tilt_series_pixel_size(tmp_path, series, fine):
    star = relion4(tmp_path / "set.star", 5.4, series=1.35)
    (tmp_path / "tomograms.star").write_text(
        "data_global\n\nloop_\n_rlnTomoName #1\n_rlnTomoSizeX #2\n_rlnTomoSizeY #3\n_rlnTomoSizeZ #4\n"
        f"_rlnTomoTiltSeriesPixelSize #5\nTS 4000 4000 1000 {series}\n")
    if fine:
        read_particles(star, tomograms=tmp_path / "tomograms.star")
    else:
        with pytest.raises(ParticleTableError, match=r"tomograms.star: data_global row 1, column "
                                                     r"rlnTomoTiltSeriesPixelSize: tomogram 'TS' has a "
                                                     r"tilt-series pixel size of 1.5 A, but .*set.star "
                                                     r"data_optics rlnTomoTiltSeriesPixelSize is 1.35 A"):
            read_particles(star, tomograms=tmp_path / "tomograms.star")


def test_a_tomogram_the_particles_do_not_name_is_not_compared(tmp_path):
    (tmp_path / "t.csv").write_text("tomogram,size_x,size_y,size_z,pixel_size\nTS,40,40,20,5\nother,9,9,9,99\n")
    read_particles(relion4(tmp_path / "set.star", 5.0), tomograms=tmp_path / "t.csv")


# --- tilt ranges and axes ----------------------------------------------------------------------


def dynamo_with_wedge(path, low=-60.0, high=60.0, axis="y"):
    particles = ParticleSet.create(
        np.tile(np.eye(3), (2, 1, 1)), np.zeros((2, 3)), pixel_size=5.0,
        tomogram=np.array(["TS", "TS"], dtype=object), tilt_min=np.array([low, low]),
        tilt_max=np.array([high, high]), tilt_axis=np.array([axis, axis], dtype=object))
    return write_particles(particles, path, "dynamo")


def test_a_dynamo_wedge_and_an_agreeing_tomogram_table_are_accepted(tmp_path):
    particles = read_particles(dynamo_with_wedge(tmp_path / "set.tbl"),
                               tomograms=csv(tmp_path / "t.csv", tilt=(-60, 60), axis="y"))
    assert particles.fields[["tilt_min", "tilt_max"]].to_numpy().tolist() == [[-60, 60]] * 2


@pytest.mark.parametrize("tilt, axis, found", [((-45, 55), "y", "[-45, 55] about y"),
                                              ((-60, 60), "x", "[-60, 60] about x")])
def test_a_dynamo_wedge_contradicting_the_tomogram_table_is_refused_naming_both(tmp_path, tilt, axis, found):
    with pytest.raises(ParticleTableError) as info:
        read_particles(dynamo_with_wedge(tmp_path / "set.tbl"),
                       tomograms=csv(tmp_path / "t.csv", tilt=tilt, axis=axis))
    assert str(info.value) == (
        f"{tmp_path / 'set.tbl'}: row 1, column 13-17 (ftype, ymintilt, ymaxtilt, xmintilt, xmaxtilt): "
        f"tilt range [-60, 60] about y, but {tmp_path / 't.csv'} row 1 gives tomogram 'TS' {found}; "
        "expected the same tilt range in both (mend one, or leave it out of one)")


def test_a_blank_dynamo_row_has_no_wedge_so_the_table_gives_it(tmp_path):
    """Dynamo's blank row (ftype 0, tilt columns 0), as written for an unknown wedge, used to
    read as a full wedge and hide the table's range; a full wedge is written 0, -90, 90."""
    blank = ParticleSet.create(np.eye(3)[None], np.zeros((1, 3)), pixel_size=5.0,
                               tomogram=np.array(["TS"], dtype=object))
    table = write_particles(blank, tmp_path / "blank.tbl", "dynamo")
    particles = read_particles(table, tomograms=csv(tmp_path / "t.csv", tilt=(-50, 40)))
    assert particles.fields[["tilt_min", "tilt_max"]].to_numpy().tolist() == [[-50, 40]]
    assert np.isnan(read_particles(table).fields["tilt_min"]).all()
    full = read_particles(dynamo_with_wedge(tmp_path / "full.tbl", -90, 90))
    assert full.fields[["tilt_min", "tilt_max"]].to_numpy().tolist() == [[-90, 90]] * 2


def test_the_command_line_tilt_axis_must_agree_with_the_table(tmp_path):
    star = relion4(tmp_path / "set.star", 5.0)
    read_particles(star, tomograms=csv(tmp_path / "t.csv", tilt=(-60, 60), axis="x"), tilt_axis="x")
    with pytest.raises(ParticleTableError, match=r"t.csv: row 1, column tilt_axis: tomogram 'TS' is "
                                                 r"tilted about x; --tilt-axis says y"):
        read_particles(star, tomograms=csv(tmp_path / "t.csv", tilt=(-60, 60), axis="x"), tilt_axis="y")


def test_a_tomogram_named_twice_is_refused(tmp_path):
    (tmp_path / "t.csv").write_text("tomogram,tilt_min,tilt_max\nTS,-60,60\nTS,-50,50\n")
    with pytest.raises(ParticleTableError, match=r"t.csv: row 2, column tomogram: tomogram 'TS' again "
                                                 r"\(row 1\); expected one row per tomogram"):
        read_particles(relion4(tmp_path / "set.star", 5.0), tomograms=tmp_path / "t.csv")


# --- no invented coordinates -------------------------------------------------------------------


@pytest.mark.parametrize("name, suffix", [("dynamo", ".tbl"), ("em", ".em"), ("stopgap", ".star")])
def test_relion4_output_invents_no_coordinates_for_a_set_without_them(tmp_path, name, suffix):
    """Written without coordinates, these formats hold their blank 0, 0, 0 (index 0 is before
    the first voxel, 1): read back it is no coordinate, and RELION 4 gets no columns rather
    than ``rlnCoordinateX/Y/Z = -1``."""
    bare = ParticleSet.create(np.tile(np.eye(3), (3, 1, 1)), np.zeros((3, 3)), pixel_size=5.0)
    table = write_particles(bare, tmp_path / f"set{suffix}", name)
    particles = read_particles(table, name, pixel_size=5.0)
    assert not particles.has("x")
    written = starfile.read(write_particles(particles, tmp_path / "out.star", "relion4"), always_dict=True)
    assert not {"rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"} & set(written["particles"].columns)


@pytest.mark.parametrize("name, suffix", [("dynamo", ".tbl"), ("em", ".em"), ("stopgap", ".star")])
def test_real_coordinates_still_convert_to_relion4_counting_from_0(tmp_path, name, suffix):
    placed = ParticleSet.create(np.tile(np.eye(3), (2, 1, 1)), np.zeros((2, 3)), pixel_size=5.0,
                                x=np.array([1.0, 30.0]), y=np.array([1.0, 12.0]), z=np.array([1.0, 7.0]),
                                coordinate_frame="index1", coordinate_unit=5.0)
    table = write_particles(placed, tmp_path / f"set{suffix}", name)
    written = starfile.read(write_particles(read_particles(table, name, pixel_size=5.0),
                                            tmp_path / "out.star", "relion4"), always_dict=True)
    columns = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
    np.testing.assert_allclose(written["particles"][columns].to_numpy(), [[0, 0, 0], [29, 11, 6]])


def test_a_relion_table_of_images_and_angles_gets_no_coordinates_in_relion4(tmp_path):
    (tmp_path / "r.star").write_text("data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n"
                                     "_rlnAnglePsi #3\n_rlnImageName #4\n10 20 30 p1.mrc\n")
    path = write_particles(read_particles(tmp_path / "r.star", pixel_size=5.0), tmp_path / "o.star", "relion4")
    assert "rlnCoordinateX" not in starfile.read(path, always_dict=True)["particles"].columns
