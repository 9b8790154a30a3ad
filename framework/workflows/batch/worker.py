"""What a worker does for one item of a batch: read its subtomograms, align, return a row.

The client writes everything the items share (the particle set, the reference map, the
align config, the pair list) once into ``context.pkl`` in the output directory
(:func:`write_context`); a task carries only that file's path and SHA-256
(:class:`BatchTask`), and each worker process loads it once, on its first task, and keeps it
(keyed by the checksum, so a worker serving several runs keeps each apart). Subtomograms
travel as paths: the worker reads (or crops) its own. Workers therefore need the particle
files and the output directory at the same paths as the client (one machine, or a shared
file system on a cluster).

Pose composition (mode ``reference``): particle ``i``'s pose ``P`` maps the reference onto
the particle (:mod:`subalign.io.particles`). Aligning the particle (moving) onto the
reference (fixed) finds ``T`` with ``T`` applied to the particle matching the reference, so
``T ~ P^-1`` and the new pose is ``T^-1`` for the box; the box's frame (the sub-voxel
remainder of a cropped box, the tilt frame of a box made from a 2-D stack,
:attr:`subalign.io.subtomograms.Subtomogram.frame`) is taken back out of it for the set.
Modes ``all`` and ``pairs`` keep ``T`` itself: the transform that maps ``moving``'s box onto
``fixed``'s, as in ``alignment.json``.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from subalign.align.pair import AlignmentResult, align_pair
from subalign.errors import SubalignError
from subalign.execution.tasks import TaskError
from subalign.io.files import atomic_path
from subalign.io.particles import ParticleSet
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.geometry import RigidTransform, matrix_to_euler_zyz
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import default_plugin_set

__all__ = ["FIELDS", "BatchContext", "BatchTask", "context_loads", "row_transform",
           "write_context"]

#: The values stored per item (:class:`subalign.execution.ArrayLog`): the transform's
#: rotation row by row and translation (mode ``reference``: the new pose), the score,
#: the confidence (NaN: none), the alignment's seconds, optimizer steps and candidates.
FIELDS = (*(f"r{i}{j}" for i in range(3) for j in range(3)), "tx", "ty", "tz", "score",
          "confidence", "seconds", "steps", "candidates")

#: Volumes kept per worker for the pair modes (each particle is in many pairs).
VOLUME_CACHE = 256


@dataclass
class BatchContext:
    """What every item of a batch shares (written once, read once per worker).

    Attributes
    ----------
    mode : {"reference", "all", "pairs"}
    align : dict
        The merged ``align`` config as plain containers; wedges are set per item.
    particles : ParticleSet
    tilts : ndarray of shape (n, 2)
        Each particle's tilt range, degrees.
    box_size : int or None
    edge : str
    reference : ndarray of shape (N, N, N) or None
        ``[z, y, x]`` float32.
    reference_tilt : list of float
        ``[min, max]``; ``[-90, 90]`` for none missing.
    pairs : ndarray of shape (P, 2)
        ``(fixed, moving)`` rows of the pair modes (empty for ``reference``).
    local : dict or None
        The local search (``cone_deg``, ``spacing_deg``, ``max_shift_voxels``, ``keep``),
        None for a global one.
    stamps : list or None
        The particles' file stamps (:mod:`subalign.workflows.particle_files`): a context whose
        files changed is another context, so a worker that outlives a run never serves a box
        it read from an earlier version of a file.
    """

    mode: str
    align: dict
    particles: ParticleSet
    tilts: np.ndarray
    box_size: int | None
    edge: str
    reference: np.ndarray | None
    reference_tilt: list
    pairs: np.ndarray
    local: dict | None
    stamps: list | None = None


def write_context(context: BatchContext, path: str | Path) -> str:
    """Pickle ``context`` to ``path`` atomically; returns the SHA-256 of its bytes."""
    data = pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL)
    with atomic_path(path) as temporary:
        Path(temporary).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def measurement_plugin(align: dict):
    """The ``measurement`` plugin an ``align`` config names (default ``ctf``)."""
    return default_plugin_set().create("measurement", align.get("measurement") or {"name": "ctf"})


class _Worker:
    """One context loaded in one process, with its reader and a cache of volumes."""

    def __init__(self, context: BatchContext) -> None:
        self.context = context
        self.measurement = measurement_plugin(context.align)
        self.reader = SubtomogramReader(
            context.particles, box_size=context.box_size, edge=context.edge,
            weights=getattr(self.measurement, "uses_transfer", True))
        self.volumes: OrderedDict[int, Any] = OrderedDict()

    def subtomogram(self, index: int):
        """Particle ``index``'s box and its measurement model, remembered."""
        if index in self.volumes:
            self.volumes.move_to_end(index)
            return self.volumes[index]
        box = self.reader(index)
        tilt = TiltRange(*(float(a) for a in self.context.tilts[index]))
        self.volumes[index] = box, self.measurement.build(box.acquisition(tilt))
        if len(self.volumes) > VOLUME_CACHE:
            self.volumes.popitem(last=False)
        return self.volumes[index]

    def settings(self, fixed: int | None, moving: int) -> dict:
        """The align config of one item: its two wedges set."""
        tilts = self.context.tilts
        config = dict(self.context.align)
        fixed_tilt = self.context.reference_tilt if fixed is None else list(tilts[fixed])
        config["fixed_wedge"] = {"tilt_range_deg": [float(a) for a in fixed_tilt]}
        config["moving_wedge"] = {"tilt_range_deg": [float(a) for a in tilts[moving]]}
        return config

    def run(self, item: int) -> dict:
        context = self.context
        if context.mode == "reference":
            box, model = self.subtomogram(item)
            config = self.settings(None, item)
            if context.local is not None:
                config.update(local_search(box.pose.inverse(), context.local))
            with naming(context.particles, item):
                result = align_pair(config, context.reference, box.volume,
                                    models=(TiltRange(*context.reference_tilt), model))
            found = result.transform.inverse()
            return row_of(item, box.set_pose(found), result)
        fixed, moving = (int(k) for k in context.pairs[item])
        (fixed_box, fixed_model), (moving_box, moving_model) = (self.subtomogram(fixed),
                                                                self.subtomogram(moving))
        with naming(context.particles, fixed, moving):
            result = align_pair(self.settings(fixed, moving), fixed_box.volume, moving_box.volume,
                                models=(fixed_model, moving_model))
        return row_of(item, result.transform, result)


