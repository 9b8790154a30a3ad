"""``subalign average``: gold-standard refinement of a particle set in rounds.

The particles are split into two half sets (the file's, or at random with ``half_set_seed``,
written back). Each round aligns every particle to its own half's reference, averages each
half with missing-wedge compensation (:mod:`subalign.workflows.averaging`), and measures the
FSC between the masked half maps (:mod:`subalign.workflows.fsc`). The next round's reference
of each half is its own half map, C_n-symmetrized, low-passed to the FSC-0.143 resolution
reached and masked, so the halves never see each other's noise. The first
``local.global_rounds`` rounds search all of SO(3); later ones search around each
particle's pose, in a cone and a shift range that shrink as the resolution improves
(:class:`~subalign.workflows.rounds.config.ScheduleConfig`). The run stops after ``rounds``
rounds or at the first round that improves the best resolution by less than
``min_improvement``; the best round's files are copied to the top of ``output_dir``.

Round 0 is the start (``start``):

* ``reference``: the map ``reference``, low-passed to ``initial_lowpass_angstrom``, for both
  halves;
* ``particle``: every particle aligned (globally) to particle ``start_particle`` and averaged,
  the average centred (the paper's Figure 5 protocol); round 1 aligns both halves to it
  low-passed to ``initial_lowpass_angstrom`` (round 0's halves are not independent: both met
  the same particle, so its FSC is reported but not trusted);
* ``poses``: the half maps of the set's own poses (with ``rounds=0``, a reconstruction).

Files of ``output_dir``: ``job.json`` (the run's identity; another config is refused),
``round_NNN/`` (:mod:`subalign.workflows.rounds.loop`, :mod:`subalign.workflows.rounds.outputs`:
the particle set, ``state.npz``, maps, FSC, slices, ``round.json``; the references aligned
to as ``reference_half1.mrc``, ``reference_half2.mrc``; the alignments' stores), then
``rounds.log`` (a line per round), ``report.md`` (:mod:`subalign.workflows.rounds.report`), the
best round's particle set, ``half1.mrc``, ``half2.mrc``, ``map.mrc``, and ``summary.json``
(written last, ``status: complete``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from subalign.errors import ConfigError, SubalignError, check_number
from subalign.execution import JobClock, provenance
from subalign.execution.jobs import run_lock
from subalign.io.files import write_json
from subalign.io.mrc import read_volume, write_volume
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import shift_volume
from subalign.workflows.maps import centre_map, symmetrize
from subalign.workflows.rounds.config import AVERAGE_STARTS, REFERENCE_FILTERS
from subalign.workflows.fsc import read_fsc_table
from subalign.workflows.hand import check_hand, reference_hand
from subalign.workflows.rounds.inputs import RefineInputs, read_box_map, read_inputs
from subalign.workflows.rounds.outputs import write_fsc, write_maps
from subalign.workflows.rounds.passes import (
    RunExecutor, Subtomograms, accumulate, align_pass, local_search_at, prepare_reference)
from subalign.workflows.rounds.loop import (
    HALVES, RoundState, claim_run, close_round, copy_round_files, load_state, moved_summary,
    pose_changes, round_dir, run_rounds, save_state, starting_state, write_round_set)
from subalign.workflows.rounds.report import write_report
from subalign.workflows.rounds.truth import pose_errors

__all__ = ["AveragePlan", "AverageRun", "prepare_average", "run_average"]

log = logging.getLogger("subalign")

#: The best round's files copied to the top of ``output_dir``.
FINAL_FILES = ("particles", "half1", "half2", "map", "reference")


@dataclass
class AveragePlan:
    """A checked ``subalign average``: its inputs, start and settings."""

    config: DictConfig
    inputs: RefineInputs
    start: str
    reference: np.ndarray | None
    global_rounds: int


@dataclass
class AverageRun:
    """What :func:`run_average` did: ``summary`` (``summary.json``) and ``ran``, the rounds
    this call computed (0: every round was on disk already)."""

    summary: dict
    ran: int


def prepare_average(config: DictConfig) -> AveragePlan:
    """Check ``config`` and read every input; writes nothing.

    Raises
    ------
    SubalignError
        The first problem, in one line naming the file or field.
    """
    start = config.start or ("reference" if config.reference not in (None, "") else "particle")
    if start not in AVERAGE_STARTS:
        raise ConfigError(f"start: expected one of {', '.join(AVERAGE_STARTS)}, found {start!r}")
    has_reference = config.reference not in (None, "")
    if start == "reference" and not has_reference:
        raise ConfigError("reference: expected an MRC map for start=reference, found null")
    if start != "reference" and has_reference:
        raise ConfigError(f"reference: expected null for start={start} (the start makes the "
                          f"first reference), found {config.reference}")
    check_number(config.min_improvement, "min_improvement", at_least=0, at_most=1)
    check_number(config.min_moved, "min_moved", at_least=0, at_most=1)
    if config.reference_filter not in REFERENCE_FILTERS:
        raise ConfigError(f"reference_filter: expected one of {', '.join(REFERENCE_FILTERS)}, "
                          f"found {config.reference_filter!r}")
    inputs = read_inputs(config, least=2, inputs={"reference": config.reference})
    if start == "particle":
        check_number(config.start_particle, "start_particle", at_least=0,
                     at_most=len(inputs.particles) - 1, integer=True)
    reference = None
    if start == "reference":
        reference = reference_hand(read_box_map(config.reference, "reference", inputs.box,
                                                inputs.pixel_size), config.reference_flip)
        check_number(config.hand_check, "hand_check", at_least=0, integer=True)
        check_hand(inputs.particles, inputs.tilts, reference, inputs.align, count=int(config.hand_check),
                   box_size=inputs.box, edge=inputs.edge)
    inputs.record["start"] = start
    global_rounds = config.local.global_rounds
    if global_rounds is None:
        global_rounds = 0 if start == "poses" else 1
    if start == "poses" or global_rounds == 0:
        inputs.particles.require_poses(f"start={start} with local.global_rounds={global_rounds} "
                                       "(round 1 searches around each particle's pose)")
    return AveragePlan(config, inputs, start, reference, int(global_rounds))


class _Refinement:
    """One run of :func:`run_average` (module docstring)."""

    def __init__(self, plan: AveragePlan, volumes: Subtomograms, run: RunExecutor) -> None:
        self.plan, self.inputs, self.volumes, self.run = plan, plan.inputs, volumes, run
        self.output_dir = self.inputs.output_dir
        self.figures = bool(plan.config.figures)

    # -- shared steps ---------------------------------------------------------------------

    def _half_maps(self, state: RoundState) -> dict[str, np.ndarray]:
        sums = [accumulate(self.inputs, self.volumes, np.flatnonzero(state.half_set == h),
                           state.rotations, state.shifts) for h in HALVES]
        maps = {"map": sums[0].merged(sums[1]).average(), "half1": sums[0].average(),
                "half2": sums[1].average()}
        return {name: symmetrize(volume, self.inputs.symmetry) for name, volume in maps.items()}

    def _finish(self, number: int, directory: Path, state: RoundState, maps: dict,
                record: dict, clock: JobClock | None) -> dict:
        """Write a round's maps, FSC, set and state; ``round.json`` last."""
        inputs = self.inputs
        title = f"round {number}"
        resolution, masked, fsc_files = write_fsc(directory, maps["half1"], maps["half2"],
                                                  inputs.mask, inputs.pixel_size,
                                                  figures=self.figures, title=title)
        files = write_maps(directory, maps, inputs.pixel_size, figures=self.figures, title=title)
        files.update(fsc_files)
        files["particles"] = write_round_set(inputs, state, directory).name
        save_state(directory / "state.npz", state)
        record.update(number=number, particles=len(inputs.particles), resolution=resolution,
                      resolution_masked=masked, files=files)
        if inputs.truth is not None:
            errors = pose_errors(state.rotations, state.shifts, inputs.truth.rotations,
                                 inputs.truth.shifts, inputs.symmetry)
            errors.pop("rotation_errors_deg")
            record["truth"] = errors
        return close_round(directory, record, inputs, clock)

    # -- round 0 --------------------------------------------------------------------------

    def start(self) -> dict:
        """Round 0 (module docstring)."""
        plan, inputs = self.plan, self.inputs
        directory = round_dir(self.output_dir, 0)
        directory.mkdir(parents=True, exist_ok=True)
        n = len(inputs.particles)
        state, assigned = starting_state(inputs, int(plan.config.half_set_seed))
        record = {"start": plan.start, "half_sets_assigned": assigned}
        if plan.start == "reference":
            reference = prepare_reference(plan.reference, inputs,
                                          float(plan.config.initial_lowpass_angstrom))
            write_volume(directory / "reference.mrc", reference, voxel_size=inputs.pixel_size)
            write_round_set(inputs, state, directory)
            save_state(directory / "state.npz", state)
            record.update(number=0, particles=n, resolution=None,
                          files={"reference": "reference.mrc", "particles": inputs.output.name})
            return close_round(directory, record, inputs, None)
        clock = JobClock(directory / "clock.jsonl")
        if plan.start == "particle":
            k = int(plan.config.start_particle)
            values = align_pass(inputs, self.run, rows=np.arange(n), reference=self.volumes(k),
                                prior_rotations=state.rotations, prior_shifts=state.shifts,
                                local=None, directory=directory, name="align_to_particle",
                                label=f"round 0: {n} particles to particle {k}", clock=clock,
                                reference_tilt=tuple(inputs.tilts[k]))
            self._take(state, np.arange(n), values)
            maps = self._half_maps(state)
            maps["map"], shift = centre_map(maps["map"])
            maps["half1"], maps["half2"] = (shift_volume(maps[h], shift) for h in ("half1", "half2"))
            moved = RigidTransform(np.eye(3), -shift)
            for i in range(n):  # the poses of the centred map: P o tau_-s
                pose = RigidTransform(state.rotations[i], state.shifts[i]).compose(moved)
                state.shifts[i] = pose.translation
            record.update(search="global", independent=False, centre_shift_voxels=
                          [float(s) for s in shift])
        else:
            maps = self._half_maps(state)
        return self._finish(0, directory, state, maps, record, clock)

    # -- rounds 1, 2, ... -----------------------------------------------------------------

    def _references(self, previous: dict) -> tuple[list[np.ndarray], float]:
        """Each half's reference for the round after ``previous``, and the resolution the
        local search is scaled to."""
        plan, inputs = self.plan, self.inputs
        before = round_dir(self.output_dir, previous["number"])
        initial = float(plan.config.initial_lowpass_angstrom)
        if previous["number"] == 0 and plan.start == "reference":
            reference = read_volume(before / "reference.mrc").data
            return [reference, reference], initial
        if previous["number"] == 0 and plan.start == "particle":
            reference = prepare_reference(read_volume(before / "map.mrc").data, inputs, initial)
            return [reference, reference], initial
        resolution = float(previous["resolution"]["0.143"])
        if not np.isfinite(resolution):
            resolution = initial
        correlation = None
        if plan.config.reference_filter == "fsc":
            correlation = read_fsc_table(before / "fsc.csv", inputs.pixel_size)[1]
        return [prepare_reference(read_volume(before / f"half{h}.mrc").data, inputs, resolution,
                                  correlation) for h in HALVES], resolution

    @staticmethod
    def _take(state: RoundState, rows: np.ndarray, values: np.ndarray) -> None:
        state.rotations[rows] = values[:, :9].reshape(-1, 3, 3)
        state.shifts[rows] = values[:, 9:12]
        state.score[rows] = values[:, 12]
        state.confidence[rows] = values[:, 13]

    def refine(self, number: int, previous: dict) -> dict:
        """Round ``number`` after the finished round ``previous``."""
        inputs, plan = self.inputs, self.plan
        directory = round_dir(self.output_dir, number)
        directory.mkdir(parents=True, exist_ok=True)
        before = load_state(round_dir(self.output_dir, previous["number"]) / "state.npz")
        state = load_state(round_dir(self.output_dir, previous["number"]) / "state.npz")
        references, resolution = self._references(previous)
        local = (None if number <= plan.global_rounds
                 else local_search_at(inputs, plan.config.local, resolution))
        clock = JobClock(directory / "clock.jsonl")
        for h, reference in zip(HALVES, references):
            write_volume(directory / f"reference_half{h}.mrc", reference,
                         voxel_size=inputs.pixel_size)
            rows = np.flatnonzero(state.half_set == h)
            values = align_pass(inputs, self.run, rows=rows, reference=reference,
                                prior_rotations=before.rotations, prior_shifts=before.shifts,
                                local=local, directory=directory, name=f"align_half{h}",
                                label=f"round {number} half {h} ({len(rows)} particles)",
                                clock=clock)
            self._take(state, rows, values)
        angles, distances = pose_changes(before.rotations, before.shifts, state.rotations,
                                         state.shifts, inputs.symmetry)
        record = {"search": "local" if local else "global", "independent": True,
                  **moved_summary(angles, distances)}
        if local:
            record["local"] = local
        return self._finish(number, directory, state, self._half_maps(state), record, clock)


