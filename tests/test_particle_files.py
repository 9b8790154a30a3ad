"""Each particle's files in a run: skipped by rule, stamped, realigned alone when changed.

Against ground truth: a skipped particle's row and reason are recorded and the others are
aligned as in a run without it; after a particle file is rewritten, a rerun aligns exactly
the items of that particle (the other records stay byte for byte) and gives the results of
a fresh run on the new files; a second run waits for the first with ``wait=true``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from batch_support import TINY, record_indices, simulate, stored, without_angles
from refine_support import QUICK, keep_log_handlers  # noqa: F401 (autouse fixture)
from subalign.cli.compose import compose_config
from subalign.errors import ConfigError
from subalign.execution.arraylog import ArrayLog
from subalign.io.mrc import read_volume, write_volume
from subalign.io.particles import ParticleTableError
from subalign.workflows.batch.run import run_batch
from subalign.workflows.particle_files import SKIPPED_FILE, STAMPS_FILE
from subalign.workflows.rounds.average import run_average


@pytest.fixture
def sim(tmp_path):
    """Five noise-free 16^3 particles of the paper phantom, with their true map."""
    return simulate(tmp_path / "sim", "n=5", "size=16", "seed=4", "imaging.snr=inf",
                    "max_translation_voxels=1")


def _batch(sim, out, *extra):
    config = compose_config("batch", [f"particles={sim / 'particles.star'}",
                                      f"tomograms={sim / 'wedges.csv'}", *TINY, *extra,
                                      f"output_dir={out}"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        return run_batch(config, executor=pool)


def _particle(sim, index):
    return sim / "subtomograms" / f"particle_{index:06d}.mrc"


def test_arraylog_forget_drops_only_the_given_items_atomically(tmp_path):
    store = ArrayLog(tmp_path / "results.bin", ("a", "b"), 5)
    for index in range(5):
        store.add({"index": index, "a": index, "b": -index})
    assert store.forget([1, 3, 3]) == 2 and store.forget([1]) == 0
    store.add({"index": 3, "a": 30, "b": -30})
    store.close()
    again = ArrayLog(tmp_path / "results.bin", ("a", "b"), 5)
    assert sorted(again.rows) == [0, 2, 3, 4] and again.duplicates == 0
    assert again.rows[3] == {"index": 3, "a": 30.0, "b": -30.0}
    assert again.rows[4] == {"index": 4, "a": 4.0, "b": -4.0}
    assert again.forget(range(5)) == 4 and len(ArrayLog(again.path, ("a", "b"), 5).rows) == 0
    (tmp_path / "empty.bin").write_bytes(b"")  # killed between opening and the first record
    assert len(ArrayLog(tmp_path / "empty.bin", ("a", "b"), 5).rows) == 0


def test_a_particle_changed_after_a_finished_batch_is_aligned_again_alone(sim, tmp_path):
    """All pairs of five particles; particle 3's file is then replaced by particle 0's box.
    The rerun aligns the 4 pairs with particle 3, keeps the 6 others' records untouched,
    and ends with the results of a fresh run on the changed files."""
    out = tmp_path / "out"
    first = _batch(sim, out, "mode=all")
    assert first.ran == 10
    before = stored(out, 10)
    rerun = _batch(sim, out, "mode=all")
    assert rerun.ran == 0  # nothing changed: nothing to do
    write_volume(_particle(sim, 3), read_volume(_particle(sim, 0)).data, voxel_size=10.0)
    changed = _batch(sim, out, "mode=all")
    pairs = np.stack(np.triu_indices(5, k=1), axis=1)
    with_three = (pairs == 3).any(axis=1)
    assert changed.ran == 4 and changed.summary["status"] == "complete"
    after = stored(out, 10)
    np.testing.assert_array_equal(after[~with_three], before[~with_three])
    assert not np.allclose(after[with_three], before[with_three])
    assert sorted(record_indices(out)[-4:]) == np.flatnonzero(with_three).tolist()
    fresh = _batch(sim, tmp_path / "fresh", "mode=all")
    assert fresh.ran == 10
    np.testing.assert_array_equal(after, stored(tmp_path / "fresh", 10))


def test_a_particle_changed_under_an_average_refuses_to_resume_naming_it(sim, tmp_path):
    inputs = [f"particles={sim / 'particles.star'}", f"tomograms={sim / 'wedges.csv'}",
              "start=poses", "rounds=0", f"output_dir={tmp_path / 'run'}"]
    run_average(compose_config("average", [*QUICK, *inputs]), inline=True)
    assert (tmp_path / "run" / STAMPS_FILE).exists()
    path = _particle(sim, 2)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with pytest.raises(ConfigError, match=r"run: row 3 \(particle_000002.mrc\) changed since "
                                          "this refinement began in it"):
        run_average(compose_config("average", [*QUICK, *inputs, "rounds=1"]), inline=True)


def test_skip_leaves_out_bad_particles_and_records_why(sim, tmp_path):
    """Particle 1's file is cut short and particle 3's is another box size: refused by
    default, naming the first; with bad_particles=skip the three others are aligned to the
    reference exactly as a set without the two would be, and skipped.json names both."""
    good = sim / "particles.star"
    data = _particle(sim, 1).read_bytes()
    _particle(sim, 1).write_bytes(data[: len(data) // 2])
    write_volume(_particle(sim, 3), np.ones((12,) * 3, np.float32), voxel_size=10.0)
    reference = [f"reference={sim / 'reference.mrc'}", "hand_check=0"]
    with pytest.raises(ParticleTableError, match="row 2, column rlnImageName"):
        _batch(sim, tmp_path / "refused", *reference)
    assert not (tmp_path / "refused").exists()
    run = _batch(sim, tmp_path / "out", *reference, "bad_particles=skip")
    assert run.ran == 3 and run.summary["skipped"] == 2
    skipped = json.loads((tmp_path / "out" / SKIPPED_FILE).read_text())["skipped"]
    assert [(s["row"], s["file"]) for s in skipped] == [
        (2, "subtomograms/particle_000001.mrc"), (4, "subtomograms/particle_000003.mrc")]
    assert "(z, y, x) = (12, 12, 12)" in skipped[1]["reason"]
    lines = good.read_text().splitlines()
    kept = [line for line in lines if "particle_000001" not in line and "particle_000003" not in line]
    (sim / "three.star").write_text("\n".join(kept) + "\n")
    config = compose_config("batch", [f"particles={sim / 'three.star'}",
                                      f"tomograms={sim / 'wedges.csv'}", *TINY, *reference,
                                      f"output_dir={tmp_path / 'three'}"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        run_batch(config, executor=pool)
    np.testing.assert_array_equal(stored(tmp_path / "out", 3), stored(tmp_path / "three", 3))


def test_skip_leaves_out_the_pairs_of_a_skipped_particle(sim, tmp_path):
    _particle(sim, 3).unlink()
    run = _batch(sim, tmp_path / "out", "mode=pairs", f"pair_list={sim / 'pairs.json'}",
                 "bad_particles=skip")
    listed = json.loads((sim / "pairs.json").read_text())["pairs"]
    names = [(p["fixed"], p["moving"]) for p in listed]
    kept = [n for n in names if "subtomograms/particle_000003.mrc" not in n]
    assert 0 < len(kept) < len(names)
    assert run.ran == len(kept) and run.summary["skipped"] == 1


def test_every_particle_skipped_is_one_line(sim, tmp_path):
    for index in range(5):
        _particle(sim, index).unlink()
    with pytest.raises(ParticleTableError, match="row 1, column rlnImageName: every particle was "
                                                 "skipped, the first because: .*not found"):
        _batch(sim, tmp_path / "out", "mode=all", "bad_particles=skip")


def test_with_wait_a_second_run_waits_for_the_first_to_end_then_runs(sim, tmp_path):
    """The first batch holds the folder's lock (taken here by hand, as a running batch
    holds it); a second with wait=true blocks until it is released, then runs."""
    from subalign.execution.jobs import run_lock

    out = tmp_path / "out"
    out.mkdir()
    finished = []
    with run_lock(out, what="batch"):
        with pytest.raises(ConfigError, match="another batch is running in it .*wait=true waits"):
            _batch(sim, out, "mode=all")
        waiter = threading.Thread(target=lambda: finished.append(_batch(sim, out, "mode=all",
                                                                        "wait=true")))
        waiter.start()
        time.sleep(0.5)  # the waiter is blocked on the lock, not racing: nothing it can do
        assert not finished and not (out / "results.bin").exists()
    waiter.join(timeout=120)
    assert finished and finished[0].ran == 10


def test_a_table_without_poses_aligns_globally_and_is_refused_where_a_pose_is_needed(tmp_path):
    """A set with no angle columns reads with identity rotations and no poses: a global
    search to the reference finds each particle's true pose; a local search and averaging
    from poses are refused in one line; converted, it gets no invented angles; a table with
    only some angle columns is refused naming them. (24^3: at 16^3 the default global search
    puts 2 of 5 noise-free phantoms 68-81 deg off, with or without poses in the table.)"""
    import starfile
    from batch_support import pose_errors
    from subalign.io.formats import read_particles, write_particles

    sim = simulate(tmp_path / "sim24", "n=2", "size=24", "seed=5", "imaging.snr=inf",
                   "max_translation_voxels=1.5")
    table = without_angles(sim)
    particles = read_particles(table)
    assert not particles.poses_given and np.allclose(particles.rotations, np.eye(3))
    write_particles(particles, tmp_path / "copy.star", "relion5")
    assert not {"rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"} & set(
        starfile.read(tmp_path / "copy.star", always_dict=True)["particles"].columns)
    config = compose_config("batch", [f"particles={table}", f"tomograms={sim / 'wedges.csv'}",
                                      f"reference={sim / 'reference.mrc'}", "histogram=false",
                                      f"output_dir={tmp_path / 'global'}"])
    with ThreadPoolExecutor(max_workers=1) as pool:
        run_batch(config, executor=pool)
    rotation, shift = pose_errors(tmp_path / "global" / "aligned.star", sim / "particles.star")
    assert rotation.max() < 2.0 and shift.max() < 0.1, (rotation, shift)  # 0.5 deg, 0.005 measured
    with pytest.raises(ParticleTableError, match=r"noposes.star: no poses .*search=local"):
        _batch(sim, tmp_path / "local", f"particles={table}", "search=local",
               f"reference={sim / 'reference.mrc'}")
    with pytest.raises(ParticleTableError, match=r"no poses .*start=poses"):
        run_average(compose_config("average", [*QUICK, f"particles={table}",
                                               f"tomograms={sim / 'wedges.csv'}", "start=poses",
                                               "rounds=0", f"output_dir={tmp_path / 'avg'}"]),
                    inline=True)
    assert not (tmp_path / "local").exists() and not (tmp_path / "avg").exists()
    partial = (sim / "particles.star").read_text().replace("_rlnAnglePsi", "_rlnOtherPsi")
    (sim / "partial.star").write_text(partial)
    with pytest.raises(ParticleTableError, match="missing column.s. rlnAnglePsi"):
        read_particles(sim / "partial.star")
