"""Dask distributed executors: a local cluster, a running scheduler, or SLURM jobs.

:func:`dask_executor` turns an :class:`ExecutorConfig` into a running Dask client and its
``concurrent.futures`` executor (``client.get_executor()``), which plugs into
:func:`subalign.execution.map_resumable` like any other executor:

* ``kind: local`` (default): a ``distributed.LocalCluster`` on this machine, ``workers``
  processes (default: one per core) of one thread each, no dashboard;
* ``address: tcp://host:port``: join a running scheduler (``dask scheduler`` and
  ``dask worker tcp://host:port --nthreads 1`` started by hand or by a cluster's tooling);
  the workers must see the input and output files at the same paths;
* ``kind: slurm``: ``dask_jobqueue.SLURMCluster`` submitting ``workers`` jobs, each of
  ``slurm.cores`` worker processes of one thread, with the queue, account, memory, walltime,
  extra ``#SBATCH`` directives and the script prologue of ``slurm``. Jobs that never start
  (``slurm.start_timeout_s``), or that all end before the work is done (killed, past their
  walltime: :data:`JOBS_LOST_AFTER_S` with no worker), stop the command in one line instead
  of leaving it waiting; what finished is kept for the rerun.

Every worker runs one thread: subalign's work is numpy/scipy on small arrays, which holds
the GIL for much of a task, and one thread per process keeps results independent of how
many tasks share a process. Dask sets ``OPENBLAS_NUM_THREADS=1`` (and MKL, OMP) in the
processes its nannies start; workers started by hand should be given the same.

Needs the ``batch`` extra (``pip install 'subalign[batch]'``: dask distributed) and, for
SLURM, the ``slurm`` extra (dask-jobqueue).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional

from subalign.errors import ConfigError, MissingExtraError, SubalignError, check_number

__all__ = ["EXECUTOR_KINDS", "DaskRun", "ExecutorConfig", "SlurmConfig", "check_executor",
           "dask_executor", "slurm_cluster"]

EXECUTOR_KINDS = ("local", "slurm")


@dataclass
class SlurmConfig:
    """SLURM jobs of Dask workers (``dask_jobqueue.SLURMCluster``).

    Attributes
    ----------
    queue, account : str, optional
        ``#SBATCH -p`` and ``-A``.
    cores : int
        CPUs of one job; the job runs as many worker processes of one thread.
    memory : str
        Memory of one job, e.g. ``"8GB"`` (``#SBATCH --mem``, shared by its workers).
    walltime : str
        ``#SBATCH -t``, ``HH:MM:SS``.
    job_extra_directives : list of str
        More ``#SBATCH`` lines, without the prefix (``["--qos=normal"]``).
    job_script_prologue : list of str
        Shell lines before the worker starts (``["source /path/venv/bin/activate"]``).
    local_directory, log_directory : str, optional
        Workers' scratch directory; where SLURM writes the jobs' output.
    interface : str, optional
        Network interface of workers and scheduler (``ib0``).
    python : str, optional
        The interpreter the jobs run (default: this one).
    start_timeout_s : float, optional
        Seconds to wait for the first job to start a worker; then the jobs are cancelled and
        the command stops in one line (null: wait as long as the queue takes).
    """

    queue: Optional[str] = None
    account: Optional[str] = None
    cores: int = 1
    memory: str = "4GB"
    walltime: str = "01:00:00"
    job_extra_directives: List[str] = field(default_factory=list)
    job_script_prologue: List[str] = field(default_factory=list)
    local_directory: Optional[str] = None
    log_directory: Optional[str] = None
    interface: Optional[str] = None
    python: Optional[str] = None
    start_timeout_s: Optional[float] = None


@dataclass
class ExecutorConfig:
    """Where a batch runs (module docstring).

    Attributes
    ----------
    kind : {"local", "slurm"}
        A local cluster, or SLURM jobs.
    address : str, optional
        ``tcp://host:port`` of a running scheduler to join (``kind`` is then not used).
    workers : int, optional
        ``local``: worker processes (null: this machine's CPU count); ``slurm``: jobs.
    memory_limit : str
        Memory of each local worker (``"auto"``: the machine's share, ``"2GB"``, ...).
    tasks_per_worker : int
        Tasks submitted ahead per worker; more submitted at once would only load the
        scheduler (an all-vs-all run of 1,000 particles has ~500,000 tasks).
    slurm : SlurmConfig
    """

    kind: str = "local"
    address: Optional[str] = None
    workers: Optional[int] = None
    memory_limit: str = "auto"
    tasks_per_worker: int = 4
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


def check_executor(config: Any) -> None:
    """Range and choice checks of an :class:`ExecutorConfig` node (fields named ``executor.*``),
    and that the packages it needs are installed.

    Raises
    ------
    ConfigError, MissingExtraError
    """
    if config.kind not in EXECUTOR_KINDS:
        raise ConfigError(f"executor.kind: expected one of {', '.join(EXECUTOR_KINDS)}, found "
                          f"{config.kind!r}")
    if config.address is not None and not str(config.address).startswith(("tcp://", "tls://",
                                                                           "inproc://")):
        raise ConfigError(f"executor.address: expected tcp://host:port of a Dask scheduler, "
                          f"found {config.address!r}")
    if config.workers is not None:
        check_number(config.workers, "executor.workers", at_least=1, integer=True)
    check_number(config.tasks_per_worker, "executor.tasks_per_worker", at_least=1, integer=True)
    check_number(config.slurm.cores, "executor.slurm.cores", at_least=1, integer=True)
    if config.slurm.start_timeout_s is not None:
        check_number(config.slurm.start_timeout_s, "executor.slurm.start_timeout_s", above=0)
    _distributed()
    if config.address is not None:
        _check_reachable(str(config.address))
    elif config.kind == "slurm":
        _jobqueue()
        if shutil.which("sbatch") is None:
            raise ConfigError("executor.kind: slurm submits jobs with sbatch, found no sbatch on "
                              "PATH; expected a SLURM login node (or executor.kind=local)")


#: Seconds to wait for a scheduler at ``executor.address`` to answer.
CONNECT_TIMEOUT = 5.0


def _check_reachable(address: str) -> None:
    """Refuse, within :data:`CONNECT_TIMEOUT`, a ``tcp://host:port`` where nothing listens."""
    import socket
    from urllib.parse import urlsplit

    if not address.startswith("tcp://"):
        return
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise ConfigError(f"executor.address: expected tcp://host:port, found {address!r}")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ConfigError(f"executor.address: no Dask scheduler answers at {address} "
                          f"({exc.strerror or exc}); expected a running scheduler, or no address "
                          "for a local cluster") from None


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (an ignored signal stays ignored across
    ``exec``, and Python then installs no KeyboardInterrupt handler): Ctrl-C in a terminal
    reaches the whole process group, and only the main process should answer it; it then
    closes the cluster. Outside the main thread signals cannot be set, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for_a_job(client, cluster, timeout_s: float | None) -> None:
    """Wait up to ``timeout_s`` for a SLURM job's worker; else cancel the jobs and stop."""
    if timeout_s is None:
        return
    try:
        client.wait_for_workers(1, timeout=float(timeout_s))
    except Exception:  # distributed raises TimeoutError (asyncio's or the builtin)
        client.close()
        cluster.close()
        raise SubalignError(f"executor.slurm.start_timeout_s: no SLURM job started a worker "
                            f"within {float(timeout_s):g} s; the jobs were cancelled (see squeue "
                            "for the queue; rerun the same command to resume)") from None


def _executor(client):
    """``client.get_executor(pure=False)`` whose futures may be cancelled while Dask's event
    loop thread sets their result, or fetches it: the late result is dropped. (distributed's
    executor sets it regardless, or fails fetching it, and the loop logs a traceback:
    ``InvalidStateError`` seen once in six Ctrl-C's of a batch, whose pending futures
    :func:`~subalign.execution.map_resumable` cancels; ``FutureCancelledError`` when
    :class:`_JobWatch` cancels the tasks.)"""
    import concurrent.futures as cf

    from distributed.cfexecutor import ClientExecutor, _cascade_future

    class LateResultDropped(cf.Future):
        def set_result(self, result) -> None:
            try:
                super().set_result(result)
            except cf.InvalidStateError:  # cancelled meanwhile
                pass

        def set_exception(self, exception) -> None:
            try:
                super().set_exception(exception)
            except cf.InvalidStateError:
                pass

    class Executor(ClientExecutor):
        def _wrap_future(self, future):  # ClientExecutor's own, with the future above
            cf_future = LateResultDropped()

            def cancel_the_task(done):
                if done.cancelled() and future.status != "cancelled":
                    future.cancel()

            cf_future.add_done_callback(cancel_the_task)
            self._client.loop.add_callback(cascade, future, cf_future)
            return cf_future

    async def cascade(future, cf_future) -> None:
        try:
            await _cascade_future(future, cf_future)
        except Exception:  # cancelled while its result was fetched: the loop would log it
            cf_future.cancel()
            try:
                cf_future.set_running_or_notify_cancel()  # wakes concurrent.futures.wait
            except RuntimeError:  # it had finished
                pass

    return Executor(client, pure=False)


#: Seconds with no worker of any SLURM job connected, every job having started, before a
#: batch stops (its jobs were killed, or reached their walltime).
JOBS_LOST_AFTER_S = 10.0


class _JobWatch:
    """Watch a SLURM cluster's workers from a thread: when every job has started a worker and
    none is connected for :data:`JOBS_LOST_AFTER_S`, cancel the executor's tasks, so the
    batch waiting on them stops (:func:`dask_executor` then raises one line) instead of
    waiting forever for workers that will not come back."""

    def __init__(self, cluster, executor) -> None:
        self._cluster, self._executor = cluster, executor
        self._stop = threading.Event()
        self.fired = False
        self._thread = threading.Thread(target=self._watch, name="subalign-job-watch",
                                        daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        started: set[str] = set()
        gone_since = None
        while not self._stop.wait(0.5):
            try:
                names = [str(w.get("name")) for w in
                         dict(self._cluster.scheduler_info.get("workers", {})).values()]
                jobs = [str(job) for job in list(self._cluster.worker_spec)]
            except Exception:  # the cluster is closing
                continue
            started |= {job for job in jobs
                        if any(name == job or name.startswith(f"{job}-") for name in names)}
            if names or not jobs or not set(jobs) <= started:
                gone_since = None
                continue
            gone_since = gone_since if gone_since is not None else time.monotonic()
            if time.monotonic() - gone_since >= JOBS_LOST_AFTER_S:
                self.fired = True
                self._executor.shutdown(wait=False)  # cancels the tasks: the waits end
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _distributed():
    try:
        import distributed
    except ImportError:
        raise MissingExtraError("running on Dask needs dask distributed: pip install "
                                "'subalign[batch]'") from None
    return distributed


def _jobqueue():
    try:
        import dask_jobqueue
    except ImportError:
        raise MissingExtraError("executor=slurm needs dask-jobqueue: pip install "
                                "'subalign[slurm]'") from None
    return dask_jobqueue


def slurm_cluster(config: Any):
    """A ``dask_jobqueue.SLURMCluster`` of :class:`SlurmConfig` ``config.slurm`` (no job
    submitted until it is scaled); its ``job_script()`` is what each job runs."""
    SLURMCluster = _jobqueue().SLURMCluster
    slurm = config.slurm
    cores = int(slurm.cores)
    return SLURMCluster(
        queue=slurm.queue, account=slurm.account, cores=cores, processes=cores,
        memory=str(slurm.memory), walltime=str(slurm.walltime),
        job_extra_directives=list(slurm.job_extra_directives),
        job_script_prologue=list(slurm.job_script_prologue),
        local_directory=slurm.local_directory, log_directory=slurm.log_directory,
        interface=slurm.interface, python=slurm.python, job_name="subalign",
        scheduler_options={"dashboard": False, "dashboard_address": ":0"})


@dataclass
class DaskRun:
    """A running client: its executor and how many tasks to keep submitted.

    Attributes
    ----------
    executor : concurrent.futures.Executor
        ``client.get_executor(pure=False)``.
    client : distributed.Client
    window : int
        ``tasks_per_worker`` times the workers expected.
    description : str
        Where the tasks run, for the log.
    """

    executor: Any
    client: Any
    window: int
    description: str


@contextmanager
def dask_executor(config: Any) -> Iterator[DaskRun]:
    """Start (or join) the cluster ``config`` describes; close what was started on exit.

    Parameters
    ----------
    config : ExecutorConfig or DictConfig of it

    Yields
    ------
    DaskRun
    """
    check_executor(config)
    distributed = _distributed()
    cluster = None
    if config.address is not None:
        client = distributed.Client(str(config.address), timeout="30s")
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        description = f"the scheduler at {config.address} ({workers} workers)"
    elif config.kind == "slurm":
        cluster = slurm_cluster(config)
        jobs = int(config.workers or 1)
        cluster.scale(jobs=jobs)
        client = distributed.Client(cluster)
        _wait_for_a_job(client, cluster, config.slurm.start_timeout_s)
        workers = jobs * int(config.slurm.cores)
        description = f"{jobs} SLURM jobs of {config.slurm.cores} workers"
    else:
        workers = int(config.workers or os.cpu_count() or 1)
        with _workers_ignore_ctrl_c():
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                memory_limit=str(config.memory_limit), silence_logs=logging.ERROR,
                # no dashboard, but the scheduler's HTTP server binds 8787 by default, and
                # warns in four lines when another cluster has it: any free port instead
                scheduler_kwargs={"dashboard_address": ":0"})
        client = distributed.Client(cluster)
        description = f"a local cluster of {workers} worker processes"
    executor = _executor(client)
    watch = _JobWatch(cluster, executor) if config.kind == "slurm" and cluster is not None else None
    try:
        yield DaskRun(executor, client, workers * int(config.tasks_per_worker), description)
    except Exception:
        if watch is not None and watch.fired:
            raise SubalignError(
                f"executor.kind: every SLURM job of the batch ended with no worker left for "
                f"{JOBS_LOST_AFTER_S:g} s (killed, or past executor.slurm.walltime="
                f"{config.slurm.walltime}; see the jobs' logs); what finished is kept: rerun "
                "the same command to resume") from None
        raise
    finally:
        if watch is not None:
            watch.stop()
        client.close()
        if cluster is not None:
            cluster.close()