def _stop(records: list[dict], plan: AveragePlan) -> str | None:
    """Why the run stops after the last of ``records`` (None: go on): ``rounds`` reached; the
    poses settled (fewer than ``min_moved`` of the particles moved past
    :data:`~subalign.workflows.rounds.loop.MOVED_DEG` or ``MOVED_VOXELS``: another round would
    change nothing); or the resolution stopped improving by ``min_improvement``."""
    last = records[-1]
    if last["number"] >= int(plan.config.rounds):
        return f"reached rounds={plan.config.rounds}"
    if last["number"] >= 1 and "moved" in last and last.get("particles"):
        if last["moved"] < float(plan.config.min_moved) * last["particles"]:
            return (f"round {last['number']}: poses settled ({last['moved']} of "
                    f"{last['particles']} moved, fewer than min_moved={plan.config.min_moved:g})")
    trusted = [r for r in records[:-1] if r.get("resolution") and r.get("independent", True)]
    if last["number"] >= 1 and trusted:
        best = min(r["resolution"]["0.143"] for r in trusted)
        found = last["resolution"]["0.143"]
        if not found < best * (1 - float(plan.config.min_improvement)):
            return (f"round {last['number']} reached {found:.2f} Å, not better than "
                    f"{best:.2f} Å by {plan.config.min_improvement:g}")
    return None


