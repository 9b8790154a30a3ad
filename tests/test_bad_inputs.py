"""The catalogue of bad inputs: every one gives one line, exit code 2, and writes nothing.

Each :class:`Case` is a command line of ``subalign`` run from a scratch directory holding
the input files it names (made by :data:`INPUTS`). Every case must print exactly one line
on stderr, ``subalign: error: <message>``, with the message given here (``*`` stands for a
part that comes from a library, such as an operating-system reason), exit with code 2, and
leave the scratch directory exactly as it was: no output directory, no half-written result.
The cases run in-process through :func:`subalign.cli.main` (the console script's entry
point); a few also run as a real subprocess to show the two agree.

``docs/errors.md`` is generated from this catalogue and its continuation for particle
sets and their tables (``tests/test_bad_inputs_sets.py``)::

    python tests/test_bad_inputs.py --write-docs

and a test fails when it is out of date.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import starfile

from omegaconf import OmegaConf

from subalign.cli import main
from subalign.cli.dispatch import COMMANDS
from subalign.cli.compose import compose_config
from subalign.io.files import write_json
from subalign.io.mrc import write_volume
from subalign.simulation.synthetic import synthetic_pair

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
SUBALIGN = Path(sys.executable).parent / "subalign"


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes
    ----------
    what : str
        What is wrong, for ``docs/errors.md``.
    args : tuple of str
        The ``subalign`` command line (without ``subalign``).
    message : str
        The expected message after ``subalign: error: ``; ``*`` matches any text.
    inputs : tuple of str
        Names of :data:`INPUTS` to create in the scratch directory first.
    """

    what: str
    args: tuple
    message: str
    inputs: tuple = ()


def _mrc(path: Path, data, *, raw: bool = False) -> None:
    if raw:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.new(path, overwrite=True) as mrc:
                mrc.set_data(data)
    else:
        write_volume(path, data)


def _pair(root: Path) -> None:
    pair = synthetic_pair(0, size=16, snr=float("inf"))
    _mrc(root / "a.mrc", pair.fixed)
    _mrc(root / "b.mrc", pair.moving)


def _nan(root: Path) -> None:
    data = np.random.default_rng(1).normal(size=(16, 16, 16))
    data[1, 2, 3] = np.nan
    _mrc(root / "nan.mrc", data.astype(np.float32), raw=True)


def _truncated(root: Path) -> None:
    _mrc(root / "whole.mrc", np.random.default_rng(2).normal(size=(16, 16, 16)))
    content = (root / "whole.mrc").read_bytes()
    (root / "whole.mrc").unlink()
    (root / "truncated.mrc").write_bytes(content[:5000])


def _complete_simulation(root: Path) -> None:
    write_json(root / "sim" / "simulation.json", {"status": "complete", "config": {"n": 1}})


def _other_job(root: Path) -> None:
    """``job/job.json`` of the default experiment with ``n_pairs=3``."""
    record = OmegaConf.to_container(compose_config("run_experiment", ["n_pairs=3"]),
                                    resolve=True)
    for key in ("workers", "output_dir"):
        record.pop(key)
    write_json(root / "job" / "job.json", record)


def _stacks(root: Path, edit=None) -> None:
    """A simulated RELION 5 stack set of 2 particles in ``relion5_stacks/`` and its density
    as ``ref32.mrc``; ``edit(folder)`` then breaks it."""
    from subalign.simulation.simulate import load_density, simulation_config
    from subalign.simulation.stacks import write_relion5_stacks

    config = simulation_config({"n": 2})
    density = load_density(config)
    write_relion5_stacks(config, root, density)
    write_volume(root / "ref32.mrc", density, voxel_size=10.0)
    if edit is not None:
        edit(root / "relion5_stacks")


def _no_tilt_table(folder: Path) -> None:
    blocks = starfile.read(folder / "tomograms.star", always_dict=True)
    starfile.write({"global": blocks["global"]}, folder / "tomograms.star", overwrite=True)


def _bad_matrix(folder: Path) -> None:
    blocks = starfile.read(folder / "tomograms.star", always_dict=True)
    blocks["sim"].loc[2, "rlnTomoProjX"] = "[1.5,0,0,0]"
    starfile.write(blocks, folder / "tomograms.star", overwrite=True)


def _wrong_box_set(root: Path) -> None:
    """``set3.star``: three particles of 16^3 but row 3's file is 12^3 (with a.mrc, b.mrc)."""
    rng = np.random.default_rng(8)
    for k, size in enumerate((16, 16, 12)):
        _mrc(root / f"v{k}.mrc", rng.normal(size=(size,) * 3))
    (root / "set3.star").write_text(
        "data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n_rlnAnglePsi #3\n"
        "_rlnImageName #4\n" + "".join(f"0 0 0 v{k}.mrc\n" for k in range(3)))


