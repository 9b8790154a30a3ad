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
from subalign.deprecation import moved_names
from subalign.errors import ConfigError, VolumeError
from subalign.numerics.geometry import TRANSFORM_CONVENTION, RigidTransform
from subalign.numerics.symmetry import parse_symmetry
from subalign.numerics.threads import single_blas_thread
from subalign.numerics.volumes import check_volume
from subalign.plugin.manager import PluginSet, default_plugin_set
from subalign.scoring.measured import prepare_score
from subalign.plugin.protocols import (
    CalibratedObjective,
    Objective,
    RefinementProblem,
)
from subalign.search import SearchStage
from subalign.search.race import basin_gap, distinct_basins, polish_race

__all__ = [
    "LOW_CONFIDENCE",
    "AlignmentResult",
    "align_pair",
    "confidence",
    "race_score",
]

log = logging.getLogger("subalign")

#: The polish race moved to subalign.search.race in 0.2 (served with a DeprecationWarning
#: until 0.3).
__getattr__ = moved_names(__name__, {"DISTINCT_BASIN_DEG": "subalign.search.race",
                                     "POLISH_RACE_STEPS": "subalign.search.race"})


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
        :data:`~subalign.search.race.DISTINCT_BASIN_DEG` away in rotation, taken under the
        search score over the refiner's final candidates and under the full score over the
        polished basins; the larger of the two counts) and the
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


#: Below this confidence a result is flagged in the log as possibly wrong (chosen on the
#: search benchmark, docs/benchmarks.md).
LOW_CONFIDENCE = 0.4


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


def align_pair(
    config: Any, fixed: np.ndarray, moving: np.ndarray, *, plugins: PluginSet | None = None,
    models: tuple | None = None,
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
    models : (fixed, moving) measurement models, optional
        How each volume was measured (:mod:`subalign.numerics.measurement`), in place of the
        config's wedges; default the config's tilt ranges.

    Returns
    -------
    AlignmentResult
    """
    started = time.perf_counter()
    config, plugins = align_settings(config), plugins or default_plugin_set()
    fixed = check_volume(fixed, "fixed")
    moving = check_volume(moving, "moving")
    if fixed.shape != moving.shape:
        raise VolumeError(
            f"moving: expected the shape of fixed {fixed.shape}, found {moving.shape}"
        )
    with single_blas_thread():
        result = _align(config, plugins, fixed, moving, models)
    result.seconds = time.perf_counter() - started
    if result.confidence is not None and result.confidence < LOW_CONFIDENCE:
        log.warning("low confidence %.3f: another basin scores nearly as well; the result "
                    "may be wrong (pure noise, too little overlap or a symmetric particle)",
                    result.confidence)
    plugins.alignment_finished(result=result)
    return result


def _align(config: Any, plugins: PluginSet, fixed: np.ndarray,
           moving: np.ndarray, models: tuple | None = None) -> AlignmentResult:
    """:func:`align_pair` on a merged ``config`` and checked volumes: search, then the
    polish race (``seconds`` is set by the caller)."""
    tilts = resolve_tilts(config) if models is None else tuple(models)
    symmetry = parse_symmetry(config.symmetry)
    symmetry = None if symmetry.order == 1 else symmetry  # C1: the plain distances, as before
    score_node = dict(config.score)
    settings = search_settings(config)
    optimizer = plugins.create("optimizer", config.optimizer)
    constraint = plugins.create("constraint", config.constraint)
    second = None if config.race_score is None else race_score(plugins, score_node,
                                                                config.race_score)
    search = SearchStage(plugins, score_node, settings, fixed, moving, *tilts)
    parameterization = constraint.parameterization()
    candidates = [parameterization.to_params(start) for start in search.starts(
        constraint.candidate_rotations(plugins.create("sampler", config.sampler)))]
    plugins.alignment_started(n_candidates=len(candidates), config=config)
    on_step = _step_reporter(plugins, parameterization, search.to_full)
    refined = plugins.create("refiner", config.refiner).refine(RefinementProblem(
        search.objective, optimizer, parameterization, candidates, config.seed, on_step))
    if (details := dict(refined.details)).get("stop_reason") == "n_max_iter":
        log.warning("the refiner stopped at its step cap (%d steps, %d candidates) before "
                    "converging; raise refiner.n_max_iter or keep fewer candidates (scan.keep)",
                    refined.steps, len(candidates))
    params, value, winner, gaps = refined.params, refined.value, refined.params, []
    final, polish_steps = search.objective, 0
    if settings.two_stage:
        final = prepare_score(plugins.create("score", score_node), fixed, moving, *tilts)
        starts = distinct_basins(refined.candidates or [(params, value)], parameterization,
                                 config.polish_basins, symmetry=symmetry)
        second = (None if second is None or len(starts) < 2  # only a race asks a second
                  else prepare_score(second, fixed, moving, *tilts))  # opinion
        race = polish_race(
            final, second, optimizer, parameterization,
            [parameterization.to_params(search.to_full(parameterization.to_transform(start)))
             for start, _ in starts], config.polish_max_steps,
            _record_keeper(on_step, int(details.get("best_candidate", 0))),
            symmetry=symmetry)
        winner, gaps = starts[race.won][0], [race.gap]
        params, value, polish_steps = race.polished.params, race.polished.value, race.steps
        details.update(search_value=float(refined.value), polish_steps=polish_steps,
                       polished_basins=len(starts), search_binning=search.factor)
    return AlignmentResult(
        transform=parameterization.to_transform(params),
        score_name=str(score_node["name"]),
        score_value=float(value),
        lm_steps=int(refined.steps) + polish_steps,
        n_candidates=len(candidates),
        seconds=0.0,
        confidence=confidence(
            [*gaps, basin_gap(refined.candidates, winner, parameterization, symmetry=symmetry)],
            final, float(value)),
        trace=[float(v) for v in refined.trace],
        details=details,
    )


def _step_reporter(plugins: PluginSet, parameterization, to_full):
    """The refiner's step callback: counts steps and reports each to the observer hooks,
    the record's parameters as a transform of the full-size volumes (``to_full``, unless a
    caller passes its own)."""
    steps = [0]

    def on_step(*, candidate: int, value: float, record: float, record_params=None,
                to_full=to_full) -> None:
        steps[0] += 1
        holder = (None if record_params is None
                  else to_full(parameterization.to_transform(record_params)))
        plugins.candidate_step(candidate=candidate, step=steps[0], value=value, record=record,
                               record_transform=holder)
    return on_step


def _record_keeper(on_step, candidate: int):
    """A polish step callback: reports each step as candidate ``candidate``'s, with the
    lowest value and its parameters so far as the record."""
    record: list = [np.inf, None]

    def on_polish_step(state) -> None:
        if state.value < record[0]:
            record[:] = [state.value, state.params]
        on_step(candidate=candidate, value=state.value, record=record[0],
                record_params=record[1], to_full=lambda t: t)
    return on_polish_step
