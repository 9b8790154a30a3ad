"""Per-particle precision against a reference whose spectrum is, or is not, the particles'.

Simulates a set (default: 40 particles of the 30S subunit, 32^3 at 15 A, +-60 deg, SNR 0.5,
the simulator's CTF and MTF), then aligns every particle locally from its true pose (so only
the precision is measured, no search) to:

* the true map as it is;
* the true map with each Fourier shell scaled by ``a(k)``, the particles' own amplitude
  relative to it, as ``subalign batch reference_spectrum=match`` fits it: the least-squares
  regression, over the particles at their true poses and within their wedges, of the
  particle's coefficients on the turned map's (:mod:`subalign.workflows.reference_spectrum`);

at ``score.max_frequency`` 0.3 (the default) and 0.45, and prints the median, 90th
percentile and count beyond 20 deg of the rotation errors, with ``a(k)`` and the signal to
noise per coefficient of every shell.

    python benchmarks/reference_spectrum.py --output /tmp/spectrum

The structure is read through ``../shared/data`` (or ``$SUBALIGN_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from subalign.io.formats import read_particles
from subalign.numerics.geometry import rotation_distance_deg

SHARED = Path(os.environ.get("SUBALIGN_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
SUBALIGN = str(Path(sys.executable).parent / "subalign")


def errors(directory: Path, spectrum: str, band: float, output: Path) -> np.ndarray:
    """Rotation errors (deg) of a local batch from the true poses to the true map, as given
    or with ``reference_spectrum=match``."""
    run = output / f"{spectrum}_{band}"
    if not (run / "summary.json").exists():
        subprocess.run([SUBALIGN, "batch", f"particles={directory / 'particles.star'}",
                        f"tomograms={directory / 'wedges.csv'}",
                        f"reference={directory / 'density.mrc'}", f"reference_spectrum={spectrum}",
                        "search=local", f"score.max_frequency={band}", "hand_check=0",
                        "histogram=false", "executor.workers=2", f"output_dir={run}"],
                       check=True, capture_output=True, text=True)
    found = read_particles(run / "aligned.star").rotations
    return rotation_distance_deg(found, read_particles(directory / "particles.star").rotations)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7301)
    parser.add_argument("--structure", default="structures/4v4r_30S.pdb.gz")
    args = parser.parse_args(argv)
    directory = args.output / "set"
    if not (directory / "particles.star").exists():
        subprocess.run([SUBALIGN, "simulate", f"n={args.n}", "size=32", "voxel_size_nm=1.5",
                        f"seed={args.seed}", "density.source=structure",
                        f"density.path={SHARED / args.structure}", "imaging.snr=0.5",
                        "max_translation_voxels=1.5", f"output_dir={directory}"],
                       check=True, capture_output=True, text=True)
    rows = {}
    for spectrum in ("given", "match"):
        for band in (0.3, 0.45):
            rows[spectrum, band] = errors(directory, spectrum, band, args.output)
    table = json.loads((args.output / "match_0.3" / "reference_spectrum.json").read_text())
    for shell in table["shells"][1:]:
        print(f"shell {shell['shell']:2d} ({shell['cycles_per_voxel']:.3f} cycles/voxel): "
              f"a = {shell['gain']:+.3f}, signal/noise per coefficient "
              f"{shell['signal_to_noise']:.3g}")
    for (spectrum, band), found in rows.items():
        print(f"reference_spectrum={spectrum:<5} max_frequency {band}: median "
              f"{np.median(found):.2f} deg, 90th percentile {np.percentile(found, 90):.2f}, "
              f"beyond 20 deg {int((found > 20).sum())} of {len(found)}")


if __name__ == "__main__":
    main()