def _postprocess(output_dir: Path, final: dict, inputs: RefineInputs,
                 figures: bool) -> str | None:
    """Post-process the final round's half maps with the run's mask into
    ``output_dir/postprocess`` (:func:`~subalign.workflows.postprocess.run_postprocess`);
    the folder's name, or None (with one log line) where the halves do not correlate."""
    from subalign.workflows.postprocess import run_postprocess

    directory = round_dir(output_dir, final["number"])
    halves = [read_volume(directory / f"half{h}.mrc").data.astype(float) for h in HALVES]
    try:
        found = run_postprocess(*halves, inputs.pixel_size, inputs.mask, output_dir / "postprocess",
                                figures=figures, extra={"round": final["number"]})
    except SubalignError as exc:
        log.info("average: post-processing skipped: %s", exc)
        return None
    log.info("average: post-processed round %d: %.1f Å (corrected FSC 0.143), B %.0f Å²",
             final["number"], found["resolution_angstrom"] or float("inf"),
             found["bfactor_angstrom2"])
    return "postprocess"


def final_round(records: list[dict], box_angstrom: float) -> tuple[dict, str]:
    """The round whose maps and poses are the result, and the rule that chose it.

    The last round, unless its independent half maps resolve more than one Fourier shell
    coarser than the finest earlier round's (``box_angstrom / d`` is a resolution's shell
    number; a shell is the smallest difference the FSC can tell from noise at this box):
    then that finest round. Choosing among rounds whose resolutions lie within a shell would
    pick noise, and at the Nyquist cap every round ties; the final round is kept for both.

    Parameters
    ----------
    records : list of dict
        Every round's record (``number``, ``resolution``, ``independent``).
    box_angstrom : float
        Box edge, Angstrom.

    Returns
    -------
    dict, str
        The round's record, and why it was chosen.
    """
    last = records[-1]
    measured = [r for r in records if r.get("resolution") and r.get("independent", True)]
    if not measured or not last.get("resolution") or not last.get("independent", True):
        return last, "the last round"
    finest = min(measured, key=lambda r: (r["resolution"]["0.143"], -r["number"]))
    shells = box_angstrom / finest["resolution"]["0.143"] - box_angstrom / last["resolution"]["0.143"]
    if shells > 1.0:
        return finest, (f"round {finest['number']}: the last round resolves {shells:.1f} Fourier "
                        "shells coarser (more than one)")
    return last, "the last round"


