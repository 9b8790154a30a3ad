"""The polish race: the best few basins of the search, polished at full size.

The search score is blunter by design and may rank a wrong basin just above the true one.
So the best ``polish_basins`` distinct basins each get :data:`POLISH_RACE_STEPS` optimizer
steps with the score as configured; the leader (with a second-opinion ``race_score``: the
lowest sum of both scores' values, each relative to an unrelated pair's) is then polished
to convergence from where its race ended.

With a point group (``symmetry``: the fixed volume's, :mod:`subalign.numerics.symmetry`)
a transform ``T`` and its copies ``S T`` are one basin: distances between basins are the least
over the copies, so a symmetric copy is neither another basin to polish nor the runner-up of
:func:`basin_gap`. Without one (None, as for C1) every distance is the plain one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from subalign.numerics.geometry import rotation_distance_deg
from subalign.numerics.symmetry import PointGroup
from subalign.plugin.protocols import (
    CalibratedObjective,
    Objective,
    Optimizer,
    OptimizerState,
    Parameterization,
)
from subalign.search.stage import polish, resume_polish

__all__ = ["DISTINCT_BASIN_DEG", "POLISH_RACE_STEPS", "RaceOutcome", "basin_gap",
           "distinct_basins", "polish_race"]

#: Candidates ending farther than this (degrees) from the best are in another basin.
DISTINCT_BASIN_DEG = 20.0
#: Optimizer steps each of several polished basins gets before only the best goes on: the
#: polish starts near each basin's optimum, where a few full-size steps already rank them
#: (docs/benchmarks.md: the same results as polishing every basin to convergence).
POLISH_RACE_STEPS = 4


def _rotation(parameterization: Parameterization, params: np.ndarray) -> np.ndarray:
    return parameterization.to_transform(params).rotation


def _apart_deg(first: np.ndarray, second: np.ndarray, symmetry: PointGroup | None) -> float:
    """Rotation angle between ``first`` and ``second``; with ``symmetry``, the least over the
    copies ``S @ first`` (:meth:`PointGroup.transform_distance_deg`)."""
    if symmetry is None:
        return rotation_distance_deg(first, second)
    return float(symmetry.transform_distance_deg(first, second))


def distinct_basins(outcomes: list, parameterization: Parameterization, count: int, *,
                    symmetry: PointGroup | None = None) -> list:
    """The best ``(params, value)`` of each of the ``count`` best basins, best first: entries
    more than :data:`DISTINCT_BASIN_DEG` apart in rotation (up to ``symmetry``, module
    docstring)."""
    kept: list = []
    for params, value in sorted(outcomes, key=lambda outcome: outcome[1]):
        rotation = _rotation(parameterization, params)
        if all(_apart_deg(rotation, _rotation(parameterization, other), symmetry)
               > DISTINCT_BASIN_DEG for other, _ in kept):
            kept.append((params, value))
            if len(kept) == count:
                break
    return kept


def basin_gap(outcomes: list, winner: np.ndarray, parameterization: Parameterization, *,
              symmetry: PointGroup | None = None) -> float | None:
    """``(d_alt - d_win) / d_alt``, clipped to [0, 1]: how much lower the basin of ``winner``
    scores among ``outcomes`` (``(params, value)`` pairs of one score) than the best of any
    other basin (1 when there is none); None without outcomes in the winner's basin. With
    ``symmetry``, the winner's symmetric copies are its own basin (module docstring)."""
    rotation = _rotation(parameterization, winner)
    same, others = [], []
    for params, value in outcomes:
        far = _apart_deg(_rotation(parameterization, params), rotation, symmetry)
        (others if far > DISTINCT_BASIN_DEG else same).append(value)
    if not same:
        return None
    if not others:
        return 1.0
    own, runner_up = min(same), min(others)
    return float(np.clip((runner_up - own) / runner_up, 0.0, 1.0)) if runner_up > 0 else 0.0


def _standings(race: list, final: Objective, second: Objective | None,
               parameterization: Parameterization) -> list[float]:
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


@dataclass
class RaceOutcome:
    """What :func:`polish_race` found.

    Attributes
    ----------
    won : int
        Index of the winning start.
    polished : OptimizerState
        The winner polished to convergence (or ``max_steps``).
    steps : int
        Optimizer steps of the race and the polish together.
    gap : float
        :func:`basin_gap` of the winner among the raced basins (1 with one basin).
    """

    won: int
    polished: OptimizerState
    steps: int
    gap: float


def polish_race(final: Objective, second: Objective | None, optimizer: Optimizer,
                parameterization: Parameterization, starts: list, max_steps: int,
                on_step: Callable[[OptimizerState], None], *,
                symmetry: PointGroup | None = None) -> RaceOutcome:
    """Race ``starts`` (parameter vectors at full size, best search basin first) under
    ``final``, ranked with ``second`` when given, and polish the winner on.

    Each start gets ``min(POLISH_RACE_STEPS, max_steps)`` steps; only the leader goes on,
    up to ``max_steps`` steps in all. ``on_step(state)`` after every step. ``symmetry``:
    as for :func:`basin_gap`.
    """
    if len(starts) > 1:
        race = [polish(final, optimizer, parameterization, start,
                       min(POLISH_RACE_STEPS, max_steps), on_step) for start in starts]
        standing = _standings(race, final, second, parameterization)
        won = min(range(len(race)), key=lambda k: standing[k])
        gap = basin_gap([(state.params, standing[k]) for k, state in enumerate(race)],
                        race[won].params, parameterization, symmetry=symmetry)
        leader = race[won]
    else:  # one basin: no other to compare with (a gap of 1, as basin_gap gives)
        won, race, gap = 0, [], 1.0
        leader = optimizer.start(final, parameterization, starts[0])
    polished = resume_polish(final, optimizer, parameterization, leader, max_steps, on_step)
    steps = sum(state.steps for state in race) + polished.steps - leader.steps
    return RaceOutcome(won=won, polished=polished, steps=steps, gap=gap)
