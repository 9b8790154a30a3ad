"""Contract suites a plugin author runs against their own plugin, one per plugin kind.

Subclass the contract of your plugin's kind in a pytest module and name your plugin; pytest
collects the inherited tests::

    from subalign.testing import ScoreContract

    class TestMyScore(ScoreContract):
        score = {"name": "my_score", "my_field": 2.0}

Contracts: :class:`ScoreContract`, :class:`OptimizerContract`, :class:`SamplerContract`,
:class:`ConstraintContract`, :class:`RefinerContract`. The built-in plugins pass the same
contracts (``tests/test_contracts.py``). Tests build noise-free synthetic pairs with a
known transform, so assertions are checked against ground truth; every failure message
names what the plugin got wrong. Tolerances are class attributes an author may tighten, and
should say why if they loosen one. Override the ``plugins`` fixture to test a plugin set
other than the installed one.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pytest

from scipy.spatial.transform import Rotation

from subalign.align.config import align_settings, search_settings
from subalign.numerics.geometry import (
    RigidTransform,
    rotation_distance_deg,
    rotation_vector_to_matrix,
)
from subalign.numerics.parameterization import IncrementParameterization
from subalign.numerics.volumes import shift_volume
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import PluginSet, default_plugin_set
from subalign.plugin.protocols import (
    BinnableScore,
    Constraint,
    Objective,
    Optimizer,
    Parameterization,
    RefinementProblem,
    RefinementResult,
    Refiner,
    Sampler,
    Score,
)
from subalign.scoring.constrained import finite_difference_jacobian
from subalign.search import SearchStage
from subalign.simulation.synthetic import synthetic_pair

__all__ = [
    "ConstraintContract",
    "OptimizerContract",
    "RefinerContract",
    "SamplerContract",
    "ScoreContract",
]

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


def _missing_methods(plugin: object, protocol: type) -> list[str]:
    """Public methods of ``protocol`` that ``plugin`` lacks."""
    return sorted(name for name, member in vars(protocol).items()
                  if callable(member) and not name.startswith("_")
                  and not callable(getattr(plugin, name, None)))


def _assert_is_rotation(matrices: np.ndarray, what: str) -> None:
    """``matrices`` (K, 3, 3) are proper rotations: orthonormal with determinant +1."""
    matrices = np.asarray(matrices, dtype=float)
    assert matrices.ndim == 3 and matrices.shape[1:] == (3, 3) and len(matrices) > 0, (
        f"{what}: expected rotations of shape (K, 3, 3) with K >= 1, found {matrices.shape}")
    product = np.einsum("kij,kil->kjl", matrices, matrices)
    worst = float(np.abs(product - np.eye(3)).max())
    assert worst < 1e-8, f"{what}: not orthonormal (|R^T R - I| up to {worst:.2g})"
    determinants = np.linalg.det(matrices)
    assert np.allclose(determinants, 1.0), (
        f"{what}: not proper rotations (determinants {np.unique(determinants.round(6))})")


class _Contract:
    """What every contract needs: the plugins under test (override to test another set)."""

    @pytest.fixture
    def plugins(self) -> PluginSet:
        return default_plugin_set()

    #: kind of plugin the contract checks and its protocol (set by each contract)
    kind: ClassVar[str] = ""
    protocol: ClassVar[type] = object

    def node(self) -> Any:
        """The config node selecting the plugin under test."""
        return getattr(self, self.kind)

    def test_plugin_satisfies_its_protocol(self, plugins):
        plugin = plugins.create(self.kind, self.node())
        missing = _missing_methods(plugin, self.protocol)
        assert not missing, (f"{self.kind} {self.node()!r}: missing method(s) "
                             f"{', '.join(missing)} of {self.protocol.__name__}")


class ScoreContract(_Contract):
    """Contract of a :class:`~subalign.plugin.protocols.Score` plugin.

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

    kind = "score"
    protocol = Score
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
        assert np.iscomplexobj(residuals) == objective.is_complex, (
            f"is_complex is {objective.is_complex} but residuals are {residuals.dtype}")
        value, expected = objective.value(transform), float(np.vdot(residuals, residuals).real)
        assert value == pytest.approx(expected), (
            f"value() must equal sum(|residuals|^2): found {value:.6g}, expected {expected:.6g}")

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
        for reach in (None, 4.0):
            np.testing.assert_array_equal(
                objective.best_translation(np.eye(3), reach), -shift,
                err_msg=f"best_translation(identity, {reach}): expected {-shift}, the "
                        f"translation that undoes the moving volume's shift of {shift} voxels "
                        "(x, y, z)")
        limited = objective.best_translation(np.eye(3), 3.0)  # |shift| = 3.74 is out of reach
        assert np.linalg.norm(limited) <= 3.0 and not np.array_equal(limited, -shift)

    def test_searchable_on_binned_volumes_with_the_default_search_settings(self, plugins, pair):
        """The path ``subalign align`` takes: the search score (``search_score`` overrides
        of the default align config) on volumes binned by 2 is minimal near the truth. The
        framework bins a score that is binnable itself or whose config rescales itself
        (every ``ConstrainedScoreConfig``); any other is searched at full size."""
        settings = search_settings(align_settings({"search_binning": 2}))
        node = self.score if isinstance(self.score, dict) else {"name": self.score}
        binnable = (isinstance(plugins.create("score", node), BinnableScore)
                    or callable(getattr(plugins.registries["score"].get(node["name"])
                                        .config_class, "binned", None)))
        stage = SearchStage(plugins, node, settings, pair.fixed, pair.moving, WEDGE, WEDGE)
        factor = 2 if binnable else 1
        assert stage.factor == factor and stage.fixed.shape == (self.size // factor,) * 3, (
            f"search stage: expected binning {factor}, found {stage.factor}")
        truth = RigidTransform(pair.truth.rotation, pair.truth.translation / stage.factor)
        at_truth = stage.objective.value(truth)
        for seed in range(4):
            away = stage.objective.value(_nudge(truth, 20.0, 0.0, seed=20 + seed))
            assert at_truth < away, (
                f"binned search score: {at_truth:.4g} at the truth is not below {away:.4g} "
                "20 degrees away; check binned(factor) scales the score's settings")
        full = stage.to_full(truth)
        np.testing.assert_allclose(full.translation, pair.truth.translation)


