"""The ``subalign`` console script, run as a subprocess from a scratch directory.

Every run uses ``cwd=tmp_path`` (outside the repository), so the configs can only be found
through ``pkg://subalign.conf`` in the installed package. Volumes are 16^3 and the sampler
interval is 120 degrees (3 * 2 * 3 = 18 grid rotations, 12 of them distinct, which the
rotation scan keeps) with a few LM steps, so each run takes
about a second.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import subalign

from subalign.cli import main
from subalign.cli.checks import CONFIG_NAMES, check_command
from subalign.cli.commandline import hydra_arguments
from subalign.cli.compose import compose_config
from subalign.cli.help import GROUPS, command_groups
from subalign.cli.dispatch import USAGE
from subalign.numerics.geometry import RigidTransform, transform_errors
from subalign.io.mrc import write_volume
from subalign.simulation.synthetic import synthetic_pair
from environment import require

SUBALIGN = Path(sys.executable).parent / "subalign"
REPO = Path(__file__).resolve().parents[1]
SMALL = ["sampler=euler_grid", "sampler.interval_deg=120", "refiner.n_max_iter=10", "refiner.regression_window=3",
         "seed=0"]
BUILTIN_NAMES = ["rcs", "fcs", "lm", "lm_complex", "euler_grid", "so3_uniform", "full", "axis",
                 "stochastic_parallel", "independent", "exhaustive_scan", "tilt_range", "planes", "ctf"]
RESULT_KEYS = {"rotation_zyz_deg", "rotation_matrix", "translation_xyz_voxels", "score",
               "lm_steps", "n_candidates", "seconds"}


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SUBALIGN_") and k != "HYDRA_FULL_ERROR"}
    return subprocess.run([str(SUBALIGN), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def volumes(tmp_path):
    """``a.mrc`` (fixed) and ``b.mrc`` (moving) of a noiseless 16^3 pair in ``tmp_path``."""
    pair = synthetic_pair(0, size=16, snr=float("inf"))
    write_volume(tmp_path / "a.mrc", pair.fixed)
    write_volume(tmp_path / "b.mrc", pair.moving)
    return tmp_path


def check_record(path: Path, score: str) -> dict:
    record = json.loads(path.read_text())
    assert RESULT_KEYS <= set(record)
    assert np.asarray(record["rotation_matrix"]).shape == (3, 3)
    rotation = np.asarray(record["rotation_matrix"])
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    assert len(record["rotation_zyz_deg"]) == 3
    assert len(record["translation_xyz_voxels"]) == 3
    assert record["score"]["name"] == score
    assert np.isfinite(record["score"]["value"])
    assert record["n_candidates"] == 12  # the distinct rotations of the 120-degree grid
    # At most n_max_iter search steps, then the polish's own steps.
    assert 1 <= len(record["trace"]) <= 10
    assert record["lm_steps"] == len(record["trace"]) + record["details"]["polish_steps"]
    assert record["seconds"] > 0
    return record


def test_scratch_directory_is_outside_the_repository(tmp_path):
    assert REPO not in tmp_path.resolve().parents
    assert not (tmp_path / "align.yaml").exists() and not (tmp_path / "conf").exists()


def test_no_arguments_prints_usage(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: subalign COMMAND")


def test_unknown_command_exits_2(tmp_path):
    done = run(tmp_path, "alignn")
    assert done.returncode == 2
    from subalign.cli.dispatch import COMMANDS

    assert done.stderr.strip() == ("subalign: error: command 'alignn': expected one of "
                                   + ", ".join(COMMANDS))
    assert {"select", "postprocess", "mask"} <= set(COMMANDS)  # listed as they are added


def test_plugins_lists_every_kind_and_builtin(tmp_path):
    done = run(tmp_path, "plugins")
    assert done.returncode == 0, done.stderr
    rows = [line.split()[:3] for line in done.stdout.splitlines()[1:]]
    assert done.stdout.splitlines()[0].split() == ["kind", "name", "origin", "summary"]
    assert {kind for kind, _, _ in rows} == {"score", "optimizer", "sampler", "constraint",
                                             "refiner", "measurement"}
    names = {name: origin for _, name, origin in rows}
    for name in BUILTIN_NAMES:
        assert names.get(name) == "subalign", f"{name} missing from:\n{done.stdout}"


def test_align_writes_alignment_json(volumes):
    out = volumes / "out"
    done = run(volumes, "align", "fixed=a.mrc", "moving=b.mrc", f"output_dir={out}",
               f"hydra.run.dir={volumes / 'run'}", *SMALL)
    assert done.returncode == 0, done.stderr
    record = check_record(out / "alignment.json", "rcs")
    for role, name in (("fixed", "a.mrc"), ("moving", "b.mrc")):
        content = (volumes / name).read_bytes()
        assert record["inputs"][role] == {"path": name, "bytes": len(content),
                                          "sha256": hashlib.sha256(content).hexdigest()}
    assert record["config"]["score"]["max_frequency"] == 0.3  # the full resolved config
    assert record["config"]["sampler"] == {"name": "euler_grid", "interval_deg": 120.0}
    assert record["wedges"] == {"fixed": [-60.0, 60.0], "moving": [-60.0, 60.0],
                                "source": "default"}
    assert record["subalign"]["version"] == subalign.__version__ and record["machine"]["cpus"] >= 1
    assert record["command"].startswith("subalign align fixed=a.mrc moving=b.mrc")
    assert done.stderr.splitlines()[-1].startswith(
        "subalign: warning: no tilt range given: assuming wedge.tilt_range_deg=[-60.0, 60.0]")
    assert f"wrote {out / 'alignment.json'}" in done.stdout


def test_align_demo_pair_from_scratch_directory(tmp_path):
    done = run(tmp_path, "align", "demo.size=16", "demo.snr=inf", "demo.max_translation_voxels=1",
               f"hydra.run.dir={tmp_path / 'run'}", *SMALL)
    assert done.returncode == 0, done.stderr
    # No output_dir: the record goes to Hydra's run directory.
    record = check_record(tmp_path / "run" / "alignment.json", "rcs")
    assert record["inputs"] == {"fixed": None, "moving": None}
    assert record["wedges"]["source"] == "demo" and record["config"]["demo"]["size"] == 16
    assert set(record["truth"]) >= {"rotation_error_deg", "translation_error_voxels"}
    assert "error: rotation" in done.stdout


def test_multirun_over_scores(volumes):
    sweep = volumes / "sweep"
    done = run(volumes, "align", "-m", "score=rcs,fcs", "fixed=a.mrc", "moving=b.mrc",
               f"hydra.sweep.dir={sweep}", *SMALL)
    assert done.returncode == 0, done.stderr
    jobs = sorted(p.parent for p in sweep.glob("*/alignment.json"))
    assert [job.name for job in jobs] == ["0", "1"]
    scores = [check_record(job / "alignment.json", score)["score"]["name"]
              for job, score in zip(jobs, ["rcs", "fcs"])]
    assert scores == ["rcs", "fcs"]


def test_missing_file_exits_2_naming_it(volumes):
    done = run(volumes, "align", "fixed=missing.mrc", "moving=b.mrc", *SMALL)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "subalign: error: missing.mrc: no such file (expected an MRC volume)"
    ]


def test_two_dimensional_mrc_exits_2(volumes):
    write_volume(volumes / "flat.mrc", np.zeros((16, 16), dtype=np.float32))
    done = run(volumes, "align", "fixed=flat.mrc", "moving=b.mrc", *SMALL)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "subalign: error: flat.mrc: expected a 3-D volume, found 2-D data of shape (16, 16)"
    ]


def test_tilt_range_out_of_bounds_exits_2_naming_the_field(volumes):
    done = run(volumes, "align", "fixed=a.mrc", "moving=b.mrc",
               "wedge.tilt_range_deg=[-100,60]", *SMALL)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("subalign: error: wedge.tilt_range_deg: ")
    assert "found [-100, 60]" in line


def test_unknown_score_lists_available_options(volumes):
    done = run(volumes, "align", "fixed=a.mrc", "moving=b.mrc", "score=nope", *SMALL)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("subalign: error: score=nope: expected one of ")
    options = line.split("expected one of ")[1].split(", found")[0].split(", ")
    assert {"rcs", "fcs"} <= set(options) and line.endswith("found 'nope'")


def test_only_fixed_given_exits_2_naming_moving(volumes):
    done = run(volumes, "align", "fixed=a.mrc", *SMALL)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("subalign: error: moving: expected a path to an MRC volume")


def test_simulate_writes_volumes_tables_pairs_and_figure(tmp_path):
    result = run(tmp_path, "simulate", "n=3", "figure=true", "output_dir=sim")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "sim"
    assert sorted(p.name for p in (out / "subtomograms").iterdir()) == [
        f"particle_00000{i}.mrc" for i in range(3)]
    assert json.loads((out / "simulation.json").read_text())["status"] == "complete"
    assert len(json.loads((out / "pairs.json").read_text())["pairs"]) == 1
    assert (out / "poses.star").read_text().count("subtomograms/particle_") == 3
    assert (out / "figure2b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulated_pair_aligns_to_its_listed_truth(tmp_path):
    """End to end: simulate, align the listed pair by file, score against pairs.json."""
    assert run(tmp_path, "simulate", "n=2", "imaging.snr=inf", "output_dir=sim").returncode == 0
    pair = json.loads((tmp_path / "sim/pairs.json").read_text())["pairs"][0]
    result = run(tmp_path, "align", f"fixed=sim/{pair['fixed']}", f"moving=sim/{pair['moving']}",
                 "output_dir=aligned")
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / "aligned/alignment.json").read_text())
    angle, shift = transform_errors(RigidTransform.from_record(found),
                                    RigidTransform.from_record(pair["truth"]))
    assert angle < 0.8 and shift < 0.05  # noise-free; measured 0.27 deg, 0.016 voxel (2026-12-06)


def test_simulate_multirun_over_snr(tmp_path):
    result = run(tmp_path, "simulate", "-m", "n=2", "imaging.snr=1,0.5",
                 "hydra.sweep.dir=sweep")
    assert result.returncode == 0, result.stderr
    records = [json.loads((tmp_path / f"sweep/{job}/simulation.json").read_text())
               for job in (0, 1)]
    assert [r["config"]["imaging"]["snr"] for r in records] == [1.0, 0.5]


def test_simulate_bad_source_exits_2_naming_the_field(tmp_path):
    result = run(tmp_path, "simulate", "n=1", "density.source=sketch")
    assert result.returncode == 2
    assert "density.source" in result.stderr and "Traceback" not in result.stderr


def test_multirun_with_output_dir_keeps_every_job_and_its_config(volumes):
    """``-m`` with ``output_dir=``: job k in output_dir/k, Hydra's config beside its result."""
    done = run(volumes, "align", "-m", "score=rcs,fcs", "fixed=a.mrc", "moving=b.mrc",
               "wedge.tilt_range_deg=[-60,60]", "output_dir=both", *SMALL)
    assert done.returncode == 0, done.stderr
    for job, score in (("0", "rcs"), ("1", "fcs")):
        record = json.loads((volumes / "both" / job / "alignment.json").read_text())
        assert record["score"]["name"] == record["config"]["score"]["name"] == score
        assert "score=" + score in (volumes / "both" / job / ".hydra/overrides.yaml").read_text()
    assert not (volumes / "outputs").exists() and not (volumes / "multirun").exists()