#: Input files by name: each makes its file (or directory) in the scratch directory.
INPUTS = {
    "stacks": _stacks,
    "stacks without tilts": lambda root: _stacks(root, _no_tilt_table),
    "stacks, one missing": lambda root: _stacks(
        root, lambda folder: (folder / "stacks" / "particle_000002.mrcs").unlink()),
    "stacks, a bad matrix": lambda root: _stacks(root, _bad_matrix),
    "wrong_box_set": _wrong_box_set,
    "halves.star": lambda root: (root / "halves.star").write_text(
        "data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n_rlnAnglePsi #3\n"
        "_rlnImageName #4\n_rlnRandomSubset #5\n10 20 30 p1.mrc 1\n0 0 0 p2.mrc 2\n"
        "5 5 5 p1.mrc 2\n"),
    "bad_halves.star": lambda root: (root / "bad_halves.star").write_text(
        "data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n_rlnAnglePsi #3\n"
        "_rlnImageName #4\n_rlnRandomSubset #5\n10 20 30 p1.mrc 1\n0 0 0 p2.mrc 3\n"),
    "lost_optimisation_set.star": lambda root: (root / "lost_optimisation_set.star").write_text(
        "data_\n\n_rlnTomoParticlesFile nowhere.star\n_rlnTomoTomogramsFile tomograms.star\n"),
    "pair": _pair,
    "box20.mrc": lambda root: _mrc(root / "box20.mrc",
                                   np.random.default_rng(3).normal(size=(20, 20, 20))),
    "flat.mrc": lambda root: _mrc(root / "flat.mrc", np.zeros((16, 16), dtype=np.float32)),
    "noncubic.mrc": lambda root: _mrc(root / "noncubic.mrc",
                                      np.random.default_rng(4).normal(size=(16, 16, 8))),
    "tiny.mrc": lambda root: _mrc(root / "tiny.mrc",
                                  np.random.default_rng(5).normal(size=(3, 3, 3))),
    "nan.mrc": _nan,
    "zeros.mrc": lambda root: _mrc(root / "zeros.mrc", np.zeros((16, 16, 16))),
    "const.mrc": lambda root: _mrc(root / "const.mrc", np.full((16, 16, 16), 3.0)),
    "complex.mrc": lambda root: _mrc(root / "complex.mrc",
                                     np.ones((8, 8, 8), dtype=np.complex64), raw=True),
    "stack.mrc": lambda root: _mrc(
        root / "stack.mrc", np.random.default_rng(6).random((2, 8, 8, 8)).astype(np.float32),
        raw=True),
    "garbage.mrc": lambda root: (root / "garbage.mrc").write_bytes(
        np.random.default_rng(7).bytes(4096)),
    "empty.mrc": lambda root: (root / "empty.mrc").write_bytes(b""),
    "text.mrc": lambda root: (root / "text.mrc").write_text("not a volume\n"),
    "truncated.mrc": _truncated,
    "dir.mrc": lambda root: (root / "dir.mrc").mkdir(),
    "file": lambda root: (root / "file").write_text("a file, not a directory\n"),
    "garbage.pdb": lambda root: (root / "garbage.pdb").write_text("not an atomic model\n"),
    "sim": _complete_simulation,
    "job": _other_job,
    "empty_dir": lambda root: (root / "empty_dir").mkdir(),
    "notstar.star": lambda root: (root / "notstar.star").write_text("not a STAR file\n"),
    "relion.star": lambda root: (root / "relion.star").write_text(
        "data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n_rlnAnglePsi #3\n"
        "_rlnImageName #4\n10 20 30 p1.mrc\n"),
    "bad_result": lambda root: (root / "bad_result").mkdir() or (
        root / "bad_result" / "result.json").write_text("{not json"),
}

FILES = ("fixed=a.mrc", "moving=b.mrc")
_PLACE = "must be a place where results can be written"

