"""``full``: search all of SO(3) and the translation (6 parameters).

``rotation_parameterization`` selects what the optimizer steps in: ``euler`` (the paper's
ZYZ angles, degenerate at theta = 0 and 180) or ``increment`` (left increments
``R <- exp([w]_x) R`` of a rotation vector, regular everywhere). It lives on the constraint
model because the constraint defines the parameters; ``axis`` has only one angle.

The default is ``increment``: the same accuracy as Euler angles, and fewer LM steps at
theta = 0, where a third of the 60-degree Euler grid sits (``benchmarks/parameterization.py``;
figures in ``docs/benchmarks.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from subalign.api import ConfigError, EulerParameterization, hookimpl, IncrementParameterization

_PARAMETERIZATIONS = {"euler": EulerParameterization, "increment": IncrementParameterization}


@dataclass
class FullConfig:
    """Attributes: ``rotation_parameterization`` in {"euler", "increment"}."""

    rotation_parameterization: str = "increment"


class FullConstraint:
    """All rotations and translations; candidates are every rotation of the sampler."""

    def __init__(self, config: FullConfig) -> None:
        if config.rotation_parameterization not in _PARAMETERIZATIONS:
            raise ConfigError(
                "constraint.rotation_parameterization: expected one of "
                f"{sorted(_PARAMETERIZATIONS)}, found {config.rotation_parameterization!r}"
            )
        self.config = config

    def parameterization(self):
        return _PARAMETERIZATIONS[self.config.rotation_parameterization]()

    def candidate_rotations(self, sampler):
        return sampler.rotations()


@hookimpl
def subalign_register_constraints(register):
    register("full", FullConstraint, FullConfig)
