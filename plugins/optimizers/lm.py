"""``lm`` and ``lm_complex``: Levenberg-Marquardt steps (Xu & Alber 2012, eq. 7 and 17-19).

One *step* is one Jacobian evaluation (the common mask held at the current rotation) plus
the trial evaluations it needs: solve ``(A + lambda diag A) delta = -b`` and evaluate the
score at ``p + delta`` (with the mask at the new rotation). A trial that lowers the score is
accepted and lambda shrinks; otherwise lambda grows and the step is solved again, up to
``max_trials`` times. For real residuals ``A = J^T J``, ``b = J^T r`` (eq. 7); for complex
residuals ``A = Re(J)^T Re(J) + Im(J)^T Im(J) = Re(J^H J)`` and ``b = Re(J^H r)`` (eq. 18-19),
which is real LM on the stacked real and imaginary parts.

``lm`` takes either kind of residual (for complex ones it solves eq. 17-19, which reduce to
eq. 7 for real ones), so ``-m score=rcs,fcs`` works with one optimizer; ``lm_complex`` is
the paper's complex variant by name and refuses real residuals.

A candidate is converged when the local quadratic model cannot lower the score by more than
``ftol`` relatively (the Gauss-Newton step's predicted decrease ``b^T A^-1 b``, checked
before any trial is evaluated), when no trial of a step lowered the score, when the
relative decrease was below ``ftol``, or when every parameter changed by less than ``xtol``
(degrees / voxels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subalign.api import chain_jacobian, ConfigError, hookimpl, OptimizerState


@dataclass
class LMConfig:
    """Levenberg-Marquardt settings.

    Attributes
    ----------
    initial_damping : float
        lambda at the first step of a candidate.
    damping_decrease, damping_increase : float
        Factors applied to lambda after an accepted / a rejected trial.
    max_trials : int
        Trials per step before the candidate is declared converged.
    ftol : float
        Relative score decrease below which a candidate is converged.
    xtol : float
        Largest parameter change (degrees or voxels) below which a candidate is converged.
    """

    initial_damping: float = 1e-3
    damping_decrease: float = 0.3
    damping_increase: float = 10.0
    max_trials: int = 8
    ftol: float = 1e-7
    xtol: float = 1e-4


class LevenbergMarquardt:
    """Levenberg-Marquardt (eq. 7; eq. 17-19 for complex residuals), adaptive damping."""

    requires_complex = False

    def __init__(self, config: LMConfig) -> None:
        checks = (("initial_damping", config.initial_damping > 0, "> 0"),
                  ("damping_decrease", 0 < config.damping_decrease < 1, "in (0, 1)"),
                  ("damping_increase", config.damping_increase > 1, "> 1"),
                  ("max_trials", config.max_trials >= 1, ">= 1"))
        for field, ok, expected in checks:
            if not ok:
                raise ConfigError(f"optimizer.{field}: expected {expected}, "
                                  f"found {getattr(config, field)}")
        self.config = config

    def _check(self, objective) -> None:
        if self.requires_complex and not getattr(objective, "is_complex", False):
            raise ConfigError(
                f"optimizer=lm_complex: expected a score with complex residuals (e.g. fcs), "
                f"found real ones from {type(objective).__name__}; use optimizer=lm for those"
            )

    def start(self, objective, parameterization, params) -> OptimizerState:
        self._check(objective)
        params = np.asarray(params, dtype=float)
        value = objective.value(parameterization.to_transform(params))
        return OptimizerState(params, value, memo={"damping": self.config.initial_damping})

    @staticmethod
    def normal_equations(residuals, jacobian) -> tuple[np.ndarray, np.ndarray]:
        """``A = Re(J)^T Re(J) + Im(J)^T Im(J)`` (eq. 18) and ``b = Re(J)^T Re(r) +
        Im(J)^T Im(r)`` (eq. 19 with ``r = g_beta - f``); for real ``J`` and ``r`` these are
        eq. 7's ``J^T J`` and ``J^T r``."""
        if not (np.iscomplexobj(jacobian) or np.iscomplexobj(residuals)):
            return jacobian.T @ jacobian, jacobian.T @ residuals
        real, imag = jacobian.real, jacobian.imag
        matrix = real.T @ real + imag.T @ imag
        return matrix, real.T @ residuals.real + imag.T @ residuals.imag

    @staticmethod
    def predicted_decrease(matrix, gradient, scale) -> float:
        """``b^T A^-1 b``: the largest decrease of ``|r + J delta|^2`` over ``delta`` (the
        Gauss-Newton step's), ``inf`` when ``A`` is singular even with a tiny damping."""
        try:
            newton = np.linalg.solve(matrix + 1e-12 * np.diag(scale), gradient)
        except np.linalg.LinAlgError:
            return np.inf
        return float(gradient @ newton)

    def step(self, objective, parameterization, state: OptimizerState) -> OptimizerState:
        config = self.config
        params = state.params
        residuals, local = objective.jacobian(parameterization.to_transform(params))
        jacobian = chain_jacobian(local, parameterization.rotation_jacobian(params))
        matrix, gradient = self.normal_equations(residuals, jacobian)
        current = float(np.vdot(residuals, residuals).real)
        scale = np.diag(matrix).copy()
        scale[scale <= 0] = max(float(scale.max()), 1.0) * 1e-12
        if self.predicted_decrease(matrix, gradient, scale) <= config.ftol * current:
            return OptimizerState(params, state.value, state.steps + 1, True, dict(state.memo))
        damping = state.memo["damping"]
        for _ in range(config.max_trials):
            try:
                delta = np.linalg.solve(matrix + damping * np.diag(scale), -gradient)
            except np.linalg.LinAlgError:
                damping *= config.damping_increase
                continue
            trial = parameterization.advance(params, delta)
            value = objective.value(parameterization.to_transform(trial))
            if value < current:
                converged = (current - value) <= config.ftol * current or (
                    np.max(np.abs(delta)) < config.xtol
                )
                damping = max(damping * config.damping_decrease, 1e-12)
                return OptimizerState(trial, value, state.steps + 1, converged,
                                      {"damping": damping})
            damping *= config.damping_increase
        return OptimizerState(params, current, state.steps + 1, True, {"damping": damping})


class ComplexLevenbergMarquardt(LevenbergMarquardt):
    """Complex-valued Levenberg-Marquardt (eq. 17-19); needs complex residuals."""

    requires_complex = True


@hookimpl
def subalign_register_optimizers(register):
    register("lm", LevenbergMarquardt, LMConfig)
    register("lm_complex", ComplexLevenbergMarquardt, LMConfig)
