"""Each contract suite rejects a deliberately broken plugin of its kind, naming the fault.

A generated test module registers broken plugins (one per kind, and two more scores: a
wrong-sign Jacobian and a wrong-sign FFT translation) next to the built-ins and runs the
suites on them with pytester; each suite must fail with a message that says what is wrong.
"""

import pytest

BROKEN_PLUGINS = '''
from dataclasses import dataclass

import numpy as np
import pytest

from subalign.api import (ConstrainedObjective, ConstrainedScore, ConstrainedScoreConfig,
                          IncrementParameterization, OptimizerState, RefinementResult, hookimpl)
from subalign.plugin.manager import build_plugin_set
from subalign.testing import (ConstraintContract, MeasurementContract, OptimizerContract,
                              RefinerContract, SamplerContract, ScoreContract)


class SquareRootObjective(ConstrainedObjective):
    """Residuals of rcs, but value() is their norm, not the sum of squares."""

    def residual_parts(self, spectrum, mask):
        moving = np.fft.irfftn(spectrum * mask, s=self.shape, norm="ortho").ravel()
        fixed = np.fft.irfftn(self.fixed_spectrum * mask, s=self.shape, norm="ortho").ravel()
        return moving - fixed, mask

    def residual_derivative(self, context, spectrum_derivative):
        return np.fft.irfftn(spectrum_derivative * context, s=self.shape, norm="ortho").ravel()

    def value(self, transform):
        return float(np.linalg.norm(self.residuals(transform)))


class BrokenScore(ConstrainedScore):
    name = "broken_score"
    objective_class = SquareRootObjective


class FlippedJacobianObjective(SquareRootObjective):
    """A proper sum of squares whose residual derivatives have the wrong sign."""

    value = ConstrainedObjective.value

    def residual_derivative(self, context, spectrum_derivative):
        return -super().residual_derivative(context, spectrum_derivative)


class FlippedJacobianScore(ConstrainedScore):
    name = "flipped_jacobian"
    objective_class = FlippedJacobianObjective


class FlippedShiftObjective(SquareRootObjective):
    """A proper sum of squares whose FFT translation search returns the shift, not its undo."""

    value = ConstrainedObjective.value

    def best_translation(self, rotation, max_shift):
        return -super().best_translation(rotation, max_shift)


class FlippedShiftScore(ConstrainedScore):
    name = "flipped_shift"
    objective_class = FlippedShiftObjective


class UphillOptimizer:
    """Steps away from the optimum."""

    def __init__(self, config):
        pass

    def start(self, objective, parameterization, params):
        return OptimizerState(np.asarray(params, float),
                              objective.value(parameterization.to_transform(params)))

    def step(self, objective, parameterization, state):
        params = state.params + np.r_[np.zeros(len(state.params) - 3), 0.5, 0.5, 0.5]
        return OptimizerState(params, objective.value(parameterization.to_transform(params)),
                              state.steps + 1)


class ScaledSampler:
    """Matrices that are not rotations."""

    def __init__(self, config):
        pass

    def rotations(self):
        return np.stack([np.eye(3) * 2.0] * 4)

    def angles_about_axis(self):
        return np.array([0.0, 90.0, 180.0, 270.0])


class FrozenJacobian(IncrementParameterization):
    def rotation_jacobian(self, params):
        return np.zeros((3, 3))


class WrongJacobianConstraint:
    def __init__(self, config):
        pass

    def parameterization(self):
        return FrozenJacobian()

    def candidate_rotations(self, sampler):
        return sampler.rotations()


class FirstCandidateRefiner:
    """Keeps the first candidate, whatever its score."""

    def __init__(self, config):
        pass

    def refine(self, problem):
        params = problem.candidates[0]
        value = problem.objective.value(problem.parameterization.to_transform(params))
        return RefinementResult(np.asarray(params), value, 0)




class MeasuresEverything:
    """A measurement model that ignores the acquisition: every frequency weighted 1."""

    def __init__(self, config):
        self.config = config

    def build(self, acquisition):
        class Everything:
            kind, binary = "everything", False

            def weights(self, frequencies, size, *, margin=0.0):
                return np.ones(np.shape(frequencies)[:-1])

            def tilt_range(self):
                return acquisition.tilt_range
        return Everything()


@dataclass
class Empty:
    pass


class Broken:
    __name__ = "broken"

    @hookimpl
    def subalign_register_scores(self, register):
        register("broken_score", BrokenScore, ConstrainedScoreConfig)
        register("flipped_jacobian", FlippedJacobianScore, ConstrainedScoreConfig)
        register("flipped_shift", FlippedShiftScore, ConstrainedScoreConfig)

    @hookimpl
    def subalign_register_optimizers(self, register):
        register("broken_optimizer", UphillOptimizer, Empty)

    @hookimpl
    def subalign_register_samplers(self, register):
        register("broken_sampler", ScaledSampler, Empty)

    @hookimpl
    def subalign_register_constraints(self, register):
        register("broken_constraint", WrongJacobianConstraint, Empty)

    @hookimpl
    def subalign_register_refiners(self, register):
        register("broken_refiner", FirstCandidateRefiner, Empty)

    @hookimpl
    def subalign_register_measurements(self, register):
        register("broken_measurement", MeasuresEverything, Empty)


class WithBroken:
    @pytest.fixture
    def plugins(self):
        return build_plugin_set(extra_plugins=[Broken()])


class TestScore(WithBroken, ScoreContract):
    score = "broken_score"


class TestFlippedJacobian(WithBroken, ScoreContract):
    score = "flipped_jacobian"


class TestFlippedShift(WithBroken, ScoreContract):
    score = "flipped_shift"


class TestOptimizer(WithBroken, OptimizerContract):
    optimizer = "broken_optimizer"


class TestSampler(WithBroken, SamplerContract):
    sampler = "broken_sampler"


class TestConstraint(WithBroken, ConstraintContract):
    constraint = "broken_constraint"


class TestRefiner(WithBroken, RefinerContract):
    refiner = "broken_refiner"


class TestMeasurement(WithBroken, MeasurementContract):
    measurement = "broken_measurement"
'''




@pytest.fixture
def suite_run(pytester):
    pytester.makepyfile(test_broken=BROKEN_PLUGINS)
    return pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "--tb=line")


def test_each_suite_rejects_its_broken_plugin_naming_the_fault(suite_run):
    output = suite_run.stdout.str()
    expected = {
        "TestScore::test_value_is_sum_of_squared_residuals": "value() must equal sum(|residuals|^2)",
        "TestFlippedJacobian::test_jacobian_matches_central_differences[0]":
            "column 0: relative error",
        "TestFlippedShift::test_best_translation_recovers_an_integer_shift":
            "the translation that undoes the moving volume's shift",
        "TestOptimizer::test_steps_never_increase_the_score_and_are_counted": "the score rose",
        "TestSampler::test_rotations_are_proper_and_reproducible": "rotations(): not orthonormal",
        "TestConstraint::test_rotation_jacobian_matches_finite_differences":
            "rotation_jacobian() column 0",
        "TestRefiner::test_never_worse_than_the_best_start":
            "is above the best starting candidate",
        "TestMeasurement::test_far_from_every_plane_and_outside_the_wedge_is_not":
            "Fourier voxels from every measured plane and outside the wedge are weighted",
    }
    for test, message in expected.items():
        assert f"FAILED test_broken.py::{test}" in output, f"{test} did not fail:\n{output}"
        assert message in output, f"no {message!r} in the report:\n{output}"
