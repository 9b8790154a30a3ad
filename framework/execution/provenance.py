"""What every result records about how it was made: version, config, inputs, machine.

:func:`provenance` is the one place this record is built; ``alignment.json``,
``simulation.json`` and an experiment's ``result.json`` all carry it under
``"provenance"``. Inputs are fingerprinted (:func:`subalign.io.files.file_record`), so a
result can be checked against the exact files it was computed from.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Mapping

import numpy as np

from subalign.io.files import file_record

__all__ = ["machine", "provenance", "source_version"]


def machine() -> dict:
    """Where a job ran: platform, host, Python, CPU count, numpy/scipy versions."""
    import scipy

    return {"platform": platform.platform(), "processor": platform.processor() or "unknown",
            "host": platform.node(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
            "numpy": np.__version__, "scipy": scipy.__version__}


@lru_cache(maxsize=1)
def source_version() -> dict:
    """subalign's version, and the git commit of its source when it runs from a checkout.

    Returns
    -------
    dict
        ``version`` (the installed distribution's), ``commit`` (None outside a git checkout)
        and ``modified`` (tracked files differ from the commit; None outside a checkout).
    """
    try:
        version = metadata.version("subalign")
    except metadata.PackageNotFoundError:
        version = "unknown"
    source = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD") if (source / ".git").exists() else None
    modified = None
    if commit is not None:
        status = git("status", "--porcelain", "--untracked-files=no")
        modified = None if status is None else bool(status)
    return {"version": version, "commit": commit, "modified": modified}


def provenance(config: Mapping, inputs: Mapping[str, str | os.PathLike | None] | None = None,
               *, command: str | None = None) -> dict:
    """The provenance record of one result.

    Parameters
    ----------
    config : mapping
        The full resolved config the result was computed with (plain containers).
    inputs : mapping of str to path or None
        Input files by role (``"fixed"``, ``"density.path"``, ...); each is fingerprinted.
        None entries (no file: a built-in phantom, the demo pair) are kept as None.
    command : str, optional
        The command line; default ``sys.argv``, quoted for a shell.

    Returns
    -------
    dict
        ``subalign`` (:func:`source_version`), ``command``, ``config``, ``inputs`` (path,
        bytes, sha256 of each) and ``machine`` (:func:`machine`).
    """
    files = {role: None if path is None else file_record(path)
             for role, path in (inputs or {}).items()}
    return {"subalign": source_version(),
            "command": shlex.join(sys.argv) if command is None else command,
            "config": dict(config), "inputs": files, "machine": machine()}
