"""``subalign classify``: sort a particle set into classes.

Mode ``multiref`` (multi-reference refinement). Round 0 makes ``k`` references: the maps
``references`` (``start=references``), or the averages of the set's own classes at its own
poses (``start=classes``), each low-passed to ``initial_lowpass_angstrom`` and masked. Each
round aligns every particle to every reference (:func:`~subalign.workflows.rounds.passes.align_pass`,
one store per class: ``k n`` alignments), assigns it to the class whose aligned score is
lowest (scores are dissimilarities), and averages each class's members at their poses
against it (:mod:`subalign.workflows.rounds.classes`); the next round's reference of a class is
its average, low-passed to the FSC-0.143 resolution of its half maps (the particles' half
sets, or random ones written back) and masked. The first ``local.global_rounds`` rounds
search all of SO(3); later ones search around each particle's pose against that class. The
run stops after ``rounds`` rounds, or from round 2 on at the first round in which fewer than
``min_changes`` of the particles change class.

Mode ``all``: :mod:`subalign.workflows.rounds.allvsall`.

Files of ``output_dir``: ``job.json``, ``round_NNN/`` (the particle set with classes and
poses against the class, ``state.npz``, ``reference_class<c>.mrc`` aligned to, the stores,
:mod:`subalign.workflows.rounds.classes`' maps and figures, ``round.json``), ``rounds.log``,
``report.md``, then the last round's particle set and class averages, and ``summary.json``
(written last).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from subalign.errors import ConfigError, check_number
from subalign.execution import JobClock, provenance
from subalign.execution.jobs import run_lock
from subalign.io.files import write_json
from subalign.io.mrc import read_volume, write_volume
from subalign.workflows.rounds.allvsall import run_all_vs_all
from subalign.workflows.rounds.classes import class_maps, truth_agreement, write_class_maps
from subalign.workflows.rounds.passes import (
    RunExecutor, Subtomograms, align_pass, local_search_at, prepare_reference)
from subalign.workflows.rounds.config import CLASSIFY_MODES, CLASSIFY_STARTS
from subalign.workflows.rounds.inputs import RefineInputs, read_box_map, read_inputs
from subalign.workflows.rounds.loop import (
    RoundState, claim_run, close_round, copy_round_files, load_state, moved_summary,
    pose_changes, round_dir, run_rounds, save_state, starting_state, write_round_set)
from subalign.workflows.rounds.report import write_report

__all__ = ["ClassifyPlan", "ClassifyRun", "prepare_classify", "run_classify"]

log = logging.getLogger("subalign")


@dataclass
class ClassifyPlan:
    """A checked ``subalign classify``: inputs, mode, start, classes and starting maps."""

    config: DictConfig
    inputs: RefineInputs
    mode: str
    start: str | None
    classes: int
    references: list
    global_rounds: int


@dataclass
class ClassifyRun:
    """What :func:`run_classify` did: ``summary`` (``summary.json``) and ``ran``, the rounds
    (or all-vs-all runs) this call computed."""

    summary: dict
    ran: int


def prepare_classify(config: DictConfig) -> ClassifyPlan:
    """Check ``config`` and read every input; writes nothing.

    Raises
    ------
    SubalignError
        The first problem, in one line naming the file or field.
    """
    if config.mode not in CLASSIFY_MODES:
        raise ConfigError(f"mode: expected one of {', '.join(CLASSIFY_MODES)}, found "
                          f"{config.mode!r}")
    check_number(config.min_changes, "min_changes", at_least=0, at_most=1)
    references = list(config.references or [])
    start = None
    if config.mode == "all":
        if references or config.start is not None:
            raise ConfigError("references: expected null for mode=all (the classes come from "
                              f"the all-vs-all matrix), found {references or config.start}")
        if config.classes is None:
            raise ConfigError("classes: expected the number of classes for mode=all, found null")
    else:
        start = config.start or ("references" if references else "classes")
        if start not in CLASSIFY_STARTS:
            raise ConfigError(f"start: expected one of {', '.join(CLASSIFY_STARTS)}, found "
                              f"{start!r}")
        if start == "references" and len(references) < 2:
            raise ConfigError("references: expected a list of at least 2 MRC maps, one per "
                              f"class, for start=references, found {references or 'none'} (one "
                              "class: subalign average)")
        if start == "classes" and references:
            raise ConfigError(f"references: expected none for start=classes, found {references}")
    inputs = read_inputs(config, least=2, inputs={"references": references})
    count = config.classes
    if start == "references":
        count = len(references) if count is None else count
        if count != len(references):
            raise ConfigError(f"classes: expected {len(references)}, the number of references, "
                              f"found {count}")
    elif start == "classes":
        if not inputs.particles.has("class_number"):
            raise ConfigError(f"{config.particles}: expected class numbers for start=classes "
                              "(no references= given), found none")
        given = inputs.particles.fields["class_number"].to_numpy()
        count = int(given.max()) if count is None else count
        check_number(count, "classes", at_least=1, integer=True)
        if not np.all((given >= 1) & (given <= count)):
            row = int(np.argmax((given < 1) | (given > count)))
            raise ConfigError(f"{config.particles}: row {row + 1}: class {given[row]}; expected "
                              f"a class from 1 to {count} for every particle (start=classes), "
                              "or give references=")
    check_number(count, "classes", at_least=1, at_most=len(inputs.particles), integer=True)
    maps = [read_box_map(path, f"references[{k}]", inputs.box, inputs.pixel_size)
            for k, path in enumerate(references)]
    inputs.record.update(mode=config.mode, start=start, classes=int(count))
    global_rounds = config.local.global_rounds
    if global_rounds is None:
        global_rounds = 0 if start == "classes" else 1
    return ClassifyPlan(config, inputs, config.mode, start, int(count), maps,
                        int(global_rounds))


class _MultiReference:
    """One run of the multi-reference refinement (module docstring)."""

    def __init__(self, plan: ClassifyPlan, volumes: Subtomograms, run: RunExecutor) -> None:
        self.plan, self.inputs, self.volumes, self.run = plan, plan.inputs, volumes, run
        self.output_dir = self.inputs.output_dir
        self.figures = bool(plan.config.figures)
        self.initial = float(plan.config.initial_lowpass_angstrom)

    def _maps(self, state: RoundState) -> list:
        return class_maps(self.inputs, self.volumes, state.class_number, self.plan.classes,
                          state.half_set, state.rotations, state.shifts)

    def _finish(self, number: int, directory: Path, state: RoundState, maps: list,
                record: dict, clock: JobClock | None) -> dict:
        inputs = self.inputs
        files = write_class_maps(directory, maps, inputs.pixel_size, figures=self.figures,
                                 title=f"round {number}")
        files["particles"] = write_round_set(inputs, state, directory).name
        save_state(directory / "state.npz", state)
        record.update(number=number, particles=len(inputs.particles),
                      classes=[m.size for m in maps],
                      class_resolution=[m.resolution for m in maps], files=files)
        agreement = truth_agreement(inputs, state.class_number)
        if agreement is not None:
            record["truth"] = agreement
        return close_round(directory, record, inputs, clock)

    def start(self) -> dict:
        """Round 0: the starting references (module docstring)."""
        plan, inputs = self.plan, self.inputs
        directory = round_dir(self.output_dir, 0)
        directory.mkdir(parents=True, exist_ok=True)
        n = len(inputs.particles)
        state, assigned = starting_state(inputs, int(plan.config.half_set_seed), plan.classes)
        if plan.start != "classes":
            state.class_number[:] = 0
        record = {"start": plan.start, "half_sets_assigned": assigned}
        if plan.start == "references":
            sources = plan.references
            maps = None
        else:
            maps = self._maps(state)
            sources = [m.volume for m in maps]
        for number, volume in enumerate(sources, 1):
            write_volume(directory / f"reference_class{number}.mrc",
                         prepare_reference(volume, inputs, self.initial),
                         voxel_size=inputs.pixel_size)
        if maps is not None:
            return self._finish(0, directory, state, maps, record, None)
        write_round_set(inputs, state, directory)
        save_state(directory / "state.npz", state)
        record.update(number=0, particles=n, files={"particles": inputs.output.name})
        return close_round(directory, record, inputs, None)

    def _references(self, previous: dict) -> tuple[list[np.ndarray], float]:
        """Each class's reference after round ``previous``, and the (worst) resolution the
        local search is scaled to."""
        before = round_dir(self.output_dir, previous["number"])
        if previous["number"] == 0:
            return [read_volume(before / f"reference_class{c}.mrc").data
                    for c in range(1, self.plan.classes + 1)], self.initial
        references, worst = [], 0.0
        for c, resolution in enumerate(previous["class_resolution"], 1):
            if not (before / f"class{c}.mrc").is_file():  # empty: keep its last reference
                references.append(read_volume(before / f"reference_class{c}.mrc").data)
                continue
            found = self.initial if resolution is None else float(resolution["0.143"])
            found = found if np.isfinite(found) else self.initial
            worst = max(worst, found)
            references.append(prepare_reference(read_volume(before / f"class{c}.mrc").data,
                                                self.inputs, found))
        return references, worst or self.initial

    def refine(self, number: int, previous: dict) -> dict:
        """Round ``number`` after the finished round ``previous``."""
        inputs, plan = self.inputs, self.plan
        directory = round_dir(self.output_dir, number)
        directory.mkdir(parents=True, exist_ok=True)
        before = load_state(round_dir(self.output_dir, previous["number"]) / "state.npz")
        references, resolution = self._references(previous)
        local = (None if number <= plan.global_rounds
                 else local_search_at(inputs, plan.config.local, resolution))
        clock = JobClock(directory / "clock.jsonl")
        n, rows = len(inputs.particles), np.arange(len(inputs.particles))
        values = []
        for c, reference in enumerate(references, 1):
            write_volume(directory / f"reference_class{c}.mrc", reference,
                         voxel_size=inputs.pixel_size)
            values.append(align_pass(
                inputs, self.run, rows=rows, reference=reference,
                prior_rotations=before.class_rotations[c - 1],
                prior_shifts=before.class_shifts[c - 1], local=local, directory=directory,
                name=f"align_class{c}", label=f"round {number} class {c} ({n} particles)",
                clock=clock))
        values = np.stack(values)  # (k, n, fields)
        best = np.argmin(values[:, :, 12], axis=0)
        chosen = values[best, rows]
        state = RoundState(chosen[:, :9].reshape(-1, 3, 3), chosen[:, 9:12].copy(),
                           before.half_set, best + 1, chosen[:, 12].copy(), chosen[:, 13].copy(),
                           values[:, :, :9].reshape(len(references), n, 3, 3),
                           values[:, :, 9:12].copy())
        angles, distances = pose_changes(before.class_rotations[best, rows],
                                         before.class_shifts[best, rows], state.rotations,
                                         state.shifts, inputs.symmetry)
        record = {"search": "local" if local else "global",
                  "changed": int(np.sum(state.class_number != before.class_number)),
                  **moved_summary(angles, distances)}
        if local:
            record["local"] = local
        return self._finish(number, directory, state, self._maps(state), record, clock)


def _stop(records: list[dict], plan: ClassifyPlan) -> str | None:
    last = records[-1]
    if last["number"] >= int(plan.config.rounds):
        return f"reached rounds={plan.config.rounds}"
    limit = float(plan.config.min_changes) * last["particles"]
    if last["number"] >= 2 and last["changed"] < limit:
        return (f"round {last['number']}: {last['changed']} particles changed class, fewer than "
                f"min_changes={plan.config.min_changes:g} of {last['particles']}")
    return None


def _run_multiref(plan: ClassifyPlan, run: RunExecutor, command: str | None) -> tuple:
    output_dir = plan.inputs.output_dir

    def report(records: list) -> None:
        if plan.config.figures:
            write_report(output_dir, records, kind="classify", pixel_size=plan.inputs.pixel_size,
                         command=command)

    with Subtomograms(plan.inputs) as volumes:
        refinement = _MultiReference(plan, volumes, run)
        records, ran, stop = run_rounds(output_dir, start=refinement.start,
                                        refine=refinement.refine,
                                        stop=lambda records: _stop(records, plan), report=report)
    last = records[-1]
    files = copy_round_files(output_dir, last,
                             lambda role: role == "particles" or role.startswith("class"))
    if plan.config.figures:
        files["report"] = write_report(output_dir, records, kind="classify",
                                       pixel_size=plan.inputs.pixel_size, command=command,
                                       best=last["number"], stop=stop,
                                       figure=files.get("class_averages")).name
    result = {"rounds": len(records) - 1, "stop": stop, "classes": last.get("classes"),
              "class_resolution": last.get("class_resolution"), "truth": last.get("truth"),
              "seconds": float(sum(r.get("seconds") or 0.0 for r in records)), "files": files}
    return result, ran


def run_classify(config: DictConfig, *, executor=None, window: int | None = None,
                 inline: bool = False, command: str | None = None) -> ClassifyRun:
    """Run (or resume, or find finished) the classification ``config`` describes.

    ``config`` is a composed :class:`~subalign.workflows.rounds.config.ClassifyConfig`; the
    other parameters are those of :func:`~subalign.workflows.rounds.average.run_average`.

    Returns
    -------
    ClassifyRun
    """
    plan = prepare_classify(config)
    output_dir = plan.inputs.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(output_dir, what="classification", wait=bool(config.wait)):
        return _classify_locked(plan, config, executor=executor, window=window, inline=inline,
                                command=command)


def _classify_locked(plan: ClassifyPlan, config: DictConfig, *, executor, window, inline,
                     command) -> ClassifyRun:
    """:func:`run_classify` in its locked output directory."""
    output_dir = plan.inputs.output_dir
    if claim_run(plan.inputs, "classification"):
        log.info("classify: resuming in %s", output_dir)
    with RunExecutor(config.executor, executor=executor, window=window, inline=inline) as run:
        if plan.mode == "all":
            result, ran = run_all_vs_all(plan, run, command)
        else:
            result, ran = _run_multiref(plan, run, command)
        where = run.description or "no alignment in this call"
    summary = {"status": "complete", "kind": "classify", "mode": plan.mode,
               "start": plan.start, **result, "ran": ran, "executor": where,
               "job": plan.inputs.record,
               **provenance(OmegaConf.to_container(config, resolve=True),
                            {"particles": config.particles}, command=command)}
    write_json(output_dir / "summary.json", summary)
    log.info("classify (%s): class sizes %s%s", plan.mode, result["classes"],
             "" if not result.get("truth") else
             f"; adjusted Rand index against the truth {result['truth']['adjusted_rand_index']:.3f}")
    return ClassifyRun(summary, ran)