CATALOGUE = [
    # --- align: volumes -------------------------------------------------------------------
    Case("fixed volume missing", ("align", "fixed=missing.mrc", "moving=b.mrc"),
         "missing.mrc: no such file (expected an MRC volume)", ("pair",)),
    Case("a directory given as a volume", ("align", "fixed=dir.mrc", "moving=b.mrc"),
         "dir.mrc: no such file (expected an MRC volume)", ("pair", "dir.mrc")),
    Case("a 2-D image", ("align", "fixed=flat.mrc", "moving=b.mrc"),
         "flat.mrc: expected a 3-D volume, found 2-D data of shape (16, 16)",
         ("pair", "flat.mrc")),
    Case("a 4-D volume stack", ("align", "fixed=stack.mrc", "moving=b.mrc"),
         "stack.mrc: expected a 3-D volume, found 4-D data of shape (2, 8, 8, 8)",
         ("pair", "stack.mrc")),
    Case("a box that is not cubic", ("align", "fixed=noncubic.mrc", "moving=b.mrc"),
         "noncubic.mrc: expected a cubic box (N, N, N), found shape (z, y, x) = (16, 16, 8)",
         ("pair", "noncubic.mrc")),
    Case("a 3-voxel box", ("align", "fixed=tiny.mrc", "moving=b.mrc"),
         "tiny.mrc: expected a box of at least 4 voxels, found (3, 3, 3)", ("pair", "tiny.mrc")),
    Case("a NaN voxel", ("align", "fixed=nan.mrc", "moving=b.mrc"),
         "nan.mrc: expected finite values, found 1 non-finite voxel(s), the first at "
         "[z, y, x] = [1, 2, 3]", ("pair", "nan.mrc")),
    Case("an all-zero volume", ("align", "fixed=zeros.mrc", "moving=b.mrc"),
         "zeros.mrc: expected a volume with contrast, found a constant volume (every voxel 0): "
         "nothing to align", ("pair", "zeros.mrc")),
    Case("a constant volume", ("align", "fixed=a.mrc", "moving=const.mrc"),
         "const.mrc: expected a volume with contrast, found a constant volume (every voxel 3): "
         "nothing to align", ("pair", "const.mrc")),
    Case("complex voxels", ("align", "fixed=complex.mrc", "moving=b.mrc"),
         "complex.mrc: expected real-valued voxels, found complex values (MRC mode 4)",
         ("pair", "complex.mrc")),
    Case("random bytes", ("align", "fixed=garbage.mrc", "moving=b.mrc"),
         "garbage.mrc: expected a readable MRC file, found a header with the unknown data mode *",
         ("pair", "garbage.mrc")),
    Case("an empty file", ("align", "fixed=empty.mrc", "moving=b.mrc"),
         "empty.mrc: expected a readable MRC file, found: Couldn't read enough bytes for MRC "
         "header", ("pair", "empty.mrc")),
    Case("a text file", ("align", "fixed=text.mrc", "moving=b.mrc"),
         "text.mrc: expected a readable MRC file, found: Couldn't read enough bytes for MRC "
         "header", ("pair", "text.mrc")),
    Case("a truncated MRC file", ("align", "fixed=truncated.mrc", "moving=b.mrc"),
         "truncated.mrc: expected 16384 bytes of voxels after the header (shape (16, 16, 16), "
         "MRC mode 2), found 3976: the file is truncated", ("pair", "truncated.mrc")),
    Case("volumes of different sizes", ("align", "fixed=a.mrc", "moving=box20.mrc"),
         "box20.mrc: expected the shape of fixed (a.mrc) (16, 16, 16), found (20, 20, 20)",
         ("pair", "box20.mrc")),
    Case("only fixed given", ("align", "fixed=a.mrc"),
         "moving: expected a path to an MRC volume, found null (give both fixed= and moving=, "
         "or neither for the demo)", ("pair",)),
    Case("only moving given", ("align", "moving=b.mrc"),
         "fixed: expected a path to an MRC volume, found null (give both fixed= and moving=, "
         "or neither for the demo)", ("pair",)),
    # --- align: fields --------------------------------------------------------------------
    Case("seed not a number", ("align", "seed=abc"), "seed: expected an integer, found 'abc'"),
    Case("negative seed", ("align", "seed=-1"), "seed: expected an integer >= 0, found -1"),
    Case("negative polish steps", ("align", "polish_max_steps=-1"),
         "polish_max_steps: expected an integer >= 0, found -1"),
    Case("fractional polish steps", ("align", "polish_max_steps=1.5"),
         "polish_max_steps: expected an integer, found 1.5"),
    Case("binning 0", ("align", "search_binning=0"),
         "search_binning: expected an integer >= 1, found 0"),
    Case("zero shift limit", ("align", "max_shift_voxels=0"),
         "max_shift_voxels: expected a number > 0, found 0.0"),
    Case("unknown starting translation", ("align", "initial_translation=middle"),
         "initial_translation: expected one of centroid, fft, found 'middle'"),
    Case("tilt beyond 90 degrees", ("align", *FILES, "wedge.tilt_range_deg=[-100,60]"),
         "wedge.tilt_range_deg: expected -90 <= min <= max <= 90 degrees, found [-100, 60]",
         ("pair",)),
    Case("tilt range reversed", ("align", *FILES, "wedge.tilt_range_deg=[60,-60]"),
         "wedge.tilt_range_deg: expected -90 <= min <= max <= 90 degrees, found [60, -60]",
         ("pair",)),
    Case("tilt range not a list", ("align", "wedge.tilt_range_deg=abc"),
         "wedge.tilt_range_deg: expected a list such as [a,b], found 'abc'"),
    Case("one tilt angle", ("align", "fixed_wedge.tilt_range_deg=[-60]"),
         "fixed_wedge.tilt_range_deg: expected two angles [min, max] in degrees, found [-60.0]"),
    Case("unclosed bracket", ("align", "wedge.tilt_range_deg=[-60,60"),
         "wedge.tilt_range_deg=[-60,60: expected key=value in Hydra's override syntax "
         "(https://hydra.cc/docs/advanced/override_grammar/basic/), found no viable alternative "
         "at input '[-60,60'"),
    Case("a group given a number", ("align", "wedge=3"),
         "wedge: expected a group of fields (WedgeConfig), set one by one as key.field=value, "
         "found 3"),
    Case("unknown score", ("align", "score=nope"),
         "score=nope: expected one of fcs, *rcs, found 'nope'"),
    Case("unknown measurement model", ("align", "measurement=nope"),
         "measurement=nope: expected one of *ctf, planes, tilt_range, found 'nope'"),
    Case("unknown weighting of measurement models", ("align", "score.measurement_weighting=nope"),
         "score=rcs: score.measurement_weighting must be one of ('both', 'matched', 'one', "
         "'support', 'wiener'), found 'nope'"),
    Case("a sweep without -m", ("align", "score=rcs,fcs"),
         "score=rcs,fcs: expected one value, found a comma-separated list (to sweep over it put "
         "-m first: subalign COMMAND -m score=rcs,fcs; for a list write [a,b])"),
    Case("a bad value inside a -m sweep", ("align", "-m", "score=rcs,nope"),
         "score=nope: expected one of fcs, *rcs, found 'nope'"),
    Case("misspelt group", ("align", "scroe.max_frequency=0.2"),
         "scroe.max_frequency=0.2: expected one of the config's fields, found 'scroe', which is "
         "none of them (did you mean 'score'?)"),
    Case("misspelt group added with +", ("align", "+scroe.max_frequency=0.2"),
         "+scroe.max_frequency=0.2: expected one of the config's fields, found 'scroe', which "
         "is none of them (did you mean 'score'?)"),
    Case("misspelt plugin field", ("align", "score.max_frequncy=0.2"),
         "score.max_frequncy=0.2: expected one of the fields of score, found 'max_frequncy', "
         "which is none of them (did you mean 'max_frequency'?)"),
    Case("misspelt plugin field added with +", ("align", "+score.max_frequncy=0.2"),
         "score.max_frequncy: expected one of the fields of score=rcs, found 'max_frequncy', "
         "which is none of them (did you mean 'max_frequency'?)"),
    Case("an existing field added with +", ("align", "+seed=1"),
         "+seed: expected a new field after '+', found the existing field 'seed' (set it with "
         "seed=..., without '+')"),
    Case("plugin field not a number", ("align", "score.max_frequency=abc"),
         "score.max_frequency: Value 'abc' of type 'str' could not be converted to Float "
         "(score=rcs)"),
    Case("race score band beyond Nyquist", ("align", "race_score.max_frequency=0.7"),
         "race_score={'max_frequency': 0.7}: score=rcs: score.max_frequency must be in "
         "(0, 0.5] cycles/voxel, found 0.7; set race_score=null to race with the score as "
         "configured"),
    Case("refiner iterations below 1", ("align", "refiner.n_max_iter=-1"),
         "refiner.n_max_iter: expected >= 1, found -1"),
    Case("sampling interval 0", ("align", "sampler=euler_grid", "sampler.interval_deg=0"),
         "sampler.interval_deg: expected 0 < step <= 180 degrees, found 0.0"),
    Case("an unknown flag", ("align", "--bogus"),
         "align: expected the arguments `subalign align --help` lists, found --bogus"),
    Case("output_dir where nothing can be made", ("align", "output_dir=/proc/x"),
         "output_dir: expected a writable directory, found /proc/x, where nothing can be "
         "created (*)"),
    Case("output_dir an existing file", ("align", "output_dir=file"),
         "output_dir: expected a directory to write results into, found file, an existing "
         "file", ("file",)),
    Case("output_dir under a file", ("align", "output_dir=file/run"),
         "output_dir: expected a directory to write results into, found file/run, under the "
         "existing file file", ("file",)),
    Case("demo box 0", ("align", "demo.size=0"), "demo.size: expected an integer >= 8, found 0"),
    Case("demo box too small", ("align", "demo.size=7"),
         "demo.size: expected an integer >= 8, found 7"),
    Case("demo SNR 0", ("align", "demo.snr=0"),
         "demo.snr: expected a positive number or inf, found 0.0"),
    Case("demo shift that wraps the particle", ("align", "demo.max_translation_voxels=100"),
         "demo.max_translation_voxels: expected at most 5.0 voxels in a 32-voxel box holding a "
         "particle of radius 10.0 voxels (more moves it across the box faces, where it wraps "
         "around), found 100"),
    Case("demo tilt beyond 90", ("align", "demo.tilt_range_deg=[-60,100]"),
         "demo.tilt_range_deg: expected -90 <= min <= max <= 90 degrees, found [-60, 100]"),
    # --- simulate -------------------------------------------------------------------------
    Case("no particles", ("simulate", "n=0"), "n: expected an integer >= 1, found 0"),
    Case("negative count", ("simulate", "n=-1"), "n: expected an integer >= 1, found -1"),
    Case("count as a word", ("simulate", "n=ten"), "n: expected an integer, found 'ten'"),
    Case("box 0", ("simulate", "size=0"), "size: expected an integer >= 8, found 0"),
    Case("box 3", ("simulate", "size=3"), "size: expected an integer >= 8, found 3"),
    Case("voxel size 0", ("simulate", "voxel_size_nm=0"),
         "voxel_size_nm: expected a number > 0, found 0.0"),
    Case("shift that wraps the particle", ("simulate", "max_translation_voxels=100"),
         "max_translation_voxels: expected at most 5.0 voxels in a 32-voxel box holding a "
         "particle of radius 10.0 voxels (more moves it across the box faces, where it wraps "
         "around), found 100"),
    Case("negative shift", ("simulate", "max_translation_voxels=-1"),
         "max_translation_voxels: expected a number >= 0, found -1.0"),
    Case("a blob of width 0", ("simulate", "density.blobs=[{centre:[0,0,0],sigma:0,amplitude:1}]"),
         "density.blobs[0].sigma: expected a positive fraction of the box, found 0"),
    Case("a blob of amplitude 0", ("simulate", "density.blobs=[{centre:[0,0,0],sigma:0.1,amplitude:0}]"),
         "density.blobs[0].amplitude: expected a non-zero finite value, found 0"),
    Case("a blob outside the box", ("simulate", "density.blobs=[{centre:[0,0,0.7],sigma:0.1,amplitude:1}]"),
         "density.blobs[0].centre: expected offsets inside the box (|c| < 0.5 of its edge), found "
         "[0.0, 0.0, 0.7]"),
    Case("two tilts", ("simulate", "imaging.tilt_step_deg=100"),
         "imaging.tilt_step_deg: 100 degrees over [-60, 60] gives 2 tilt(s); expected at least 3"),
    Case("seed not a number", ("simulate", "seed=abc"), "seed: expected an integer, found 'abc'"),
    Case("negative seed", ("simulate", "seed=-5"), "seed: expected an integer >= 0, found -5"),
    Case("SNR 0", ("simulate", "imaging.snr=0"),
         "imaging.snr: expected a positive number or inf, found 0.0"),
    Case("tilt beyond 90", ("simulate", "imaging.tilt_range_deg=[-60,100]"),
         "imaging.tilt_range_deg: expected -90 <= min <= max <= 90 degrees, found [-60, 100]"),
    Case("tilt step 0", ("simulate", "imaging.tilt_step_deg=0"),
         "imaging.tilt_step_deg: expected a number > 0 and <= 180, found 0.0"),
    Case("negative voltage", ("simulate", "imaging.ctf.voltage_kv=-1"),
         "imaging.ctf: expected voltage_kv > 0 and cs_mm >= 0, found -1.0, 2.0"),
    Case("unknown pair list", ("simulate", "pairs=ring"),
         "pairs: expected one of consecutive, all, found 'ring'"),
    Case("unknown density source", ("simulate", "density.source=sketch"),
         "density.source: expected one of phantom, structure, map, found 'sketch'"),
    Case("map without a file", ("simulate", "density.source=map"),
         "density.path: expected a file for source map, found null"),
    Case("map file missing", ("simulate", "density.source=map", "density.path=missing.mrc"),
         "missing.mrc: no such file (expected an MRC volume)"),
    Case("unreadable atomic model", ("simulate", "density.source=structure",
                                      "density.path=garbage.pdb"),
         "garbage.pdb: expected atoms with mass (hydrogens and waters ignored), found 0 "
         "atom(s) of total mass 0 Da in the first model", ("garbage.pdb",)),
    Case("figure not a bool", ("simulate", "figure=maybe"),
         "figure: expected true or false, found 'maybe'"),
    Case("output_dir where nothing can be made", ("simulate", "output_dir=/proc/x"),
         "output_dir: expected a writable directory, found /proc/x, where nothing can be "
         "created (*)"),
    Case("output_dir an existing file", ("simulate", "output_dir=file"),
         "output_dir: expected a directory to write results into, found file, an existing "
         "file", ("file",)),
    Case("output_dir holding another simulation", ("simulate", "output_dir=sim"),
         "sim/simulation.json: holds a simulation made with n=1, this command has n=20; "
         "expected the same config to resume (choose another output_dir)", ("sim",)),
    Case("unknown field added with +", ("simulate", "+scroe=1"),
         "+scroe=1: expected one of the config's fields, found 'scroe', which is none of them"),
    Case("a bad value inside a -m sweep", ("simulate", "-m", "n=2,0"),
         "n: expected an integer >= 1, found 0"),
    # --- experiment -----------------------------------------------------------------------
    Case("unknown experiment", ("experiment", "experiment=nope"),
         "experiment=nope: expected one of averaging, baseline, classification, convergence, "
         "speedup, table1_2, table3_4, found 'nope'"),
    Case("unknown method", ("experiment", "method=nope"),
         "method=nope: expected one of scan10, scan5, stochastic60, found 'nope'"),
    Case("unknown kind", ("experiment", "kind=nope"),
         "kind: expected one of pairs, convergence, speedup, averaging, classification, found "
         "'nope'"),
    Case("no pairs", ("experiment", "n_pairs=0"), "n_pairs: expected an integer >= 1, found 0"),
    Case("tilt 0", ("experiment", "tilt=0"), "tilt: expected a number > 0 and <= 90, found 0.0"),
    Case("tilt beyond 90", ("experiment", "tilt=100"),
         "tilt: expected a number > 0 and <= 90, found 100.0"),
    Case("SNR 0", ("experiment", "snr=0"), "snr: expected a positive number or inf, found 0.0"),
    Case("no workers", ("experiment", "workers=0"), "workers: expected an integer >= 1, found 0"),
    Case("negative first pair", ("experiment", "first_pair=-1"),
         "first_pair: expected an integer >= 0, found -1"),
    Case("unknown baseline refiner", ("experiment", "speedup_baseline=nope"),
         "refiner='nope': no such refiner plugin; available: *"),
    Case("simulation box too small", ("experiment", "simulation.size=4"),
         "simulation.size: expected an integer >= 8, found 4"),
    Case("simulated shift that wraps", ("experiment", "simulation.max_translation_voxels=100"),
         "simulation.max_translation_voxels: expected at most 5.0 voxels in a 32-voxel box "
         "holding a particle of radius 10.0 voxels (more moves it across the box faces, where "
         "it wraps around), found 100"),
    Case("unknown averaging template", ("experiment", "experiment=averaging",
                                         "averaging.template=middle"),
         "averaging.template: expected one of first, truth, found 'middle'"),
    Case("averaging one subtomogram", ("experiment", "experiment=averaging", "averaging.n=1"),
         "averaging.n: expected an integer >= 2, found 1"),
    Case("structures missing", ("experiment", "experiment=classification",
                                "classification.structures_dir=nowhere"),
         "classification.structures[0]: expected an atomic model (PDB or mmCIF), found no file "
         "nowhere/groel14_from_1kp8A.pdb.gz"),
    Case("one class only", ("experiment", "experiment=classification",
                            "classification.structures=[a.pdb]"),
         "classification.structures: expected at least 2 atomic models, found 1"),
    Case("output_dir where nothing can be made", ("experiment", "output_dir=/proc/x"),
         "output_dir: expected a writable directory, found /proc/x, where nothing can be "
         "created (*)"),
    Case("output_dir holding another job", ("experiment", "n_pairs=2", "output_dir=job"),
         "job/job.json: holds a job made with n_pairs=3, this command has "
         "n_pairs=2; expected the same settings to resume (choose another output_dir)",
         ("job",)),
    Case("a bad value inside a -m sweep", ("experiment", "-m", "experiment=table1_2",
                                           "tilt=60,400"),
         "tilt: expected a number > 0 and <= 90, found 400.0"),
    Case("unknown field added with +", ("experiment", "+imaging.snr=3"),
         "+imaging.snr=3: expected one of the config's fields, found 'imaging', which is none "
         "of them (did you mean 'averaging'?)"),
    # --- report, plugins, commands --------------------------------------------------------
    Case("no directory", ("report",), "report: expected directories, found none"),
    Case("directory missing", ("report", "nowhere"),
         "nowhere: expected a directory of experiment jobs, found none"),
    Case("directory without jobs", ("report", "empty_dir"),
         "empty_dir: expected finished experiment jobs (result.json), found none",
         ("empty_dir",)),
    Case("a corrupt result.json", ("report", "bad_result"),
         "bad_result/result.json: expected a result record (JSON), found *", ("bad_result",)),
    Case("an unknown option", ("report", "empty_dir", "--bogus"),
         "report: expected the arguments `subalign report --help` lists, found --bogus",
         ("empty_dir",)),
    Case("report written where nothing can be made",
         ("report", "empty_dir", "--output", "/proc/x/report.md"),
         "--output: expected a writable directory, found /proc/x, where nothing can be "
         "created (*)", ("empty_dir",)),
    Case("report named like a directory", ("report", "empty_dir", "--output", "empty_dir"),
         "--output: expected a Markdown file name, found the directory empty_dir",
         ("empty_dir",)),
    Case("arguments to plugins", ("plugins", "score"),
         "plugins: expected no arguments, found score"),
    Case("unknown command", ("alignn",),
         f"command 'alignn': expected one of {', '.join(COMMANDS)}"),
    # --- batch, average, classify -----------------------------------------------------------
    Case("no output directory", ("batch", "particles=set.star"),
         "output_dir: expected a directory for the results (rerun the same command with it "
         "to resume), found null"),
    Case("particle set missing", ("batch", "particles=none.star", "output_dir=out"),
         "particles: expected a particle set file, found no file none.star"),
    Case("particle set not a STAR file", ("batch", "particles=notstar.star", "output_dir=out"),
         "notstar.star: expected a STAR file with data blocks, found none", ("notstar.star",)),
    Case("unknown mode", ("batch", "particles=none.star", "output_dir=out", "mode=some"),
         "mode: expected one of reference, all, pairs, found 'some'"),
    Case("no output directory", ("average", "particles=set.star"),
         "output_dir: expected a directory for the rounds (rerun the same command with it to "
         "resume), found null"),
    Case("particle set missing", ("average", "particles=none.star", "output_dir=out"),
         "particles: expected a particle set file (.star, .tbl, .em), found no file none.star"),
    Case("no output directory", ("classify", "particles=set.star"),
         "output_dir: expected a directory for the rounds (rerun the same command with it to "
         "resume), found null"),
    Case("unknown mode", ("classify", "particles=none.star", "output_dir=out", "mode=x"),
         "mode: expected one of multiref, all, found 'x'"),
    # --- convert, show, aligned -------------------------------------------------------------
    Case("no files named", ("convert",), "convert: expected input, output, found none"),
    Case("input missing", ("convert", "none.star", "out.tbl"),
         "none.star: no such file (expected a particle STAR file)"),
    Case("unknown output format", ("convert", "notstar.star", "out.tbl", "--to", "nope"),
         "convert: argument --to: invalid choice: 'nope' (choose from *)", ("notstar.star",)),
    Case("no file named", ("show",), "show: expected particles, found none"),
    Case("not a STAR file", ("show", "notstar.star"),
         "notstar.star: expected a STAR file with data blocks, found none", ("notstar.star",)),
    Case("an extra argument", ("show", "notstar.star", "more.star"),
         "show: expected the arguments `subalign show --help` lists, found more.star",
         ("notstar.star",)),
    Case("a particle folder for a table that names its files",
         ("show", "relion.star", "--subtomograms", "particles"),
         "relion.star: subtomograms=particles applies to the numbered formats (Dynamo, AV3, "
         "STOPGAP); a relion5 table names each particle's file itself", ("relion.star",)),
    Case("an optimisation set naming a missing table", ("show", "lost_optimisation_set.star"),
         "lost_optimisation_set.star: rlnTomoParticlesFile: nowhere.star not found (looked in *; "
         "give --project-dir)", ("lost_optimisation_set.star",)),
    Case("a projection matrix that is not a rotation",
         ("show", "relion5_stacks/optimisation_set.star"),
         "*tomograms.star data_sim: row 3, column rlnTomoProjX/Y/Z: projection matrix "
         "[[1.5, 0.0, 0.0], *] is not a rotation; expected orthonormal rows (within 1e-3)",
         ("stacks, a bad matrix",)),
    Case("a reference mirrored along an unknown axis",
         ("batch", "particles=relion5_stacks/optimisation_set.star", "reference=ref32.mrc",
          "reference_flip=w", "output_dir=out"),
         "reference_flip: expected one of x, y, z or null, found 'w'", ("stacks",)),
    Case("a 2-D stack set whose tomogram has no per-tilt table",
         ("batch", "particles=relion5_stacks/optimisation_set.star", "reference=ref32.mrc",
          "output_dir=out"),
         "*particles.star: row 1, column rlnTomoName: no wedge known for tomogram 'sim': its "
         "table has no tilt range or per-tilt table for it; expected a tilt range from the "
         "file, a tomogram table (--tomograms) or a default (--wedge MIN MAX)",
         ("stacks without tilts",)),
    Case("a missing stack", ("average", "particles=relion5_stacks/optimisation_set.star",
                             "reference=ref32.mrc", "output_dir=out"),
         "*particles.star: row 2, column rlnImageName: stack stacks/particle_000002.mrcs not "
         "found (looked in *relion5_stacks and the working directory)", ("stacks, one missing",)),
    Case("a subtomogram of another size after the first row",
         ("batch", "particles=set3.star", "reference=a.mrc", "particle_wedge.tilt_range_deg=[-60,60]",
          "output_dir=out"),
         "set3.star: row 3, column rlnImageName: v2.mrc holds a (z, y, x) = (12, 12, 12) volume; "
         "expected (16, 16, 16) like the set's other subtomograms", ("pair", "wrong_box_set")),
    Case("a scheduler that does not answer",
         ("batch", "particles=none.star", "output_dir=out", "executor.address=tcp://127.0.0.1:9"),
         "executor.address: no Dask scheduler answers at tcp://127.0.0.1:9 (*); expected a "
         "running scheduler, or no address for a local cluster"),
    Case("a particle in both half sets", ("average", "particles=halves.star", "output_dir=out"),
         "halves.star: row 3, column rlnRandomSubset: the particle of row 1 again (same file), "
         "in the other half set; expected each particle in one half (shared particles make the "
         "half maps agree beyond the true resolution)", ("halves.star",)),
    Case("a half set that is neither 1 nor 2", ("classify", "particles=bad_halves.star",
                                                "output_dir=out", "mode=all", "classes=2"),
         "bad_halves.star: row 2, column rlnRandomSubset: found 3; expected 1 or 2 for every "
         "particle (or no half sets at all, for a random split)", ("bad_halves.star",)),
    Case("no output named", ("aligned",), "aligned: expected output, found none"),
    Case("neither a particle nor an alignment", ("aligned", "out.mrc"),
         "aligned: expected either --particles SET --index I or --alignment alignment.json "
         "--moving volume.mrc"),
    Case("no output named", ("select", "in.star"), "select: expected output, found none"),
    Case("one set to merge", ("merge", "in.star", "--output", "m.star"),
         "merge: expected at least 2 sets, found 1"),
    Case("a set that is not there", ("split", "none.star", "--by", "half"),
         "none.star: no such file (expected a particle STAR file)"),
]


