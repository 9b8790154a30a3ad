"""The pair orchestrator: align one pair of subtomograms with the configured plugins.

:func:`align_pair` is a pure function of ``(config, fixed, moving)``: no global state is
read or written (the plugin set is built once per process from installed entry points), and
it and its inputs pickle, so batches can be spread over processes unchanged.

The pipeline: the config is merged onto the ``align`` schema
(:func:`subalign.align.config.align_settings`, the only place defaults live); the
constraint model draws candidate rotations from the sampler and defines the optimizer's
parameters; the search stage (:mod:`subalign.search`) gives every candidate a starting
translation and the refiner runs the optimizer on them under the search score; the best
result is polished with the score as configured.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from subalign.align.config import align_settings, resolve_tilts, search_settings
from subalign.errors import ConfigError, VolumeError
from subalign.numerics.geometry import TRANSFORM_CONVENTION, RigidTransform, rotation_distance_deg
from subalign.numerics.volumes import check_volume
from subalign.plugin.manager import PluginSet, default_plugin_set
from subalign.plugin.protocols import (
    CalibratedObjective,
    Objective,
    RefinementProblem,
)
from subalign.search import SearchStage, polish, resume_polish

__all__ = [
    "DISTINCT_BASIN_DEG",
    "LOW_CONFIDENCE",
    "AlignmentResult",
    "align_pair",
    "basin_gap",
    "confidence",
    "distinct_basins",
    "race_score",
]

log = logging.getLogger("subalign")


@dataclass
class AlignmentResult:
    """The transform that maps ``moving`` onto ``fixed`` and how it was found.

    Attributes
    ----------
    transform : RigidTransform
        Applying ``tau_a Lambda_R`` to ``moving`` makes it match ``fixed``.
    score_name : str
    score_value : float
    lm_steps : int
        Optimizer steps (Jacobian evaluations) used in total.
    n_candidates : int
    seconds : float
        Wall time of the whole alignment.
    confidence : float or None
        How much to trust the result, in [0, 1]: the smaller of the *gap* (how clearly the
        found basin beats every other: ``(d_alt - d_win) / d_alt`` with ``d_win`` the score
        of the winning basin and ``d_alt`` that of the best basin more than
        :data:`DISTINCT_BASIN_DEG` away in rotation, taken under the search score over the
        refiner's final candidates and under the full score over the polished basins; the
        larger of the two counts) and the
        *support* (``1 - d / d0``: how far the final score is from that of an unrelated
        pair, for scores that know it). None when neither is available. Below
        :data:`LOW_CONFIDENCE` the result is flagged (``docs/benchmarks.md`` measures how
        well this separates correct from gross-failure alignments).
    trace : list of float
        Record minimum after every optimizer step.
    details : dict
        Refiner-specific extras.
    """

    transform: RigidTransform
    score_name: str
    score_value: float
    lm_steps: int
    n_candidates: int
    seconds: float
    confidence: float | None = None
    trace: list = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``alignment.json`` record (conventions in :mod:`subalign.numerics.geometry`)."""
        return {
            **self.transform.to_record(),
            "score": {"name": self.score_name, "value": self.score_value},
            "lm_steps": self.lm_steps,
            "n_candidates": self.n_candidates,
            "seconds": self.seconds,
            "confidence": self.confidence,
            "convention": TRANSFORM_CONVENTION,
            "trace": self.trace,
            "details": self.details,
        }


#: Candidates ending farther than this (degrees) from the best are in another basin.
DISTINCT_BASIN_DEG = 20.0
#: Optimizer steps each of several polished basins gets before only the best goes on: the
#: polish starts near each basin's optimum, where a few full-size steps already rank them
#: (docs/benchmarks.md: the same results as polishing every basin to convergence).
POLISH_RACE_STEPS = 4
#: Below this confidence a result is flagged in the log as possibly wrong (chosen on the
#: search benchmark, docs/benchmarks.md).
LOW_CONFIDENCE = 0.4


def _rotation(parameterization, params) -> np.ndarray:
    return parameterization.to_transform(params).rotation


def distinct_basins(outcomes: list, parameterization, count: int) -> list:
    """The best ``(params, value)`` of each of the ``count`` best basins, best first: entries
    more than :data:`DISTINCT_BASIN_DEG` apart in rotation."""
    kept: list = []
    for params, value in sorted(outcomes, key=lambda outcome: outcome[1]):
        rotation = _rotation(parameterization, params)
        if all(rotation_distance_deg(rotation, _rotation(parameterization, other))
               > DISTINCT_BASIN_DEG for other, _ in kept):
            kept.append((params, value))
            if len(kept) == count:
                break
    return kept


