"""Pairwise experiments: accuracy (Tables 1-4), convergence (Figure 3), speed-up (Figure 4).

Pair ``k`` of a cell is particles ``(2k, 2k + 1)`` of the simulation with the job's seed,
SNR and tilt, so every score, sampler or refiner swept over a cell sees the same volumes,
and cells differing only in SNR or tilt share the poses.
"""

from __future__ import annotations

import dataclasses
import logging
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from subalign.plugin.hookspecs import hookimpl
from subalign.align.config import AlignConfig
from subalign.align.pair import align_pair
from subalign.numerics.geometry import transform_errors
from subalign.plugin.manager import PluginSet, build_plugin_set, default_plugin_set
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config
from subalign.execution import JobClock, RowLog, map_resumable, process_executor
from subalign.experiments.records import median_mad

__all__ = ["align_config", "cell_of", "job_simulation", "run_pairs", "speedup", "steps_to_optimum"]

log = logging.getLogger("subalign")


def job_simulation(config: DictConfig) -> DictConfig:
    """The job's simulation config, with ``imaging.snr`` and the tilt range from the cell."""
    tilt = float(config.tilt)
    return simulation_config(OmegaConf.merge(config.simulation, {
        "imaging": {"snr": float(config.snr), "tilt_range_deg": [-tilt, tilt]}}))


def align_config(config: DictConfig, pair=None) -> DictConfig:
    """The ``align`` part of a job config, with the cell's wedge (and true axes if asked)."""
    tilt = float(config.tilt)
    every = OmegaConf.to_container(config, resolve=True)
    plain = {f.name: every[f.name] for f in dataclasses.fields(AlignConfig) if f.name in every}
    plain["wedge"] = {"tilt_range_deg": [-tilt, tilt]}
    plain["fixed_wedge"] = plain["moving_wedge"] = {"tilt_range_deg": None}
    if config.axis_from_truth:
        if pair is None:
            raise ValueError("axis_from_truth needs the pair's poses")
        plain["constraint"] = {"name": "axis",
                               "fixed_axis": pair.fixed_pose.rotation[:, 2].tolist(),
                               "moving_axis": pair.moving_pose.rotation[:, 2].tolist()}
    return OmegaConf.create(plain)


def cell_of(config: DictConfig) -> dict:
    """What identifies a job's cell in reports."""
    constraint = "axis" if config.axis_from_truth else str(config.constraint.name)
    return {"score": str(config.score.name), "sampler": str(config.sampler.name),
            "sampling_deg": config.sampler.get("interval_deg"),
            "refiner": str(config.refiner.name), "constraint": constraint,
            "snr": float(config.snr), "tilt": float(config.tilt)}


class _TraceRecorder:
    """Observer: the record minimum and its transform's error after every step (of the
    pair whose truth :meth:`follow` set)."""

    def __init__(self) -> None:
        self.follow(None)

    def follow(self, truth) -> None:
        """Start recording a new pair with true transform ``truth``."""
        self.truth, self.record, self.rotation, self.translation = truth, [], [], []

    @hookimpl
    def subalign_candidate_step(self, record, record_transform):
        self.record.append(float(record))
        errors = (np.nan, np.nan) if record_transform is None else transform_errors(
            record_transform, self.truth)
        self.rotation.append(errors[0])
        self.translation.append(errors[1])


def steps_to_optimum(trace: list, *, fraction: float = 0.99) -> int:
    """Steps until the record minimum has made ``fraction`` of its total improvement.

    A record minimum keeps creeping down by tiny amounts while the best candidate is
    polished; the optimum counts as found once ``record <= final + (1 - fraction) *
    (first - final)``.
    """
    trace = np.asarray(trace, dtype=float)
    if trace.size == 0:
        return 0
    first, final = trace[0], trace[-1]
    return int(np.argmax(trace <= final + (1 - fraction) * (first - final))) + 1


