"""Compose a command's config in Python exactly as the command line would.

Composition errors (an unknown field or option, a value of the wrong type, a syntax error)
are raised as one-line :class:`~subalign.errors.ConfigError`\\ s naming the override, with
Hydra's exception chained for ``SUBALIGN_DEBUG=1``.
"""

from __future__ import annotations

from typing import Iterable

from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from subalign.cli.hydra_errors import describe, describe_parse_error
from subalign.cli.rundirs import register_resolvers
from subalign.cli.schemas import SCHEMAS, store_schemas
from subalign.errors import ConfigError
from subalign.plugin.manager import PluginSet, default_plugin_set

__all__ = ["CONFIG_MODULE", "compose_config", "prepare_config_store", "sweep_variants"]

CONFIG_MODULE = "subalign.conf"


_STORED: set[tuple] = set()


def prepare_config_store(plugins: PluginSet | None = None, configs=None) -> None:
    """Put the schemas of primary ``configs`` (default: every command's) and every plugin's
    config into Hydra's ConfigStore.

    Done once per schema, plugin set and process (storing takes a few tenths of a second).
    """
    store_schemas(configs)
    plugins = plugins or default_plugin_set()
    key = (id(plugins), tuple((kind, tuple(registry.names))
                              for kind, registry in plugins.registries.items()))
    if key not in _STORED:
        plugins.store_configs()
        _STORED.add(key)
    register_resolvers()


def _compose(command: str, overrides: list[str]) -> DictConfig:
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=command, overrides=overrides)


def compose_config(
    command: str = "align", overrides: Iterable[str] = (), *, plugins: PluginSet | None = None
) -> DictConfig:
    """The config of ``subalign <command> <overrides>``, without running it.

    Parameters
    ----------
    command : str
        Primary config in ``subalign.conf`` (``"align"``, ...).
    overrides : iterable of str
        Hydra overrides such as ``"score=fcs"`` or ``"wedge.tilt_range_deg=[-40,40]"``.
    plugins : PluginSet, optional
        Whose plugin configs to offer; default the installed plugins. Hydra's ConfigStore
        is process-wide and only grows, so a plugin stored by an earlier call stays
        composable; building it then fails in :meth:`PluginSet.create` instead.

    Raises
    ------
    ConfigError
        An override Hydra cannot parse or apply, in one line naming it.
    """
    prepare_config_store(plugins, [command] if command in SCHEMAS else None)
    overrides = list(overrides)
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException as exc:  # OverrideParseException, or a HydraException
            raise ConfigError(describe_parse_error(override, exc)) from exc
    try:
        return _compose(command, overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        try:
            base = _compose(command, [])
        except (HydraException, OmegaConfBaseException):
            base = None
        raise ConfigError(describe(exc, overrides, base)) from exc


def sweep_variants(overrides: Iterable[str]) -> list[list[str]]:
    """Override lists that, between them, use every value of every ``-m`` sweep once.

    A sweep ``key=a,b,c`` gives its first value in the first list and one list more per
    further value (the other sweeps at their first value): each value is composed and
    checked once without composing the whole grid. Glob sweeps are left to Hydra.

    Raises
    ------
    ConfigError
        An override Hydra cannot parse.
    """
    parser = OverridesParser.create()
    choices: list[list[str]] = []
    for text in overrides:
        try:
            override = parser.parse_override(text)
        except HydraException as exc:
            raise ConfigError(describe_parse_error(text, exc)) from exc
        if not override.is_sweep_override():
            choices.append([text])
        elif override.is_discrete_sweep() and "glob(" not in text:
            key = override.get_key_element()
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
    base = [values[0] for values in choices]
    variants = [base]
    for position, values in enumerate(choices):
        for value in values[1:]:
            variants.append(base[:position] + [value] + base[position + 1:])
    return variants
