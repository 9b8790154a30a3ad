"""A job's final record: ``result.json`` and what goes in it (summary statistics, machine).

Rows of finished items live in ``rows.jsonl`` (:class:`subalign.execution.store.RowLog`);
``result.json`` is written atomically at the end with ``"status": "complete"``, so a
directory without it holds an unfinished job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subalign.execution.provenance import machine
from subalign.io.files import write_json

__all__ = ["machine", "median_mad", "write_result"]


def median_mad(values) -> tuple[float, float]:
    """Median and median absolute deviation (unscaled) of finite and infinite values alike."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan")
    median = float(np.median(values))
    return median, float(np.median(np.abs(values - median)))


def write_result(output_dir: Path, record: dict) -> Path:
    """Write ``result.json`` (atomically) with ``status: complete``."""
    return write_json(Path(output_dir) / "result.json", {"status": "complete", **record})
