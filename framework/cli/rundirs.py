"""Where a command's results go: ``output_dir=`` if given, else a directory of its own.

Hydra's default run directory, ``outputs/<date>/<time>``, is shared by two runs started in
the same second. The commands' configs (``conf/*.yaml``) name their run and sweep
directories through the ``subalign_run_dir`` resolver instead: ``output_dir`` when it is
set, so Hydra's ``.hydra/`` config and log sit beside the results, else the dated default
with a suffix unique to the process (its id and random digits). A multirun puts job ``k``
in ``<output_dir or sweep dir>/k``. Rerunning a command with the same ``output_dir``
therefore reuses the same directory, which is how a run is resumed.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

__all__ = ["job_output_dir", "register_resolvers", "run_suffix"]


@lru_cache(maxsize=1)
def run_suffix() -> str:
    """``<pid>-<6 random hex digits>``, fixed for the life of the process."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


def _run_dir(output_dir, default: str) -> str:
    return str(output_dir) if output_dir not in (None, "") else f"{default}_{run_suffix()}"


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