def basin_gap(outcomes: list, winner: np.ndarray, parameterization) -> float | None:
    """``(d_alt - d_win) / d_alt``, clipped to [0, 1]: how much lower the basin of ``winner``
    scores among ``outcomes`` (``(params, value)`` pairs of one score) than the best of any
    other basin (1 when there is none); None without outcomes in the winner's basin."""
    rotation = _rotation(parameterization, winner)
    same, others = [], []
    for params, value in outcomes:
        far = rotation_distance_deg(_rotation(parameterization, params), rotation)
        (others if far > DISTINCT_BASIN_DEG else same).append(value)
    if not same:
        return None
    if not others:
        return 1.0
    own, runner_up = min(same), min(others)
    return float(np.clip((runner_up - own) / runner_up, 0.0, 1.0)) if runner_up > 0 else 0.0


def confidence(gaps: list, objective: Objective, value: float) -> float | None:
    """How much to trust a result, in [0, 1] (see :class:`AlignmentResult`): the smaller of
    the largest basin gap (None entries ignored) and, for a
    :class:`~subalign.plugin.protocols.CalibratedObjective`, the support ``1 - d / d0`` of
    the final score ``value`` against an unrelated pair's."""
    measures = [max(gap for gap in gaps if gap is not None)] if any(
        gap is not None for gap in gaps) else []
    if isinstance(objective, CalibratedObjective):
        measures.append(1.0 - value / objective.uninformative_value())
    return float(np.clip(min(measures), 0.0, 1.0)) if measures else None


def race_score(plugins: PluginSet, score_node: Any, overrides: Any) -> Any:
    """The second opinion of the race among polished basins: the score with ``race_score``'s
    overrides (a one-line ConfigError naming ``race_score=null`` when they do not fit)."""
    overrides = dict(overrides)
    try:
        return plugins.create("score", {**dict(score_node), **overrides})
    except ConfigError as exc:
        raise ConfigError(f"race_score={overrides}: {exc}; set race_score=null to race "
                          "with the score as configured") from None


def _standings(race: list, final: Objective, second: Objective | None,
               parameterization) -> list[float]:
    """How the raced basins rank: the score's value at each race's end, or, with a second
    score, the sum of both values there, each divided by that score's value for an
    unrelated pair (:class:`~subalign.plugin.protocols.CalibratedObjective`; raw values for
    scores without it)."""
    def relative(objective: Objective, value: float) -> float:
        if isinstance(objective, CalibratedObjective):
            return value / objective.uninformative_value()
        return value

    if second is None:
        return [state.value for state in race]
    return [relative(final, state.value)
            + relative(second, second.value(parameterization.to_transform(state.params)))
            for state in race]