class _Prefix(logging.Filter):
    """Puts a fixed text before the message of every record it passes."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = f"{self.prefix}: {record.msg}"
        return True


@contextmanager
def naming(particles: ParticleSet, *rows: int) -> Iterator[None]:
    """Put the particles' rows and files before the warnings an alignment logs and before
    the message of its error (``"low confidence 0.12"`` or ``"moving: expected a volume
    with contrast"`` alone name no particle)."""
    names = ", ".join(f"row {row + 1} ({particles.fields['subtomogram'].iloc[row] or 'cropped'})"
                      for row in rows)
    prefix = _Prefix(f"{particles.label}: {names}")
    logger = logging.getLogger("subalign")
    logger.addFilter(prefix)
    try:
        yield
    except SubalignError as exc:
        raise type(exc)(f"{particles.label}: {names}: {exc}") from None
    finally:
        logger.removeFilter(prefix)


def local_search(prior: RigidTransform, local: dict) -> dict:
    """The align fields of a search around ``prior`` (the expected ``T``): the ``cone``
    constraint about its rotation, ``so3_uniform`` candidates within it, the scan keeping
    ``keep``, translations up to ``|prior shift| + max_shift_voxels``."""
    return {
        "constraint": {"name": "cone",
                       "centre_zyz_deg": [float(a) for a in matrix_to_euler_zyz(prior.rotation)],
                       "cone_deg": float(local["cone_deg"])},
        "sampler": {"name": "so3_uniform", "spacing_deg": float(local["spacing_deg"])},
        "scan": {"keep": int(local["keep"])},
        "max_shift_voxels": float(np.linalg.norm(prior.translation)
                                  + float(local["max_shift_voxels"])),
    }


def row_of(item: int, transform: RigidTransform, result: AlignmentResult) -> dict:
    """The stored row of one item (:data:`FIELDS`)."""
    values = [*transform.rotation.ravel(), *transform.translation, result.score_value,
              np.nan if result.confidence is None else result.confidence, result.seconds,
              result.lm_steps, result.n_candidates]
    return {"index": int(item), **{f: float(v) for f, v in zip(FIELDS, values)}}


def row_transform(values: np.ndarray) -> RigidTransform:
    """The transform of a stored row's values (:data:`FIELDS` order)."""
    values = np.asarray(values, dtype=float)
    return RigidTransform(values[:9].reshape(3, 3), values[9:12])


_LOADED: OrderedDict[str, _Worker] = OrderedDict()
_LOADS = [0]


def context_loads() -> int:
    """How many contexts this process has loaded (a worker loads each run's once)."""
    return _LOADS[0]


def _worker(path: str, sha256: str) -> _Worker:
    if sha256 in _LOADED:
        return _LOADED[sha256]
    data = Path(path).read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise SubalignError(f"{path}: expected the batch context with SHA-256 {sha256[:12]}..., "
                            f"found {found[:12]}... (another run rewrote it; rerun the command)")
    _LOADED[sha256] = _Worker(pickle.loads(data))
    _LOADS[0] += 1
    while len(_LOADED) > 2:
        _LOADED.popitem(last=False)[1].reader.close()
    return _LOADED[sha256]


@dataclass(frozen=True)
class BatchTask:
    """The task of a batch: ``task(item) -> row``; pickles as a path and a checksum.

    Attributes
    ----------
    path : str
        The ``context.pkl`` of the run.
    sha256 : str
        Its checksum: the key of the worker's cache.
    """

    path: str
    sha256: str

    def __call__(self, item: int) -> dict | TaskError:
        try:
            return _worker(self.path, self.sha256).run(int(item))
        except SubalignError as exc:  # bad data found in the worker: one line, no traceback
            return TaskError(str(exc))
