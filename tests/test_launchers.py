"""Hydra multirun launchers for ``subalign align -m`` sweeps: joblib (local processes) and
submitit (SLURM; here its local executor), on a small demo pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


SUBALIGN = Path(sys.executable).parent / "subalign"
#: A noise-free 16^3 demo pair and few candidates: seconds per job.
DEMO = ["demo.size=16", "demo.snr=inf", "demo.max_translation_voxels=1", "scan.keep=2",
        "sampler.spacing_deg=90", "seed=0,1"]


def _sweep(tmp_path: Path, *launcher: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBALIGN_")}
    return subprocess.run([str(SUBALIGN), "align", "-m", *launcher, *DEMO,
                           f"output_dir={tmp_path / 'sweep'}"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def _jobs(tmp_path: Path) -> dict[int, dict]:
    return {job: json.loads((tmp_path / "sweep" / str(job) / "alignment.json").read_text())
            for job in (0, 1)}


LAUNCHERS = {
    # joblib: local processes (loky), two at a time
    "joblib": (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
               "Joblib.Parallel(n_jobs=2,backend=loky"),
    # submitit: what submitit_slurm submits to SLURM, run here by submitit's local executor
    "submitit_local": (["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
                       "Submitit 'local' sweep output dir"),
}


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_launcher_runs_every_job_of_the_sweep(launcher, tmp_path):
    overrides, announced = LAUNCHERS[launcher]
    done = _sweep(tmp_path, *overrides)
    assert done.returncode == 0, done.stderr
    assert announced in done.stdout + done.stderr
    jobs = _jobs(tmp_path)
    assert [jobs[k]["config"]["seed"] for k in (0, 1)] == [0, 1]
    assert all(job["n_candidates"] == 2 for job in jobs.values())
    if launcher == "submitit_local":  # each job ran as its own submitit job
        logs = sorted(p.name for p in (tmp_path / "sweep" / ".submitit").rglob("*_log.out"))
        assert len(logs) == 2, logs
