"""Hydra's and omegaconf's composition errors as one line: field, what was found, what was expected.

Hydra reports a bad override in several lines (a message, the cause, the search path);
:func:`describe` reduces it to the form of every other subalign error. The original
exception stays chained, so ``SUBALIGN_DEBUG=1`` or ``-v`` can still print it whole.
"""

from __future__ import annotations

import re
from typing import Iterable

from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from subalign.errors import did_you_mean

__all__ = ["describe", "describe_parse_error"]

_TYPE_WORDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false",
               "String": "a string"}


def _known_keys(base: DictConfig | None, full_key: str) -> list[str]:
    """The keys next to ``full_key`` in ``base``: what the user could have meant."""
    if base is None:
        return []
    parent = ".".join(full_key.split(".")[:-1])
    node = OmegaConf.select(base, parent) if parent else base
    return [str(k) for k in node.keys()] if isinstance(node, DictConfig) else []


def _unknown_key(error: OmegaConfBaseException, override: str, base: DictConfig | None) -> str:
    full_key = str(error.full_key)
    key = str(error.key)
    hint = did_you_mean(key, _known_keys(base, full_key))
    where = ".".join(full_key.split(".")[:-1])
    where = f"the fields of {where}" if where else "the config's fields"
    return f"{override}: expected one of {where}, found {key!r}, which is none of them{hint}"


def _bad_value(cause: OmegaConfBaseException) -> str:
    message = str(cause.msg).splitlines()[0]
    converted = re.search(r"could not be converted to (\w+)", message)
    if converted:
        expected = _TYPE_WORDS.get(converted.group(1), converted.group(1))
    elif "is not a valid bool" in message:
        expected = _TYPE_WORDS["Boolean"]
    elif "is not a ListConfig, list or tuple" in message:
        expected = "a list such as [a,b]"
    elif (subclass := re.search(r"is not a subclass of (\w+)", message)):
        expected = f"a group of fields ({subclass.group(1)}), set one by one as key.field=value"
    else:
        return f"{cause.full_key}: {message}"
    return f"{cause.full_key}: expected {expected}, found {cause.value!r}"


def describe(exc: BaseException, overrides: Iterable[str] = (),
             base: DictConfig | None = None) -> str:
    """One line for a Hydra or omegaconf exception raised while composing a config.

    Parameters
    ----------
    exc : Exception
    overrides : iterable of str
        The overrides being composed (to name the culprit when the exception does not).
    base : DictConfig, optional
        The config composed without overrides, for suggestions of misspelt keys.
    """
    overrides = list(overrides)
    cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else exc
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file and exc.options:
        group, _, option = str(exc.missing_cfg_file).rpartition("/")
        return (f"{group}={option}: expected one of {', '.join(sorted(exc.options))}, "
                f"found {option!r}")
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        group, _, option = str(exc.missing_cfg_file).rpartition("/")
        if group:
            return f"{group}={option}: expected a {group} option, found {option!r} (none exist)"
        return f"{option}: expected one of the config groups, found {option!r}"
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
        culprit = next((o for o in overrides if o.lstrip("+~").split("=")[0] ==
                        str(cause.full_key) or o.lstrip("+~").startswith(f"{cause.full_key}.")),
                       str(cause.full_key))
        return _unknown_key(cause, culprit, base)
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        return _bad_value(cause)
    if first.startswith("Ambiguous value for argument"):
        override = first.split("'", 2)[1]
        return (f"{override}: expected one value, found a comma-separated list (to sweep over "
                f"it put -m first: subalign COMMAND -m {override}; for a list write [a,b])")
    if first.startswith("Could not append to config. An item is already at"):
        key = first.split("'")[1]
        return (f"+{key}: expected a new field after '+', found the existing field {key!r} "
                f"(set it with {key}=..., without '+')")
    if isinstance(exc, (ConfigCompositionException, HydraException, OmegaConfBaseException)):
        return f"{' '.join(overrides) or 'config'}: {first}"
    return first


def describe_parse_error(override: str, exc: HydraException) -> str:
    """One line for an override Hydra cannot parse."""
    reason = str(exc).strip().splitlines()[0]
    return (f"{override}: expected key=value in Hydra's override syntax "
            f"(https://hydra.cc/docs/advanced/override_grammar/basic/), found {reason}")