def pattern(message: str) -> re.Pattern:
    """The catalogue message as a regular expression (``*``: any text)."""
    return re.compile(".*".join(re.escape(part) for part in message.split("*")))


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def run_case(case: Case, root: Path, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(case.args))
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUBALIGN_DEBUG", raising=False)
    return tmp_path


def prepare(case: Case, root: Path) -> None:
    for name in case.inputs:
        INPUTS[name](root)


def test_the_catalogue_is_large_and_covers_every_command():
    """Both parts (this module's and test_bad_inputs_sets') together cover every command."""
    cases = every_case()
    assert len(CATALOGUE) >= 60
    commands = {case.args[0] for case in cases}
    assert commands == set(COMMANDS) | {"alignn"}
    assert len({case.args for case in cases}) == len(cases)


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: f"{c.args[0]}: {c.what}")
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(case, scratch, capsys):
    prepare(case, scratch)
    check_case(case, scratch, capsys)


def check_case(case: Case, scratch: Path, capsys) -> None:
    """Run ``case`` in its prepared scratch directory: one line, exit 2, nothing written."""
    before = snapshot(scratch)
    code, out, err = run_case(case, scratch, capsys)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("subalign: error: "), err
    message = lines[0].removeprefix("subalign: error: ")
    assert pattern(case.message).fullmatch(message), f"\n{message}\n{case.message}"
    assert snapshot(scratch) == before  # nothing written, not even a directory


