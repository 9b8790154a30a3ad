"""subalign batch on Dask: pairs per second with 1 and 2 workers, memory per worker, the
scheduler overhead per task, and the time per particle of the local against the global
search.

A simulated set (``subalign simulate``: ``--particles`` particles, ``--size``^3, SNR 0.5,
wedge +-60) is aligned all-vs-all on a ``distributed.LocalCluster`` of 1, then 2 worker
processes (one thread each); the time counts from the first task submitted to the last
result stored (the cluster is started and warmed up before), and the two runs' results are
checked to be identical. Memory: each worker's resident size after its run. Overhead: 2,000
no-op tasks through the same seam (``map_resumable`` with an ``ArrayLog``, 2 workers),
wall time per task. Local against global: every particle aligned to the true map from
priors 10 degrees and 2 voxels off, in this process, one at a time (``seconds`` of each
alignment).

    python benchmarks/batch.py [--particles 8] [--size 24] [--keep DIR]
"""

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common  # noqa: F401  (one thread)
import distributed
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from batch_support import perturbed, pose_errors, simulate, stored  # noqa: E402

from subalign.cli.compose import compose_config  # noqa: E402
from subalign.execution import map_resumable  # noqa: E402
from subalign.execution.arraylog import ArrayLog  # noqa: E402
from subalign.workflows.batch.run import run_batch  # noqa: E402
from subalign.workflows.batch.worker import FIELDS  # noqa: E402

#: The pairs' alignment: the default search with 4 candidates from a 45-degree set.
PAIRS = ["scan.keep=4", "sampler.spacing_deg=45", "histogram=false"]


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def no_op(item: int) -> dict:
    return {"index": item, "value": 0.0}


def cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def throughput(sim: Path, work: Path, workers: int) -> tuple[float, float, float, int, float]:
    """Pairs per second, mean and max worker memory (MB), pairs of an all-vs-all run, and
    the workers' CPU seconds per pair (on a shared machine, the wall time says how much of
    the CPUs the run got; the CPU time per pair says what the work costs)."""
    config = compose_config("batch", [f"particles={sim / 'particles.star'}",
                                      f"tomograms={sim / 'wedges.csv'}", "mode=all",
                                      f"output_dir={work / f'workers{workers}'}", *PAIRS])
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: __import__("subalign.workflows.batch.worker"))  # imports warmed up
        cpu = sum(client.run(cpu_seconds).values())
        started = time.perf_counter()
        run = run_batch(config, executor=client.get_executor(pure=False), window=4 * workers)
        seconds = time.perf_counter() - started
        cpu = sum(client.run(cpu_seconds).values()) - cpu
        memory = list(client.run(rss_mb).values())
    count = run.summary["count"]
    return count / seconds, float(np.mean(memory)), float(np.max(memory)), count, cpu / count


def overhead(work: Path, tasks: int = 2000) -> tuple[dict, float]:
    """Wall time per no-op task (ms) through 2 Dask workers, with 8 tasks kept submitted
    (the batch's default for 2 workers: latency-bound) and with all submitted at once
    (throughput-bound); and in this process."""
    dask = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: None)
        for window in (8, None):
            with ArrayLog(work / f"noop{window}.bin", ("value",), tasks) as store:
                started = time.perf_counter()
                map_resumable(no_op, range(tasks), store,
                              executor=client.get_executor(pure=False), window=window,
                              collect=False)
                dask[window] = (time.perf_counter() - started) / tasks * 1e3
    with ArrayLog(work / "noop_here.bin", ("value",), tasks) as store:
        started = time.perf_counter()
        map_resumable(no_op, range(tasks), store, collect=False)
        here = (time.perf_counter() - started) / tasks
    return dask, here * 1e3


