"""The built-in scores and optimizers pass the contracts plugin authors get."""

from subalign.testing import OptimizerContract, ScoreContract


class TestRcsAnalytic(ScoreContract):
    score = {"name": "rcs", "jacobian": "analytic"}


class TestRcsNumerical(ScoreContract):
    score = {"name": "rcs", "jacobian": "numerical"}
    jacobian_rtol = 0.01


class TestFcsAnalytic(ScoreContract):
    score = {"name": "fcs", "jacobian": "analytic"}


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