class OptimizerContract(_Contract):
    """Contract of an :class:`~subalign.plugin.protocols.Optimizer` plugin, run with ``score``.

    Attributes
    ----------
    optimizer, score : dict or str
        Config nodes selecting the plugins.
    rotation_tol_deg, translation_tol_voxels : float
        Recovery tolerance without a missing wedge or noise, from 10 degrees and 1 voxel off.
    max_steps : int
    """

    kind = "optimizer"
    protocol = Optimizer
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
            assert state.steps == expected, (
                f"step {expected}: state.steps is {state.steps}; each step must count one")
            assert state.value <= previous, (
                f"step {expected}: the score rose from {previous:.6g} to {state.value:.6g}; "
                "a step must never increase it")

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


class SamplerContract(_Contract):
    """Contract of a :class:`~subalign.plugin.protocols.Sampler` plugin.

    Attributes
    ----------
    sampler : dict or str
        Config node selecting the plugin.
    coverage_deg : float
        Every one of 300 seeded random rotations lies within this angle of a candidate, and
        no two neighbouring angles about an axis are more than twice this apart.
    """

    kind = "sampler"
    protocol = Sampler
    sampler: ClassVar[Any] = None
    coverage_deg: ClassVar[float] = 60.0

    def test_rotations_are_proper_and_reproducible(self, plugins):
        rotations = plugins.create("sampler", self.sampler).rotations()
        _assert_is_rotation(rotations, "rotations()")
        again = plugins.create("sampler", self.sampler).rotations()
        np.testing.assert_array_equal(rotations, again,
                                      err_msg="rotations(): not the same from the same config")

    def test_rotations_cover_so3(self, plugins):
        rotations = np.asarray(plugins.create("sampler", self.sampler).rotations())
        targets = Rotation.random(300, random_state=0).as_matrix()
        # angle between R_a and R_b from the trace of R_a^T R_b, for all pairs at once
        traces = np.einsum("aij,bij->ab", targets, rotations)
        nearest = np.degrees(np.arccos(np.clip((traces.max(axis=1) - 1) / 2, -1.0, 1.0)))
        assert nearest.max() <= self.coverage_deg, (
            f"rotations(): a random rotation lies {nearest.max():.1f} degrees from every "
            f"candidate, more than coverage_deg = {self.coverage_deg}")

    def test_angles_about_axis_cover_the_circle(self, plugins):
        angles = np.asarray(plugins.create("sampler", self.sampler).angles_about_axis(), float)
        assert angles.ndim == 1 and angles.size > 0 and np.all(np.isfinite(angles)), (
            f"angles_about_axis(): expected finite angles of shape (K,), found {angles!r}")
        wrapped = np.sort(np.mod(angles, 360.0))
        gaps = np.diff(np.concatenate([wrapped, wrapped[:1] + 360.0]))
        assert gaps.max() <= 2 * self.coverage_deg, (
            f"angles_about_axis(): a gap of {gaps.max():.1f} degrees, more than twice "
            f"coverage_deg = {self.coverage_deg}")