def align_pair(
    config: Any, fixed: np.ndarray, moving: np.ndarray, *, plugins: PluginSet | None = None
) -> AlignmentResult:
    """Align ``moving`` onto ``fixed``.

    Parameters
    ----------
    config : mapping or None
        An ``align`` config: a composed one (:func:`subalign.compose_config`), a plain or
        partial dict, or None for every default. It is merged onto
        :class:`subalign.align.config.AlignConfig` once, here; a missing plugin node
        selects the default plugin with its default settings.
    fixed, moving : ndarray of shape (N, N, N)
        ``[z, y, x]`` volumes of equal shape.
    plugins : PluginSet, optional
        Default: the process-wide set from installed entry points.

    Returns
    -------
    AlignmentResult
    """
    started = time.perf_counter()
    config = align_settings(config)
    plugins = plugins or default_plugin_set()
    fixed = check_volume(fixed, "fixed")
    moving = check_volume(moving, "moving")
    if fixed.shape != moving.shape:
        raise VolumeError(
            f"moving: expected the shape of fixed {fixed.shape}, found {moving.shape}"
        )
    fixed_tilt, moving_tilt = resolve_tilts(config)
    score_node = dict(config.score)
    settings = search_settings(config)
    score = plugins.create("score", score_node)
    optimizer = plugins.create("optimizer", config.optimizer)
    sampler = plugins.create("sampler", config.sampler)
    constraint = plugins.create("constraint", config.constraint)
    refiner = plugins.create("refiner", config.refiner)

    second = None if config.race_score is None else race_score(plugins, score_node,
                                                                config.race_score)
    search = SearchStage(plugins, score_node, settings, fixed, moving, fixed_tilt, moving_tilt)
    parameterization = constraint.parameterization()
    candidates = [parameterization.to_params(start)
                  for start in search.starts(constraint.candidate_rotations(sampler))]
    plugins.alignment_started(n_candidates=len(candidates), config=config)
    steps = [0]

    def on_step(*, candidate: int, value: float, record: float, record_params=None,
                to_full=search.to_full) -> None:
        steps[0] += 1
        holder = (None if record_params is None
                  else to_full(parameterization.to_transform(record_params)))
        plugins.candidate_step(candidate=candidate, step=steps[0], value=value, record=record,
                               record_transform=holder)

    refined = refiner.refine(RefinementProblem(
        search.objective, optimizer, parameterization, candidates, config.seed, on_step
    ))
    params, value, details = refined.params, refined.value, dict(refined.details)
    if details.get("stop_reason") == "n_max_iter":
        log.warning("the refiner stopped at its step cap (%d steps, %d candidates) before "
                    "converging; raise refiner.n_max_iter or keep fewer candidates (scan.keep)",
                    refined.steps, len(candidates))
    polish_steps = 0
    final = search.objective
    winner, gaps = params, []
    if settings.two_stage:
        # The best few basins of the search are polished at full size: the search score,
        # blunter by design, may rank a wrong basin just above the true one.
        best = int(details.get("best_candidate", 0))
        final = score.prepare(fixed, moving, fixed_tilt, moving_tilt)
        starts = distinct_basins(refined.candidates or [(params, value)], parameterization,
                                 config.polish_basins)

        def reporting(record: list):
            """A step callback keeping ``record``, the lowest value of one score so far."""
            def on_polish_step(state) -> None:
                if state.value < record[0]:
                    record[:] = [state.value, state.params]
                on_step(candidate=best, value=state.value, record=record[0],
                        record_params=record[1], to_full=lambda t: t)
            return on_polish_step

        full_params = [parameterization.to_params(search.to_full(
            parameterization.to_transform(start))) for start, _ in starts]
        on_polish_step = reporting([np.inf, None])
        if len(starts) > 1:
            # A race: every basin gets a few steps, then only the leader is polished on. With
            # race_score, the leader is the lowest sum of the score's and the race score's
            # values there, each relative to an unrelated pair's (_standings).
            race = [polish(final, optimizer, parameterization, start,
                           min(POLISH_RACE_STEPS, config.polish_max_steps), on_polish_step)
                    for start in full_params]
            standing = _standings(race, final, None if second is None else second.prepare(
                fixed, moving, fixed_tilt, moving_tilt), parameterization)
            won = min(range(len(race)), key=lambda k: standing[k])
            gaps.append(basin_gap([(state.params, standing[k]) for k, state in enumerate(race)],
                                  race[won].params, parameterization))
            leader = race[won]
        else:  # one basin: no other to compare with (a gap of 1, as basin_gap gives)
            won, race = 0, []
            leader = optimizer.start(final, parameterization, full_params[0])
            gaps.append(1.0)
        polished = resume_polish(final, optimizer, parameterization, leader,
                                 config.polish_max_steps, on_polish_step)
        winner = starts[won][0]
        params, value = polished.params, polished.value
        polish_steps = sum(state.steps for state in race) + polished.steps - leader.steps
        details.update(search_value=float(refined.value), polish_steps=polish_steps,
                       polished_basins=len(starts), search_binning=search.factor)
    result = AlignmentResult(
        transform=parameterization.to_transform(params),
        score_name=str(score_node["name"]),
        score_value=float(value),
        lm_steps=int(refined.steps) + polish_steps,
        n_candidates=len(candidates),
        seconds=time.perf_counter() - started,
        confidence=confidence(
            [*gaps, basin_gap(refined.candidates, winner, parameterization)], final, float(value)),
        trace=[float(v) for v in refined.trace],
        details=details,
    )
    if result.confidence is not None and result.confidence < LOW_CONFIDENCE:
        log.warning("low confidence %.3f: another basin scores nearly as well; the result "
                    "may be wrong (pure noise, too little overlap or a symmetric particle)",
                    result.confidence)
    plugins.alignment_finished(result=result)
    return result