def test_output_dir_holds_hydra_config_and_refuses_another_alignment(volumes):
    args = ["fixed=a.mrc", "moving=b.mrc", "wedge.tilt_range_deg=[-60,60]", "output_dir=res",
            *SMALL]
    assert run(volumes, "align", *args).returncode == 0
    assert (volumes / "res/.hydra/config.yaml").is_file()
    first = json.loads((volumes / "res/alignment.json").read_text())
    again = run(volumes, "align", *args)  # the same command redoes it, same result
    assert again.returncode == 0, again.stderr
    second = json.loads((volumes / "res/alignment.json").read_text())
    assert second["rotation_matrix"] == first["rotation_matrix"]
    other = run(volumes, "align", *args, "score=fcs")
    assert other.returncode == 2
    assert other.stderr == ("subalign: error: res/alignment.json: holds an alignment made with "
                            'config.score.name="rcs", this command has config.score.name="fcs"; '
                            "expected the same command to redo it (choose another output_dir)\n")
    assert json.loads((volumes / "res/alignment.json").read_text()) == second


def _examples(text: str, command: str) -> list[list[str]]:
    return [shlex.split(line)[2:] for line in text.splitlines()
            if line.startswith(f"  subalign {command}")]


@pytest.mark.parametrize("command", ["align", "simulate", "experiment"])
def test_help_shows_only_examples_and_groups_that_work(command, volumes, monkeypatch, capsys):
    """Every example of ``subalign COMMAND --help`` and of the top-level usage passes the
    command's checks; every group option listed composes."""
    monkeypatch.chdir(volumes)
    main([command, "--help"])
    text = capsys.readouterr().out
    assert text.startswith(f"usage: subalign {command} [-m] [key=value ...]")
    examples = _examples(text, command) + _examples(USAGE, command)
    assert len(examples) >= 3
    for example in examples:
        args, _ = hydra_arguments(command, example)
        check_command(command, args.overrides, multirun=args.multirun)
    groups = command_groups(command)
    assert set(groups) == set(GROUPS[command])
    assert ("experiment" in groups) == (command == "experiment")  # align rejects it
    for group, options in groups.items():
        assert options and f"  {group}: {', '.join(options)}" in text
        for option in options:
            compose_config(CONFIG_NAMES[command], [f"{group}={option}"])


