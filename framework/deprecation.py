"""Renamed and moved public names keep working for one minor version, with a warning.

The plugin API is a promise (``docs/plugins.md``, "Compatibility"): a name that a
released version documented and a later one moves or removes still works until the next
minor version, and using it raises a :class:`DeprecationWarning` that names the
replacement and the version that removes it. Two mechanisms:

- :func:`moved_names` gives a module a PEP 562 ``__getattr__`` for names that moved out
  of it;
- :data:`MOVED_MODULES` and :func:`install_module_aliases` keep modules importable under
  their old dotted names (``import subalign.fourier``).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import warnings
from importlib import import_module
from typing import Callable

from subalign.lazy import lazy_attributes

__all__ = ["MOVED_MODULES", "REMOVED_IN", "install_module_aliases", "moved_names"]

#: The version that removes what is deprecated now.
REMOVED_IN = "0.3"

#: Old module name -> its replacement (documented before the layered package of 0.1).
MOVED_MODULES = {
    "subalign.fourier": "subalign.numerics.fourier",
    "subalign.hookspecs": "subalign.plugin.hookspecs",
    "subalign.protocols": "subalign.plugin.protocols",
    # 0.2: the workflows in two subpackages
    "subalign.workflows.config": "subalign.workflows.batch.config",
    "subalign.workflows.plan": "subalign.workflows.batch.plan",
    "subalign.workflows.worker": "subalign.workflows.batch.worker",
    "subalign.workflows.outputs": "subalign.workflows.batch.outputs",
    "subalign.workflows.clustering": "subalign.workflows.batch.clustering",
    "subalign.workflows.refine": "subalign.workflows.rounds.average",
    "subalign.workflows.refine_config": "subalign.workflows.rounds.config",
    "subalign.workflows.refine_inputs": "subalign.workflows.rounds.inputs",
    "subalign.workflows.round_outputs": "subalign.workflows.rounds.outputs",
    "subalign.workflows.passes": "subalign.workflows.rounds.passes",
    "subalign.workflows.classify": "subalign.workflows.rounds.classify",
    "subalign.workflows.classes": "subalign.workflows.rounds.classes",
    "subalign.workflows.allvsall": "subalign.workflows.rounds.allvsall",
    "subalign.workflows.run_report": "subalign.workflows.rounds.report",
    "subalign.workflows.truth": "subalign.workflows.rounds.truth",
}


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in subalign {REMOVED_IN}; use "
                  f"{new}", DeprecationWarning, stacklevel=3)


def moved_names(module: str, moved: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` serving ``moved`` (name -> the module it lives in now), each
    access warned with the replacement (:func:`subalign.lazy.lazy_attributes`)."""
    return lazy_attributes(module, moved, on_access=lambda name: _warn(
        f"{module}.{name}", f"{moved[name]}.{name}"))


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module name as a module holding its replacement's public names (the
    same objects)."""

    def find_spec(self, name, path=None, target=None):
        if name not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(name, self)

    def exec_module(self, module) -> None:
        _warn(f"module {module.__name__}", f"module {MOVED_MODULES[module.__name__]}")
        replacement = import_module(MOVED_MODULES[module.__name__])
        module.__dict__.update({name: value for name, value in vars(replacement).items()
                                if not name.startswith("__") or name in ("__all__", "__doc__")})


def install_module_aliases() -> None:
    """Make the old names of :data:`MOVED_MODULES` importable (idempotent)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