def store_of_pairs(work: Path, particles: int = 1000) -> None:
    """An all-vs-all store of ``particles`` (every pair's record added as a run adds it),
    read back, and made into the output matrices: sizes and times."""
    from subalign.workflows.batch.outputs import pair_matrices

    first, second = np.triu_indices(particles, k=1)
    pairs = np.stack([first, second], axis=1)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(len(pairs), len(FIELDS)))
    path = work / "pairs.bin"
    before = rss_mb()
    started = time.perf_counter()
    with ArrayLog(path, FIELDS, len(pairs)) as store:
        for k in range(len(pairs)):
            store.add({"index": k, **dict(zip(FIELDS, values[k]))})
    written = time.perf_counter() - started
    started = time.perf_counter()
    store = ArrayLog(path, FIELDS, len(pairs))
    read = time.perf_counter() - started
    started = time.perf_counter()
    matrices = pair_matrices(pairs, store, particles)
    made = time.perf_counter() - started
    size = sum(m.nbytes for m in matrices.values())
    print(f"all-vs-all of {particles} particles: {len(pairs)} records, results.bin "
          f"{path.stat().st_size / 1e6:.0f} MB written in {written:.1f} s "
          f"({written / len(pairs) * 1e6:.0f} us per record), read in {read:.1f} s; matrices "
          f"{size / 1e6:.0f} MB made in {made:.1f} s; this process grew by "
          f"{rss_mb() - before:.0f} MB")


def local_against_global(sim: Path, work: Path) -> dict:
    """Per-particle alignment seconds (median) and pose errors of both searches."""
    prior = work / "prior.star"
    prior_error = perturbed(sim / "particles.star", prior, 10.0, 2.0)
    found = {"prior": (float(np.median(prior_error)), None)}
    for search in ("global", "local"):
        out = work / search
        config = compose_config("batch", [f"particles={prior}", f"tomograms={sim / 'wedges.csv'}",
                                          f"reference={sim / 'reference.mrc'}",
                                          f"output_dir={out}", f"search={search}",
                                          "histogram=false"])
        with ThreadPoolExecutor(max_workers=1) as pool:
            run = run_batch(config, executor=pool)
        times = ArrayLog(out / "results.bin", FIELDS, run.summary["count"]).column("seconds")
        rotation, shift = pose_errors(out / "aligned.star", sim / "particles.star")
        found[search] = (float(np.median(times)), rotation, shift)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--particles", type=int, default=8)
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--keep", type=Path, help="work here instead of a temporary directory")
    parser.add_argument("--only-throughput", action="store_true",
                        help="measure pairs per second and memory only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        sim = simulate(work / "sim", f"n={args.particles}", f"size={args.size}", "seed=21")
        print(f"set: {args.particles} particles of {args.size}^3, SNR 0.5, wedge +-60; "
              f"machine: {psutil.cpu_count()} CPUs, load average "
              f"{', '.join(f'{v:.1f}' for v in psutil.getloadavg())}")
        rates = {}
        for workers in (1, 2):
            rate, mean, most, count, cpu = throughput(sim, work, workers)
            rates[workers] = rate
            print(f"all-vs-all, {count} pairs ({' '.join(PAIRS[:2])}), {workers} worker(s): "
                  f"{rate:.3f} pairs/s, {cpu:.2f} worker CPU s per pair; worker memory "
                  f"{mean:.0f} MB (max {most:.0f} MB); load average now "
                  f"{psutil.getloadavg()[0]:.1f}")
        same = np.array_equal(stored(work / "workers1", count), stored(work / "workers2", count))
        print(f"speed-up with 2 workers: {rates[2] / rates[1]:.2f}x; results identical: {same}")
        if args.only_throughput:
            return
        dask_ms, here_ms = overhead(work)
        print(f"overhead per task (2,000 no-op tasks, committed to an ArrayLog): "
              f"{dask_ms[8]:.2f} ms through 2 Dask workers with 8 tasks in flight, "
              f"{dask_ms[None]:.2f} ms with all submitted at once, {here_ms:.3f} ms in "
              f"process; load average now {psutil.getloadavg()[0]:.1f}")
        store_of_pairs(work)
        found = local_against_global(sim, work)
        print(f"to the true map from priors 10 deg / 2 voxels off (median prior error "
              f"{found['prior'][0]:.1f} deg), one particle at a time:")
        for search in ("global", "local"):
            seconds, rotation, shift = found[search]
            print(f"  {search}: {seconds:.2f} s per particle; median error "
                  f"{np.median(rotation):.2f} deg, {np.median(shift):.3f} voxels; "
                  f"{int(np.sum(rotation > 20))} gross failures (> 20 deg) of {len(rotation)}")
        print(f"local / global time: {found['local'][0] / found['global'][0]:.2f}")
        print(f"client memory: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