def test_experiment_flag_after_an_override_works_like_hydra_flags_first(tmp_path):
    """``-m`` anywhere: the issue's example with -m after an override ran nothing."""
    args, hydra_argv = hydra_arguments("experiment", ["experiment=table1_2", "-m", "tilt=60,40"])
    assert args.multirun and args.overrides == ["experiment=table1_2", "tilt=60,40"]
    assert hydra_argv == ["-m", "experiment=table1_2", "tilt=60,40"]


def test_direct_alignments_in_one_process_keep_their_logs_apart(volumes, monkeypatch, capsys):
    """A single ``align`` runs without Hydra's job machinery; its log handlers live only
    while it runs, so a second run in the same process logs once, into its own folder."""
    monkeypatch.chdir(volumes)
    root = logging.getLogger()
    before = list(root.handlers)
    for name in ("one", "two"):
        main(["align", "fixed=a.mrc", "moving=b.mrc", f"output_dir={name}", *SMALL])
    assert root.handlers == before
    for name in ("one", "two"):
        log = (volumes / name / "align.log").read_text()
        assert log.count("refining 12 candidates") == 1, log
        assert (volumes / name / ".hydra" / "config.yaml").is_file()
        assert "output_dir=" + name in (volumes / name / ".hydra" / "overrides.yaml").read_text()
    assert capsys.readouterr().out.count("refining 12 candidates") == 2