@pytest.mark.parametrize("command, what", [("align", "fixed volume missing"),
                                           ("simulate", "no particles"),
                                           ("experiment", "unknown kind")])
def test_the_console_script_gives_the_same_line(command, what, scratch, capsys):
    (case,) = [c for c in CATALOGUE if (c.args[0], c.what) == (command, what)]
    prepare(case, scratch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBALIGN_")}
    done = subprocess.run([str(SUBALIGN), *case.args], cwd=scratch, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == run_case(case, scratch, capsys)[2].splitlines()


@pytest.mark.parametrize("switch", [("-v",), ()])
def test_debug_switches_print_the_full_trace_before_the_line(switch, scratch, capsys,
                                                             monkeypatch):
    if not switch:
        monkeypatch.setenv("SUBALIGN_DEBUG", "1")
    with pytest.raises(SystemExit) as info:
        main(["align", *switch, "seed=abc"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith("Traceback (most recent call last):")
    assert "omegaconf.errors.ValidationError" in err  # Hydra's original error, chained
    assert err.splitlines()[-1] == "subalign: error: seed: expected an integer, found 'abc'"


# --- docs/errors.md ---------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def every_case() -> list[Case]:
    """This catalogue and its continuation for particle sets (``test_bad_inputs_sets``)."""
    from test_bad_inputs_sets import CASES

    return CATALOGUE + CASES


def render() -> str:
    """``docs/errors.md``: the catalogue as a table."""
    cases = every_case()
    lines = [
        "# Errors",
        "",
        "Generated from the catalogue of bad inputs in `tests/test_bad_inputs.py` by "
        "`python tests/test_bad_inputs.py --write-docs`; a test fails when this page is out "
        "of date.",
        "",
        "Every bad input is refused before any work starts, with one line on stderr, "
        "`subalign: error: <message>`, naming the file or field, what was found and what was "
        "expected, exit code 2, and nothing written. `-v` or `SUBALIGN_DEBUG=1` prints the "
        "full trace before the line. In a message, … stands for text that comes from a "
        "library or the operating system.",
        "",
        f"{len(cases)} inputs.",
        "",
        "| input | command | message |",
        "|---|---|---|",
    ]
    for case in cases:
        command = "subalign " + " ".join(case.args)
        lines.append(f"| {_cell(case.what)} | `{_cell(command)}` | "
                     f"{_cell(case.message.replace('*', '…'))} |")
    return "\n".join(lines) + "\n"


def test_docs_errors_md_is_generated_from_the_catalogue():
    assert DOCS.read_text() == render(), (
        "docs/errors.md is out of date: run python tests/test_bad_inputs.py --write-docs")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-docs"]:
        sys.exit("usage: python tests/test_bad_inputs.py --write-docs")
    DOCS.write_text(render())
    print(f"wrote {DOCS} ({len(every_case())} inputs)")