class ConstraintContract(_Contract):
    """Contract of a :class:`~subalign.plugin.protocols.Constraint` plugin.

    Attributes
    ----------
    constraint, sampler : dict or str
        Config nodes selecting the plugin and the sampler it draws candidates from.
    """

    kind = "constraint"
    protocol = Constraint
    constraint: ClassVar[Any] = None
    sampler: ClassVar[Any] = "euler_grid"

    @pytest.fixture
    def built(self, plugins):
        constraint = plugins.create("constraint", self.constraint)
        parameterization = constraint.parameterization()
        rotations = constraint.candidate_rotations(plugins.create("sampler", self.sampler))
        return parameterization, np.asarray(rotations)

    def test_parameterization_satisfies_its_protocol(self, built):
        parameterization, _ = built
        missing = _missing_methods(parameterization, Parameterization)
        assert not missing, f"parameterization(): missing method(s) {', '.join(missing)}"

    def test_candidate_rotations_are_proper(self, built):
        _assert_is_rotation(built[1], "candidate_rotations()")

    def test_candidates_round_trip_through_the_parameters(self, built):
        parameterization, rotations = built
        for k, rotation in enumerate(rotations[:12]):
            transform = RigidTransform(rotation, np.array([0.5, -1.0, 1.5]))
            back = parameterization.to_transform(parameterization.to_params(transform))
            angle = float(rotation_distance_deg(back.rotation, rotation))
            assert angle < 1e-6, (f"candidate {k}: to_transform(to_params(T)) is {angle:.3g} "
                                  "degrees from T; the candidates must be expressible")
            np.testing.assert_allclose(back.translation, transform.translation, atol=1e-9,
                                       err_msg=f"candidate {k}: translation lost in a round trip")

    def test_rotation_jacobian_matches_finite_differences(self, built):
        parameterization, rotations = built
        params = parameterization.to_params(RigidTransform(rotations[len(rotations) // 2],
                                                           np.zeros(3)))
        params = params + np.r_[np.full(len(params) - 3, 7.0), np.zeros(3)]  # off the grid
        jacobian = np.asarray(parameterization.rotation_jacobian(params))
        assert jacobian.shape == (3, len(params) - 3), (
            f"rotation_jacobian(): expected shape (3, {len(params) - 3}), found {jacobian.shape}")
        step = 1e-4
        base = parameterization.to_transform(params).rotation
        for column in range(len(params) - 3):
            delta = np.zeros_like(params)
            delta[column] = step
            moved = parameterization.advance(params, delta)
            increment = parameterization.to_transform(moved).rotation @ base.T
            expected = Rotation.from_matrix(increment).as_rotvec() / step
            tolerance = 1e-4 + 1e-3 * np.abs(expected).max()
            assert np.allclose(jacobian[:, column], expected, atol=tolerance), (
                f"rotation_jacobian() column {column}: {jacobian[:, column]} where finite "
                f"differences of advance() give {expected} (left increments in radians per "
                "unit step)")

    def test_advance_by_zero_changes_nothing(self, built):
        parameterization, rotations = built
        params = parameterization.to_params(RigidTransform(rotations[0], np.ones(3)))
        np.testing.assert_allclose(parameterization.advance(params, np.zeros_like(params)),
                                   params, err_msg="advance(params, 0) must return params")


class RefinerContract(_Contract):
    """Contract of a :class:`~subalign.plugin.protocols.Refiner` plugin.

    The problem: a noise-free full-range pair, ``optimizer`` under ``score``, candidates the
    truth turned by 15 degrees about a random axis and by 60, 120 and 180 degrees.

    Attributes
    ----------
    refiner, optimizer, score : dict or str
        Config nodes.
    rotation_tol_deg : float
        The refined transform lies this close to the truth.
    """

    kind = "refiner"
    protocol = Refiner
    refiner: ClassVar[Any] = None
    optimizer: ClassVar[Any] = "lm"
    score: ClassVar[Any] = "rcs"
    rotation_tol_deg: ClassVar[float] = 1.0

    @pytest.fixture
    def refined(self, plugins):
        pair = synthetic_pair(6, size=24, snr=np.inf, tilt=FULL, max_translation=1.0)
        objective = plugins.create("score", self.score).prepare(pair.fixed, pair.moving,
                                                                FULL, FULL)
        parameterization = IncrementParameterization()
        candidates = [parameterization.to_params(_nudge(pair.truth, degrees, 0.5, seed=30))
                      for degrees in (180.0, 120.0, 15.0, 60.0)]
        calls = []
        problem = RefinementProblem(objective, plugins.create("optimizer", self.optimizer),
                                    parameterization, candidates, seed=0,
                                    on_step=lambda **kwargs: calls.append(kwargs))
        result = plugins.create("refiner", self.refiner).refine(problem)
        return pair, objective, parameterization, candidates, calls, result

    def test_returns_a_refinement_result_that_scores_what_it_says(self, refined):
        _, objective, parameterization, _, _, result = refined
        assert isinstance(result, RefinementResult), (
            f"refine(): expected a RefinementResult, found {type(result).__name__}")
        actual = objective.value(parameterization.to_transform(result.params))
        assert result.value == pytest.approx(actual, rel=1e-9, abs=1e-12), (
            f"refine(): value {result.value:.6g} but the score at its params is {actual:.6g}")

    def test_never_worse_than_the_best_start(self, refined):
        _, objective, parameterization, candidates, _, result = refined
        best_start = min(objective.value(parameterization.to_transform(c)) for c in candidates)
        assert result.value <= best_start, (
            f"refine(): value {result.value:.6g} is above the best starting candidate's "
            f"{best_start:.6g}")

    def test_steps_trace_and_observer_agree(self, refined):
        *_, calls, result = refined
        assert len(calls) == result.steps, (
            f"refine(): {result.steps} steps reported but on_step was called {len(calls)} times")
        if result.trace:
            assert len(result.trace) == result.steps, "trace: one record minimum per step"
            assert np.all(np.diff(result.trace) <= 0), "trace: the record minimum must not rise"
        json.dumps(result.details)

    def test_finds_the_truth_from_a_nearby_candidate(self, refined):
        pair, _, parameterization, _, _, result = refined
        found = parameterization.to_transform(result.params)
        error = float(rotation_distance_deg(found.rotation, pair.truth.rotation))
        assert error < self.rotation_tol_deg, (
            f"refine(): ended {error:.2f} degrees from the truth (tolerance "
            f"{self.rotation_tol_deg}) with a candidate 15 degrees from it")