def speedup(row: dict) -> float:
    """Figure 4's ratio for a ``speedup`` row: the steps the baseline (independent
    refinement) takes to refine every candidate, which is what it costs to know the optimum,
    over the steps the stochastic refinement takes until its record reaches the optimum."""
    return row["baseline"]["search_steps"] / max(row["search_steps_to_optimum"], 1)


@lru_cache(maxsize=1)
def _recording() -> tuple[PluginSet, _TraceRecorder]:
    """The installed plugins with a trace recorder among them (built once per process and
    passed to :func:`align_pair`; the process-wide plugin set stays as it is)."""
    recorder = _TraceRecorder()
    return build_plugin_set(extra_plugins=[recorder]), recorder


def _aligned(config: DictConfig, pair, *, record: bool = False) -> tuple[dict, object]:
    plugins, recorder = _recording() if record else (default_plugin_set(), None)
    if recorder is not None:
        recorder.follow(pair.truth)
    result = align_pair(align_config(config, pair), pair.fixed, pair.moving, plugins=plugins)
    rotation, translation = transform_errors(result.transform, pair.truth)
    row = {"rotation_error_deg": rotation, "translation_error_voxels": translation,
           "lm_steps": result.lm_steps, "seconds": result.seconds,
           "score": result.score_value, "n_candidates": result.n_candidates,
           "search_steps": len(result.trace),
           "search_steps_to_optimum": steps_to_optimum(result.trace)}
    if recorder is not None:
        row["trace"] = {"record": recorder.record, "rotation_error_deg": recorder.rotation,
                        "translation_error_voxels": recorder.translation}
    return row, result


def pair_row(config: DictConfig, density: np.ndarray, index: int) -> dict:
    """Align pair ``index`` as the job's kind asks; one row of ``rows.jsonl``."""
    pair = simulate_pair(job_simulation(config), density, index)
    if config.kind == "speedup":
        row, _ = _aligned(config, pair)
        baseline = OmegaConf.to_container(config, resolve=True)
        baseline["refiner"] = default_plugin_set().registries["refiner"].defaults(
            str(config.speedup_baseline))
        other, _ = _aligned(OmegaConf.create(baseline), pair)
        row["baseline"] = other
        row["speedup"] = speedup(row)
    else:
        row, _ = _aligned(config, pair, record=config.kind == "convergence")
    return {"index": index, **row}


def run_pairs(config: DictConfig, output_dir: Path, *, clock: JobClock | None = None) -> dict:
    """Kinds ``pairs``, ``convergence`` and ``speedup``: align ``n_pairs`` pairs of the cell.

    Returns
    -------
    dict
        The ``result.json`` body: the cell, the summary (median and MAD of the errors, steps
        and seconds) and the number of pairs; rows stay in ``rows.jsonl``.
    """
    rows = RowLog(output_dir / "rows.jsonl")
    density = load_density(job_simulation(config))
    indices = list(range(int(config.first_pair), int(config.first_pair) + int(config.n_pairs)))
    with process_executor(int(config.workers)) as executor:
        done = map_resumable(partial(pair_row, config, density), indices, rows,
                             executor=executor, label=str(config.name), clock=clock)
    rotation = [r["rotation_error_deg"] for r in done]
    summary = {
        "rotation_error_deg": median_mad(rotation),
        "translation_error_voxels": median_mad([r["translation_error_voxels"] for r in done]),
        "within_5_deg": int(np.sum(np.asarray(rotation) < 5)),
        "lm_steps": median_mad([r["lm_steps"] for r in done]),
        "seconds_per_pair": median_mad([r["seconds"] for r in done]),
    }
    if config.kind == "speedup":
        summary["speedup"] = median_mad([speedup(r) for r in done])
        summary["same_optimum"] = int(sum(
            abs(r["baseline"]["score"] - r["score"]) <= 1e-3 * abs(r["score"]) for r in done))
    log.info("%s %s: rotation %.2f +- %.2f deg, translation %.3f +- %.3f vox over %d pairs",
             config.name, cell_of(config), *summary["rotation_error_deg"],
             *summary["translation_error_voxels"], len(done))
    return {"cell": cell_of(config), "n_pairs": len(done), "summary": summary}
