"""Runs as a user sees them: killed and resumed, corrupted and redone, concurrent, repeated.

Every command runs as a subprocess of the console script from a scratch directory. A run
killed with SIGKILL after seeded numbers of records (or while writing one; the kill is
injected by ``tests/kill_hook``, never timed) and rerun with the same command ends with the
same bytes as a run never interrupted; a truncated or altered output is redone, never
trusted. Files that record when, where and how long a run took (``TIMING``) are compared
without those fields; Hydra's own ``.hydra/`` records and log are not compared.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from subalign.execution import JobClock, RowLog, map_resumable

SUBALIGN = Path(sys.executable).parent / "subalign"

#: Record fields that hold wall time, the machine or the command line, nothing computed.
TIMING = {"seconds", "seconds_per_pair", "parts", "made", "machine", "command"}
#: Files that are Hydra's, time records or the run's claim (cli.rundirs), not results.
NOT_RESULTS = {".hydra", "clock.jsonl", ".subalign-run.json", ".subalign-run.lock"}

SIMULATE = ["simulate", "n=12", "seed=3", "imaging.snr=0.5", "output_dir=run"]
EXPERIMENT = ["experiment", "experiment=table1_2", "n_pairs=4", "snr=inf", "tilt=60",
              "sampler=euler_grid", "sampler.interval_deg=120", "refiner.n_max_iter=10", "refiner.regression_window=3",
              "simulation.size=16", "simulation.max_translation_voxels=1", "output_dir=run"]


def environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBALIGN_")}
    return {**env, **extra}


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(SUBALIGN), *args], cwd=cwd, env=environment(**env),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def without_timing(value):
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def results(directory: Path) -> dict:
    """Every result file under ``directory``: bytes, or for records their content without
    :data:`TIMING` (JSON lines keyed by their index)."""
    found = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_dir() or NOT_RESULTS & set(relative.parts) or path.suffix == ".log":
            continue
        if path.suffix == ".json":
            found[str(relative)] = without_timing(json.loads(path.read_text()))
        elif path.suffix == ".jsonl":
            found[str(relative)] = {row["index"]: without_timing(row)
                                    for row in RowLog(path).ordered()}
        else:
            found[str(relative)] = path.read_bytes()
    return found


#: Holds the sitecustomize that kills a run after a number of records (its docstring).
KILL_HOOK = Path(__file__).parent / "kill_hook"


def kill_at(cwd: Path, args: list[str], progress: str, after: int, torn: bool) -> bool:
    """Run ``subalign args`` until its record store ``progress`` (a file name) holds ``after``
    records, then SIGKILL it (``torn``: while it writes the next one). Returns whether it was
    killed (False: it had nothing left to record)."""
    extra = {"SUBALIGN_TEST_KILL_AFTER": str(after), "SUBALIGN_TEST_KILL_FILE": progress,
             "PYTHONPATH": str(KILL_HOOK)}
    if torn:
        extra["SUBALIGN_TEST_KILL_TORN"] = "1"
    done = subprocess.run([str(SUBALIGN), *args], cwd=cwd, env=environment(**extra),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr[-3000:]
    return done.returncode == -signal.SIGKILL


def killed_and_resumed(root: Path, args: list[str], progress: str, count: int,
                       seed: int) -> tuple[Path, int]:
    """Kill a run three times, after seeded numbers of records (some while writing the next),
    then rerun it to the end."""
    rng = np.random.default_rng(seed)
    work = root / "killed"
    work.mkdir()
    kills = 0
    for after in sorted(rng.integers(0, count - 1, 3)):
        kills += kill_at(work, args, progress, int(after), torn=bool(rng.integers(2)))
    run(work, *args)
    return work / "run", kills


@pytest.mark.slow  # 25-60 s: five runs of the console script each
def test_killed_simulation_resumes_to_identical_bytes_and_redoes_corrupt_files(tmp_path):
    (tmp_path / "whole").mkdir()
    run(tmp_path / "whole", *SIMULATE)
    reference = results(tmp_path / "whole" / "run")
    assert len([k for k in reference if k.startswith("subtomograms/")]) == 12

    resumed, kills = killed_and_resumed(tmp_path, SIMULATE, "particles.jsonl", 12, seed=1)
    assert kills == 3
    assert results(resumed) == reference
    record = json.loads((resumed / "simulation.json").read_text())
    clock = RowLog(resumed / "clock.jsonl").ordered()
    assert record["parts"] == len(clock) >= 2
    assert record["seconds"] == pytest.approx(sum(part["seconds"] for part in clock))

    truncated, altered = resumed / "subtomograms/particle_000002.mrc", \
        resumed / "subtomograms/particle_000007.mrc"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    content = bytearray(altered.read_bytes())
    content[2000] ^= 0xFF
    altered.write_bytes(bytes(content))
    done = run(resumed.parent, *SIMULATE)
    assert "simulated 12 subtomograms (2 new)" in done.stdout
    assert results(resumed) == reference


@pytest.mark.slow  # 25-60 s: five runs of the console script each
def test_killed_experiment_resumes_to_identical_rows_and_redoes_corrupt_files(tmp_path):
    (tmp_path / "whole").mkdir()
    run(tmp_path / "whole", *EXPERIMENT)
    reference = results(tmp_path / "whole" / "run")
    assert len(reference["rows.jsonl"]) == 4 and reference["result.json"]["n_pairs"] == 4

    resumed, kills = killed_and_resumed(tmp_path, EXPERIMENT, "rows.jsonl", 4, seed=2)
    assert kills == 3
    assert results(resumed) == reference
    record = json.loads((resumed / "result.json").read_text())
    clock = RowLog(resumed / "clock.jsonl").ordered()
    assert record["parts"] == len(clock) >= 2
    assert record["seconds"] == pytest.approx(sum(part["seconds"] for part in clock))

    rows = resumed / "rows.jsonl"
    text = rows.read_text()
    rows.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])  # torn last row
    (resumed / "result.json").write_text('{"status": "compl')
    run(resumed.parent, *EXPERIMENT)
    assert results(resumed) == reference


def test_two_concurrent_runs_with_default_locations_keep_both_results(tmp_path):
    args = ["align", "demo.size=16", "demo.snr=inf", "demo.max_translation_voxels=1",
            "sampler=euler_grid", "sampler.interval_deg=120", "refiner.n_max_iter=5",
            "refiner.regression_window=3"]
    processes = [subprocess.Popen([str(SUBALIGN), *args], cwd=tmp_path, env=environment(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    records = sorted(tmp_path.glob("outputs/*/*/alignment.json"))
    assert len(records) == 2 and records[0].parent != records[1].parent
    # Started together, the two may share a second: the directories differ in their suffix.
    for record in records:
        assert json.loads(record.read_text())["config"]["demo"]["size"] == 16
        assert (record.parent / ".hydra" / "config.yaml").is_file()


def test_same_inputs_and_seed_give_the_same_bytes_whatever_the_thread_count(tmp_path):
    threads = {}
    for count in ("1", "2"):
        work = tmp_path / f"threads{count}"
        work.mkdir()
        env = {name: count for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                        "MKL_NUM_THREADS")}
        run(work, "simulate", "n=2", "size=24", "seed=5", "output_dir=sim", **env)
        pair = json.loads((work / "sim/pairs.json").read_text())["pairs"][0]
        run(work, "align", f"fixed=sim/{pair['fixed']}", f"moving=sim/{pair['moving']}",
            "wedge.tilt_range_deg=[-60,60]", "sampler=euler_grid", "sampler.interval_deg=120",
            "refiner.n_max_iter=10", "refiner.regression_window=3", "output_dir=aligned",
            **env)
        threads[count] = results(work)
    assert threads["1"] == threads["2"]
    assert {"sim/subtomograms/particle_000000.mrc", "sim/poses.star", "sim/pairs.json",
            "aligned/alignment.json"} <= set(threads["1"])


def test_job_clock_adds_up_the_parts_of_a_job(tmp_path):
    path = tmp_path / "clock.jsonl"
    first = JobClock(path)
    store = RowLog(tmp_path / "rows.jsonl")
    map_resumable(lambda i: {"index": i, "value": i * i}, [0, 1], store, clock=first)
    assert first.parts == 1 and len(RowLog(path).ordered()) == 1  # the last tick counts
    spent = RowLog(path).ordered()[0]["seconds"]
    second = JobClock(path)  # a resumed run: part 2, starting from what part 1 spent
    assert second.part == 1 and second.earlier == pytest.approx(spent)
    rows = map_resumable(lambda i: {"index": i, "value": i * i}, [0, 1, 2], store, clock=second)
    assert [row["value"] for row in rows] == [0, 1, 4]
    parts = RowLog(path).ordered()
    assert [part["index"] for part in parts] == [0, 1]
    assert second.total >= spent + parts[1]["seconds"]


def test_a_job_begun_in_its_default_directory_resumes_there_given_as_output_dir(tmp_path):
    """The directory a run reports is the one to give back: no Hydra knowledge needed."""
    args = [arg for arg in EXPERIMENT if not arg.startswith(("output_dir=", "n_pairs="))]
    first = run(tmp_path, *args, "n_pairs=2")
    (result,) = tmp_path.glob("outputs/table1_2/*/result.json")
    job = result.parent.relative_to(tmp_path)
    assert (f"rerun the same command (or add output_dir={job}) to resume this run"
            in first.stdout + first.stderr)
    again = run(tmp_path, *args, "n_pairs=2", f"output_dir={job}")
    assert "resuming, 2 of 2 already done" in again.stdout + again.stderr
    assert list(tmp_path.glob("outputs/table1_2/*")) == [tmp_path / job]
    record = json.loads(result.read_text())
    assert record["parts"] == 2 and record["n_pairs"] == 2


def test_an_interrupted_job_resumes_when_the_same_command_runs_again(tmp_path):
    """Killed in its default directory, a job is resumed there by the same command with its
    overrides in another order; once finished, the same command starts a new run."""
    args = [arg for arg in EXPERIMENT if not arg.startswith(("output_dir=", "n_pairs="))]
    args += ["n_pairs=4"]
    assert kill_at(tmp_path, args, "rows.jsonl", 1, torn=False)  # killed after its first of 4 rows
    (job,) = tmp_path.glob("outputs/table1_2/*")
    assert not (job / "result.json").exists()
    marker = json.loads((job / ".subalign-run.json").read_text())
    assert marker["finished"] is False and marker["command"] == "experiment"

    resumed = run(tmp_path, args[0], *reversed(args[1:]))  # the same overrides, reordered
    assert "already done" in resumed.stdout + resumed.stderr
    assert list(tmp_path.glob("outputs/table1_2/*")) == [job]
    # (``parts`` is 1 or 2: a kill between a row and its clock tick loses part 1's tick)
    assert json.loads((job / "result.json").read_text())["n_pairs"] == 4
    assert json.loads((job / ".subalign-run.json").read_text())["finished"] is True

    run(tmp_path, *args)  # finished: the same command again is a new run
    assert len(list(tmp_path.glob("outputs/table1_2/*/result.json"))) == 2


def test_a_run_claims_only_unfinished_directories_of_the_same_composed_command(tmp_path):
    """An unfinished directory of the same overrides but another composed config (an edited
    preset, a changed default) is not resumed; a run given output_dir= is marked finished
    there, so a later run of the same command without it starts anew."""
    args = ["simulate", "n=2", "size=24", "seed=4"]
    run(tmp_path, *args, "output_dir=given")
    marker = json.loads((tmp_path / "given" / ".subalign-run.json").read_text())
    assert marker["finished"] is True and marker["overrides"] == ["n=2", "seed=4", "size=24"]

    stale = tmp_path / "outputs" / "2026-01-01" / "00-00-00_1-abcdef"
    stale.mkdir(parents=True)
    (stale / ".subalign-run.json").write_text(json.dumps(
        {**marker, "fingerprint": "another config", "finished": False,
         "cwd": str(tmp_path.resolve())}))
    run(tmp_path, *args)
    made = [p.parent for p in tmp_path.glob("outputs/*/*/simulation.json")]
    assert len(made) == 1 and made[0] != stale
    assert not (stale / "simulation.json").exists()


def test_one_run_per_folder_and_no_stale_lock_after_a_kill(tmp_path):
    """A process holding a folder's run lock refuses a second run in one line naming it; once
    it is killed (SIGKILL: no cleanup), the folder can be run again."""
    from subalign.errors import ConfigError
    from subalign.execution.jobs import LOCK_FILE, run_lock

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from subalign.execution.jobs import run_lock\n"
        f"with run_lock({str(tmp_path)!r}, what='batch'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ConfigError) as info:
        with run_lock(tmp_path, what="batch"):
            pass
    assert str(info.value).startswith(f"{tmp_path}: another batch is running in it (pid {holder.pid} on ")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run_lock(tmp_path, what="batch") as path:  # the kernel released it with the process
        assert path == tmp_path / LOCK_FILE
        assert f"pid {os.getpid()} on" in path.read_text()
