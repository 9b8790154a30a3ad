"""``independent``: refine every candidate to convergence and keep the best (paper baseline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subalign.api import hookimpl, RefinementResult


@dataclass
class IndependentConfig:
    """Attributes: ``max_steps_per_candidate`` (int), a cap on each candidate's steps."""

    max_steps_per_candidate: int = 200


class IndependentRefiner:
    """Refine each candidate on its own until it converges; keep the lowest score."""

    def __init__(self, config: IndependentConfig) -> None:
        self.config = config

    def refine(self, problem) -> RefinementResult:
        best, steps, trace, per_candidate, finals = None, 0, [], [], []
        for index, params in enumerate(problem.candidates):
            state = problem.optimizer.start(problem.objective, problem.parameterization, params)
            best = state if best is None or state.value < best.value else best
            while not state.converged and state.steps < self.config.max_steps_per_candidate:
                state = problem.optimizer.step(problem.objective, problem.parameterization, state)
                steps += 1
                best = state if state.value < best.value else best
                trace.append(best.value)
                problem.on_step(candidate=index, value=state.value, record=best.value,
                                record_params=best.params)
            per_candidate.append(state.steps)
            finals.append((np.asarray(state.params), state.value))
        return RefinementResult(np.asarray(best.params), best.value, steps, trace,
                                {"steps_per_candidate": per_candidate}, finals)


@hookimpl
def subalign_register_refiners(register):
    register("independent", IndependentRefiner, IndependentConfig)
