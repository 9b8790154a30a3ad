"""Where a command's results go: ``output_dir=`` if given, else a directory of its own.

Hydra's default run directory, ``outputs/<date>/<time>``, is shared by two runs started in
the same second. The commands' configs (``conf/*.yaml``) name their run and sweep
directories through the ``subalign_run_dir`` resolver instead: ``output_dir`` when it is
set, so Hydra's ``.hydra/`` config and log sit beside the results, else the dated default
with a suffix unique to the process (its id and random digits). A multirun puts job ``k``
in ``<output_dir or sweep dir>/k``. Rerunning a command with the same ``output_dir``
reuses the same directory, which is how a run is resumed.

**Rerunning the same command resumes it.** ``subalign simulate`` and ``subalign
experiment`` (single runs and multiruns) mark the directory they work in with
``.subalign-run.json``: the command, its overrides (in any order), ``-m`` or not, the
working directory, a fingerprint of every composed config (so an edited preset or a changed
default is another command) and ``finished: false`` until the command returns. The running
command holds an exclusive lock on ``.subalign-run.lock`` there (released by the system
however the process ends). The same command, run again from the same working directory
without ``output_dir=``, claims the newest unfinished directory of that command whose lock
is free, and so resumes it; a finished run, or one still running (two runs started at
once), gives a new directory. A command given ``output_dir=`` marks and locks that
directory the same way, when no other run holds it. A command claims one directory: every
later resolution in its process (Hydra resolves a sweep's directory again for each job)
and in its launcher's worker processes gets the same one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import IO

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from subalign.io.files import write_json

__all__ = ["claim_runs_of", "config_fingerprint", "job_output_dir", "register_resolvers",
           "release_claim", "run_suffix"]

MARKER = ".subalign-run.json"
LOCK = ".subalign-run.lock"
#: Set in the environment by the process that claimed a directory, so that worker
#: processes of its launcher resolve the same one.
CLAIM_VARIABLE = "SUBALIGN_CLAIMED_RUN_DIR"

_identity: dict | None = None  # the command whose directory is claimed
_claim: tuple[Path, IO | None] | None = None  # the directory and its lock (None: not held)


@lru_cache(maxsize=1)
def run_suffix() -> str:
    """``<pid>-<6 random hex digits>``, fixed for the life of the process."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


def claim_runs_of(command: str, overrides: list[str], multirun: bool, fingerprint: str) -> None:
    """Make the directory of this command resumable (module docstring). Call once per
    command before Hydra composes its config; forgets any earlier claim.

    Parameters
    ----------
    command : str
    overrides : list of str
    multirun : bool
    fingerprint : str
        Identifies the composed configs (:func:`config_fingerprint`).
    """
    global _identity
    release_claim(finished=False)
    _identity = {"command": command, "multirun": bool(multirun), "cwd": os.getcwd(),
                 "overrides": sorted(o for o in overrides if not o.startswith("output_dir=")),
                 "fingerprint": fingerprint}


def config_fingerprint(configs: list) -> str:
    """SHA-256 of composed configs (plain containers) without ``output_dir``."""
    plain = [{k: v for k, v in OmegaConf.to_container(c, resolve=True).items()
              if k != "output_dir"} for c in configs]
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()


def release_claim(finished: bool) -> None:
    """Record the claimed directory as finished (with ``finished``), release its lock and
    forget the claim (also in the environment)."""
    global _identity, _claim
    if _claim is not None:
        directory, lock = _claim
        if lock is not None:
            if finished:
                write_json(directory / MARKER, {**_identity, "finished": True})
            lock.close()
    _claim = _identity = None
    os.environ.pop(CLAIM_VARIABLE, None)


def _run_dir(output_dir, default: str) -> str:
    global _claim
    inherited = os.environ.get(CLAIM_VARIABLE)
    if _identity is None:
        if inherited:  # a worker process of the claiming command
            return inherited
        return str(output_dir) if output_dir not in (None, "") else f"{default}_{run_suffix()}"
    if _claim is None:
        _claim = (_claim_given(Path(str(output_dir))) if output_dir not in (None, "")
                  else _claim_default(default))
        os.environ[CLAIM_VARIABLE] = str(_claim[0])
    return str(_claim[0])


def _claim_given(directory: Path) -> tuple[Path, IO | None]:
    """``output_dir``: locked and marked when no other run holds it, else used as it is."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = _lock(directory)
    if lock is not None:
        write_json(directory / MARKER, {**_identity, "finished": False})
    return directory, lock


def _claim_default(default: str) -> tuple[Path, IO]:
    """The newest unfinished, unlocked directory of this command under the default's top
    folder (``outputs`` or ``multirun``), else a new one; locked and marked."""
    top = Path(Path(default).parts[0])
    candidates = sorted(top.glob(f"**/{MARKER}"), key=lambda p: p.stat().st_mtime,
                        reverse=True) if top.is_dir() else []
    for marker in candidates:
        if not _unfinished_run_of_this_command(marker):
            continue
        lock = _lock(marker.parent)
        if lock is None:
            continue
        if _unfinished_run_of_this_command(marker):  # still, now that it is ours
            return marker.parent, lock
        lock.close()
    directory = Path(f"{default}_{run_suffix()}")
    directory.mkdir(parents=True, exist_ok=True)
    lock = _lock(directory)
    write_json(directory / MARKER, {**_identity, "finished": False})
    return directory, lock


def _unfinished_run_of_this_command(marker: Path) -> bool:
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(recorded, dict) and recorded.get("finished") is False
            and {k: recorded.get(k) for k in _identity} == _identity)


def _lock(directory: Path) -> IO | None:
    """An open file holding the exclusive lock of ``directory``, or None when another
    process holds it."""
    handle = open(directory / LOCK, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def register_resolvers() -> None:
    """Register ``subalign_run_dir`` (``${subalign_run_dir:${output_dir},<default>}``)."""
    if not OmegaConf.has_resolver("subalign_run_dir"):
        OmegaConf.register_new_resolver("subalign_run_dir", _run_dir)


def job_output_dir(output_dir: str | None) -> Path:
    """The directory of the running Hydra job's results.

    ``output_dir`` itself in a single run, ``output_dir/<job number>`` in a multirun, and
    Hydra's (unique) run directory when ``output_dir`` is not set.
    """
    hydra = HydraConfig.get()
    if output_dir in (None, ""):
        return Path(hydra.runtime.output_dir)
    if hydra.mode == RunMode.MULTIRUN:
        return Path(output_dir) / str(hydra.job.num)
    return Path(output_dir)
