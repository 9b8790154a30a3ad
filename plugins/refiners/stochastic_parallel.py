"""``stochastic_parallel``: the paper's stochastic parallel refinement (eq. 10-12, Figure 1).

All candidates are kept with their scores and optimizer state. Each iteration:

1. Order the candidates that have not converged by score, ``d_1 >= ... >= d_m`` (eq. 10),
   and give them weights ``p_1 = 1``, ``p_j = p_{j-1} max(10^(t/(m-1)), d_{j-1}/d_j)``
   (eq. 11), so the best is at least ``10^t`` times likelier than the worst.
2. Draw one candidate with probability proportional to ``p`` and take one optimizer step
   on it.
3. If it is now within ``gamma`` of another candidate under the eq. 12 distance, drop the
   one of the two with the higher score.
4. Stop when the slope of a least-squares line through the last ``regression_window``
   values of (record minimum / initial record minimum), per step, is at most ``t_regress``
   in magnitude (counting only steps after the warm-up below), when every candidate has
   converged, or after ``n_max_iter`` steps.

Beyond the paper, every candidate first gets ``warmup_steps`` steps (best first): a
candidate 30-40 degrees from the truth starts with a mediocre score and, drawn by score
alone, may never be stepped, while a step or two shows which candidates fall fast
(measured in ``docs/benchmarks.md``).

The paper leaves open whether converged candidates stay eligible; here they are not drawn
again (a step on them cannot lower their score). Step 3 is also applied once to the
starting candidates, best first: grids repeat rotations (on the ZYZ grid every ``theta = 0``
candidate with the same ``phi + psi`` is one rotation), and refining a copy is wasted work.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from subalign.api import ConfigError, hookimpl, RefinementResult, transform_distance_term


@dataclass
class StochasticParallelConfig:
    """Settings of the paper's stochastic parallel refinement.

    Attributes
    ----------
    t : float
        Scaling threshold of eq. 11 (``p_m / p_1 >= 10^t``).
    gamma : float
        Eq. 12 distance below which two candidates count as one.
    t_regress : float
        Stop when the regression slope of the normalized record minimum is at most this.
    regression_window : int
        Number of recent steps the regression uses (and the fewest steps of the stochastic
        phase before stopping; the paper leaves it open). 50 ended every pair of the
        search benchmark where 150 did, 100 steps sooner (docs/benchmarks.md).
    n_max_iter : int
        Hard cap on optimizer steps.
    warmup_steps : int
        Optimizer steps given to every candidate, best first, before the stochastic
        selection starts (0: the paper's scheme).
    """

    t: float = 0.5
    gamma: float = 0.1
    t_regress: float = 1e-3
    regression_window: int = 50
    n_max_iter: int = 1000
    warmup_steps: int = 2


def selection_weights(values: np.ndarray, t: float) -> np.ndarray:
    """Eq. 10-11 weights (not normalized) for scores ``values`` in any order.

    Parameters
    ----------
    values : ndarray of shape (m,)
        Scores, lower is better.
    t : float

    Returns
    -------
    ndarray of shape (m,)
        ``p`` in the order of ``values``.
    """
    values = np.asarray(values, dtype=float)
    m = len(values)
    if m == 1:
        return np.ones(1)
    order = np.argsort(-values, kind="stable")  # worst first: d_1 >= ... >= d_m
    ordered = values[order]
    step = 10.0 ** (t / (m - 1))
    ratios = np.maximum(step, ordered[:-1] / np.maximum(ordered[1:], np.finfo(float).tiny))
    weights = np.empty(m)
    weights[order] = np.concatenate([[0.0], np.cumsum(np.log(ratios))])
    return np.exp(weights - weights.max())


def _distances(term: np.ndarray, others: list) -> np.ndarray:
    """Eq. 12 distances from one transform's term to each of ``others``, shape (len(others),)."""
    return np.linalg.norm(np.asarray(others) - term, axis=(1, 2))


def regression_slope(series: np.ndarray) -> float:
    """Least-squares slope of ``series`` against its index."""
    index = np.arange(len(series), dtype=float)
    index -= index.mean()
    return float(index @ (series - series.mean()) / (index @ index))


class StochasticParallelRefiner:
    """Stochastic parallel refinement of all candidates (Xu & Alber 2012, eq. 10-12)."""

    def __init__(self, config: StochasticParallelConfig) -> None:
        for field, ok, expected in (("regression_window", config.regression_window >= 2, ">= 2"),
                                    ("n_max_iter", config.n_max_iter >= 1, ">= 1"),
                                    ("gamma", config.gamma >= 0, ">= 0")):
            if not ok:
                raise ConfigError(f"refiner.{field}: expected {expected}, "
                                  f"found {getattr(config, field)}")
        self.config = config

    def refine(self, problem) -> RefinementResult:
        config = self.config
        rng = np.random.default_rng(problem.seed)
        objective, optimizer, parameterization = (
            problem.objective, problem.optimizer, problem.parameterization
        )
        states = {i: optimizer.start(objective, parameterization, p)
                  for i, p in enumerate(problem.candidates)}
        terms = {i: transform_distance_term(parameterization.to_transform(s.params))
                 for i, s in states.items()}
        removed = self._drop_initial_duplicates(states, terms)
        initial_record = min(s.value for s in states.values())
        best_index = min(states, key=lambda i: states[i].value)
        trace, stop_reason = [], "n_max_iter"
        warmup = deque(i for i in sorted(states, key=lambda i: states[i].value)
                       for _ in range(config.warmup_steps))
        selection_start = None  # index in trace where the stochastic selection began
        for _ in range(config.n_max_iter):
            active = [i for i in states if not states[i].converged]
            if not active:
                stop_reason = "all candidates converged"
                break
            while warmup and (warmup[0] not in states or states[warmup[0]].converged):
                warmup.popleft()
            if warmup:
                chosen = warmup.popleft()
            else:
                selection_start = len(trace) if selection_start is None else selection_start
                weights = selection_weights(np.array([states[i].value for i in active]), config.t)
                chosen = active[rng.choice(len(active), p=weights / weights.sum())]
            stepped = optimizer.step(objective, parameterization, states[chosen])
            states[chosen] = stepped
            terms[chosen] = transform_distance_term(parameterization.to_transform(stepped.params))
            removed += self._drop_duplicate(chosen, states, terms)
            best_index = min(states, key=lambda i: states[i].value)
            trace.append(states[best_index].value)
            problem.on_step(candidate=chosen, value=stepped.value, record=trace[-1],
                            record_params=states[best_index].params)
            # The regression judges the stochastic phase only: warm-up steps, which every
            # candidate gets whatever its score, say nothing about convergence.
            selected = 0 if selection_start is None else len(trace) - selection_start
            if selected >= config.regression_window and initial_record > 0:
                recent = np.asarray(trace[-config.regression_window:]) / initial_record
                if abs(regression_slope(recent)) <= config.t_regress:
                    stop_reason = "regression"
                    break
        best = states[best_index]
        return RefinementResult(
            np.asarray(best.params), best.value, len(trace), trace,
            {"stop_reason": stop_reason, "candidates_removed": removed,
             "candidates_left": len(states), "best_candidate": best_index},
            [(np.asarray(s.params), s.value) for s in states.values()],
        )

    def _drop_initial_duplicates(self, states: dict, terms: dict) -> int:
        """Keep, best first, only candidates farther than gamma (eq. 12) from every one kept."""
        kept: list[int] = []
        for index in sorted(states, key=lambda i: states[i].value):
            if not kept or _distances(terms[index], [terms[k] for k in kept]).min() > self.config.gamma:
                kept.append(index)
        dropped = set(states) - set(kept)
        for index in dropped:
            del states[index], terms[index]
        return len(dropped)

    def _drop_duplicate(self, moved: int, states: dict, terms: dict) -> int:
        """Remove the worse of ``moved`` and its nearest candidate if within gamma (eq. 12)."""
        others = [i for i in states if i != moved]
        if not others:
            return 0
        distances = _distances(terms[moved], [terms[i] for i in others])
        nearest = others[int(np.argmin(distances))]
        if distances.min() > self.config.gamma:
            return 0
        worse = moved if states[moved].value > states[nearest].value else nearest
        del states[worse], terms[worse]
        return 1


@hookimpl
def subalign_register_refiners(register):
    register("stochastic_parallel", StochasticParallelRefiner, StochasticParallelConfig)
