"""Contract suites a plugin author runs against their own plugin, one per kind (see
:mod:`subalign.testing.contracts`)."""

from subalign.testing.contracts import (
    ConstraintContract,
    OptimizerContract,
    RefinerContract,
    SamplerContract,
    ScoreContract,
)

__all__ = [
    "ConstraintContract",
    "OptimizerContract",
    "RefinerContract",
    "SamplerContract",
    "ScoreContract",
]
