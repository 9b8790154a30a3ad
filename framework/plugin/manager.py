"""Building the plugin manager: entry points, environment switches, typed hook calls.

Plugins are found through entry points in the group ``subalign`` (subalign's built-ins
included). Two environment variables control loading:

``SUBALIGN_DISABLE_PLUGIN_AUTOLOAD``
    When set to anything but ``""``/``0``, only the built-in plugins of the ``subalign``
    distribution are loaded; third-party entry points are skipped.
``SUBALIGN_BLOCK_PLUGINS``
    Comma-separated entry-point names that are never loaded (built-in or not), e.g.
    ``SUBALIGN_BLOCK_PLUGINS=fcs,my_score``.

The rest of subalign uses :class:`PluginSet` and never touches ``pm.hook`` directly.
"""

from __future__ import annotations

import os
from functools import lru_cache, partial
from importlib.metadata import entry_points
from typing import Any, Iterable

import pluggy

from subalign.plugin import hookspecs
from subalign.errors import PluginError
from subalign.plugin.registry import KINDS, Registry

__all__ = [
    "BLOCK_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "PluginSet",
    "build_plugin_set",
    "default_plugin_set",
]

ENTRY_POINT_GROUP = "subalign"
BUILTIN_DISTRIBUTION = "subalign"
DISABLE_AUTOLOAD_ENV = "SUBALIGN_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "SUBALIGN_BLOCK_PLUGINS"


class PluginSet:
    """A pluggy manager and the six registries filled from it.

    Parameters
    ----------
    manager : pluggy.PluginManager
        With every plugin registered.
    origins : dict
        Plugin (entry point) name -> where it came from, e.g. ``"subalign 0.1.0"``.
    """

    def __init__(self, manager: pluggy.PluginManager, origins: dict[str, str]) -> None:
        self.manager = manager
        self.registries = {kind: Registry(kind) for kind in KINDS}
        for kind, (_, hook_name) in KINDS.items():
            # Each implementation is called with its own origin, so the registry can say
            # who registered what (and who registered a duplicate).
            for impl in getattr(manager.hook, hook_name).get_hookimpls():
                origin = origins.get(impl.plugin_name, impl.plugin_name)
                impl.function(register=partial(self.registries[kind].register, origin=origin))

    def create(self, kind: str, node: Any) -> Any:
        """Build the plugin of ``kind`` that config ``node`` selects (see :meth:`Registry.create`)."""
        return self.registries[kind].create(node)

    def create_binned(self, kind: str, node: Any, factor: int) -> Any | None:
        """The plugin built from its config rescaled for binned volumes, or None (see
        :meth:`Registry.create_binned`)."""
        return self.registries[kind].create_binned(node, factor)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """``(kind, name, origin, summary)`` for every plugin, by kind then name."""
        return [(kind, e.name, e.origin, e.summary)
                for kind, registry in self.registries.items()
                for e in sorted(registry, key=lambda e: e.name)]

    def store_configs(self) -> None:
        """Make every plugin selectable as a Hydra config group option."""
        for registry in self.registries.values():
            registry.store_configs()

    # Observer hooks, wrapped so callers never touch pm.hook.
    def alignment_started(self, *, n_candidates: int, config: Any) -> None:
        self.manager.hook.subalign_alignment_started(n_candidates=n_candidates, config=config)

    def candidate_step(
        self, *, candidate: int, step: int, value: float, record: float, record_transform=None
    ) -> None:
        self.manager.hook.subalign_candidate_step(
            candidate=candidate, step=step, value=value, record=record,
            record_transform=record_transform,
        )

    def alignment_finished(self, *, result: Any) -> None:
        self.manager.hook.subalign_alignment_finished(result=result)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0", "false", "no")


def _env_list(name: str) -> set[str]:
    return {item.strip() for item in os.environ.get(name, "").split(",") if item.strip()}


def _entry_point_plugins(autoload: bool, blocked: set[str]) -> list[tuple[str, object, str]]:
    """``(name, plugin, origin)`` of every ``subalign`` entry point to load: subalign's
    own always, others when ``autoload``; none in ``blocked``."""
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "<unknown distribution>"
        builtin = dist == BUILTIN_DISTRIBUTION
        if ep.name in blocked or not (builtin or autoload):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"entry point {ep.name} = {ep.value} (from {dist}) failed to load: {exc}"
            ) from exc
        version = f" {ep.dist.version}" if ep.dist is not None else ""
        found.append((ep.name, plugin, f"{dist}{version}"))
    return found


def build_plugin_set(
    *,
    extra_plugins: Iterable[object] = (),
    load_entry_points: bool = True,
    autoload: bool | None = None,
    blocked: Iterable[str] | None = None,
) -> PluginSet:
    """Build a fresh plugin manager and its registries.

    Parameters
    ----------
    extra_plugins : iterable of objects
        Plugin modules or objects registered directly (after entry points), named by their
        ``__name__``; handy in tests.
    load_entry_points : bool
        Load the ``subalign`` entry-point group (built-ins and, if autoload is on, others).
    autoload : bool, optional
        Load third-party entry points; default: on unless ``SUBALIGN_DISABLE_PLUGIN_AUTOLOAD``.
    blocked : iterable of str, optional
        Entry-point / plugin names never to load; default: ``SUBALIGN_BLOCK_PLUGINS``.

    Raises
    ------
    PluginError
        Two plugins with one name, a hook implementation without a spec, or a failed import.
    """
    autoload = not _env_flag(DISABLE_AUTOLOAD_ENV) if autoload is None else autoload
    blocked = _env_list(BLOCK_ENV) if blocked is None else set(blocked)
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    origins: dict[str, str] = {}
    for name in blocked:
        manager.set_blocked(name)

    def add(plugin: object, name: str, origin: str) -> None:
        if manager.is_blocked(name):
            return
        if manager.has_plugin(name):
            raise PluginError(
                f"plugin {name!r} from {origin}: the name is already taken by "
                f"{origins.get(name, 'another plugin')}; plugin names must be unique"
            )
        manager.register(plugin, name=name)
        origins[name] = origin

    if load_entry_points:
        for name, plugin, origin in _entry_point_plugins(autoload, blocked):
            add(plugin, name, origin)
    for plugin in extra_plugins:
        name = getattr(plugin, "__name__", type(plugin).__name__)
        add(plugin, name, f"<object {name}>")
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r}: {exc}") from None
    return PluginSet(manager, origins)


@lru_cache(maxsize=1)
def default_plugin_set() -> PluginSet:
    """The process-wide plugin set built from entry points and environment (cached)."""
    return build_plugin_set()
