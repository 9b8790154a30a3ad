"""``exhaustive_scan``: the scanning baseline, no refinement.

Every candidate (a rotation of the sampler's grid with its FFT-searched integer
translation) is scored once and the best is returned. For the paper's scanning baseline use a
fine grid, the score as configured, FFT translations and no polish:
``refiner=exhaustive_scan sampler.interval_deg=10 search_score=null initial_translation=fft``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subalign.api import hookimpl, RefinementResult


@dataclass
class ExhaustiveScanConfig:
    """No settings: the grid is the sampler's."""


class ExhaustiveScanRefiner:
    """Score every candidate once (rotation grid + FFT translation) and keep the best."""

    def __init__(self, config: ExhaustiveScanConfig) -> None:
        self.config = config

    def refine(self, problem) -> RefinementResult:
        to_transform = problem.parameterization.to_transform
        values = [problem.objective.value(to_transform(np.asarray(p))) for p in problem.candidates]
        best = int(np.argmin(values))
        return RefinementResult(np.asarray(problem.candidates[best]), float(values[best]), 0, [],
                                {"candidates_scored": len(values)},
                                [(np.asarray(p), float(v)) for p, v in zip(problem.candidates, values)])


@hookimpl
def subalign_register_refiners(register):
    register("exhaustive_scan", ExhaustiveScanRefiner, ExhaustiveScanConfig)
