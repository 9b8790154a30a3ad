"""subalign: missing-wedge-aware, gradient-guided alignment of cryo-electron subtomograms.

The public surface: :data:`hookimpl` for plugin authors (who import the rest of the plugin
API from :mod:`subalign.api`), :func:`align_pair` for one pair, :func:`compose_config` for a
config built like the command line builds it, and the geometry types. The layers and what
each owns are described in ``docs/architecture.md``.

Importing ``subalign`` is cheap and changes nothing: only the hook marker is loaded; the
other names are imported on first access (PEP 562), so ``import subalign`` loads neither
Hydra nor the command line, and no environment variable is set. Thread limits apply where
alignments run (:func:`subalign.numerics.threads.single_blas_thread`).
"""

from importlib import import_module
from importlib.util import find_spec

from subalign.deprecation import install_module_aliases
from subalign.lazy import lazy_attributes
from subalign.plugin.hookspecs import hookimpl

install_module_aliases()  # old module names (subalign.fourier, ...) warn, then work

__version__ = "0.2.0"

#: Public name -> module that defines it, imported on first access.
_LAZY = {
    "AlignmentResult": "subalign.align.pair",
    "align_pair": "subalign.align.pair",
    "compose_config": "subalign.cli.compose",
    "RigidTransform": "subalign.numerics.geometry",
    "TiltRange": "subalign.numerics.wedge",
}

__all__ = ["AlignmentResult", "RigidTransform", "TiltRange", "align_pair", "compose_config",
           "hookimpl"]


_lazy_names = lazy_attributes("subalign", _LAZY)


def __getattr__(name: str):
    if name not in _LAZY and not name.startswith("_") and find_spec(f"subalign.{name}"):
        return import_module(f"subalign.{name}")  # subalign.numerics, ... as before 0.2
    value = _lazy_names(name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