def test_output_to_a_closed_pipe_ends_quietly(tmp_path):
    """``subalign show set.star | head -1``: no traceback, exit 0."""
    table = tmp_path / "set.star"
    table.write_text("data_particles\n\nloop_\n_rlnAngleRot #1\n_rlnAngleTilt #2\n_rlnAnglePsi #3\n"
                     + "".join(f"{k} 20 30\n" for k in range(50)))
    subalign = Path(sys.executable).parent / "subalign"
    done = subprocess.run(f"'{subalign}' show '{table}' | head -c 1", shell=True, capture_output=True,
                          text=True, executable="/bin/bash", timeout=120)
    assert done.stdout == "5"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_slurm_without_sbatch_is_one_line(tmp_path, monkeypatch):
    require("dask_jobqueue")
    from subalign.errors import ConfigError
    from subalign.execution.cluster import check_executor

    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch anywhere
    config = compose_config("batch", ["executor.kind=slurm"]).executor
    with pytest.raises(ConfigError, match="executor.kind: slurm submits jobs with sbatch, found no "
                                          "sbatch on PATH; expected a SLURM login node"):
        check_executor(config)
    (tmp_path / "sbatch").write_text("#!/bin/sh\n")
    (tmp_path / "sbatch").chmod(0o755)
    check_executor(config)  # a login node: accepted


def test_figures_are_skipped_in_one_line_without_matplotlib(monkeypatch, caplog):
    from subalign.io.figures import figures_available

    assert figures_available("figures")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on a core install
    with caplog.at_level(logging.WARNING):
        assert not figures_available("figures")
    assert caplog.messages == ["figures skipped: PNG figures need matplotlib (pip install "
                               "'subalign[plots]'); figures=false silences this"]
