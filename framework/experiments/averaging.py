"""Figure 5: align many subtomograms to a template, average them, compare with the truth.

Subtomogram ``i`` is particle ``i`` of the job's simulation. With ``template=first`` the
template is subtomogram 0 (noisy, with its wedge) and the common frame is particle 0's;
with ``template=truth`` it is the true map (no wedge) in its own frame. Each round aligns
every subtomogram to the template (60-degree sampling by default) and averages them with
missing-wedge compensation (:func:`subalign.workflows.averaging.wedge_compensated_average`); the next
round's template is that average, which has no wedge. The average is compared with the true
map in the common frame by FSC, next to the average made with the true transforms (what
perfect alignment would give at this N and SNR).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from subalign.align.pair import align_pair
from subalign.workflows.averaging import wedge_compensated_average
from subalign.workflows.fsc import fsc, resolution_at
from subalign.errors import ConfigError
from subalign.numerics.geometry import RigidTransform, transform_errors
from subalign.io.mrc import write_volume
from subalign.simulation.simulate import load_density, simulate_particle
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange
from subalign.experiments.pairs import align_config, cell_of, job_simulation
from subalign.execution import JobClock, RowLog, map_resumable, process_executor
from subalign.experiments.records import median_mad

__all__ = ["run_averaging"]

log = logging.getLogger("subalign")

TEMPLATES = ("first", "truth")


def averaging_row(config: DictConfig, template: np.ndarray, template_full: bool,
                  frame: RigidTransform, density: np.ndarray, index: int) -> dict:
    """Align subtomogram ``index`` (simulated again: cheaper than shipping it to a worker)
    onto the template; the row holds the found transform and the errors."""
    particle = simulate_particle(job_simulation(config), density, index)
    job = align_config(config)
    if template_full:
        job.fixed_wedge.tilt_range_deg = [-90.0, 90.0]
    result = align_pair(job, template, particle.subtomogram.volume)
    truth = frame.compose(particle.pose.inverse())
    rotation, translation = transform_errors(result.transform, truth)
    return {"index": index, "transform": result.transform.to_record(),
            "rotation_error_deg": rotation, "translation_error_voxels": translation,
            "lm_steps": result.lm_steps, "seconds": result.seconds}


def _fsc_record(average: np.ndarray, truth: np.ndarray, voxel_size_nm: float) -> dict:
    frequency, correlation = fsc(average, truth)
    return {"frequency": frequency.tolist(), "fsc": correlation.tolist(),
            "resolution_nm_fsc_0.5": resolution_at(frequency, correlation, 0.5, voxel_size_nm),
            "resolution_nm_fsc_0.143": resolution_at(frequency, correlation, 0.143,
                                                     voxel_size_nm)}


def run_averaging(config: DictConfig, output_dir: Path, *, clock: JobClock | None = None) -> dict:
    """Kind ``averaging``: rounds of align-to-template and average; FSC against the truth."""
    settings = config.averaging
    if settings.template not in TEMPLATES:
        raise ConfigError(f"averaging.template: expected one of {', '.join(TEMPLATES)}, "
                          f"found {settings.template!r}")
    count = int(settings.n)
    density = load_density(job_simulation(config))
    simulation = job_simulation(config)
    particles = [simulate_particle(simulation, density, i) for i in range(count)]
    poses = [p.pose for p in particles]
    volumes = [p.subtomogram.volume for p in particles]
    del particles
    tilt = TiltRange(-float(config.tilt), float(config.tilt))
    voxel = float(config.simulation.voxel_size_nm)
    if settings.template == "first":
        frame, template, template_full = poses[0], volumes[0], False
    else:
        frame, template, template_full = RigidTransform.identity(), density, True
    truth_map = transform_volume(density, frame)
    perfect = wedge_compensated_average(
        volumes, [frame.compose(pose.inverse()) for pose in poses], [tilt] * count)
    write_volume(output_dir / "truth.mrc", truth_map, voxel_size=voxel * 10)
    write_volume(output_dir / "perfect_alignment_average.mrc", perfect, voxel_size=voxel * 10)
    rounds = []
    for round_index in range(int(settings.iterations)):
        rows = RowLog(output_dir / f"round{round_index + 1}_rows.jsonl")
        with process_executor(int(config.workers)) as executor:
            done = map_resumable(
                partial(averaging_row, config, template, template_full, frame, density),
                range(count), rows, executor=executor, label=f"{config.name} round {round_index + 1}",
                clock=clock)
        transforms = [RigidTransform.from_record(r["transform"]) for r in done]
        template = wedge_compensated_average(volumes, transforms, [tilt] * count)
        template_full = True
        write_volume(output_dir / f"average_round{round_index + 1}.mrc", template,
                     voxel_size=voxel * 10)
        rounds.append({
            "rotation_error_deg": median_mad([r["rotation_error_deg"] for r in done]),
            "translation_error_voxels": median_mad([r["translation_error_voxels"] for r in done]),
            **_fsc_record(template, truth_map, voxel),
        })
        log.info("%s round %d: median rotation error %.2f deg; FSC 0.5 at %.2f nm, 0.143 at "
                 "%.2f nm", config.name, round_index + 1, rounds[-1]["rotation_error_deg"][0],
                 rounds[-1]["resolution_nm_fsc_0.5"], rounds[-1]["resolution_nm_fsc_0.143"])
    return {"cell": {**cell_of(config), "n": count, "template": str(settings.template),
                     "iterations": int(settings.iterations)},
            "n_pairs": count,
            "summary": {"rounds": rounds, "perfect_alignment": _fsc_record(perfect, truth_map,
                                                                           voxel)}}

