"""Seconds, profile and peak memory of one default global alignment, per box size.

For each box size, ``--pairs`` simulated pairs (the realistic simulator's phantom, ±60°,
SNR 0.5, seed 0) are aligned with the defaults (plus any Hydra overrides) on one thread,
after one warm-up alignment (imports, numba compilation, FFT plans). Prints per size the
median and minimum seconds per pair and the median LM steps; with ``--profile`` the ten
functions with the most own time over all pairs of the first size (cProfile); with
``--memory`` the peak of memory allocated during one alignment (tracemalloc, which sees
numpy's allocations; run separately because tracing slows Python down); and over several
sizes the fitted exponent ``p`` of ``seconds ~ N^p``.

    python benchmarks/pair_speed.py --sizes 32 --pairs 10 --profile
    python benchmarks/pair_speed.py --sizes 24 32 48 64 --pairs 5 --memory
    python benchmarks/pair_speed.py --sizes 32 score.rotation=spline
"""

import argparse
import cProfile
import io
import pstats
import time
import tracemalloc

import _common  # noqa: F401  (one thread)
import numpy as np

import subalign
from subalign import align_pair, compose_config
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config

try:  # absent before the Fourier-space rotation (so the script can time older trees)
    from subalign.numerics.spectral import compiled_kernel
except ImportError:
    def compiled_kernel() -> str:
        return "n/a"

TILT = 60.0


def pairs_of_size(size: int, count: int) -> list:
    """``count + 1`` simulated pairs of box ``size`` (the first is the warm-up)."""
    settings = simulation_config({"size": size,
                                  "imaging": {"snr": 0.5, "tilt_range_deg": [-TILT, TILT]}})
    density = load_density(settings)
    return [simulate_pair(settings, density, k) for k in range(count + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the align config")
    args = parser.parse_args()
    config = compose_config("align", [*args.overrides, f"wedge.tilt_range_deg=[{-TILT},{TILT}]"])
    print(f"subalign {subalign.__version__} from {subalign.__file__}; compiled kernel: "
          f"{compiled_kernel()}; overrides {args.overrides}; one thread")
    medians = []
    for index, size in enumerate(args.sizes):
        pairs = pairs_of_size(size, args.pairs)
        align_pair(config, pairs[0].fixed, pairs[0].moving)  # warm-up
        profiler = cProfile.Profile() if args.profile and index == 0 else None
        seconds, steps = [], []
        for pair in pairs[1:]:
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            result = align_pair(config, pair.fixed, pair.moving)
            if profiler:
                profiler.disable()
            seconds.append(time.perf_counter() - started)
            steps.append(result.lm_steps)
        medians.append(float(np.median(seconds)))
        line = (f"{size}^3: {np.median(seconds):.3f} s per pair (median of {len(seconds)}, "
                f"min {np.min(seconds):.3f}), median {np.median(steps):.0f} LM steps")
        if args.memory:
            tracemalloc.start()
            align_pair(config, pairs[1].fixed, pairs[1].moving)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            line += f", peak allocated {peak / 2**20:.1f} MiB"
        print(line, flush=True)
        if profiler:
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(10)
            table = text.getvalue()
            print(table[table.index("ncalls"):].rstrip())
            print("(profiled times include cProfile's overhead; the line above is unprofiled"
                  " only when --profile is not given)")
    if len(args.sizes) > 1:
        slope = np.polyfit(np.log(args.sizes), np.log(medians), 1)[0]
        print(f"seconds ~ N^{slope:.2f} over N = {args.sizes} (N^3 log N would be ~3.3)")


if __name__ == "__main__":
    main()
