"""Time to simulate one subtomogram (paper defaults: 32^3, +-60 in 1-degree steps = 121
tilts, CTF and MTF, SNR 0.5), and the one-off cost of building the projector for a tilt set.

    python benchmarks/simulate.py [--repeats 20] [--size 32]
"""

import argparse
import time

import _common  # noqa: F401  (one thread)
import numpy as np

from subalign.simulation.density import phantom
from subalign.simulation.imaging import tilt_angles, tilt_series_geometry
from subalign.simulation.simulate import simulate_particle, simulation_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    density = phantom(args.size)
    for limits in ((-60.0, 60.0), (-90.0, 90.0)):
        angles = tuple(tilt_angles(*limits))
        started = time.perf_counter()
        tilt_series_geometry.cache_clear()
        tilt_series_geometry(args.size, angles)
        build = time.perf_counter() - started
        config = simulation_config({"size": args.size,
                                    "imaging": {"tilt_range_deg": list(limits)}})
        index = iter(range(10**6))
        median, minimum = _common.median_seconds(
            lambda: simulate_particle(config, density, next(index)), args.repeats)
        print(f"{args.size}^3, {len(angles)} tilts ({limits[0]:+g}..{limits[1]:+g}), CTF+MTF, "
              f"SNR 0.5: {1e3 * median:.1f} ms per subtomogram (min {1e3 * minimum:.1f}); "
              f"projector built once in {1e3 * build:.0f} ms")
    print(f"numpy {np.__version__}, one thread, median of {args.repeats}")


if __name__ == "__main__":
    main()
