"""subalign: missing-wedge-aware, gradient-guided alignment of cryo-electron subtomograms.

The public surface: :data:`hookimpl` for plugin authors (who import the rest of the plugin
API from :mod:`subalign.api`), :func:`align_pair` for one pair, :func:`compose_config` for a
config built like the command line builds it, and the geometry types. The layers and what
each owns are described in ``docs/architecture.md``.
"""

import os as _os

# Bit-identical results whatever the machine's thread settings: OpenBLAS (and MKL) sum in
# an order that depends on their thread count, which changes the last digits of every
# optimizer step. subalign's BLAS work is small (6-column Jacobians), so it runs on one
# thread. Set before numpy is imported (the console script imports subalign first); it is
# inherited by every worker process. Other libraries' threads (OMP_NUM_THREADS) are untouched.
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS"):
    _os.environ[_variable] = "1"

from subalign.align.pair import AlignmentResult, align_pair  # noqa: E402
from subalign.cli.compose import compose_config  # noqa: E402
from subalign.numerics.geometry import RigidTransform  # noqa: E402
from subalign.numerics.wedge import TiltRange  # noqa: E402
from subalign.plugin.hookspecs import hookimpl  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AlignmentResult",
    "RigidTransform",
    "TiltRange",
    "align_pair",
    "compose_config",
    "hookimpl",
]
