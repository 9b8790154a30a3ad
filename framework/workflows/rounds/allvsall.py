"""``subalign classify mode=all``: classes from the all-vs-all matrix (the paper's Figure 6).

Every pair of the set is aligned by ``subalign batch mode=all``
(:func:`~subalign.workflows.batch.run.run_batch`, into ``output_dir/all_vs_all``, resumable like
any batch), its dissimilarity matrix is clustered by average linkage into ``classes``
clusters (:func:`~subalign.workflows.batch.clustering.cluster`), and each cluster is averaged in
the frame of its medoid (the member with the least summed dissimilarity to the others,
:func:`~subalign.workflows.rounds.classes.medoid_frames`). Written to ``output_dir``: the particle
set with each particle's class and its pose against its class average (the medoid's box is
the class frame), the class averages with their half-map FSC and figures
(:mod:`subalign.workflows.rounds.classes`), ``report.md``.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from omegaconf import OmegaConf

from subalign.numerics.geometry import RigidTransform
from subalign.workflows.batch.run import run_batch
from subalign.workflows.rounds.classes import class_maps, medoid_frames, truth_agreement, write_class_maps
from subalign.workflows.batch.clustering import cluster
from subalign.workflows.batch.config import BatchConfig
from subalign.workflows.rounds.passes import RunExecutor, Subtomograms
from subalign.workflows.rounds.outputs import write_round_log
from subalign.workflows.rounds.loop import RoundState, assign_half_sets, write_round_set
from subalign.workflows.rounds.report import write_report

__all__ = ["run_all_vs_all"]

#: Settings of a classify config that ``subalign batch`` has no use for, or sets itself.
_NOT_BATCH = ("output_dir", "output", "to", "classes", "local")


def batch_config(config, output_dir, classes: int):
    """The ``subalign batch mode=all`` config of a classify ``config``: its set, align
    settings and executor, the matrix written into ``output_dir``."""
    shared = [f.name for f in dataclasses.fields(BatchConfig) if f.name in config
              and f.name not in _NOT_BATCH]
    values = {name: OmegaConf.to_container(config[name], resolve=True)
              if OmegaConf.is_config(config[name]) else config[name] for name in shared}
    values.update(mode="all", classes=int(classes), output_dir=str(output_dir),
                  histogram=bool(config.figures))
    return OmegaConf.merge(OmegaConf.structured(BatchConfig), values)


def _all_pairs(plan, run: RunExecutor, command: str | None):
    """``subalign batch mode=all`` of the plan's set into ``all_vs_all/`` (on the run's
    executor, or one thread in this process)."""
    executor, window = run.get()
    pool = ThreadPoolExecutor(max_workers=1) if executor is None else None
    try:
        return run_batch(batch_config(plan.config, plan.inputs.output_dir / "all_vs_all",
                                      plan.classes),
                         executor=executor or pool, window=window or 1, command=command)
    finally:
        if pool is not None:
            pool.shutdown()


def run_all_vs_all(plan, run: RunExecutor, command: str | None) -> tuple[dict, int]:
    """Mode ``all`` of a checked classify ``plan`` (module docstring).

    Returns
    -------
    dict
        ``classes`` (sizes), ``class_resolution``, ``truth`` (ARI, with a truth set),
        ``seconds`` (of the all-vs-all run), ``files``.
    int
        1 if the matrix was computed (in part) by this call, else 0.
    """
    inputs = plan.inputs
    output_dir = inputs.output_dir
    batch = _all_pairs(plan, run, command)
    matrices = output_dir / "all_vs_all"
    dissimilarity = np.load(matrices / "dissimilarity.npy").astype(float)
    transforms = np.load(matrices / "transforms.npy").astype(float)
    labels = cluster(dissimilarity, plan.classes)
    n = len(inputs.particles)
    rotations, shifts = np.zeros((n, 3, 3)), np.zeros((n, 3))
    halves, _ = assign_half_sets(inputs.particles.fields["half_set"].to_numpy(),
                                 int(plan.config.half_set_seed))

    def onto(i: int, j: int) -> RigidTransform:
        return RigidTransform(transforms[i, j, :, :3], transforms[i, j, :, 3])

    with Subtomograms(inputs) as volumes:
        for medoid, members in medoid_frames(labels, dissimilarity, onto).values():
            for row, transform in members:
                volumes(row)  # reads the box, and its frame
                box_pose = transform.inverse()  # the class average (medoid frame) onto the box
                pose = volumes.frames[row].inverse().compose(box_pose)
                rotations[row], shifts[row] = pose.rotation, pose.translation
        state = RoundState(rotations, shifts, halves, labels.astype(np.int64),
                           np.full(n, np.nan), np.full(n, np.nan))
        maps = class_maps(inputs, volumes, state.class_number, plan.classes, halves,
                          rotations, shifts)
    figures = bool(plan.config.figures)
    files = write_class_maps(output_dir, maps, inputs.pixel_size, figures=figures,
                             title="all-vs-all")
    files["particles"] = write_round_set(inputs, state, output_dir).name
    seconds = float(batch.summary["seconds"])
    record = {"number": 1, "search": f"all-vs-all ({batch.summary['count']} pairs)",
              "particles": n, "classes": [m.size for m in maps],
              "class_resolution": [m.resolution for m in maps], "seconds": seconds,
              "seconds_per_particle": seconds / n, "files": files}
    agreement = truth_agreement(inputs, state.class_number)
    if agreement is not None:
        record["truth"] = agreement
    write_round_log(output_dir, [record])
    if figures:
        files["report"] = write_report(output_dir, [record], kind="classify",
                                       pixel_size=inputs.pixel_size, command=command, best=0,
                                       stop="all pairs aligned and clustered",
                                       figure=files.get("class_averages")).name
    return ({"classes": record["classes"], "class_resolution": record["class_resolution"],
             "truth": agreement, "seconds": seconds, "files": files}, int(batch.ran > 0))
