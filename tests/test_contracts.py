"""The built-in plugins pass the contracts plugin authors get (subalign.testing)."""

from subalign.testing import (
    ConstraintContract,
    MeasurementContract,
    OptimizerContract,
    RefinerContract,
    SamplerContract,
    ScoreContract,
)


# Worst column against the suite's central differences, measured 2026-12-06 on its pair:
# analytic 1.06e-5 (rcs and fcs), numerical (0.5-degree steps) 0.78% (rcs), 0.80% (fcs).
# Tolerances are 2.5-5x those.
class TestRcsAnalytic(ScoreContract):
    score = {"name": "rcs", "jacobian": "analytic"}
    jacobian_rtol = 5e-5


class TestRcsNumerical(ScoreContract):
    score = {"name": "rcs", "jacobian": "numerical"}
    jacobian_rtol = 0.02


class TestFcsAnalytic(ScoreContract):
    score = {"name": "fcs", "jacobian": "analytic"}
    jacobian_rtol = 5e-5


class TestFcsNumerical(ScoreContract):
    score = {"name": "fcs", "jacobian": "numerical"}
    jacobian_rtol = 0.02


class TestLmWithRcs(OptimizerContract):
    optimizer = "lm"
    score = "rcs"


class TestLmComplexWithFcs(OptimizerContract):
    optimizer = "lm_complex"
    score = "fcs"


class TestLmWithFcs(OptimizerContract):
    optimizer = "lm"
    score = "fcs"


# The 60-degree ZYZ grid leaves a random rotation at most 54.9 degrees from a candidate, the
# 45-degree one 41.8 (measured 2026-12-06).
class TestEulerGrid60(SamplerContract):
    sampler = {"name": "euler_grid", "interval_deg": 60}


class TestEulerGrid45(SamplerContract):
    sampler = {"name": "euler_grid", "interval_deg": 45}
    coverage_deg = 45.0


# Measured 2026-12-06 (300 seeded random rotations): every one within 19.5 degrees of a
# so3_uniform candidate (1,055 of them), angles about an axis at most 30 degrees apart.
class TestSo3Uniform(SamplerContract):
    sampler = "so3_uniform"
    coverage_deg = 25.0


class TestFullConstraintEuler(ConstraintContract):
    constraint = {"name": "full", "rotation_parameterization": "euler"}


class TestFullConstraintIncrement(ConstraintContract):
    constraint = {"name": "full", "rotation_parameterization": "increment"}


class TestAxisConstraint(ConstraintContract):
    constraint = {"name": "axis", "fixed_axis": [0.2, 0.3, 1.0], "moving_axis": [1.0, 0.0, 0.5]}


class TestStochasticParallel(RefinerContract):
    refiner = "stochastic_parallel"


class TestIndependent(RefinerContract):
    refiner = "independent"


# A scan takes no optimizer steps: it keeps the best candidate, here the one 15 degrees off.
class TestExhaustiveScan(RefinerContract):
    refiner = "exhaustive_scan"
    rotation_tol_deg = 16.0


class TestTiltRangeMeasurement(MeasurementContract):
    measurement = "tilt_range"
    # The contract's beams wander up to 8 degrees off the series: 94.6% of their planes' points
    # lie inside the single-axis wedge (measured), the rest outside.
    in_plane_fraction = 0.9


class TestPlanesMeasurement(MeasurementContract):
    measurement = "planes"


class TestCtfMeasurement(MeasurementContract):
    measurement = "ctf"
    # CTF zeros on the planes: a few percent of in-plane frequencies are weighted 0.
    in_plane_fraction = 0.9
