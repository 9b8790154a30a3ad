"""What a command costs before and after its work: import, ``subalign plugins``, ``subalign align``.

Prints medians over ``--runs`` fresh processes of
- ``import subalign.api``: the import's own time (``-X importtime``) and the whole process;
- ``subalign plugins``: the whole process;
- ``subalign align`` of one simulated 32³ pair (±60°, SNR 0.5, written as MRC files): the
  whole process, the alignment it reports, and the difference (start-up, composition,
  writing).

The ``subalign`` and ``python`` used are those of the running interpreter's environment.

    python benchmarks/startup.py --runs 5
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from subalign.io.mrc import write_volume
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config

SUBALIGN = str(Path(sys.executable).parent / "subalign")


def timed(command: list[str], **kwargs) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True, **kwargs)
    return time.perf_counter() - started, done.stdout + done.stderr


def import_seconds() -> tuple[float, float]:
    """``import subalign.api``: the import's cumulative time and the whole process."""
    total, output = timed([sys.executable, "-X", "importtime", "-c", "import subalign.api"])
    line = [row for row in output.splitlines() if row.rstrip().endswith("| subalign.api")][-1]
    return int(line.split("|")[1]) / 1e6, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        settings = simulation_config({"imaging": {"snr": 0.5, "tilt_range_deg": [-60, 60]}})
        pair = simulate_pair(settings, load_density(settings), 0)
        write_volume(folder / "a.mrc", pair.fixed.astype(np.float32))
        write_volume(folder / "b.mrc", pair.moving.astype(np.float32))
        imports = [import_seconds() for _ in range(args.runs)]
        plugins = [timed([SUBALIGN, "plugins"])[0] for _ in range(args.runs)]
        totals, aligned = [], []
        for run in range(args.runs):
            total, output = timed([SUBALIGN, "align", "fixed=a.mrc", "moving=b.mrc",
                                   "wedge.tilt_range_deg=[-60,60]", f"output_dir=run{run}"],
                                  cwd=folder)
            totals.append(total)
            aligned.append(float(re.search(r"candidates; ([0-9.]+) s", output).group(1)))
    print(f"{sys.executable}; medians of {args.runs} processes")
    print(f"import subalign.api: {np.median([i for i, _ in imports]):.3f} s import, "
          f"{np.median([t for _, t in imports]):.3f} s process")
    print(f"subalign plugins: {np.median(plugins):.3f} s")
    overhead = np.subtract(totals, aligned)
    print(f"subalign align (32^3): {np.median(totals):.2f} s process, {np.median(aligned):.2f} s "
          f"alignment reported, {np.median(overhead):.2f} s more (min {overhead.min():.2f})")


if __name__ == "__main__":
    main()
