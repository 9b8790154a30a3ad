"""Compose a command's config in Python exactly as the command line would."""

from __future__ import annotations

from typing import Iterable

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from subalign.cli.schemas import store_schemas
from subalign.plugin.manager import PluginSet, default_plugin_set

__all__ = ["CONFIG_MODULE", "compose_config", "prepare_config_store"]

CONFIG_MODULE = "subalign.conf"


def prepare_config_store(plugins: PluginSet | None = None) -> None:
    """Put the command schemas and every plugin's config into Hydra's ConfigStore."""
    store_schemas()
    (plugins or default_plugin_set()).store_configs()


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
    """
    prepare_config_store(plugins)
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        return compose(config_name=command, overrides=list(overrides))
