"""Exceptions subalign raises for bad input and bad configuration.

Every message names the file or field, what was found and what was expected, in one line.
"""

from __future__ import annotations

__all__ = ["SubalignError", "VolumeError", "ConfigError", "PluginError", "MissingExtraError",
           "check_number", "did_you_mean", "raise_parser_errors"]


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


def check_number(value, field: str, *, above: float | None = None,
                 at_least: float | None = None, at_most: float | None = None,
                 integer: bool = False):
    """Return ``value`` if it is a (finite) number in range, else raise a :class:`ConfigError`.

    Parameters
    ----------
    value : object
        The setting as given.
    field : str
        Its name in the message, e.g. ``"simulate.n"``.
    above, at_least, at_most : float, optional
        Bounds: ``value > above``, ``value >= at_least``, ``value <= at_most``.
    integer : bool
        Require an integer (``bool`` is not one).

    Raises
    ------
    ConfigError
        ``"<field>: expected <what>, found <value>"``.
    """
    kind = "an integer" if integer else "a number"
    bounds = [f"> {above:g}" if above is not None else "",
              f">= {at_least:g}" if at_least is not None else "",
              f"<= {at_most:g}" if at_most is not None else ""]
    expected = " ".join([kind, " and ".join(b for b in bounds if b)]).strip()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ok = False
    elif integer and not float(value).is_integer():
        ok = False
    else:
        ok = (value == value and abs(value) != float("inf")
              and (above is None or value > above) and (at_least is None or value >= at_least)
              and (at_most is None or value <= at_most))
    if not ok:
        raise ConfigError(f"{field}: expected {expected}, found {value!r}")
    return value


def did_you_mean(word: str, candidates) -> str:
    """``" (did you mean 'x'?)"`` for the candidate closest to ``word``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def raise_parser_errors(parser, command: str):
    """Make an :class:`argparse.ArgumentParser` raise a one-line :class:`ConfigError`
    (``"<command>: <argparse's message>"``) instead of printing its usage and exiting.

    Returns
    -------
    ArgumentParser
        ``parser``.
    """
    def error(message: str):
        if message.startswith("unrecognized arguments: "):
            found = message.removeprefix("unrecognized arguments: ")
            message = (f"expected the arguments `subalign {command} --help` lists, found "
                       f"{found}")
        elif message.startswith("the following arguments are required: "):
            message = f"expected {message.split(': ', 1)[1]}, found none"
        raise ConfigError(f"{command}: {message}")

    parser.error = error
    return parser
