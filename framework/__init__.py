"""subalign: missing-wedge-aware, gradient-guided alignment of cryo-electron subtomograms.

The public surface: :data:`hookimpl` for plugin authors, :func:`align_pair` for one pair,
:func:`compose_config` for a config built like the command line builds it, and the
geometry types. Conventions are stated in :mod:`subalign.geometry` and :mod:`subalign.wedge`.
"""

import pluggy

hookimpl = pluggy.HookimplMarker("subalign")

from .align import AlignmentResult, align_pair  # noqa: E402
from .compose import compose_config  # noqa: E402
from .geometry import RigidTransform  # noqa: E402
from .wedge import TiltRange  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AlignmentResult",
    "RigidTransform",
    "TiltRange",
    "align_pair",
    "compose_config",
    "hookimpl",
]
