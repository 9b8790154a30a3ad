"""Contract suites a plugin author runs against their own plugin, one per kind (see
:mod:`subalign.testing.contracts`)."""

from subalign.testing.contracts import (
    ConstraintContract,
    OptimizerContract,
    RefinerContract,
    SamplerContract,
    ScoreContract,
)
from subalign.testing.measurement import MeasurementContract

__all__ = [
    "ConstraintContract",
    "MeasurementContract",
    "OptimizerContract",
    "RefinerContract",
    "SamplerContract",
    "ScoreContract",
]
