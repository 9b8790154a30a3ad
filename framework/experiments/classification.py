"""Figure 6: subtomograms of several complexes, all pairs aligned, then clustered.

Class ``c`` is ``classification.structures[c]`` made into a map at
``classification.resolution_nm``; subtomogram ``k`` (class ``k // per_class``) is particle
``k`` of the job's simulation of its class's map. Every pair ``i < j`` is aligned (``j``
onto ``i``). The dissimilarity before alignment is the configured score at the identity
transform; after, the aligned score. Average-linkage hierarchical clustering of the aligned
matrix into as many clusters as classes is compared with the truth by the adjusted Rand
index; each cluster is averaged (wedge-compensated) in the frame of its medoid.
"""

from __future__ import annotations

import logging
from functools import partial
from itertools import combinations
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from subalign.align.pair import align_pair
from subalign.workflows.rounds.classes import medoid_frames
from subalign.workflows.batch.clustering import adjusted_rand_index, cluster
from subalign.workflows.averaging import wedge_compensated_average
from subalign.simulation.density import density_from_structure
from subalign.numerics.geometry import RigidTransform
from subalign.io.mrc import write_volume
from subalign.plugin.manager import default_plugin_set
from subalign.simulation.simulate import simulate_particle
from subalign.numerics.wedge import TiltRange
from subalign.experiments.pairs import align_config, cell_of, job_simulation
from subalign.execution import JobClock, RowLog, map_resumable, process_executor

__all__ = ["adjusted_rand_index", "cluster", "run_classification"]

log = logging.getLogger("subalign")


def _densities(config: DictConfig) -> list[np.ndarray]:
    settings = config.classification
    directory = Path(settings.structures_dir)
    return [density_from_structure(path if Path(path).is_absolute() else directory / path,
                                   voxel_size_nm=float(config.simulation.voxel_size_nm),
                                   resolution_nm=float(settings.resolution_nm),
                                   size=int(config.simulation.size))
            for path in settings.structures]


# Subtomograms already made in this process: every one takes part in n - 1 pairs, and
# a worker would otherwise simulate it again for each (keys carry the whole job config).
_MADE: dict[tuple, np.ndarray] = {}


def _subtomogram(config: DictConfig, densities: list, index: int) -> np.ndarray:
    """Subtomogram ``index`` of the job (class ``index // per_class``), made once per process."""
    key = (OmegaConf.to_yaml(config), index)
    if key not in _MADE:
        per_class = int(config.classification.per_class)
        particle = simulate_particle(job_simulation(config), densities[index // per_class], index)
        _MADE[key] = particle.subtomogram.volume
    return _MADE[key]


def classification_row(config: DictConfig, densities: list, pairs: list, index: int) -> dict:
    """Align pair ``pairs[index] = (i, j)``: ``j`` onto ``i``; scores before and after."""
    i, j = pairs[index]
    fixed = _subtomogram(config, densities, i)
    moving = _subtomogram(config, densities, j)
    job = align_config(config)
    score = default_plugin_set().create("score", job.score)
    tilt = TiltRange(-float(config.tilt), float(config.tilt))
    before = score.prepare(fixed, moving, tilt, tilt).value(RigidTransform.identity())
    result = align_pair(job, fixed, moving)
    return {"index": index, "i": i, "j": j, "before": float(before),
            "after": result.score_value, "transform": result.transform.to_record(),
            "seconds": result.seconds}


def _matrix(rows: list, count: int, key: str) -> np.ndarray:
    matrix = np.zeros((count, count))
    for row in rows:
        matrix[row["i"], row["j"]] = matrix[row["j"], row["i"]] = row[key]
    return matrix


def _class_averages(config, densities, rows, labels, output_dir) -> list[str]:
    """Wedge-compensated average of each cluster in the frame of its medoid."""
    count, tilt = len(labels), TiltRange(-float(config.tilt), float(config.tilt))
    transforms = {(r["i"], r["j"]): RigidTransform.from_record(r["transform"]) for r in rows}

    def onto(i: int, j: int) -> RigidTransform:
        return transforms[(i, j)] if (i, j) in transforms else transforms[(j, i)].inverse()

    files = []
    frames = medoid_frames(np.asarray(labels), _matrix(rows, count, "after"), onto)
    for label, (_, members) in frames.items():
        volumes = [_subtomogram(config, densities, k) for k, _ in members]
        average = wedge_compensated_average(volumes, [t for _, t in members],
                                            [tilt] * len(members))
        name = f"class_{label}_average.mrc"
        write_volume(output_dir / name, average,
                     voxel_size=float(config.simulation.voxel_size_nm) * 10)
        files.append(name)
    return files


def run_classification(config: DictConfig, output_dir: Path, *,
                       clock: JobClock | None = None) -> dict:
    """Kind ``classification``: all-pairs alignment, clustering, ARI and class averages."""
    densities = _densities(config)
    per_class, n_classes = int(config.classification.per_class), len(densities)
    count = per_class * n_classes
    truth = np.repeat(np.arange(n_classes), per_class)
    pairs = list(combinations(range(count), 2))
    rows = RowLog(output_dir / "rows.jsonl")
    with process_executor(int(config.workers)) as executor:
        done = map_resumable(partial(classification_row, config, densities, pairs),
                             range(len(pairs)), rows, executor=executor,
                             label=f"{config.name} ({count} subtomograms)", clock=clock)
    matrices = {key: _matrix(done, count, key) for key in ("before", "after")}
    labels = {key: cluster(matrix, n_classes) for key, matrix in matrices.items()}
    ari = {key: adjusted_rand_index(truth, labels[key]) for key in labels}
    files = _class_averages(config, densities, done, labels["after"], output_dir)
    log.info("%s: adjusted Rand index %.3f before alignment, %.3f after", config.name,
             ari["before"], ari["after"])
    structures = OmegaConf.to_container(config.classification.structures)
    return {"cell": {**cell_of(config), "structures": structures, "per_class": per_class},
            "n_pairs": len(pairs),
            "summary": {"adjusted_rand_index": ari, "truth": truth.tolist(),
                        "labels": {k: v.tolist() for k, v in labels.items()},
                        "matrices": {k: v.tolist() for k, v in matrices.items()},
                        "class_averages": files}}