def run_average(config: DictConfig, *, executor=None, window: int | None = None,
                inline: bool = False, command: str | None = None) -> AverageRun:
    """Run (or resume, or find finished) the refinement ``config`` describes.

    Parameters
    ----------
    config : DictConfig
        A composed :class:`~subalign.workflows.rounds.config.AverageConfig`.
    executor : concurrent.futures.Executor, optional
        Where the alignments run; default: the Dask cluster of ``config.executor``, started
        only when a round has alignments to do.
    window : int, optional
        Tasks kept submitted to a given ``executor``.
    inline : bool
        Align in this process instead (tests, debugging).
    command : str, optional
        The command line, for the record.

    Returns
    -------
    AverageRun
    """
    plan = prepare_average(config)
    inputs = plan.inputs
    output_dir = inputs.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(output_dir, what="refinement", wait=bool(config.wait)):
        return _average_locked(plan, config, executor=executor, window=window, inline=inline,
                               command=command)


def _average_locked(plan: AveragePlan, config: DictConfig, *, executor, window, inline,
                    command) -> AverageRun:
    """:func:`run_average` in its locked output directory."""
    inputs = plan.inputs
    output_dir = inputs.output_dir
    if claim_run(inputs, "refinement"):
        log.info("average: resuming in %s", output_dir)
    with Subtomograms(inputs) as volumes, RunExecutor(config.executor, executor=executor,
                                                      window=window, inline=inline) as run:
        refinement = _Refinement(plan, volumes, run)

        def report(records: list) -> None:
            if plan.config.figures:
                write_report(output_dir, records, kind="average", pixel_size=inputs.pixel_size,
                             command=command)

        records, ran, stop = run_rounds(output_dir, start=refinement.start,
                                        refine=refinement.refine,
                                        stop=lambda records: _stop(records, plan), report=report)
        where = run.description or "no alignment in this call"
    best, rule = final_round(records, inputs.box * inputs.pixel_size)
    files = copy_round_files(output_dir, best, lambda role: role in FINAL_FILES)
    if plan.config.figures:
        files["report"] = write_report(output_dir, records, kind="average",
                                       pixel_size=inputs.pixel_size, command=command,
                                       best=best["number"], stop=stop).name
    files["postprocess"] = _postprocess(output_dir, best, inputs, bool(plan.config.figures))
    summary = {"status": "complete", "kind": "average", "start": plan.start,
               "rounds": len(records) - 1, "final_round": best["number"], "final_rule": rule,
               "resolution": best.get("resolution"), "stop": stop, "ran": ran,
               "seconds": float(sum(r.get("seconds") or 0.0 for r in records)),
               "executor": where, "files": files, "job": inputs.record,
               **provenance(OmegaConf.to_container(config, resolve=True),
                            {"particles": config.particles, "reference": config.reference},
                            command=command)}
    write_json(output_dir / "summary.json", summary)
    log.info("average: %s; final round %d (%s)%s", stop, best["number"], rule,
             "" if not best.get("resolution") else
             f" at {best['resolution']['0.143']:.1f} Å (FSC 0.143)")
    return AverageRun(summary, ran)
