"""A job directory's claim: the settings its results were made with, and who runs in it.

A job writes the record of its settings to ``job.json`` before its first result. A rerun
with the same settings resumes the job; a rerun with other settings is refused, naming the
first setting that differs, because its results would be mixed with the earlier ones.

One run at a time (:func:`run_lock`): a running job holds an exclusive ``flock`` on
``<output_dir>/.subalign.lock``, which names it (process, machine, start). A second run
in the same directory is refused in one line naming the first, instead of doing the work
twice, or (``wait=true``) waits for it to end and then resumes. The operating system
releases the lock when the process ends, however it ends, so a killed run never leaves a
stale lock. POSIX ``flock``; on a network file system shared by
several machines it holds only where the file system supports it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from subalign.errors import ConfigError
from subalign.io.files import write_json

__all__ = ["LOCK_FILE", "check_claim", "claim", "first_difference", "run_lock"]

LOCK_FILE = ".subalign.lock"

log = logging.getLogger("subalign")

_ABSENT = object()


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def first_difference(found: Any, expected: Any, prefix: str = "") -> tuple[str, str, str] | None:
    """The first setting in which two records differ.

    Parameters
    ----------
    found, expected : JSON-like
        Two records (nested dicts of plain values); lists are compared whole.
    prefix : str
        Dotted name of the records' position (``""`` at the top).

    Returns
    -------
    tuple of str or None
        ``(dotted name, found value, expected value)``, values as short JSON; None when
        the records are equal. Keys are visited in ``expected``'s order, then the keys
        only ``found`` has.
    """
    if isinstance(found, dict) and isinstance(expected, dict):
        keys = list(expected) + [key for key in found if key not in expected]
        for key in keys:
            name = f"{prefix}.{key}" if prefix else str(key)
            old, new = found.get(key, _ABSENT), expected.get(key, _ABSENT)
            if old is _ABSENT or new is _ABSENT:
                return name, _shown(old), _shown(new)
            difference = first_difference(old, new, name)
            if difference is not None:
                return difference
        return None
    if found == expected:
        return None
    return prefix or "(the whole record)", _shown(found), _shown(expected)


def check_claim(path: str | Path, record: dict, *, what: str = "job") -> bool:
    """Refuse ``path`` if it holds the claim of other settings (reads only).

    Parameters
    ----------
    path : str or Path
        The claim file, ``<output_dir>/job.json``.
    record : dict
        The settings of this run (plain JSON values).
    what : str
        What the directory holds, for the message.

    Returns
    -------
    bool
        True when ``path`` holds the same settings (a resumed run), False when it is absent.

    Raises
    ------
    ConfigError
        ``"<path>: holds a <what> made with <setting>=<value>, this command has
        <setting>=<value>; ..."``.
    """
    path = Path(path)
    if not path.exists():
        return False
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: expected the settings record of a {what}, found "
                          f"unreadable JSON ({exc}); choose another output_dir") from None
    difference = first_difference(previous, json.loads(json.dumps(record, default=str)))
    if difference is not None:
        name, old, new = difference
        raise ConfigError(f"{path}: holds a {what} made with {name}={old}, this command has "
                          f"{name}={new}; expected the same settings to resume (choose another "
                          "output_dir)")
    return True


def claim(path: str | Path, record: dict, *, what: str = "job") -> bool:
    """:func:`check_claim`, then write ``record`` to ``path`` if it is absent.

    Returns
    -------
    bool
        True when the directory already held this job (a resumed run).
    """
    resumed = check_claim(path, record, what=what)
    if not resumed:
        write_json(path, record)
    return resumed


@contextmanager
def run_lock(output_dir: str | Path, *, what: str = "job", wait: bool = False) -> Iterator[Path]:
    """Hold ``output_dir``'s run lock while the block runs (module docstring).

    Parameters
    ----------
    output_dir : str or Path
    what : str
        What runs there, for the messages.
    wait : bool
        If another run holds the lock, log one line naming it and wait until it ends,
        instead of refusing.

    Raises
    ------
    ConfigError
        Another run holds it and ``wait`` is False: ``"<dir>: another <what> is running in it
        (pid ... on ... since ...); ..."``.
    """
    import fcntl

    path = Path(output_dir) / LOCK_FILE
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "a process"
            if not wait:
                raise ConfigError(f"{output_dir}: another {what} is running in it ({holder}); "
                                  "expected one run per output_dir (rerun when it has finished: "
                                  "it resumes; wait=true waits for it; or choose another "
                                  "output_dir)") from None
            log.info("%s: another %s is running in it (%s); waiting for it to end", output_dir,
                     what, holder)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield path
    finally:
        handle.close()  # closing releases the lock
