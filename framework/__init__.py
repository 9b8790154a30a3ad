"""subalign: missing-wedge-aware, gradient-guided alignment of cryo-electron subtomograms.

The public surface: :data:`hookimpl` for plugin authors (who import the rest of the plugin
API from :mod:`subalign.api`), :func:`align_pair` for one pair, :func:`compose_config` for a
config built like the command line builds it, and the geometry types. The layers and what
each owns are described in ``docs/architecture.md``.
"""

from subalign.align.pair import AlignmentResult, align_pair
from subalign.cli.compose import compose_config
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.wedge import TiltRange
from subalign.plugin.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "AlignmentResult",
    "RigidTransform",
    "TiltRange",
    "align_pair",
    "compose_config",
    "hookimpl",
]
