"""The built-in scores and optimizers pass the contracts plugin authors get."""

from subalign.testing import OptimizerContract, ScoreContract


# Analytic columns measure under 1% (benchmarks/score_timing.py); numerical under 0.3%.
class TestRcsAnalytic(ScoreContract):
    score = {"name": "rcs", "jacobian": "analytic"}
    jacobian_rtol = 0.02


class TestRcsNumerical(ScoreContract):
    score = {"name": "rcs", "jacobian": "numerical"}
    jacobian_rtol = 0.01


class TestFcsAnalytic(ScoreContract):
    score = {"name": "fcs", "jacobian": "analytic"}
    jacobian_rtol = 0.02


class TestFcsNumerical(ScoreContract):
    score = {"name": "fcs", "jacobian": "numerical"}
    jacobian_rtol = 0.01


class TestLmWithRcs(OptimizerContract):
    optimizer = "lm"
    score = "rcs"


class TestLmComplexWithFcs(OptimizerContract):
    optimizer = "lm_complex"
    score = "fcs"


class TestLmWithFcs(OptimizerContract):
    optimizer = "lm"
    score = "fcs"
