"""Exceptions subalign raises for bad input and bad configuration.

Every message names the file or field, what was found and what was expected, in one line.
"""

from __future__ import annotations

__all__ = ["SubalignError", "VolumeError", "ConfigError", "PluginError", "MissingExtraError"]


class SubalignError(Exception):
    """Base class: a problem the user can fix, reported without a deep traceback."""


class VolumeError(SubalignError, ValueError):
    """A volume (file or array) is missing, unreadable or of the wrong shape or content."""


class ConfigError(SubalignError, ValueError):
    """A configuration field has a value outside what it accepts."""


class PluginError(SubalignError, LookupError):
    """A plugin is unknown, registered twice, or does not satisfy its kind's protocol."""


class MissingExtraError(SubalignError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""
