"""The command line around Hydra: flags anywhere, ``-v``, and errors as one line, exit code 2.

Hydra's own parser wants its flags before the overrides; :func:`hydra_arguments` accepts
them anywhere (``subalign experiment experiment=table1_2 -m tilt=60,40`` works) and hands
Hydra the flags first. Every user error ends the process through :func:`fail`: one line
``subalign: error: ...`` on stderr and exit code 2; with ``-v``/``--verbose`` or
``SUBALIGN_DEBUG=1`` the full traceback is printed before it.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import NoReturn

from subalign.errors import ConfigError, raise_parser_errors

__all__ = ["debug_requested", "fail", "hydra_arguments", "runs_the_task", "set_overrides"]

VERBOSE_FLAGS = ("-v", "--verbose")


def debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether to print full tracebacks (``-v``, ``--verbose`` or ``SUBALIGN_DEBUG``), and
    ``argv`` without those flags."""
    flag = os.environ.get("SUBALIGN_DEBUG", "").strip() not in ("", "0", "false", "no")
    kept = [arg for arg in argv if arg not in VERBOSE_FLAGS]
    return flag or len(kept) < len(argv), kept


def fail(exc: BaseException, debug: bool = False) -> NoReturn:
    """Report a user error in one line on stderr (the trace first if ``debug``); exit 2."""
    if debug:
        traceback.print_exception(exc)
    line = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
    print(f"subalign: error: {line}", file=sys.stderr)
    raise SystemExit(2)


def hydra_arguments(command: str, rest: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse a command's arguments as Hydra would, flags and overrides in any order.

    Returns
    -------
    Namespace, list of str
        Hydra's parsed arguments, and the argument list to give Hydra: flags first, then
        the overrides in their order.

    Raises
    ------
    ConfigError
        An unknown flag or a flag missing its value.
    """
    from hydra._internal.utils import get_args_parser  # Hydra loads only for its commands

    parser = raise_parser_errors(get_args_parser(), command)
    args = parser.parse_intermixed_args(rest)
    flags, pending = [], list(args.overrides)
    for arg in rest:
        if pending and arg == pending[0]:
            pending.pop(0)
        else:
            flags.append(arg)
    return args, flags + list(args.overrides)


def runs_the_task(args: argparse.Namespace) -> bool:
    """False for the flags that only print (``--cfg``, ``--info``, ``--hydra-help``, ...)."""
    return not (args.help or args.hydra_help or args.cfg or args.info or args.shell_completion)


#: Fields of ``subalign align`` that give the pair's wedges; a particle set has none.
PAIR_WEDGES = ("wedge", "fixed_wedge", "moving_wedge")


def set_overrides(name: str, argv: list[str]) -> list[str]:
    """The overrides of a particle-set command (``batch``, ``average``, ``classify``):
    ``key=value`` only (one run, no flags), and no pair wedge (each particle has its own).

    Raises
    ------
    ConfigError
        A flag, or a ``wedge.*`` override, named with what to give instead.
    """
    flags = [arg for arg in argv if arg.startswith("-")]
    if flags:
        raise ConfigError(f"{name}: expected key=value overrides only, found {' '.join(flags)} "
                          f"(a {name} run is one run: no -m)")
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key.split(".")[0] in PAIR_WEDGES:
            reference = "; the reference's from reference_wedge" if name == "batch" else ""
            raise ConfigError(f"{key}: a {name} takes no pair wedge (each particle's wedge "
                              f"comes from the set, tomograms= or particle_wedge{reference}), "
                              f"found {value}")
    return argv
