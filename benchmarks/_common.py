"""Helpers shared by the benchmark scripts: one thread, medians of repeated timings."""

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402


def median_seconds(function, repeats: int) -> tuple[float, float]:
    """Median and minimum wall time of ``function()`` over ``repeats`` calls (one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), float(np.min(times))
