"""subalign batch on real Dask clusters: a LocalCluster of 2 workers against 1 worker (bit
identical, the context loaded once per worker), a scheduler and workers started as separate
processes and joined by address, and SIGKILLs at random moments followed by a rerun."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import distributed
import numpy as np
import pytest

from batch_support import TINY, record_indices, simulate, stored
from subalign.cli.compose import compose_config
from subalign.workflows.batch.run import run_batch
from subalign.workflows.batch.worker import context_loads
from environment import require

BIN = Path(sys.executable).parent
SUBALIGN = BIN / "subalign"


@pytest.fixture(scope="module")
def sim16(tmp_path_factory):
    """Eight 16^3 particles (SNR 4, wedge +-60) with pairs.json (4 consecutive pairs)."""
    return simulate(tmp_path_factory.mktemp("sim16"), "n=8", "size=16", "seed=3",
                    "imaging.snr=4", "max_translation_voxels=1")


def _args(sim: Path, output_dir: Path, *extra: str) -> list[str]:
    return [f"particles={sim / 'particles.star'}", f"tomograms={sim / 'wedges.csv'}",
            f"output_dir={output_dir}", *TINY, *extra]


def _in_process(sim: Path, output_dir: Path, *extra: str) -> np.ndarray:
    """The run's stored results with every item aligned in this process, one at a time."""
    config = compose_config("batch", _args(sim, output_dir, *extra))
    with ThreadPoolExecutor(max_workers=1) as pool:
        run = run_batch(config, executor=pool)
    return stored(output_dir, run.summary["count"])


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBALIGN_")}
    env["OPENBLAS_NUM_THREADS"] = env["MKL_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow
def test_two_local_workers_give_bit_identical_results_and_load_the_context_once_each(
        sim16, tmp_path):
    """mode=all on 6 particles (15 pairs): a LocalCluster of 2 processes against the default
    executor with one worker; each worker reads the context once, not once per task."""
    args = ["mode=all", "classes=2"]
    particles = tmp_path / "six.star"
    from subalign.io.formats import read_particles, write_particles

    write_particles(read_particles(sim16 / "particles.star").take(slice(0, 6)), particles)
    one = compose_config("batch", [f"particles={particles}", f"tomograms={sim16 / 'wedges.csv'}",
                                   f"output_dir={tmp_path / 'one'}", *TINY, *args,
                                   "executor.workers=1"])
    run_one = run_batch(one)
    assert run_one.ran == 15 and run_one.summary["executor"].startswith("a local cluster of 1")
    two = compose_config("batch", [f"particles={particles}", f"tomograms={sim16 / 'wedges.csv'}",
                                   f"output_dir={tmp_path / 'two'}", *TINY, *args])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run_two = run_batch(two, executor=client.get_executor(pure=False))
        loads = client.run(context_loads)
    assert run_two.ran == 15
    assert sorted(loads.values()) == [1, 1], loads  # both worked, each loaded it once
    np.testing.assert_array_equal(stored(tmp_path / "one", 15), stored(tmp_path / "two", 15))
    for name in ("dissimilarity", "transforms", "confidence"):
        np.testing.assert_array_equal(np.load(tmp_path / "one" / f"{name}.npy"),
                                      np.load(tmp_path / "two" / f"{name}.npy"))
    matrix = np.load(tmp_path / "two" / "dissimilarity.npy")
    assert matrix.dtype == np.float32 and matrix.shape == (6, 6)
    assert np.all(matrix[np.triu_indices(6, 1)] > 0)
    classes = read_particles(tmp_path / "two" / "aligned.star").fields["class_number"]
    assert set(classes) == {1, 2}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_scheduler_and_workers_started_apart_are_joined_by_address(sim16, tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on localhost; the pair list of
    subalign simulate aligned through them equals the in-process run; a rerun does nothing
    and says so; another config on the same output is refused naming the setting."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                 "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
                                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)]
    try:
        for _ in range(2):
            started.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard"], env=_env(), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        args = _args(sim16, tmp_path / "joined", "mode=pairs",
                     f"pair_list={sim16 / 'pairs.json'}", f"executor.address={address}")
        done = subprocess.run([str(SUBALIGN), "batch", *args], env=_env(), capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert f"on the scheduler at {address} (2 workers)" in done.stdout
        assert "aligned 4 of 4 items" in done.stdout
        again = subprocess.run([str(SUBALIGN), "batch", *args], env=_env(), capture_output=True,
                               text=True, timeout=600)
        assert again.returncode == 0
        assert "batch pairs: all 4 items already done; nothing to do" in again.stdout
        other = subprocess.run([str(SUBALIGN), "batch", *args, "seed=1"], env=_env(),
                               capture_output=True, text=True, timeout=600)
        assert other.returncode == 2
        assert other.stderr == (
            f"subalign: error: {tmp_path / 'joined' / 'job.json'}: holds a batch made with "
            "seed=0, this command has seed=1; expected the same settings to resume (choose "
            "another output_dir)\n")
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            process.wait(timeout=60)
    local = _in_process(sim16, tmp_path / "here", "mode=pairs", f"pair_list={sim16 / 'pairs.json'}")
    np.testing.assert_array_equal(stored(tmp_path / "joined", 4), local)
    summary = json.loads((tmp_path / "joined" / "summary.json").read_text())
    assert summary["count"] == 4 and summary["duplicates"] == 0 and "errors" in summary


#: Holds the sitecustomize that interrupts a run after a number of records (its docstring).
KILL_HOOK = Path(__file__).parent / "kill_hook"


def _sigint_at_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted(args: list[str], after: int, env: dict | None = None,
                 **hook: str) -> tuple[int, str]:
    """``subalign batch args`` in its own process group, interrupted by tests/kill_hook once
    ``results.bin`` holds ``after`` records (``hook``: more of its SUBALIGN_TEST_KILL_* settings,
    without the prefix); returns the exit code and stderr. Whatever is left of the group is
    killed after (workers of a killed batch end on their own, a little later)."""
    extra = {"SUBALIGN_TEST_KILL_AFTER": str(after), "SUBALIGN_TEST_KILL_FILE": "results.bin",
             "PYTHONPATH": str(KILL_HOOK), **{f"SUBALIGN_TEST_KILL_{k}": v for k, v in hook.items()}}
    with tempfile.TemporaryFile("w+") as err:  # a file: a pipe would wait for every worker
        # SIGINT at its default in the batch, as in a terminal's foreground job: pytest run
        # from a background shell (``&``, nohup, some CI) starts with it ignored, inherited
        # by its children, and Python then installs no KeyboardInterrupt for Ctrl-C
        process = subprocess.Popen([str(SUBALIGN), "batch", *args], env={**(env or _env()), **extra},
                                   stdout=subprocess.DEVNULL, stderr=err, text=True,
                                   start_new_session=True, preexec_fn=_sigint_at_default)
        try:
            code = process.wait(timeout=600)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        err.seek(0)
        return code, err.read()


def _record_bytes() -> int:
    from subalign.execution.arraylog import ArrayLog
    from subalign.workflows.batch.worker import FIELDS

    return ArrayLog(Path("absent.bin"), FIELDS, 0).record_bytes  # reads nothing


@pytest.mark.slow
def test_sigkill_at_random_moments_then_rerun_aligns_every_pair_exactly_once(sim16, tmp_path):
    """Four SIGKILLs of the batch process (mode=all, 28 pairs, 2 workers), each once
    ``results.bin`` holds a seeded number of records (tests/kill_hook: 0 is after the cluster
    started, before any record; some while a record is half written); the rerun completes
    with every pair's record exactly once, equal to an uninterrupted run."""
    out = tmp_path / "killed"
    args = _args(sim16, out, "mode=all", "executor.workers=2")
    size = _record_bytes()
    rng = np.random.default_rng(13)
    afters = [0, *sorted(rng.integers(1, 27, 3).tolist())]
    torn = [False, *rng.integers(0, 2, 3).astype(bool).tolist()]
    held = 0
    for after, half in zip(afters, torn):
        code, err = _interrupted(args, after, **({"TORN": "1"} if half else {}))
        assert code == -signal.SIGKILL, err[-3000:]
        held = max(held, after)
        length = (out / "results.bin").stat().st_size if held or half else 0
        assert divmod(length, size) == (held, size - size // 2 if half else 0), (after, half)
    print(f"killed after {afters} records (torn: {torn})")
    done = subprocess.run([str(SUBALIGN), "batch", *args], env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"aligned {28 - held} of 28 items" in done.stdout
    indices = record_indices(out)
    assert sorted(indices.tolist()) == list(range(28)), indices
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parts"] >= 2 and summary["duplicates"] == 0
    uninterrupted = _in_process(sim16, tmp_path / "whole", "mode=all")
    np.testing.assert_array_equal(stored(out, 28), uninterrupted)


@pytest.mark.slow
def test_two_identical_batches_at_once_align_each_pair_once(sim16, tmp_path):
    """The second of two identical commands on one output_dir is refused in one line naming
    the first (it holds the folder's run lock); the first aligns each of the 28 pairs once."""
    out = tmp_path / "both"
    args = _args(sim16, out, "mode=all", "executor.workers=2", "sampler.spacing_deg=30",
                 "scan.keep=4", "refiner.n_max_iter=20")
    first = subprocess.Popen([str(SUBALIGN), "batch", *args], env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = out / ".subalign.lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run([str(SUBALIGN), "batch", *args], env=_env(), capture_output=True,
                            text=True, timeout=300)
    assert first.wait(timeout=600) == 0
    assert second.returncode == 2
    assert second.stderr.splitlines() == [
        f"subalign: error: {out}: another batch is running in it (pid {first.pid} on "
        f"{socket.gethostname()} since {second.stderr.split(' since ')[1].split(')')[0]}); expected "
        "one run per output_dir (rerun when it has finished: it resumes; wait=true waits for "
        "it; or choose another output_dir)"]
    indices = record_indices(out)
    assert sorted(indices.tolist()) == list(range(28))  # each pair once


@pytest.mark.slow
def test_ctrl_c_is_one_line_and_the_rerun_aligns_every_pair_once(sim16, tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it, by tests/kill_hook)
    three times, once ``results.bin`` holds a seeded number of records: each time one line
    on stderr (beside the log) saying how to resume, exit 130, the records kept; the rerun completes with
    every pair exactly once, equal to an uninterrupted run."""
    out = tmp_path / "interrupted"
    args = _args(sim16, out, "mode=all", "executor.workers=2")
    size = _record_bytes()
    afters = sorted(np.random.default_rng(7).choice(np.arange(1, 27), 3, replace=False).tolist())
    for after in afters:
        code, err = _interrupted(args, after, SIGNAL="INT")
        # the interruption adds one line to the log (time-stamped lines, the workers' warnings
        # naming particles): no traceback of the main process or the workers
        said = [line for line in err.splitlines() if not line.startswith(("[", str(sim16)))]
        assert (code, said) == (130, ["subalign: interrupted; what finished is kept: rerun the "
                                      "same command to resume"]), (after, code, said)
        assert (out / "results.bin").stat().st_size == after * size
    print(f"interrupted after {afters} records")
    rerun = subprocess.run([str(SUBALIGN), "batch", *args], env=_env(), capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"aligned {28 - afters[-1]} of 28 items" in rerun.stdout
    assert sorted(record_indices(out).tolist()) == list(range(28))
    np.testing.assert_array_equal(stored(out, 28), _in_process(sim16, tmp_path / "whole", "mode=all"))


STAND_IN_SBATCH = """#!/bin/bash
# sbatch stand-in: run a copy of the job script as a local process group, print its job id
dir="{jobs}"
id=$(( (RANDOM % 90000) + 10000 ))
if [ -n "$1" ]; then cp "$1" "$dir/$id.sh"; else cat > "$dir/$id.sh"; fi
setsid bash "$dir/$id.sh" > "$dir/$id.log" 2>&1 < /dev/null &
echo $! > "$dir/$id.pid"
echo "Submitted batch job $id"
"""
STAND_IN_SCANCEL = """#!/bin/bash
for id in "$@"; do pid=$(cat "{jobs}/$id.pid" 2>/dev/null) && kill -- -"$pid" 2>/dev/null; done
exit 0
"""


def _stand_in_slurm(folder: Path, *, starts: bool) -> dict:
    """An environment whose PATH has sbatch, scancel and squeue stand-ins: jobs run as local
    processes (``starts``), or are accepted and never start."""
    jobs = folder / "jobs"
    jobs.mkdir(parents=True)
    scripts = {"sbatch": STAND_IN_SBATCH if starts else "#!/bin/bash\necho 'Submitted batch job 4242'\n",
               "scancel": STAND_IN_SCANCEL, "squeue": "#!/bin/bash\nexit 0\n"}
    for name, text in scripts.items():
        (folder / name).write_text(text.format(jobs=jobs))
        (folder / name).chmod(0o755)
    env = _env()
    env["PATH"] = f"{folder}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.slow
def test_slurm_end_to_end_with_stand_in_sbatch(sim16, tmp_path):
    """executor=slurm on one machine: with sbatch/scancel stand-ins that run each job script
    locally the batch completes like a local one and no job is left running; with an
    sbatch whose jobs never start, start_timeout_s stops it in one line, exit 2."""
    require("dask_jobqueue")
    out = tmp_path / "slurm"
    args = _args(sim16, out, "mode=all", "executor=slurm", "executor.workers=1",
                 "executor.slurm.cores=2", "executor.slurm.start_timeout_s=120")
    done = subprocess.run([str(SUBALIGN), "batch", *args], env=_stand_in_slurm(tmp_path / "s1", starts=True),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(record_indices(out).tolist()) == list(range(28))
    assert "on 1 SLURM jobs of 2 workers" in done.stdout
    for pid in (tmp_path / "s1" / "jobs").glob("*.pid"):  # every job ends (scancel, or on its own)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.killpg(int(pid.read_text()), 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(int(pid.read_text()), signal.SIGKILL)
            pytest.fail(f"job {pid.stem} still running 60 s after the batch")
    never = _args(sim16, tmp_path / "never", "mode=all", "executor=slurm", "executor.workers=1",
                  "executor.slurm.start_timeout_s=3")
    stuck = subprocess.run([str(SUBALIGN), "batch", *never], env=_stand_in_slurm(tmp_path / "s2", starts=False),
                           capture_output=True, text=True, timeout=300)
    assert stuck.returncode == 2
    assert stuck.stderr.splitlines()[-1] == (
        "subalign: error: executor.slurm.start_timeout_s: no SLURM job started a worker within 3 s; "
        "the jobs were cancelled (see squeue for the queue; rerun the same command to resume)")


@pytest.mark.slow
def test_slurm_worker_job_killed_mid_run_stops_in_one_line_and_the_rerun_resumes(sim16, tmp_path):
    """executor=slurm with the stand-ins, the one worker job (2 workers) SIGKILLed by
    tests/kill_hook once results.bin holds 5 records, as SLURM ends a job at its walltime:
    the batch stops in one line (it waited forever before), the records kept; the rerun
    aligns the rest, every pair exactly once, equal to an in-process run."""
    require("dask_jobqueue")
    from subalign.execution.cluster import JOBS_LOST_AFTER_S

    out = tmp_path / "slurm"
    args = _args(sim16, out, "mode=all", "executor=slurm", "executor.workers=1",
                 "executor.slurm.cores=2", "executor.slurm.start_timeout_s=120")
    env = _stand_in_slurm(tmp_path / "s1", starts=True)
    started = time.monotonic()
    code, err = _interrupted(args, 5, env, GROUPS=str(tmp_path / "s1" / "jobs"))
    stopped = time.monotonic() - started
    assert code == 2, err[-3000:]
    assert err.splitlines()[-1] == (
        f"subalign: error: executor.kind: every SLURM job of the batch ended with no worker left "
        f"for {JOBS_LOST_AFTER_S:g} s (killed, or past executor.slurm.walltime=01:00:00; see the "
        "jobs' logs); what finished is kept: rerun the same command to resume")
    assert "Traceback" not in err, err
    kept = (out / "results.bin").stat().st_size // _record_bytes()
    assert 5 <= kept < 28, kept  # the results that reached the batch before the kill, no more
    print(f"stopped {stopped:.1f} s after it started, {kept} records kept")
    rerun = subprocess.run([str(SUBALIGN), "batch", *args], env=_stand_in_slurm(tmp_path / "s2", starts=True),
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"aligned {28 - kept} of 28 items" in rerun.stdout
    assert sorted(record_indices(out).tolist()) == list(range(28))
    np.testing.assert_array_equal(stored(out, 28), _in_process(sim16, tmp_path / "here", "mode=all"))
