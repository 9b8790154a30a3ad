"""The search stage: candidates refined under a search score on binned volumes, then polished.

A pair is aligned in two stages. The *search* refines every candidate rotation with the
score at ``search_score`` settings (by default a lower band and a narrower wedge margin,
whose optimum is wider) on volumes binned by ``search_binning``; the best result is then
*polished* at full size with the score as configured. Why: LM from the centroid start
reaches the truth from farther away under the search score, and a binned step costs an
eighth of a full one (measured figures: ``docs/benchmarks.md``).

The candidates come from the rotation scan (:mod:`subalign.search.scan`): every rotation the
sampler offers is ranked by the constrained correlation at its best FFT translation, and
the best few distinct ones start the refinement at that translation. Without the scan
(``scan.keep=null``, the paper's scheme) every rotation is a candidate and starts with the
translation that puts the moving particle's centre onto the fixed one's (``centroid``) or
with the score's FFT translation search (``fft``).

The contract with scores: none. Searching on binned volumes is the framework's choice; it
rescales a score's settings itself where it can (:func:`_search_score`) and otherwise
searches at full size. Search settings are fields of the score's own config. Everything in
this module is in the *search* box's voxels until :meth:`SearchStage.to_full` scales a
transform back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from subalign.errors import ConfigError
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import bin_volume, particle_centre
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import PluginSet
from subalign.scoring.measured import prepare_score
from subalign.search.scan import scan_rotations
from subalign.plugin.protocols import (
    BinnableScore,
    Objective,
    Optimizer,
    OptimizerState,
    Parameterization,
    Score,
)

__all__ = ["INITIAL_TRANSLATIONS", "SearchSettings", "SearchStage", "polish", "resume_polish",
           "search_factor"]

log = logging.getLogger("subalign")

INITIAL_TRANSLATIONS = ("centroid", "fft")
#: Scores already reported as searched at full size (one log line per score and process).
_UNBINNED_SAID: set = set()
#: The smallest binned box the search runs on; a smaller one keeps too little to rank rotations.
MIN_SEARCH_BOX = 16
#: Soft-mask edge of the scan in full-size voxels (the scores' default).
SCAN_MASK_EDGE_VOXELS = 3.0


@dataclass(frozen=True)
class SearchSettings:
    """How the global search runs (the ``align`` config's fields of the same meaning).

    Attributes
    ----------
    score_overrides : mapping or None
        Fields of the score's config replaced for the search; None searches with the score
        as configured, at full size and with no polish.
    binning : int
        Requested binning factor of the search volumes (see :func:`search_factor`).
    initial_translation : {"centroid", "fft"}
        Starts of the candidates when there is no scan.
    max_shift_voxels : float or None
        Longest translation the FFT start or the scan may return, in full-size voxels.
    scan_keep : int or None
        Candidates kept by the rotation scan (:mod:`subalign.search.scan`); None: no scan.
    scan_separation_deg, scan_max_frequency, scan_wedge_margin_voxels : float
        The scan's settings, frequencies in cycles/voxel of the full-size volumes.
    """

    score_overrides: Mapping[str, Any] | None
    binning: int
    initial_translation: str
    max_shift_voxels: float | None
    scan_keep: int | None
    scan_separation_deg: float
    scan_max_frequency: float
    scan_wedge_margin_voxels: float

    @property
    def two_stage(self) -> bool:
        """True when a search score differs from the configured one (then a polish follows)."""
        return bool(self.score_overrides)


def search_factor(binning: int, size: int) -> int:
    """The binning factor actually used: ``binning`` if it divides the box and leaves at
    least :data:`MIN_SEARCH_BOX` voxels, else 1."""
    if binning < 1:
        raise ConfigError(f"search_binning: expected a whole number >= 1, found {binning}")
    return binning if size % binning == 0 and size // binning >= MIN_SEARCH_BOX else 1


def _search_score(plugins: PluginSet, score_node: Mapping[str, Any],
                  settings: SearchSettings, factor: int) -> tuple[Score, int]:
    """The score the search runs with (overrides applied, adapted to the binning) and the
    binning it runs at.

    Binning is the framework's speed choice, not a demand on scores: a
    :class:`~subalign.plugin.protocols.BinnableScore` adapts itself; a score whose config
    can rescale itself (``binned(factor)``, as every ``ConstrainedScoreConfig`` can) is
    rebuilt from the rescaled config; any other score is searched at full size, said once
    per process in the log.
    """
    overrides = dict(settings.score_overrides or {})
    node = {**score_node, **overrides}
    try:
        score = plugins.create("score", node)
    except ConfigError as exc:
        raise ConfigError(f"search_score={overrides}: {exc}; set search_score=null to "
                          "search with the score as configured") from None
    if factor == 1:
        return score, 1
    if isinstance(score, BinnableScore):
        return score.binned(factor), factor
    try:
        rebuilt = plugins.create_binned("score", node, factor)
        why = "has no binned settings (neither binned(factor) nor a ConstrainedScoreConfig)"
    except ConfigError as exc:  # the plugin refuses its own rescaled settings
        rebuilt, why = None, f"refuses its binned settings ({exc})"
    if rebuilt is not None:
        return rebuilt, factor
    name = str(score_node["name"])
    if name not in _UNBINNED_SAID:
        _UNBINNED_SAID.add(name)
        log.info("search_binning=%d: score %r %s; its search runs at full size", factor, name,
                 why)
    return score, 1


class SearchStage:
    """The search of one pair: the search score prepared on the (binned) volumes.

    Parameters
    ----------
    plugins : PluginSet
    score_node : mapping
        The configured score (``{"name": ..., field: value}``).
    settings : SearchSettings
    fixed, moving : ndarray of shape (N, N, N)
        Full-size ``[z, y, x]`` volumes.
    fixed_tilt, moving_tilt : TiltRange or measurement model
        (:mod:`subalign.numerics.measurement`; a score without the
        :class:`~subalign.plugin.protocols.WeightedScore` capability gets their tilt ranges).

    Attributes
    ----------
    factor : int
        Binning of the search volumes (1: full size).
    objective : Objective
        The search score prepared for the binned pair.
    """

    def __init__(self, plugins: PluginSet, score_node: Mapping[str, Any],
                 settings: SearchSettings, fixed: np.ndarray, moving: np.ndarray,
                 fixed_tilt: TiltRange, moving_tilt: TiltRange) -> None:
        if settings.initial_translation not in INITIAL_TRANSLATIONS:
            raise ConfigError(f"initial_translation: expected 'centroid' or 'fft', found "
                              f"{settings.initial_translation!r}")
        self.settings = settings
        score, self.factor = _search_score(
            plugins, score_node, settings,
            search_factor(settings.binning, fixed.shape[0]) if settings.two_stage else 1)
        self.fixed = bin_volume(fixed, self.factor)
        self.moving = bin_volume(moving, self.factor)
        self.tilts = (fixed_tilt, moving_tilt)
        self.weighting = str(score_node.get("measurement_weighting", "both"))
        self.objective: Objective = prepare_score(score, self.fixed, self.moving, fixed_tilt,
                                                  moving_tilt)

    def starts(self, rotations: np.ndarray) -> list[RigidTransform]:
        """The refiner's starting transforms (search voxels) from candidate rotations
        (K, 3, 3): the scan's best, or every rotation with its initial translation."""
        settings = self.settings
        max_shift = settings.max_shift_voxels
        max_shift = None if max_shift is None else max_shift / self.factor
        if settings.scan_keep is not None:
            ranked = scan_rotations(
                self.fixed, self.moving, *self.tilts, rotations,
                max_frequency=min(settings.scan_max_frequency * self.factor, 0.5),
                wedge_margin_voxels=settings.scan_wedge_margin_voxels,
                mask_edge_voxels=SCAN_MASK_EDGE_VOXELS / self.factor, max_shift=max_shift,
                weighting=self.weighting,
            ).distinct(settings.scan_keep, settings.scan_separation_deg)
            return [RigidTransform(r, t) for r, t in zip(ranked.rotations, ranked.translations)]
        if settings.initial_translation == "fft":
            return [RigidTransform(r, self.objective.best_translation(r, max_shift))
                    for r in rotations]
        fixed_centre, moving_centre = particle_centre(self.fixed), particle_centre(self.moving)
        return [RigidTransform(r, fixed_centre - r @ moving_centre) for r in rotations]

    def to_full(self, transform: RigidTransform) -> RigidTransform:
        """``transform`` (search voxels) in the full-size volumes' voxels."""
        return RigidTransform(transform.rotation, transform.translation * self.factor)


def polish(objective: Objective, optimizer: Optimizer, parameterization: Parameterization,
           start: np.ndarray, max_steps: int,
           on_step: Callable[[OptimizerState], None]) -> OptimizerState:
    """Optimizer steps from parameters ``start`` until converged or ``max_steps``;
    ``on_step(state)`` after each. Returns the final optimizer state."""
    return resume_polish(objective, optimizer, parameterization,
                         optimizer.start(objective, parameterization, start), max_steps, on_step)


def resume_polish(objective: Objective, optimizer: Optimizer, parameterization: Parameterization,
                  state: OptimizerState, max_steps: int,
                  on_step: Callable[[OptimizerState], None]) -> OptimizerState:
    """:func:`polish` continued from an optimizer ``state`` until converged or
    ``max_steps`` steps in all."""
    while not state.converged and state.steps < max_steps:
        state = optimizer.step(objective, parameterization, state)
        on_step(state)
    return state
