"""What the tests need from their environment, found one way everywhere.

- ``SHARED_DATA``: the atomic structures, maps and real particles of ``../shared/data``
  (beside the repository), or of ``$SUBALIGN_SHARED_DATA``. Tests that read them carry
  :data:`needs_shared_data`, an explicit skip with the path looked at when it is absent.
- :func:`require`: a package the ``test`` extra declares. A missing one is a failure, not a
  skip: a broken test install must not pass quietly.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(os.environ.get("SUBALIGN_SHARED_DATA")
                   or Path(__file__).resolve().parents[2] / "shared" / "data")

needs_shared_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason=f"shared data not at {SHARED_DATA} (set SUBALIGN_SHARED_DATA to the folder)")


def require(module: str):
    """Import ``module``, which the ``test`` extra declares (module docstring)."""
    return importlib.import_module(module)
