"""The catalogue of bad inputs, continued: particle sets and their tables.

The cases of :mod:`test_bad_inputs` for the particle-set commands (``show``, ``convert``,
``aligned``, ``batch``, ``average``, ``classify``) and ``simulate``, as a hostile user would
try them: malformed STAR files and Dynamo or TOM/AV3 tables, empty sets, tomogram tables
that are malformed or contradict the particle table, pair lists, references and masks that
do not fit, outputs where nothing can be written. The same rules hold: one line on stderr,
exit code 2, the scratch directory as it was. ``docs/errors.md`` lists these after the
cases of :mod:`test_bad_inputs` (``python tests/test_bad_inputs.py --write-docs``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test_bad_inputs import INPUTS, Case, check_case

from subalign.io.mrc import write_volume

_HEAD = ("data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n_rlnAnglePsi #3\n"
         "_rlnImageName #4\n")
_OPTICS = "data_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 {pixel}\n\n"
_GROUPED = _HEAD.replace("#4\n", "#4\n_rlnOpticsGroup #5\n")
_TOMO = ("data_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 10\n\n"
         "data_particles\n\nloop_\n_rlnTomoName #1\n_rlnAngleRot #2\n_rlnAngleTilt #3\n"
         "_rlnAnglePsi #4\n_rlnImageName #5\n_rlnOpticsGroup #6\nTS 0 0 0 p0.mrc 1\n")
W = "particle_wedge.tilt_range_deg=[-60,60]"


def _volumes(root: Path) -> None:
    """p0..p3.mrc: 16^3 subtomograms of 10 A; ref.mrc, ref20.mrc (20^3), ref5A.mrc (5 A)."""
    rng = np.random.default_rng(11)
    for k in range(4):
        write_volume(root / f"p{k}.mrc", rng.normal(size=(16,) * 3), voxel_size=10.0)
    write_volume(root / "ref.mrc", rng.normal(size=(16,) * 3), voxel_size=10.0)
    write_volume(root / "ref20.mrc", rng.normal(size=(20,) * 3), voxel_size=10.0)
    write_volume(root / "ref5A.mrc", rng.normal(size=(16,) * 3), voxel_size=5.0)


def _text(root: Path, files: dict) -> None:
    for name, text in files.items():
        (root / name).write_text(text)


def _sets(root: Path) -> None:
    """Particle tables of the 4 volumes, good and bad (by name)."""
    _volumes(root)
    rows = "".join(f"{10 * k} {20 * k} {5 * k} p{k}.mrc 1\n" for k in range(4))
    _text(root, {
        "set.star": _OPTICS.format(pixel=10) + _GROUPED + rows,
        "nopixel.star": _HEAD + "".join(f"0 0 0 p{k}.mrc\n" for k in range(4)),
        "one.star": _OPTICS.format(pixel=10) + _GROUPED + "0 0 0 p0.mrc 1\n",
        "empty.star": _HEAD,
        "noloop.star": "data_particles\n\n_rlnAngleRot 10\n_rlnAngleTilt 20\n_rlnAnglePsi 30\n",
        "nanangle.star": _HEAD + "0 0 0 p0.mrc\nnan 0 0 p1.mrc\n",
        "wordangle.star": _HEAD + "0 0 0 p0.mrc\nten 0 0 p1.mrc\n",
        "dupcol.star": _HEAD.replace("_rlnAngleTilt #2", "_rlnAngleRot #2") + "0 1 0 p0.mrc\n",
        "short.star": _HEAD + "0 0 0 p0.mrc\n0 0\n",
        "nopsi.star": "data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n_rlnImageName #3\n"
                      "0 0 p0.mrc\n",
        "negpix.star": _OPTICS.format(pixel=-5) + _GROUPED + "0 0 0 p0.mrc 1\n",
        "badgroup.star": _OPTICS.format(pixel=10) + _GROUPED + "0 0 0 p0.mrc 2\n",
        "pix5.star": _OPTICS.format(pixel=5) + _GROUPED + rows,
        "missingfile.star": _OPTICS.format(pixel=10) + _GROUPED + "0 0 0 p0.mrc 1\n0 0 0 gone.mrc 1\n",
        "tomo.star": _TOMO,
        "set.txt": "not a particle table\n",
    })


def _tables(root: Path) -> None:
    """Dynamo tables, motive lists and tomogram tables, good and bad (by name)."""
    import emfile

    _text(root, {
        "garbage.tbl": "not a table\n", "short.tbl": "1 1 0 0 0 0\n", "empty.tbl": "",
        "nan.tbl": "1 1 0 0 0 0 nan 0 0\n",
        # tag 1, aligned, ftype 1 with -60..60, tomogram 1 (columns 13-15, 20)
        "wedge.tbl": "1 1 0 0 0 0 0 0 0 0 0 0 1 -60 60 0 0 0 0 1\n",
        "notomo.csv": "name,tilt_min,tilt_max\n1,-60,60\n",
        "halftilt.csv": "tomogram,tilt_min\n1,-60\n",
        "wordtilt.csv": "tomogram,tilt_min,tilt_max\n1,-60,sixty\n",
        "axis_z.csv": "tomogram,tilt_min,tilt_max,tilt_axis\n1,-60,60,z\n",
        "reversed.csv": "tomogram,tilt_min,tilt_max\n1,60,-60\n",
        "empty.csv": "",
        "negsize.csv": "tomogram,size_x,size_y,size_z,pixel_size\n1,-40,40,20,10\n",
        "zeropix.csv": "tomogram,size_x,size_y,size_z,pixel_size\n1,40,40,20,0\n",
        "number.csv": "tomogram,tilt_min,tilt_max,number\n1,-60,60,one\n",
        "twice.csv": "tomogram,tilt_min,tilt_max\nTS,-60,60\nTS,-50,50\n",
        "pix5.csv": "tomogram,size_x,size_y,size_z,pixel_size\nTS,400,400,100,5\n",
        "tilt45.csv": "tomogram,tilt_min,tilt_max\n1,-45,55\n",
        "axis_x.csv": "tomogram,tilt_min,tilt_max,tilt_axis\nTS,-60,60,x\n",
        "notjson.json": "{not json",
        "nopairs.json": '{"pairs": []}',
        "far.json": '{"pairs": [{"fixed": 0, "moving": 9}]}',
        "unknown.json": '{"pairs": [{"fixed": "p0.mrc", "moving": "q9.mrc"}]}',
        "self.json": '{"pairs": [{"fixed": 1, "moving": 1}]}',
        "badtruth.json": '{"pairs": [{"fixed": 0, "moving": 1, "truth": {"x": 1}}]}',
        "file": "a file, not a directory\n",
    })
    (root / "garbage.em").write_bytes(np.random.default_rng(1).bytes(600))
    emfile.write(root / "wrongshape.em", np.zeros((1, 3, 7), np.float32), overwrite=True)
    emfile.write(root / "nanwedges.em", np.array([[[np.nan, -60, 60]]], np.float32), overwrite=True)


def _half_maps(root: Path) -> None:
    """h1, h2.mrc: 16^3 half maps of 10 A; h20 (20^3), h5A (5 A), h0A (no voxel size);
    m2.mrc a mask with values to 2, m20.mrc one of 20^3."""
    rng = np.random.default_rng(12)
    base = rng.normal(size=(16,) * 3)
    for name, data, voxel in (("h1", base + rng.normal(size=base.shape), 10.0),
                              ("h2", base + rng.normal(size=base.shape), 10.0),
                              ("h20", rng.normal(size=(20,) * 3), 10.0),
                              ("h5A", base, 5.0), ("h0A", base, 0.0),
                              ("m2", np.linspace(0, 2, base.size).reshape(base.shape), 10.0),
                              ("m20", np.ones((20,) * 3), 10.0)):
        write_volume(root / f"{name}.mrc", data, voxel_size=voxel)


#: Input files of these cases, with those of :mod:`test_bad_inputs`.
ALL_INPUTS = {**INPUTS, "sets": _sets, "tables": _tables, "half maps": _half_maps}
S, T = ("sets",), ("sets", "tables")
H = ("half maps",)


def _show(what, args, message, inputs=S):
    return Case(what, ("show", *args), message, inputs)


_NOPIX = ("pixel size absent; expected one for rlnOriginX/Y/ZAngst (give --pixel-size or a "
          "file that states it)")
_CSV = "expected a positive whole number"

CASES = [
    # --- particle STAR files ----------------------------------------------------------------
    _show("a STAR table with no particles", ("empty.star",),
          "empty.star: expected at least one particle, found an empty table"),
    _show("a particle block that is not a loop", ("noloop.star",),
          "noloop.star: expected a table data_particles, found data_particles"),
    _show("a NaN angle in row 2", ("nanangle.star",),
          "nanangle.star: row 2, column rlnAngleRot: expected a finite angle in degrees, found nan"),
    _show("a word for an angle", ("wordangle.star",),
          "wordangle.star: row 2, column rlnAngleRot: expected a finite angle in degrees, found 'ten'"),
    _show("a column given twice", ("dupcol.star",),
          "dupcol.star: data_particles: column rlnAngleRot appears more than once; expected each "
          "column once"),
    _show("a row with values missing", ("short.star",),
          "short.star: row 2, column rlnAnglePsi: expected a finite angle in degrees, found nan"),
    _show("an angle column missing", ("nopsi.star",),
          "nopsi.star: missing column(s) rlnAnglePsi; expected RELION particle poses with "
          "rlnAngleRot, rlnAngleTilt, rlnAnglePsi"),
    _show("a negative pixel size in the optics", ("negpix.star",),
          "negpix.star: column rlnImagePixelSize: found a pixel size of -5 Angstrom; expected a "
          "positive one (0 for none)"),
    _show("an optics group the optics block lacks", ("badgroup.star",),
          "badgroup.star: row 1, column rlnOpticsGroup: optics group 2 is not in data_optics (it "
          "has [1])"),
    _show("pixel size 0 given", ("nopixel.star", "--pixel-size", "0"),
          "pixel size: expected a positive number of Angstrom, found 0"),
    _show("a pixel size that contradicts the file", ("pix5.star", "--pixel-size", "10"),
          "pix5.star: column rlnImagePixelSize: pixel size 5 Angstrom is inconsistent with the "
          "given pixel size 10 Angstrom"),
    _show("a file of no particle format", ("set.txt",),
          "set.txt: expected a .star, .tbl or .em particle file (or give the format: relion5, "
          "relion4, dynamo, em, stopgap)"),
    _show("a STAR file read as Dynamo", ("set.star", "--from", "dynamo"),
          "set.star: expected a Dynamo table (numbers in columns), found ParserError: *"),
    _show("a negative number of rows", ("set.star", "--rows", "-1"),
          "--rows: expected a number of particles >= 0, found -1"),
    # --- Dynamo tables and TOM/AV3 motive lists -----------------------------------------------
    _show("a Dynamo table of words", ("garbage.tbl",),
          "garbage.tbl: missing column(s) dx, dy, dz, tdrot, tilt, narot; expected a Dynamo table "
          "(columns 1-9) with tag, dx, dy, dz, tdrot, tilt, narot", T),
    _show("a Dynamo table of 6 columns", ("short.tbl",),
          "short.tbl: missing column(s) tdrot, tilt, narot; expected a Dynamo table (columns 1-9) "
          "with tag, dx, dy, dz, tdrot, tilt, narot", T),
    _show("a NaN Euler angle in a Dynamo table", ("nan.tbl",),
          "nan.tbl: row 1, column 7 (tdrot): expected a finite number, found nan", T),
    _show("an empty Dynamo table", ("empty.tbl",),
          "empty.tbl: expected a Dynamo table (numbers in columns), found EmptyDataError: No "
          "columns to parse from file", T),
    _show("a motive list of random bytes", ("garbage.em",),
          "garbage.em: expected an EM file, found *", T),
    _show("a motive list of 7 rows", ("wrongshape.em",),
          "wrongshape.em: expected a motive list of 20 rows x N particles, found an EM array of "
          "7 x 3 x 1", T),
    # --- tomogram tables ----------------------------------------------------------------------
    _show("a tomogram CSV without the tomogram column", ("set.star", "--tomograms", "notomo.csv"),
          "notomo.csv: missing column(s) tomogram; expected a tomogram table with tomogram", T),
    _show("a tomogram CSV with tilt_min only", ("set.star", "--tomograms", "halftilt.csv"),
          "halftilt.csv: missing column(s) tilt_max; expected tilt ranges with tilt_min, tilt_max", T),
    _show("a word for a tilt angle", ("set.star", "--tomograms", "wordtilt.csv"),
          "wordtilt.csv: row 1, column tilt_max: expected a tilt angle in degrees, found 'sixty'", T),
    _show("tilt axis z", ("set.star", "--tomograms", "axis_z.csv"),
          "axis_z.csv: row 1, column tilt_axis: expected one of y, x, found 'z'", T),
    _show("a tilt range reversed in a tomogram CSV", ("set.star", "--tomograms", "reversed.csv"),
          "reversed.csv: row 1, column tilt_min/tilt_max: expected -90 <= min <= max <= 90 degrees, "
          "found [60, -60]", T),
    _show("an empty tomogram CSV", ("set.star", "--tomograms", "empty.csv"),
          "empty.csv: expected a CSV table, found No columns to parse from file", T),
    _show("a negative tomogram size", ("set.star", "--tomograms", "negsize.csv"),
          f"negsize.csv: row 1, column size_x: {_CSV} (a size in voxels), found -40", T),
    _show("a tomogram pixel size 0", ("set.star", "--tomograms", "zeropix.csv"),
          "zeropix.csv: row 1, column pixel_size: expected a positive number (a pixel size in "
          "Angstrom), found 0", T),
    _show("a tomogram number that is a word", ("set.star", "--tomograms", "number.csv"),
          f"number.csv: row 1, column number: {_CSV} (a tomogram number), found 'one'", T),
    _show("a wedge list with a NaN tomogram number", ("set.star", "--tomograms", "nanwedges.em"),
          f"nanwedges.em: column 1, row 1 (tomogram number): {_CSV}, found nan", T),
    _show("a tomogram named twice", ("tomo.star", "--tomograms", "twice.csv"),
          "twice.csv: row 2, column tomogram: tomogram 'TS' again (row 1); expected one row per "
          "tomogram", T),
    _show("a tomogram pixel size contradicting the particles'", ("tomo.star", "--tomograms", "pix5.csv"),
          "pix5.csv: row 1, column pixel_size: tomogram 'TS' has a pixel size of 5 A, but tomo.star "
          "states a pixel size of 10 A; expected the same pixel size in both (the table's sizes in "
          "voxels of the particles, or of the tilt series their coordinates count)", T),
    _show("a Dynamo wedge contradicting the tomogram table", ("wedge.tbl", "--tomograms", "tilt45.csv"),
          "wedge.tbl: row 1, column 13-17 (ftype, ymintilt, ymaxtilt, xmintilt, xmaxtilt): tilt "
          "range [-60, 60] about y, but tilt45.csv row 1 gives tomogram '1' [-45, 55] about y; "
          "expected the same tilt range in both (mend one, or leave it out of one)", T),
    _show("--tilt-axis contradicting the tomogram table",
          ("tomo.star", "--tomograms", "axis_x.csv", "--tilt-axis", "y"),
          "axis_x.csv: row 1, column tilt_axis: tomogram 'TS' is tilted about x; --tilt-axis says y; "
          "expected one axis (leave out --tilt-axis, or mend the table)", T),
    _show("a default wedge reversed", ("set.star", "--wedge", "60", "-60"),
          "wedge: expected -90 <= min <= max <= 90 degrees, found [60, -60]"),
    # --- convert, aligned ---------------------------------------------------------------------
    Case("the output is the input", ("convert", "set.star", "set.star"),
         "set.star: is the input; expected another file for the converted set (the input is never "
         "overwritten)", S),
    Case("output under a file", ("convert", "set.star", "file/out.tbl"),
         "output: expected a directory to write results into, found file, an existing file", T),
    Case("a particle folder that is a file",
         ("convert", "set.star", "out.tbl", "--write-subtomograms", "file"),
         "--write-subtomograms: expected a directory to write results into, found file, an "
         "existing file", T),
    Case("an output of no particle format", ("convert", "set.star", "out.xyz"),
         "out.xyz: expected a .star, .tbl or .em name (or give --to relion5/relion4/dynamo/em/stopgap)",
         S),
    Case("RELION 4 without a pixel size", ("convert", "nopixel.star", "out.star", "--to", "relion4"),
         f"nopixel.star: {_NOPIX}", S),
    Case("pixel size NaN", ("convert", "nopixel.star", "out.tbl", "--pixel-size", "nan"),
         "pixel size: expected a positive number of Angstrom, found nan", S),
    Case("row 0", ("aligned", "out.mrc", "--particles", "set.star", "--index", "0"),
         "--index: expected a particle row from 1 to 4, found 0", S),
    Case("a row past the end", ("aligned", "out.mrc", "--particles", "set.star", "--index", "9"),
         "--index: expected a particle row from 1 to 4, found 9", S),
    Case("the row's subtomogram missing",
         ("aligned", "out.mrc", "--particles", "missingfile.star", "--index", "2"),
         "missingfile.star: row 2, column rlnImageName: subtomogram gone.mrc not found (looked in . "
         "and the working directory)", S),
    Case("output under a file", ("aligned", "file/out.mrc", "--particles", "set.star", "--index", "1"),
         "output: expected a directory to write results into, found file, an existing file", T),
    Case("an alignment that is not JSON",
         ("aligned", "out.mrc", "--alignment", "notjson.json", "--moving", "p0.mrc"),
         "notjson.json: expected an alignment.json, found Expecting property name enclosed in double "
         "quotes: line 1 column 2 (char 1)", T),
    Case("a box smaller than the files'",
         ("aligned", "out.mrc", "--particles", "set.star", "--index", "1", "--box-size", "3"),
         "set.star: row 1, column rlnImageName: p0.mrc holds a (z, y, x) = (16, 16, 16) volume; "
         "expected (3, 3, 3) like the set's other subtomograms", S),
    # --- batch ----------------------------------------------------------------------------------
    Case("one particle for all pairs", ("batch", "particles=one.star", "output_dir=out", "mode=all", W),
         "one.star: expected at least 2 particles for mode all, found 1", S),
    Case("a pair list that is not JSON", ("batch", "particles=set.star", "output_dir=out",
                                          "mode=pairs", "pair_list=notjson.json", W),
         'notjson.json: expected {"pairs": [{"fixed": ..., "moving": ...}, ...]}, found '
         "JSONDecodeError: *", T),
    Case("a pair list without pairs", ("batch", "particles=set.star", "output_dir=out",
                                       "mode=pairs", "pair_list=nopairs.json", W),
         'nopairs.json: expected {"pairs": [{"fixed": ..., "moving": ...}, ...]}, found '
         "ValueError: no pairs", T),
    Case("a pair beyond the last row", ("batch", "particles=set.star", "output_dir=out",
                                        "mode=pairs", "pair_list=far.json", W),
         "far.json: pairs[0].moving: expected a subtomogram of set.star or a row from 0 to 3, "
         "found 9", T),
    Case("a pair naming an unknown file", ("batch", "particles=set.star", "output_dir=out",
                                           "mode=pairs", "pair_list=unknown.json", W),
         "unknown.json: pairs[0].moving: expected a subtomogram of set.star or a row from 0 to 3, "
         "found 'q9.mrc'", T),
    Case("a reference of another box", ("batch", "particles=set.star", "output_dir=out",
                                        "reference=ref20.mrc", W),
         "ref20.mrc: expected a (16, 16, 16) map like the particles' boxes, found (20, 20, 20)", S),
    Case("a reference of another voxel size", ("batch", "particles=set.star", "output_dir=out",
                                               "reference=ref5A.mrc", W),
         "ref5A.mrc: voxel size 5 Angstrom; expected the particles' pixel size 10 Angstrom", S),
    Case("more classes than particles", ("batch", "particles=set.star", "output_dir=out",
                                         "mode=all", "classes=9", W),
         "classes: expected an integer >= 1 and <= 4, found 9", S),
    Case("a reference spectrum of no kind", ("batch", "particles=set.star", "output_dir=out",
                                             "reference=ref.mrc", "reference_spectrum=flat", W),
         "reference_spectrum: expected one of given, match, found 'flat'", S),
    Case("a spectrum to match without a reference", ("batch", "particles=set.star",
                                                     "output_dir=out", "mode=all",
                                                     "reference_spectrum=match", W),
         "reference_spectrum: expected given for mode all (match fits a reference to the "
         "particles), found 'match'", S),
    Case("an unknown output format", ("batch", "particles=set.star", "output_dir=out",
                                      "reference=ref.mrc", "to=nope", W),
         "to: expected one of relion5, relion4, dynamo, em, stopgap, found 'nope'", S),
    Case("box size 0", ("batch", "particles=set.star", "output_dir=out", "reference=ref.mrc",
                        "box_size=0", W), "box_size: expected an integer >= 8, found 0", S),
    Case("an unknown edge rule", ("batch", "particles=set.star", "output_dir=out",
                                  "reference=ref.mrc", "edge=clip", W),
         "edge: expected one of error, zero, mean, found 'clip'", S),
    Case("a subtomogram of another voxel size", ("batch", "particles=pix5.star", "output_dir=out",
                                                 "reference=ref.mrc", W),
         "pix5.star: row 1, column rlnImageName: p0.mrc has a voxel size of 10 Angstrom, "
         "inconsistent with the set's pixel size 5 Angstrom", S),
    # --- average, classify, simulate ------------------------------------------------------------
    Case("a STAR table with no particles", ("average", "particles=empty.star", "output_dir=out", W),
         "empty.star: expected at least one particle, found an empty table", S),
    Case("one particle", ("average", "particles=one.star", "output_dir=out", W),
         "one.star: expected at least 2 particles, found 1", S),
    Case("symmetry C0", ("average", "particles=set.star", "output_dir=out", "symmetry=C0", W),
         "symmetry: expected C<n>, D<n>, T, O or I<1-4>, found 'C0'", S),
    Case("an unknown point group", ("average", "particles=set.star", "output_dir=out", "symmetry=X7", W),
         "symmetry: expected C<n>, D<n>, T, O or I<1-4>, found 'X7'", S),
    Case("a reference of another box", ("average", "particles=set.star", "output_dir=out",
                                        "reference=ref20.mrc", W),
         "ref20.mrc: expected a (16, 16, 16) map like the particles' boxes, found (20, 20, 20)", S),
    Case("a start particle past the end", ("average", "particles=set.star", "output_dir=out",
                                           "start_particle=9", W),
         "start_particle: expected an integer >= 0 and <= 3, found 9", S),
    Case("a truth set missing", ("average", "particles=set.star", "output_dir=out",
                                 "truth=none.star", W),
         "truth: expected a particle set file (.star, .tbl, .em), found no file none.star", S),
    Case("one particle", ("classify", "particles=one.star", "output_dir=out", "mode=all",
                          "classes=2", W), "one.star: expected at least 2 particles, found 1", S),
    Case("a reference of another box", ("classify", "particles=set.star", "output_dir=out",
                                        "references=[ref.mrc,ref20.mrc]", W),
         "ref20.mrc: expected a (16, 16, 16) map like the particles' boxes, found (20, 20, 20)", S),
    Case("start=classes on a set without classes", ("classify", "particles=set.star",
                                                    "output_dir=out", "start=classes", W),
         "set.star: expected class numbers for start=classes (no references= given), found none", S),
    Case("a particle paired with itself", ("batch", "particles=set.star", "output_dir=out",
                                           "mode=pairs", "pair_list=self.json", W),
         "self.json: pairs[0]: fixed and moving are both particle row 2; expected two "
         "different particles", T),
    Case("a pair's truth without a transform", ("batch", "particles=set.star", "output_dir=out",
                                                "mode=pairs", "pair_list=badtruth.json", W),
         "badtruth.json: pairs[0].truth: expected rotation_matrix (3x3) and "
         "translation_xyz_voxels (3), found 'rotation_matrix'", T),
    Case("a RELION output for a set without a pixel size", (
        "batch", "particles=nopixel.star", "output_dir=out", "reference=ref.mrc", W),
         "nopixel.star: pixel size absent; expected one for the origins in Angstrom of "
         "aligned.star, or to= a format with shifts in voxels (give --pixel-size or a file "
         "that states it)", S),
    Case("an unknown rule for bad particles", ("batch", "particles=set.star", "output_dir=out",
                                               "reference=ref.mrc", "bad_particles=ignore", W),
         "bad_particles: expected one of refuse, skip, found 'ignore'", S),
    Case("one reference to classify into", ("classify", "particles=set.star", "output_dir=out",
                                            "references=[ref.mrc]", W),
         "references: expected a list of at least 2 MRC maps, one per class, for "
         "start=references, found ['ref.mrc'] (one class: subalign average)", S),
    Case("a tilt range of one angle", ("simulate", "imaging.tilt_range_deg=[10,10]"),
         "imaging.tilt_step_deg: 1 degrees over [10, 10] gives 1 tilt(s); expected at least 3"),
    Case("output_dir under a file", ("simulate", "output_dir=file/sim"),
         "output_dir: expected a directory to write results into, found file/sim, under the "
         "existing file file", T),
    # --- select, merge, split ------------------------------------------------------------------
    Case("select by class in a table without classes", ("select", "set.star", "out.star",
                                                         "--class", "1"),
         "set.star: --class: the table has no class numbers (column rlnClassNumber absent or "
         "empty); its columns are rlnAngleRot, rlnAngleTilt, rlnAnglePsi, rlnImageName, "
         "rlnOpticsGroup", S),
    Case("select by half in a Dynamo table", ("select", "wedge.tbl", "out.tbl", "--half", "1"),
         "wedge.tbl: --half: the table has no half sets (a dynamo table has no column for them); "
         "its columns are tag, aligned_value, *", T),
    Case("a query on a column the table lacks", ("select", "set.star", "out.star", "--query",
                                                 "rlnDefocusU > 1"),
         "set.star: --query: column 'rlnDefocusU' is not in the table; its columns are "
         "rlnAngleRot, rlnAngleTilt, rlnAnglePsi, rlnImageName, rlnOpticsGroup", S),
    Case("a query that is not one", ("select", "set.star", "out.star", "--query", "rlnAngleRot >"),
         "--query: expected a pandas query on the table's columns (e.g. \"rlnClassNumber == 2\"), "
         "found 'rlnAngleRot >': SyntaxError: *", S),
    Case("a selection nothing passes", ("select", "set.star", "out.star", "--query",
                                        "rlnAngleRot > 1000"),
         "select: no particle of set.star passes every filter; expected at least one (nothing "
         "written)", S),
    Case("a tomogram no particle is in", ("select", "wedge.tbl", "out.tbl", "--tomogram", "TS_9"),
         "wedge.tbl: --tomogram TS_9: no particle has it; expected one of the set's tomogram "
         "names: 1", T),
    Case("a score filter on a RELION table", ("select", "set.star", "out.star", "--min-score", "0.5"),
         "set.star: --min-score: the table has no scores (RELION tables have no score column); "
         "give --alignments alignments.csv of subalign batch", S),
    Case("a confidence filter without alignments", ("select", "set.star", "out.star",
                                                    "--min-confidence", "0.5"),
         "--min-confidence: confidences are in subalign batch's alignments.csv, not in particle "
         "tables; give --alignments alignments.csv", S),
    Case("rows past the end", ("select", "set.star", "out.star", "--rows", "3:9"),
         "--rows: expected A:B with 1 <= A <= B <= 4 (rows counted from 1, both included; A or B "
         "may be left out), found '3:9'", S),
    Case("a selection onto an existing file", ("select", "set.star", "one.star", "--rows", "1:2"),
         "one.star: exists; expected a new file (give --force to replace it)", S),
    Case("a selection onto its input, forced", ("select", "set.star", "set.star", "--rows", "1:2",
                                                "--force"),
         "set.star: is an input; expected another file (an input is never overwritten)", S),
    Case("merge of one set", ("merge", "set.star", "--output", "m.star"),
         "merge: expected at least 2 sets, found 1", S),
    Case("merge of two pixel sizes", ("merge", "set.star", "pix5.star", "--output", "m.star"),
         "pix5.star: pixel size 5 A; expected the pixel size of set.star (10 A): sets of one "
         "pixel size", S),
    Case("merge of two formats", ("merge", "set.star", "wedge.tbl", "--output", "m.star"),
         "wedge.tbl: a dynamo table; expected the format of set.star (relion5): merge sets of "
         "one format (subalign convert first)", T),
    Case("merge of a particle listed twice", ("merge", "set.star", "one.star", "--output", "m.star"),
         "one.star: row 1: the same particle file as set.star: row 1 (p0.mrc); expected each "
         "particle once (--allow-duplicates keeps both)", S),
    Case("split by class of a set without classes", ("split", "set.star", "--by", "class"),
         "set.star: --by class: the table has no class numbers (column rlnClassNumber absent or "
         "empty); its columns are rlnAngleRot, rlnAngleTilt, rlnAnglePsi, rlnImageName, "
         "rlnOpticsGroup", S),
    Case("split with no rule", ("split", "set.star"),
         "split: expected either --by half|class|tomogram or --random N", S),
    Case("split into more parts than particles", ("split", "set.star", "--random", "9"),
         "--random: expected a number of parts from 2 to the 4 particles, found 9", S),
    # --- postprocess and mask ------------------------------------------------------------------
    Case("a half map missing", ("postprocess", "h1.mrc", "gone.mrc"),
         "gone.mrc: no such file (expected an MRC volume)", H),
    Case("half maps of different boxes", ("postprocess", "h1.mrc", "h20.mrc"),
         "h20.mrc: expected the box of h1.mrc, (16, 16, 16), found (20, 20, 20)", H),
    Case("half maps of different voxel sizes", ("postprocess", "h1.mrc", "h5A.mrc"),
         "h5A.mrc: voxel size 5 Angstrom in the header; expected that of h1.mrc, 10 Angstrom", H),
    Case("a pixel size contradicting the headers", ("postprocess", "h1.mrc", "h2.mrc",
                                                    "--pixel-size", "7"),
         "h1.mrc: voxel size 10 Angstrom in the header; expected the --pixel-size given, 7 "
         "Angstrom", H),
    Case("half maps without a voxel size", ("postprocess", "h0A.mrc", "h0A.mrc"),
         "h0A.mrc: no voxel size in the header (0); expected one, or give --pixel-size A", H),
    Case("a mask with values above 1", ("postprocess", "h1.mrc", "h2.mrc", "--mask", "m2.mrc"),
         "m2.mrc: expected mask values in [0, 1], found values from 0 to 2", H),
    Case("a mask of another box", ("postprocess", "h1.mrc", "h2.mrc", "--mask", "m20.mrc"),
         "m20.mrc: expected a mask of the half maps' box (16, 16, 16), found (20, 20, 20)", H),
    Case("a local window of 2 voxels", ("postprocess", "h1.mrc", "h2.mrc",
                                        "--local-window-angstrom", "20"),
         "--local-window-angstrom: expected a window of at least 4 voxels (40 Angstrom), found "
         "20 Angstrom", H),
    Case("a B-factor that is not a number", ("postprocess", "h1.mrc", "h2.mrc", "--bfactor", "nan"),
         "--bfactor: expected a number of Angstrom^2, found nan", H),
    Case("a threshold above the map", ("mask", "h1.mrc", "--output", "mask.mrc", "--threshold", "99"),
         "threshold: no voxel of the map low-passed to 30 Angstrom reaches 99 (its values run "
         "from * to *); expected a value between, where the particle meets the solvent", H),
    Case("a mask without --output", ("mask", "h1.mrc"), "mask: expected --output, found none", H),
    Case("a mask written over its map", ("mask", "h1.mrc", "--output", "h1.mrc"),
         "--output: h1.mrc is the map; expected another file (the map is never overwritten)", H),
    # --- point groups (issue #25) ---------------------------------------------------------------
    Case("a point group RELION does not have", ("average", "particles=set.star", "output_dir=out",
                                                "symmetry=I5", W),
         "symmetry: expected C<n>, D<n>, T, O or I<1-4>, found 'I5'", S),
    Case("a batch symmetry that is no point group", ("batch", "particles=set.star",
                                                     "output_dir=out", "reference=ref.mrc",
                                                     "symmetry=X5", W),
         "symmetry: expected C<n>, D<n>, T, O or I<1-4>, found 'X5'", S),
]


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUBALIGN_DEBUG", raising=False)
    return tmp_path


def test_these_cases_are_many_and_distinct():
    assert len(CASES) >= 40
    assert len({case.args for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.args[0]}: {c.what}")
def test_bad_set_input_gives_one_line_exit_2_and_writes_nothing(case, scratch, capsys):
    for name in case.inputs:
        ALL_INPUTS[name](scratch)
    check_case(case, scratch, capsys)
