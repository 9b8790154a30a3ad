"""Contract tests a plugin author runs against their own score or optimizer.

Subclass a contract in a pytest module and name your plugin; pytest collects the inherited
tests::

    from subalign.testing import ScoreContract

    class TestMyScore(ScoreContract):
        score = {"name": "my_score", "my_field": 2.0}

The built-in plugins pass the same contracts (``tests/test_contracts.py``). Each test
builds a noise-free synthetic pair with a known transform, so every assertion is checked
against ground truth. Tolerances are class attributes an author may tighten, and should
say why if they loosen one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from .geometry import RigidTransform, rotation_distance_deg, rotation_vector_to_matrix
from .manager import PluginSet, default_plugin_set
from .parameterization import IncrementParameterization
from .protocols import Objective
from .scoring import finite_difference_jacobian
from .synthetic import synthetic_pair
from .transform import shift_volume
from .wedge import TiltRange

__all__ = ["OptimizerContract", "ScoreContract"]

WEDGE = TiltRange(-60.0, 60.0)
FULL = TiltRange(-90.0, 90.0)


def _nudge(transform: RigidTransform, degrees: float, voxels: float, seed: int) -> RigidTransform:
    """``transform`` moved by ``degrees`` about a random axis and ``voxels`` along a random
    direction (both seeded)."""
    rng = np.random.default_rng(seed)
    axis, direction = rng.normal(size=(2, 3))
    rotation = rotation_vector_to_matrix(np.radians(degrees) * axis / np.linalg.norm(axis))
    return RigidTransform(rotation @ transform.rotation,
                          transform.translation + voxels * direction / np.linalg.norm(direction))


class _Contract:
    """What every contract needs: the plugins under test (override to test another set)."""

    @pytest.fixture
    def plugins(self) -> PluginSet:
        return default_plugin_set()


class ScoreContract(_Contract):
    """Contract of a :class:`~subalign.protocols.Score` plugin.

    Attributes
    ----------
    score : dict or str
        Config node selecting the plugin (``{"name": ..., field: value}``).
    size : int
        Box edge of the test volumes.
    jacobian_rtol : float
        Largest ``|J_col - fd_col| / |fd_col|`` accepted per Jacobian column, against central
        differences with a step of ``1e-4`` rad / voxel, the mask held fixed.
    """

    score: ClassVar[Any] = None
    size: ClassVar[int] = 32
    jacobian_rtol: ClassVar[float] = 0.05

    @pytest.fixture
    def pair(self):
        return synthetic_pair(3, size=self.size, snr=np.inf, tilt=WEDGE, max_translation=1.5)

    def prepare(self, plugins: PluginSet, fixed, moving, tilt=WEDGE) -> Objective:
        return plugins.create("score", self.score).prepare(fixed, moving, tilt, tilt)

    def test_objective_satisfies_protocol(self, plugins, pair):
        objective = self.prepare(plugins, pair.fixed, pair.moving)
        assert isinstance(objective, Objective)
        assert isinstance(getattr(objective, "is_complex"), bool)

    def test_value_is_sum_of_squared_residuals(self, plugins, pair):
        objective = self.prepare(plugins, pair.fixed, pair.moving)
        transform = _nudge(pair.truth, 7.0, 0.6, seed=1)
        residuals = objective.residuals(transform)
        assert np.iscomplexobj(residuals) == objective.is_complex
        assert objective.value(transform) == pytest.approx(np.vdot(residuals, residuals).real)

    def test_zero_for_a_volume_against_itself(self, plugins, pair):
        objective = self.prepare(plugins, pair.fixed, pair.fixed)
        at_identity = objective.value(RigidTransform.identity())
        rotated = objective.value(_nudge(RigidTransform.identity(), 20.0, 0.0, seed=2))
        assert at_identity < 1e-10 * max(rotated, 1.0)
        assert rotated > 1e-3

    def test_grows_with_distance_from_truth(self, plugins, pair):
        objective = self.prepare(plugins, pair.fixed, pair.moving)
        values = [objective.value(_nudge(pair.truth, degrees, 0.0, seed=4))
                  for degrees in (0.0, 10.0, 30.0)]
        assert values[0] < values[1] < values[2]

    def test_minimal_at_the_true_transform_with_wedges(self, plugins, pair):
        objective = self.prepare(plugins, pair.fixed, pair.moving)
        at_truth = objective.value(pair.truth)
        for seed in range(6):
            assert at_truth < objective.value(_nudge(pair.truth, 3.0, 0.0, seed=seed))
            assert at_truth < objective.value(_nudge(pair.truth, 0.0, 0.3, seed=seed))

    @pytest.mark.parametrize("seed", [0, 1])
    def test_jacobian_matches_central_differences(self, plugins, pair, seed):
        objective = self.prepare(plugins, pair.fixed, pair.moving)
        transform = _nudge(pair.truth, 12.0, 1.0, seed=10 + seed)
        residuals, jacobian = objective.jacobian(transform)
        assert jacobian.shape == (residuals.size, 6)
        reference = finite_difference_jacobian(objective, transform)
        for column in range(6):
            error = (np.linalg.norm(jacobian[:, column] - reference[:, column])
                     / np.linalg.norm(reference[:, column]))
            assert error < self.jacobian_rtol, f"column {column}: relative error {error:.3g}"

    def test_best_translation_recovers_an_integer_shift(self, plugins, pair):
        shift = np.array([2.0, -1.0, 3.0])
        moving = shift_volume(pair.fixed, shift)
        objective = self.prepare(plugins, pair.fixed, moving)
        np.testing.assert_array_equal(objective.best_translation(np.eye(3), None), -shift)
        np.testing.assert_array_equal(objective.best_translation(np.eye(3), 4.0), -shift)
        limited = objective.best_translation(np.eye(3), 3.0)  # |shift| = 3.74 is out of reach
        assert np.linalg.norm(limited) <= 3.0 and not np.array_equal(limited, -shift)


class OptimizerContract(_Contract):
    """Contract of an :class:`~subalign.protocols.Optimizer` plugin, run with ``score``.

    Attributes
    ----------
    optimizer, score : dict or str
        Config nodes selecting the plugins.
    rotation_tol_deg, translation_tol_voxels : float
        Recovery tolerance without a missing wedge or noise, from 10 degrees and 1 voxel off.
    max_steps : int
    """

    optimizer: ClassVar[Any] = None
    score: ClassVar[Any] = "rcs"
    rotation_tol_deg: ClassVar[float] = 0.2
    translation_tol_voxels: ClassVar[float] = 0.05
    max_steps: ClassVar[int] = 60

    @pytest.fixture
    def problem(self, plugins):
        pair = synthetic_pair(5, snr=np.inf, tilt=FULL, max_translation=1.5)
        objective = plugins.create("score", self.score).prepare(pair.fixed, pair.moving, FULL, FULL)
        return pair, objective, plugins.create("optimizer", self.optimizer)

    def test_steps_never_increase_the_score_and_are_counted(self, problem):
        pair, objective, optimizer = problem
        parameterization = IncrementParameterization()
        state = optimizer.start(objective, parameterization,
                                parameterization.to_params(_nudge(pair.truth, 10.0, 1.0, seed=7)))
        assert state.steps == 0
        for expected in range(1, 6):
            previous = state.value
            state = optimizer.step(objective, parameterization, state)
            assert state.steps == expected
            assert state.value <= previous

    def test_recovers_the_transform_from_nearby(self, problem):
        pair, objective, optimizer = problem
        parameterization = IncrementParameterization()
        state = optimizer.start(objective, parameterization,
                                parameterization.to_params(_nudge(pair.truth, 10.0, 1.0, seed=8)))
        while not state.converged and state.steps < self.max_steps:
            state = optimizer.step(objective, parameterization, state)
        found = parameterization.to_transform(state.params)
        assert rotation_distance_deg(found.rotation, pair.truth.rotation) < self.rotation_tol_deg
        assert np.linalg.norm(found.translation - pair.truth.translation) < self.translation_tol_voxels
