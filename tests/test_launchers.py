"""Hydra multirun launchers for ``subalign align -m`` sweeps: joblib (local processes) and
submitit (SLURM; here its local executor), on a small demo pair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


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


def test_joblib_launcher_runs_the_sweep_in_parallel_processes(tmp_path):
    done = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert done.returncode == 0, done.stderr
    assert "Joblib.Parallel(n_jobs=2,backend=loky" in done.stdout + done.stderr
    jobs = _jobs(tmp_path)
    assert [jobs[k]["config"]["seed"] for k in (0, 1)] == [0, 1]
    assert all(job["n_candidates"] == 2 for job in jobs.values())


def test_submitit_local_launcher_runs_the_sweep_as_submitit_jobs(tmp_path):
    done = _sweep(tmp_path, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10")
    assert done.returncode == 0, done.stderr
    assert "Submitit 'local' sweep output dir" in done.stdout + done.stderr
    jobs = _jobs(tmp_path)
    assert [jobs[k]["config"]["seed"] for k in (0, 1)] == [0, 1]
    logs = sorted(p.name for p in (tmp_path / "sweep" / ".submitit").rglob("*_log.out"))
    assert len(logs) == 2, logs  # each job ran as its own submitit job
