"""Per-particle precision against a reference whose spectrum is, or is not, the particles'.

Simulates a set (default: 40 particles of the 30S subunit, 32^3 at 15 A, +-60 deg, SNR 0.5,
the simulator's CTF and MTF), then aligns every particle locally from its true pose (so only
the precision is measured, no search) to:

* the true map as it is;
* the true map with each Fourier shell scaled by ``a(k)``, the particles' own amplitude
  relative to it: the least-squares regression, over the particles at their true poses and
  within their wedges, of the particle's coefficients on the turned map's;

at ``score.max_frequency`` 0.3 (the default) and 0.45, and prints the median, 90th
percentile and count beyond 20 deg of the rotation errors, with ``a(k)`` and the signal to
noise per coefficient of every shell.

    python benchmarks/reference_spectrum.py --output /tmp/spectrum

The structure is read through ``../shared/data`` (or ``$SUBALIGN_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from subalign.io.formats import read_particles
from subalign.io.mrc import read_volume, write_volume
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.geometry import rotation_distance_deg
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import wedge_mask

SHARED = Path(os.environ.get("SUBALIGN_SHARED_DATA",
                             Path(__file__).resolve().parents[2] / "shared" / "data"))
SUBALIGN = str(Path(sys.executable).parent / "subalign")


def shell_profile(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """``a(k)`` and the signal-to-noise per coefficient of every shell, each (N // 2 + 1,),
    from the set in ``directory`` at its true poses (rfft half spectrum, wedge-masked)."""
    particles = read_particles(directory / "particles.star", tomograms=directory / "wedges.csv")
    truth = read_volume(directory / "density.mrc").data.astype(float)
    n = truth.shape[0]
    kz, ky, kx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), np.fft.rfftfreq(n),
                             indexing="ij")
    shells = np.minimum(np.round(np.sqrt(kx**2 + ky**2 + kz**2) * n).astype(int), n // 2)
    sums = np.zeros((4, n // 2 + 1))  # cross, model power, residual power, count
    pairs = []
    with SubtomogramReader(particles) as reader:
        for index, tilt in enumerate(particles.tilt_ranges()):
            box = reader(index)
            mask = wedge_mask((n,) * 3, tilt)
            measured = np.fft.rfftn(box.volume) * mask
            model = np.fft.rfftn(transform_volume(truth, box.pose)) * mask
            pairs.append((measured, model, mask))
            sums[0] += np.bincount(shells.ravel(), np.real(measured * np.conj(model)).ravel(), n // 2 + 1)
            sums[1] += np.bincount(shells.ravel(), (np.abs(model) ** 2).ravel(), n // 2 + 1)
    gain = sums[0] / np.maximum(sums[1], 1e-30)
    for measured, model, mask in pairs:
        sums[2] += np.bincount(shells.ravel(), (np.abs(measured - gain[shells] * model) ** 2).ravel(),
                               n // 2 + 1)
        sums[3] += np.bincount(shells.ravel(), mask.ravel().astype(float), n // 2 + 1)
    signal = gain**2 * sums[1] / np.maximum(sums[3], 1)
    noise = sums[2] / np.maximum(sums[3], 1)
    matched = np.fft.irfftn(np.fft.rfftn(truth) * gain[shells], truth.shape, axes=(0, 1, 2))
    write_volume(directory / "matched.mrc", matched.astype(np.float32),
                 voxel_size=float(read_volume(directory / "density.mrc").voxel_size))
    return gain, signal / np.maximum(noise, 1e-30)


def errors(directory: Path, reference: str, band: float, output: Path) -> np.ndarray:
    """Rotation errors (deg) of a local batch from the true poses to ``reference``."""
    run = output / f"{Path(reference).stem}_{band}"
    if not (run / "summary.json").exists():
        subprocess.run([SUBALIGN, "batch", f"particles={directory / 'particles.star'}",
                        f"tomograms={directory / 'wedges.csv'}", f"reference={directory / reference}",
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
    gain, ssnr = shell_profile(directory)
    for shell in range(1, len(gain)):
        print(f"shell {shell:2d} ({shell / 32:.3f} cycles/voxel): a = {gain[shell]:+.3f}, "
              f"signal/noise per coefficient {ssnr[shell]:.3g}")
    for reference in ("density.mrc", "matched.mrc"):
        for band in (0.3, 0.45):
            found = errors(directory, reference, band, args.output)
            print(f"{reference:<12} max_frequency {band}: median {np.median(found):.2f} deg, "
                  f"90th percentile {np.percentile(found, 90):.2f}, beyond 20 deg "
                  f"{int((found > 20).sum())} of {len(found)}")


if __name__ == "__main__":
    main()
