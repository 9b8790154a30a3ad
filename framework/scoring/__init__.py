"""The scoring base: what every missing-wedge-constrained score shares
(:mod:`subalign.scoring.constrained`).
"""

from subalign.scoring.constrained import (
    ConstrainedObjective,
    ConstrainedScore,
    ConstrainedScoreConfig,
    finite_difference_jacobian,
)

__all__ = [
    "ConstrainedObjective",
    "ConstrainedScore",
    "ConstrainedScoreConfig",
    "finite_difference_jacobian",
]
