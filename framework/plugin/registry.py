"""Registries of plugins by kind: name checks, protocol checks and config schemas.

Each registered plugin is a class built from one config dataclass. The registry stores the
dataclass's defaults plus a ``name`` field (so a composed config says which plugin it
selects) in Hydra's ConfigStore under the kind's group, so ``score=rcs score.order=1`` needs
no YAML file. The stored node is plain data, so composed configs pickle; Hydra's struct mode
still rejects unknown fields, and :meth:`Registry.create` checks types against the
dataclass.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import keyword
import re
import sys
from dataclasses import dataclass
from typing import Any, Mapping

from subalign.errors import ConfigError, PluginError, did_you_mean
from subalign.plugin.protocols import Constraint, Measurement, Optimizer, Refiner, Sampler, Score

__all__ = ["KINDS", "PluginEntry", "Registry"]

#: Checked plugin configs a registry keeps (all are dropped when it is full).
CONFIGS_KEPT = 256
#: Plugin kind -> (protocol, registration hook name). The kind is also the Hydra group.
KINDS: dict[str, tuple[type, str]] = {
    "score": (Score, "subalign_register_scores"),
    "optimizer": (Optimizer, "subalign_register_optimizers"),
    "sampler": (Sampler, "subalign_register_samplers"),
    "constraint": (Constraint, "subalign_register_constraints"),
    "refiner": (Refiner, "subalign_register_refiners"),
    "measurement": (Measurement, "subalign_register_measurements"),
}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _protocol_methods(protocol: type) -> list[str]:
    return sorted(
        name for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    )


@dataclass(frozen=True)
class PluginEntry:
    """One registered plugin.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    name : str
        Name used in configs (``score=<name>``).
    plugin_class : type
        Called with an instance of ``config_class`` to build the plugin.
    config_class : type
        The plugin's config dataclass.
    origin : str
        Distribution (and version) or object that registered it.
    """

    kind: str
    name: str
    plugin_class: type
    config_class: type
    origin: str

    @property
    def summary(self) -> str:
        """First line of the plugin class's docstring."""
        return (self.plugin_class.__doc__ or "").strip().split("\n")[0]


