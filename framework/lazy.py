"""Names a package imports on first access (PEP 562), so that importing it stays cheap.

:func:`lazy_attributes` gives a module a ``__getattr__`` that imports each listed name
from the module that defines it when the name is first used; the packages whose contents
load Hydra, Dask, pandas or the simulator (``subalign``, ``subalign.workflows``,
``subalign.experiments``) export their names this way, and :mod:`subalign.deprecation`
serves moved names through it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable

__all__ = ["lazy_attributes"]


def lazy_attributes(module: str, where: dict[str, str], *,
                    on_access: Callable[[str], None] | None = None) -> Callable[[str], object]:
    """A module ``__getattr__`` serving ``where`` (name -> the module that defines it).

    Parameters
    ----------
    module : str
        The module's own name, for the AttributeError of a name it does not have.
    where : dict of str to str
        Each name and the module to import it from.
    on_access : callable, optional
        Called with the name before each access (a deprecation warning, say).
    """
    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if on_access is not None:
            on_access(name)
        return getattr(import_module(where[name]), name)
    return __getattr__
