"""A finished batch's files, made from its store of rows (:data:`~subalign.workflows.batch.worker.FIELDS`).

Mode ``reference``
    ``aligned.<suffix>`` (or ``output``): the particle set with the new poses and each
    particle's score in the format's score column where it has one; ``alignments.csv``:
    one line per particle (row, tag, new pose as ZYZ degrees and shift in voxels, score,
    confidence, seconds), in every format.
Mode ``all``
    ``dissimilarity.npy`` (n, n) float32: the aligned score of pair ``(i, j)``, symmetric,
    0 on the diagonal; ``confidence.npy`` (n, n) float32 (1 on the diagonal);
    ``transforms.npy`` (n, n, 3, 4) float32: ``[R | t]`` mapping particle ``j`` onto ``i``
    (the pair ``i < j`` as aligned, ``j > i`` its inverse); 1,000 particles take 56 MB. With
    ``classes``, the particle set with each particle's class (average linkage).
Mode ``pairs``
    ``pairs.csv``: per pair the rows, the transform mapping ``moving`` onto ``fixed``
    (ZYZ degrees, translation voxels), score, confidence, and the errors against the pair
    list's truths when it has them.
Every mode: ``scores.png`` (histogram of the scores) unless ``histogram=false``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import numpy as np

from subalign.align.pair import LOW_CONFIDENCE
from subalign.execution.arraylog import ArrayLog
from subalign.io.figures import pyplot, save_figure
from subalign.io.files import atomic_path
from subalign.io.formats import write_particles
from subalign.numerics.geometry import matrix_to_euler_zyz, rotation_distance_deg
from subalign.workflows.batch.clustering import cluster
from subalign.workflows.batch.plan import BatchPlan

__all__ = ["GROSS_FAILURE_DEG", "write_outputs"]

#: A rotation error above this (degrees) is a gross failure.
GROSS_FAILURE_DEG = 20.0


def _write_csv(path: Path, header: list[str], rows) -> Path:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text.getvalue())
    return path


def _save_npy(path: Path, array: np.ndarray) -> Path:
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.save(handle, array)
    return path


def _poses(store: ArrayLog) -> tuple[np.ndarray, np.ndarray]:
    values = store.values
    return values[:, :9].reshape(-1, 3, 3), values[:, 9:12]


def _pose_columns(rotations: np.ndarray, translations: np.ndarray, store: ArrayLog) -> list:
    angles = matrix_to_euler_zyz(rotations)
    return [angles[:, 0], angles[:, 1], angles[:, 2], translations[:, 0], translations[:, 1],
            translations[:, 2], store.column("score"), store.column("confidence"),
            store.column("seconds")]


_POSE_HEADER = ["phi_deg", "theta_deg", "psi_deg", "x_voxels", "y_voxels", "z_voxels", "score",
                "confidence", "seconds"]


def _reference_outputs(plan: BatchPlan, store: ArrayLog) -> dict:
    particles = plan.context.particles
    rotations, shifts = _poses(store)
    fields = particles.fields.copy()
    fields["score"] = store.column("score")
    aligned = replace(particles, rotations=rotations, shifts=shifts, fields=fields)
    write_particles(aligned, plan.output, plan.output_format)
    columns = _pose_columns(rotations, shifts, store)
    rows = zip(range(len(particles)), fields["tag"].to_numpy(), *columns)
    table = _write_csv(plan.output_dir / "alignments.csv", ["row", "tag", *_POSE_HEADER], rows)
    return {"particles": str(plan.output), "format": plan.output_format, "table": str(table)}


def pair_matrices(pairs: np.ndarray, store: ArrayLog, count: int) -> dict[str, np.ndarray]:
    """The all-vs-all matrices of mode ``all`` (module docstring), float32."""
    first, second = pairs[:, 0], pairs[:, 1]
    rotations, translations = _poses(store)
    dissimilarity = np.zeros((count, count), dtype=np.float32)
    confidence = np.ones((count, count), dtype=np.float32)
    for matrix, values in ((dissimilarity, store.column("score")),
                           (confidence, store.column("confidence"))):
        matrix[first, second] = values
        matrix[second, first] = values
    transforms = np.zeros((count, count, 3, 4), dtype=np.float32)
    transforms[np.arange(count), np.arange(count), :, :3] = np.eye(3)
    transforms[first, second, :, :3] = rotations
    transforms[first, second, :, 3] = translations
    inverse = np.swapaxes(rotations, 1, 2)
    transforms[second, first, :, :3] = inverse
    transforms[second, first, :, 3] = -np.einsum("kij,kj->ki", inverse, translations)
    return {"dissimilarity": dissimilarity, "confidence": confidence, "transforms": transforms}


def _all_outputs(plan: BatchPlan, store: ArrayLog, classes: int | None) -> dict:
    particles = plan.context.particles
    matrices = pair_matrices(plan.context.pairs, store, len(particles))
    files = {name: str(_save_npy(plan.output_dir / f"{name}.npy", matrix))
             for name, matrix in matrices.items()}
    if classes is not None:
        labels = cluster(matrices["dissimilarity"], int(classes))
        fields = particles.fields.copy()
        fields["class_number"] = labels
        write_particles(replace(particles, fields=fields), plan.output, plan.output_format)
        files.update(particles=str(plan.output), format=plan.output_format,
                     class_sizes={int(k): int(v) for k, v in zip(*np.unique(labels,
                                                                          return_counts=True))})
    return files


def _pairs_outputs(plan: BatchPlan, store: ArrayLog) -> tuple[dict, dict]:
    pairs = plan.context.pairs
    names = plan.context.particles.fields["subtomogram"].to_numpy()
    rotations, translations = _poses(store)
    columns = _pose_columns(rotations, translations, store)
    header = ["fixed_row", "moving_row", "fixed", "moving", *_POSE_HEADER]
    errors = {}
    if plan.truths is not None:
        truth_rotations = np.stack([t.rotation for t in plan.truths])
        truth_translations = np.stack([t.translation for t in plan.truths])
        rotation_errors = rotation_distance_deg(rotations, truth_rotations)
        translation_errors = np.linalg.norm(translations - truth_translations, axis=1)
        columns += [rotation_errors, translation_errors]
        header += ["rotation_error_deg", "translation_error_voxels"]
        errors = {"median_rotation_error_deg": float(np.median(rotation_errors)),
                  "median_translation_error_voxels": float(np.median(translation_errors)),
                  "gross_failures": int(np.sum(rotation_errors > GROSS_FAILURE_DEG)),
                  "gross_failure_deg": GROSS_FAILURE_DEG}
    rows = zip(pairs[:, 0], pairs[:, 1], names[pairs[:, 0]], names[pairs[:, 1]], *columns)
    return {"table": str(_write_csv(plan.output_dir / "pairs.csv", header, rows))}, errors


def _histogram(scores: np.ndarray, path: Path, label: str) -> Path:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5, 3.2))
    axes.hist(scores[np.isfinite(scores)], bins=min(50, max(5, len(scores) // 4)),
              color="#4477aa")
    axes.set_xlabel("aligned score (lower: more alike)")
    axes.set_ylabel("count")
    axes.set_title(label)
    return save_figure(figure, path)


def write_outputs(plan: BatchPlan, store: ArrayLog, *, classes: int | None = None,
                  histogram: bool = True) -> dict:
    """Write the files of a finished batch (module docstring).

    Returns
    -------
    dict
        ``files`` (what was written), ``scores`` (median, min, max), ``confidence`` (median,
        ``low``: how many are below ``threshold``, the one
        :data:`~subalign.align.pair.LOW_CONFIDENCE` every alignment flags in the log) and,
        for a pair list with truths, ``errors`` (medians and gross failures).
    """
    mode = plan.context.mode
    errors: dict = {}
    if mode == "reference":
        files = _reference_outputs(plan, store)
    elif mode == "all":
        files = _all_outputs(plan, store, classes)
    else:
        files, errors = _pairs_outputs(plan, store)
    scores, confidence = store.column("score"), store.column("confidence")
    if histogram:
        files["histogram"] = str(_histogram(scores, plan.output_dir / "scores.png",
                                            f"subalign batch, mode {mode}: {len(scores)} items"))
    summary = {"files": files,
               "scores": {"median": float(np.median(scores)), "min": float(np.min(scores)),
                          "max": float(np.max(scores))},
               "confidence": {"median": float(np.nanmedian(confidence))
                              if np.isfinite(confidence).any() else None,
                              "low": int(np.sum(confidence < LOW_CONFIDENCE)),
                              "threshold": LOW_CONFIDENCE}}
    if errors:
        summary["errors"] = errors
    return summary