class Registry:
    """Plugins of one kind, by name.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    """

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise PluginError(f"unknown plugin kind {kind!r}; expected one of {sorted(KINDS)}")
        self.kind = kind
        self.protocol = KINDS[kind][0]
        self._entries: dict[str, PluginEntry] = {}
        #: Checked configs by (config class, fields as JSON), see :meth:`create`.
        self._configs: dict[tuple[type, str], Any] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries.values())

    @property
    def names(self) -> list[str]:
        return sorted(self._entries)

    def register(
        self, name: str, plugin_class: type, config_class: type, *, origin: str = "<unknown>"
    ) -> None:
        """Add a plugin; the ``register`` callback of the registration hooks.

        Raises
        ------
        PluginError
            Bad or duplicate name, a ``plugin_class`` that is not a class or lacks the
            protocol's methods, or a ``config_class`` that is not a dataclass with defaults.
        """
        where = f"{self.kind} plugin {name!r} (from {origin})"
        if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
            raise PluginError(
                f"{self.kind} plugin from {origin}: name must be lower-case letters, digits "
                f"and '_' starting with a letter; found {name!r}"
            )
        if name in self._entries:
            raise PluginError(
                f"{where}: the name is already registered by {self._entries[name].origin}; "
                f"each {self.kind} name must be unique"
            )
        if not isinstance(plugin_class, type):
            raise PluginError(f"{where}: expected a class, found {type(plugin_class).__name__}")
        missing = [m for m in _protocol_methods(self.protocol)
                   if not callable(getattr(plugin_class, m, None))]
        if missing:
            raise PluginError(
                f"{where}: {plugin_class.__name__} does not satisfy the {self.protocol.__name__} "
                f"protocol: missing method(s) {', '.join(missing)}"
            )
        self._check_config_class(config_class, where)
        self._entries[name] = PluginEntry(self.kind, name, plugin_class, config_class, origin)

    @staticmethod
    def _check_config_class(config_class: type, where: str) -> None:
        if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
            raise PluginError(f"{where}: config_class must be a dataclass, found {config_class!r}")
        fields = dataclasses.fields(config_class)
        if any(f.name == "name" for f in fields):
            raise PluginError(f"{where}: config field 'name' is reserved for the plugin name")
        no_default = [f.name for f in fields
                      if f.default is dataclasses.MISSING
                      and f.default_factory is dataclasses.MISSING]
        if no_default:
            raise PluginError(f"{where}: config field(s) {', '.join(no_default)} need a default")

    def get(self, name: str) -> PluginEntry:
        """The entry of ``name``; an unknown name raises with the available names."""
        try:
            return self._entries[name]
        except KeyError:
            raise PluginError(
                f"{self.kind}={name!r}: no such {self.kind} plugin; available: "
                f"{', '.join(self.names) or '(none)'}"
            ) from None

    def create(self, node: Mapping[str, Any] | str) -> Any:
        """Build the plugin a config node selects.

        Parameters
        ----------
        node : mapping or str
            A config with a ``name`` field and any of the plugin's fields (a Hydra node, a
            dict or a dataclass instance), or just the plugin's name.

        Raises
        ------
        PluginError
            Unknown name.
        ConfigError
            A field the plugin does not have, or a value of the wrong type.
        """
        entry, config = self._config(node)
        return entry.plugin_class(config)

    def create_binned(self, node: Mapping[str, Any] | str, factor: int) -> Any | None:
        """The plugin ``node`` selects, built from its config rescaled for volumes binned by
        ``factor`` with the config's own ``binned(factor)`` (every
        :class:`~subalign.scoring.constrained.ConstrainedScoreConfig` has one); None when
        the config has no ``binned``. The framework's way to search any constrained score
        on binned volumes, whether or not the plugin itself knows about binning. Only the
        fields the base config rescales change (band and mask edge); a subclass's own
        fields in voxels keep their values unless it overrides ``binned``.

        Raises
        ------
        PluginError
            ``binned`` returned something other than the plugin's config class.
        ConfigError
            The plugin refuses the rescaled settings.
        """
        entry, config = self._config(node)
        rescale = getattr(config, "binned", None)
        if not callable(rescale):
            return None
        rescaled = rescale(factor)
        if not isinstance(rescaled, entry.config_class):
            raise PluginError(
                f"{self.kind}={entry.name} ({entry.origin}): {type(config).__name__}.binned"
                f"({factor}) returned a {type(rescaled).__name__}, expected a "
                f"{entry.config_class.__name__}")
        return entry.plugin_class(rescaled)

    def _config(self, node: Mapping[str, Any] | str) -> tuple[PluginEntry, Any]:
        """The entry ``node`` names and a fresh copy of its checked config."""
        if isinstance(node, str):
            node = {"name": node}
        elif dataclasses.is_dataclass(node):
            node = dataclasses.asdict(node)
        omegaconf = sys.modules.get("omegaconf")  # a Hydra node exists only once it is loaded
        if omegaconf is not None and isinstance(node, omegaconf.DictConfig):
            node = omegaconf.OmegaConf.to_container(node, resolve=True)
        name = node.get("name") if isinstance(node, Mapping) else None
        if name is None:
            raise ConfigError(f"{self.kind}: expected a config with a 'name' field, found {node!r}")
        entry = self.get(str(name))
        fields = {key: value for key, value in node.items() if key != "name"}
        try:
            key = (entry.config_class, json.dumps(fields, sort_keys=True))
        except TypeError:  # values JSON cannot spell: checked every time
            return entry, self._checked_config(entry, fields)
        if key not in self._configs:
            if len(self._configs) >= CONFIGS_KEPT:
                self._configs.clear()
            self._configs[key] = self._checked_config(entry, fields)
        # a copy: a plugin may change its config, and the next one must get it unchanged
        return entry, copy.deepcopy(self._configs[key])

    def _checked_config(self, entry: PluginEntry, fields: dict) -> Any:
        """``fields`` merged onto ``entry``'s config dataclass, types checked (OmegaConf,
        ~5 ms: :meth:`create` keeps each distinct result)."""
        from omegaconf import OmegaConf
        from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

        name = entry.name
        try:
            config = OmegaConf.to_object(
                OmegaConf.merge(OmegaConf.structured(entry.config_class), fields)
            )
        except ConfigKeyError as exc:
            known = [f.name for f in dataclasses.fields(entry.config_class)]
            raise ConfigError(
                f"{self.kind}.{exc.full_key}: expected one of the fields of {self.kind}={name}, "
                f"found {exc.key!r}, which is none of them{did_you_mean(exc.key, known)}"
            ) from None
        except OmegaConfBaseException as exc:
            field = f"{self.kind}.{exc.full_key}" if getattr(exc, "full_key", None) else self.kind
            reason = str(exc.msg).split("\n")[0]
            raise ConfigError(f"{field}: {reason} ({self.kind}={name})") from None
        return config

    def defaults(self, name: str) -> dict[str, Any]:
        """The config node of plugin ``name`` with every field at its default."""
        from omegaconf import OmegaConf

        entry = self.get(name)
        return {"name": name, **OmegaConf.to_container(OmegaConf.structured(entry.config_class))}

    def store_configs(self, config_store: Any = None) -> None:
        """Put every plugin's schema into Hydra's ConfigStore (default: its instance) under
        group ``kind``."""
        from hydra.core.config_store import ConfigStore

        store = config_store or ConfigStore.instance()
        for entry in self._entries.values():
            store.store(group=self.kind, name=entry.name, node=self.defaults(entry.name),
                        provider=entry.origin)
