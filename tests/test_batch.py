"""subalign batch: pose composition against ground truth, the store, the claim, progress,
the cone constraint, bad inputs; Dask clusters and kills are in tests/test_batch_dask.py."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from batch_support import perturbed, pose_errors, simulate
from subalign.cli.compose import compose_config
from subalign.cli.dispatch import main
from subalign.errors import ConfigError
from subalign.execution import RowLog, map_resumable
from subalign.execution.arraylog import ArrayLog
from subalign.execution.cluster import slurm_cluster
from subalign.execution.jobs import check_claim, claim, first_difference
from subalign.execution.progress import Progress
from subalign.io.formats import read_particles
from subalign.numerics.geometry import euler_zyz_to_matrix, rotation_distance_deg
from subalign.plugin.manager import default_plugin_set
from subalign.testing import ConstraintContract
from subalign.workflows.batch.run import run_batch
from subalign.workflows.batch.outputs import pair_matrices
from subalign.workflows.batch.worker import FIELDS, row_transform


# --- the store, the claim, the seam -------------------------------------------------------

def _row(index: int, value: float) -> dict:
    return {"index": index, "a": value, "b": -value}


def test_arraylog_keeps_each_record_once_and_drops_a_torn_or_corrupt_tail(tmp_path):
    path = tmp_path / "results.bin"
    with ArrayLog(path, ("a", "b"), 10) as log:
        for k in (3, 0, 7):
            log.add(_row(k, k + 0.5))
    size = path.stat().st_size
    with open(path, "ab") as handle:  # a record cut by a kill
        handle.write(b"\x01\x02\x03")
    log = ArrayLog(path, ("a", "b"), 10)
    assert sorted(log.rows) == [0, 3, 7] and log.rows[7] == {"index": 7, "a": 7.5, "b": -7.5}
    assert np.isnan(log.values[1]).all() and not log.done(1)
    log.add(_row(1, 1.5))  # the torn bytes are cut off first
    log.close()
    assert path.stat().st_size == size + log.record_bytes
    data = bytearray(path.read_bytes())
    data[log.record_bytes + 9] ^= 0xFF  # corrupt the second record: it and those after go
    path.write_bytes(bytes(data))
    assert sorted(ArrayLog(path, ("a", "b"), 10).rows) == [3]


def test_arraylog_counts_a_duplicate_record_and_keeps_the_first(tmp_path):
    path = tmp_path / "results.bin"
    with ArrayLog(path, ("a", "b"), 4) as log:
        log.add(_row(2, 1.0))
    with ArrayLog(path, ("a", "b"), 4) as other:  # a second writer, which a run never has
        other.present[2] = False
        other.add(_row(2, 9.0))
    again = ArrayLog(path, ("a", "b"), 4)
    assert again.duplicates == 1 and again.rows[2]["a"] == 1.0


def test_claim_refuses_other_settings_naming_the_first_that_differs(tmp_path):
    record = {"mode": "all", "scan": {"keep": 4, "separation_deg": 15.0}, "inputs": {"p": "ab"}}
    assert claim(tmp_path / "job.json", record, what="batch") is False
    assert claim(tmp_path / "job.json", record, what="batch") is True
    other = {**record, "scan": {"keep": 8, "separation_deg": 15.0}}
    with pytest.raises(ConfigError) as error:
        check_claim(tmp_path / "job.json", other, what="batch")
    assert str(error.value) == (
        f"{tmp_path / 'job.json'}: holds a batch made with scan.keep=4, this command has "
        "scan.keep=8; expected the same settings to resume (choose another output_dir)")
    assert first_difference(record, {**record, "extra": 1}) == ("extra", "(absent)", "1")
    assert first_difference(record, json.loads(json.dumps(record))) is None


def test_map_resumable_keeps_at_most_window_tasks_in_flight_and_commits_each_once(tmp_path):
    running, most, lock = [0], [0], threading.Lock()

    def task(item: int) -> dict:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return {"index": item, "square": item * item}

    store = RowLog(tmp_path / "rows.jsonl")
    with ThreadPoolExecutor(max_workers=6) as pool:
        rows = map_resumable(task, range(30), store, executor=pool, window=2)
    assert most[0] == 2
    assert [row["square"] for row in rows] == [k * k for k in range(30)]
    lines = [json.loads(line)["index"] for line in store.path.read_text().splitlines()]
    assert sorted(lines) == list(range(30))
    assert map_resumable(task, range(30), store, executor=None, collect=False) is None


def test_progress_logs_rate_and_time_left_when_not_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="subalign")
    progress = Progress("run", 20, bar=False)
    for _ in range(20):
        progress.advance()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10 and lines[0].startswith("run: 2/20 done, ")
    assert lines[-1].startswith("run: 20/20 done, ") and "/s, " in lines[-1]
    assert lines[-1].endswith("s elapsed, ~0 s left")


def test_progress_draws_a_bar_with_rate_on_a_terminal(capsys):
    progress = Progress("run", 5, bar=True)
    for _ in range(5):
        progress.advance()
    err = capsys.readouterr().err
    assert "run: 100%" in err and "5/5" in err and "item/s" in err


# --- the cone constraint ------------------------------------------------------------------

CONE_SAMPLER = {"name": "so3_uniform", "spacing_deg": 10.0}


class TestConeConstraint(ConstraintContract):
    """On a 10-degree so3_uniform set: the centre and its neighbours within 20 degrees. The
    contract's parameter round trip (1e-6 degrees) holds for all of them since rotation
    angles are measured with atan2 (with arccos of the trace, 12% missed it by ~1e-6)."""

    constraint = {"name": "cone", "centre_zyz_deg": [30.0, 60.0, 90.0], "cone_deg": 20.0}
    sampler = CONE_SAMPLER


def test_cone_candidates_are_the_centre_and_its_neighbours_within_the_cone():
    plugins = default_plugin_set()
    cone = plugins.create("constraint", TestConeConstraint.constraint)
    rotations = cone.candidate_rotations(plugins.create("sampler", CONE_SAMPLER))
    centre = euler_zyz_to_matrix(np.array([30.0, 60.0, 90.0]))
    distance = rotation_distance_deg(rotations, centre)
    assert distance[0] < 1e-9 and distance.max() <= 20.0 + 1e-9
    # so3_uniform at 10 degrees has 28,000 rotations; (t - sin t) / pi of SO(3) lies within
    # t = 20 degrees of a rotation: ~64 of them.
    assert 40 <= len(rotations) <= 90
    with pytest.raises(ConfigError, match="constraint.cone_deg: expected 0 < cone <= 180"):
        plugins.create("constraint", {"name": "cone", "cone_deg": 0})


# --- SLURM ---------------------------------------------------------------------------------

def test_slurm_job_script_holds_the_configured_settings():
    config = compose_config("batch", [
        "executor=slurm", "executor.slurm.queue=cpu", "executor.slurm.account=lab42",
        "executor.slurm.cores=8", "executor.slurm.memory=16GB",
        "executor.slurm.walltime=02:30:00", "executor.slurm.job_extra_directives=['--qos=long']",
        "executor.slurm.job_script_prologue=['source /opt/venv/bin/activate']"])
    assert config.executor.kind == "slurm"
    cluster = slurm_cluster(config.executor)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ("#SBATCH -p cpu", "#SBATCH -A lab42", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=15G", "#SBATCH -t 02:30:00", "#SBATCH --qos=long",
                 "source /opt/venv/bin/activate", "--nworkers 8", "--nthreads 1"):
        assert line in script, f"{line!r} not in the job script:\n{script}"


def test_a_missing_dask_is_named_with_the_extra_that_brings_it(monkeypatch):
    import sys

    from subalign.errors import MissingExtraError
    from subalign.execution.cluster import check_executor

    config = compose_config("batch", ["executor=slurm"])
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    with pytest.raises(MissingExtraError, match=r"^executor=slurm needs dask-jobqueue: pip "
                                                r"install 'subalign\[slurm\]'$"):
        check_executor(config.executor)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"^running on Dask needs dask distributed: pip "
                                                r"install 'subalign\[batch\]'$"):
        check_executor(config.executor)


# --- pose composition against ground truth ------------------------------------------------

@pytest.fixture(scope="module")
def sim24(tmp_path_factory):
    """Four noise-free 24^3 particles of the paper phantom (wedge +-60) and their density."""
    return simulate(tmp_path_factory.mktemp("sim24"), "n=4", "size=24", "seed=5",
                    "imaging.snr=inf", "max_translation_voxels=1.5")


# batch alignment end to end: 2-4 s (2026-12-06; it took 28 s before the binned search)
def test_to_reference_pose_is_the_inverse_of_the_alignment(sim24, tmp_path):
    """Local search from priors 8 degrees and 1 voxel off: the new poses are the truth's;
    the alignment's own transform T (not inverted) is not a pose."""
    prior_errors = perturbed(sim24 / "particles.star", tmp_path / "prior.star", 8.0, 1.0)
    assert np.all(prior_errors > 7.9)
    config = compose_config("batch", [
        f"particles={tmp_path / 'prior.star'}", f"tomograms={sim24 / 'wedges.csv'}",
        f"reference={sim24 / 'reference.mrc'}", f"output_dir={tmp_path / 'out'}",
        "search=local", "histogram=false"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        run = run_batch(config, executor=pool)
    assert run.ran == 4 and run.summary["status"] == "complete"
    rotation, shift = pose_errors(tmp_path / "out" / "aligned.star", sim24 / "particles.star")
    assert rotation.max() < 2.0 and shift.max() < 0.3, (rotation, shift)
    truth = read_particles(sim24 / "particles.star")
    store = ArrayLog(tmp_path / "out" / "results.bin", FIELDS, 4)
    as_found = np.stack([row_transform(v).inverse().rotation for v in store.values])
    assert rotation_distance_deg(as_found, truth.rotations).min() > 20.0


def test_all_vs_all_matrices_are_symmetric_and_hold_each_pair_and_its_inverse(tmp_path):
    pairs = np.array([[0, 1], [0, 2], [1, 2]])
    rng = np.random.default_rng(0)
    rotations = np.stack([euler_zyz_to_matrix(rng.uniform(0, 180, 3)) for _ in pairs])
    translations = rng.normal(size=(3, 3))
    store = ArrayLog(tmp_path / "results.bin", FIELDS, 3)
    for k, (rotation, translation) in enumerate(zip(rotations, translations)):
        values = [*rotation.ravel(), *translation, 0.1 * (k + 1), 0.5, 1.0, 1.0, 1.0]
        store.add({"index": k, **dict(zip(FIELDS, values))})
    matrices = pair_matrices(pairs, store, 3)
    d = matrices["dissimilarity"]
    np.testing.assert_array_equal(d, d.T)
    assert d[0, 2] == np.float32(0.2) and d[1, 1] == 0
    t = matrices["transforms"].astype(float)
    for (i, j), rotation in zip(pairs, rotations):
        forward = np.vstack([t[i, j], [0, 0, 0, 1]])
        backward = np.vstack([t[j, i], [0, 0, 0, 1]])
        np.testing.assert_allclose(forward[:3, :3], rotation, atol=1e-6)
        np.testing.assert_allclose(forward @ backward, np.eye(4), atol=1e-5)


# --- bad inputs: one line, exit 2, before any cluster starts -------------------------------

BAD = [
    ([], "particles: expected a particle set file (.star, .tbl, .em), found null"),
    (["particles=nowhere.star"], "particles: expected a particle set file, found no file "
                                 "nowhere.star"),
    (["mode=everything"], "mode: expected one of reference, all, pairs, found 'everything'"),
    (["mode=all", "search=local"], "search: expected global for mode all (a local search needs "
                                   "each particle's pose against a reference), found 'local'"),
    (["wedge.tilt_range_deg=[-60,60]"],
     "wedge.tilt_range_deg: a batch takes no pair wedge (each particle's wedge comes from the "
     "set, tomograms= or particle_wedge; the reference's from reference_wedge), found [-60,60]"),
    (["executor.kind=cloud"], "executor.kind: expected one of local, slurm, found 'cloud'"),
    (["executor.address=localhost:8786"],
     "executor.address: expected tcp://host:port of a Dask scheduler, found 'localhost:8786'"),
    (["local.cone_deg=0"], "local.cone_deg: expected a number > 0 and <= 180, found 0.0"),
    (["mode=pairs"], "pair_list: expected a JSON pair list (mode pairs), found null"),
    (["mode=pairs", "pair_list=bad_pairs.json"],
     "bad_pairs.json: pairs[1].moving: expected a subtomogram of {star} or a row from 0 to 3, "
     "found 'subtomograms/particle_000009.mrc'"),
    (["reference=small.mrc"], "small.mrc: expected a (24, 24, 24) map like the particles' boxes, "
                              "found (16, 16, 16)"),
    (["classes=2"], "classes: expected null for mode reference (clustering needs mode all), "
                    "found 2"),
    (["-m"], "batch: expected key=value overrides only, found -m (a batch run is one run: no -m)"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(extra, message, sim24, tmp_path,
                                                         monkeypatch, capsys):
    from subalign.io.mrc import write_volume

    monkeypatch.chdir(tmp_path)
    write_volume(tmp_path / "small.mrc", np.random.default_rng(0).normal(size=(16, 16, 16)))
    pairs = json.loads((sim24 / "pairs.json").read_text())
    pairs["pairs"][1]["moving"] = "subtomograms/particle_000009.mrc"
    (sim24 / "bad_pairs.json").write_text(json.dumps(pairs))
    (tmp_path / "bad_pairs.json").write_text(json.dumps(pairs))
    star = sim24 / "particles.star"
    given = {"particles": f"particles={star}", "reference": f"reference={sim24 / 'reference.mrc'}"}
    for key in list(given):
        if any(arg.startswith(key + "=") for arg in extra) or (key == "particles" and not extra):
            given.pop(key)
    args = [*given.values(), f"tomograms={sim24 / 'wedges.csv'}", "output_dir=out", *extra]
    with pytest.raises(SystemExit) as exit_code:
        main(["batch", *args])
    assert exit_code.value.code == 2
    err = capsys.readouterr().err
    assert err == f"subalign: error: {message.format(star=star)}\n"
    assert not (tmp_path / "out").exists()


def test_a_data_fault_found_in_a_worker_is_one_line_naming_the_particle(tmp_path, caplog):
    """A particle whose file reads but holds no contrast (an all-zero box, row 3) stops the
    batch with the particle's row and file, after the rows committed before it; nothing is
    logged as a traceback."""
    from subalign.errors import SubalignError
    from subalign.io.mrc import write_volume

    sim = simulate(tmp_path / "sim", "n=4", "size=16", "imaging.snr=inf", "seed=2",
                   "max_translation_voxels=1")
    write_volume(sim / "subtomograms" / "particle_000002.mrc", np.zeros((16,) * 3), voxel_size=10.0)
    config = compose_config("batch", [f"particles={sim / 'particles.star'}",
                                      f"tomograms={sim / 'wedges.csv'}",
                                      f"reference={sim / 'reference.mrc'}", "hand_check=0",
                                      f"output_dir={tmp_path / 'out'}", "sampler.spacing_deg=60"])
    with caplog.at_level(logging.DEBUG), ThreadPoolExecutor(1) as executor:
        with pytest.raises(SubalignError) as info:
            run_batch(config, executor=executor, window=1)
    assert str(info.value) == (
        f"{sim / 'particles.star'}: row 3, column rlnImageName: {sim / 'subtomograms'}/"
        "particle_000002.mrc: expected a volume with contrast, found a constant volume (every "
        "voxel 0): nothing to align")
    assert "Traceback" not in caplog.text
    assert sorted(ArrayLog(tmp_path / "out" / "results.bin", FIELDS, 4).rows) == [0, 1]
