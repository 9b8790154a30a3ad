"""The steps of a refinement round: reading the subtomograms, aligning them to a reference
on an executor, averaging them, preparing the next reference.

:func:`align_pass` aligns particles to one reference with the worker task of ``subalign
batch`` (:class:`~subalign.workflows.batch.worker.BatchTask`, mode ``reference``) through
:func:`~subalign.execution.map_resumable`: the workers' context (the particles with their
prior poses, the reference, the align settings, the local search) is written once as
``<name>.pkl`` and every result is committed to ``<name>.bin`` as it lands, so a killed
round keeps its finished alignments. :func:`accumulate` sums particles in a fixed order, so
a resumed round gives the same maps.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from subalign.execution import JobClock, map_resumable
from subalign.execution.arraylog import ArrayLog
from subalign.execution.cluster import dask_executor
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.geometry import RigidTransform
from subalign.workflows.averaging import WedgeAccumulator
from subalign.workflows.fsc import fsc_weighted
from subalign.workflows.maps import lowpass, symmetrize
from subalign.workflows.rounds.inputs import RefineInputs
from subalign.workflows.batch.worker import (
    FIELDS,
    BatchContext,
    BatchTask,
    measurement_plugin,
    write_context,
)

__all__ = ["RunExecutor", "Subtomograms", "accumulate", "align_pass", "local_search_at",
           "prepare_reference"]

log = logging.getLogger("subalign")


class RunExecutor:
    """Where a run's alignments go, started the first time one is needed (a context manager).

    Parameters
    ----------
    config : ExecutorConfig node
        The run's ``executor`` settings: a Dask cluster (:mod:`subalign.execution.cluster`).
    executor : concurrent.futures.Executor, optional
        Use this instead (not closed here).
    window : int, optional
        Tasks kept submitted to a given ``executor``.
    inline : bool
        Run every alignment in this process, one after the other.
    """

    def __init__(self, config, *, executor=None, window: int | None = None,
                 inline: bool = False) -> None:
        self.config, self.executor, self.window, self.inline = config, executor, window, inline
        self.description = ("this process" if inline else
                            "the given executor" if executor is not None else None)
        self._stack = ExitStack()

    def get(self):
        """``(executor or None, window)``; starts the cluster on the first call."""
        if self.inline:
            return None, None
        if self.executor is None:
            run = self._stack.enter_context(dask_executor(self.config))
            self.executor, self.window, self.description = run.executor, run.window, run.description
            log.info("alignments run on %s", self.description)
        return self.executor, self.window

    def __enter__(self) -> "RunExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()


class Subtomograms:
    """The set's subtomograms, read once and kept for every round (a context manager).

    ``frames[i]`` is particle ``i``'s box frame (:attr:`subalign.io.subtomograms.Subtomogram.frame`):
    the box's pose is ``frames[i]`` composed after the set's pose (identity until read).
    """

    def __init__(self, inputs: RefineInputs) -> None:
        self.measurement = measurement_plugin(inputs.align)
        self.reader = SubtomogramReader(
            inputs.particles, box_size=inputs.box, edge=inputs.edge,
            weights=getattr(self.measurement, "uses_transfer", True))
        self._tilt = inputs.tilt
        self._volumes: dict[int, np.ndarray] = {}
        self.models: dict[int, Any] = {}
        self.frames = [RigidTransform.identity()] * len(inputs.particles)

    def __call__(self, row: int) -> np.ndarray:
        if row not in self._volumes:
            box = self.reader(row)
            self._volumes[row] = box.volume
            self.frames[row] = box.frame
            self.models[row] = self.measurement.build(box.acquisition(self._tilt(row)))
        return self._volumes[row]

    def __enter__(self) -> "Subtomograms":
        return self

    def __exit__(self, *exc) -> None:
        self.reader.close()


def accumulate(inputs: RefineInputs, volumes: Subtomograms, rows, rotations: np.ndarray,
               shifts: np.ndarray) -> WedgeAccumulator:
    """The wedge-compensated sums of particles ``rows`` at poses ``(rotations[i], shifts[i])``,
    added in the order of ``rows`` (so a resumed run sums the same numbers in the same order).

    Parameters
    ----------
    inputs : RefineInputs
    volumes : Subtomograms
    rows : sequence of int
    rotations : ndarray of shape (n, 3, 3)
    shifts : ndarray of shape (n, 3)
        Voxels; every particle of the set (indexed by row).
    """
    total = WedgeAccumulator(inputs.box)
    for row in rows:
        volume = volumes(row)
        pose = volumes.frames[row].compose(RigidTransform(rotations[row], shifts[row]))
        total.add(volume, pose.inverse(), volumes.models[row])
    return total


def prepare_reference(volume: np.ndarray, inputs: RefineInputs, resolution: float,
                      correlation: np.ndarray | None = None) -> np.ndarray:
    """A map made ready to align to: symmetrized, filtered, masked; float32 ``[z, y, x]``
    (exactly what is written and sent to the workers). Filtered: low-passed to
    ``resolution`` Angstrom, or, given its half-set FSC ``correlation`` (shape (N // 2,)),
    Wiener-filtered by it (:func:`~subalign.workflows.fsc.fsc_weighted`)."""
    symmetric = symmetrize(volume, inputs.symmetry)
    filtered = (lowpass(symmetric, inputs.pixel_size / resolution) if correlation is None
                else fsc_weighted(symmetric, correlation))
    return (filtered * inputs.mask).astype(np.float32)


def local_search_at(inputs: RefineInputs, schedule, resolution: float) -> dict:
    """The local search after a round at ``resolution`` Angstrom
    (:class:`~subalign.workflows.rounds.config.ScheduleConfig`): ``cone_deg``,
    ``spacing_deg``, ``max_shift_voxels``, ``keep`` as the batch worker takes them."""
    step = max(float(np.degrees(resolution / (2 * inputs.radius * inputs.pixel_size))),
               float(schedule.min_step_deg))
    cone = float(np.clip(schedule.cone_steps * step, schedule.min_cone_deg, schedule.max_cone_deg))
    shift = float(np.clip(schedule.shift_resolutions * resolution / inputs.pixel_size,
                          schedule.min_shift_voxels, schedule.max_shift_voxels))
    return {"cone_deg": cone, "spacing_deg": min(step, cone), "max_shift_voxels": shift,
            "keep": int(schedule.keep)}


def align_pass(inputs: RefineInputs, run: RunExecutor, *, rows: np.ndarray,
               reference: np.ndarray, prior_rotations: np.ndarray, prior_shifts: np.ndarray,
               local: dict | None, directory: Path, name: str, label: str,
               clock: JobClock | None = None,
               reference_tilt: tuple[float, float] = (-90.0, 90.0)) -> np.ndarray:
    """Align particles ``rows`` to ``reference``, resumably; their new poses and scores.

    Parameters
    ----------
    inputs : RefineInputs
    run : RunExecutor
    rows : ndarray of int, shape (m,)
        Particles of the set.
    reference : ndarray of shape (N, N, N)
        float32.
    prior_rotations : ndarray of shape (n, 3, 3)
    prior_shifts : ndarray of shape (n, 3)
        Every particle's current pose (the set's convention); the centre of a local search.
    local : dict or None
        :func:`local_search_at`'s settings, or None for a global search.
    directory : Path
        Where ``<name>.pkl`` (the workers' context) and ``<name>.bin`` (the store) go.
    name, label : str
        File stem; the progress log's label.
    clock : JobClock, optional
    reference_tilt : (float, float)
        The reference's tilt range (a particle's, when the reference is one).

    Returns
    -------
    ndarray of shape (m, len(FIELDS))
        Row ``k``: particle ``rows[k]``'s new pose (rotation row by row, shift in voxels),
        score, confidence, seconds, optimizer steps, candidates
        (:data:`~subalign.workflows.batch.worker.FIELDS`).
    """
    rows = np.asarray(rows, dtype=np.int64)
    subset = replace(inputs.particles.take(rows), rotations=prior_rotations[rows],
                     shifts=prior_shifts[rows])
    context = BatchContext(mode="reference", align=inputs.align, particles=subset,
                           tilts=inputs.tilts[rows], box_size=inputs.box, edge=inputs.edge,
                           reference=np.asarray(reference, dtype=np.float32),
                           reference_tilt=[float(a) for a in reference_tilt],
                           pairs=np.zeros((0, 2), dtype=np.int64), local=local,
                           stamps=[inputs.checked.stamps[r] for r in rows])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.pkl"
    task = BatchTask(str(path.resolve()), write_context(context, path))
    with ArrayLog(directory / f"{name}.bin", FIELDS, len(rows)) as store:
        if not store.present.all():
            executor, window = run.get()
            map_resumable(task, range(len(rows)), store, executor=executor, window=window,
                          label=label, clock=clock, collect=False)
        return store.values.copy()
