"""subalign batch end to end on simulated RELION 5 sets: true poses recovered, classes found.

1. ``subalign simulate`` writes ``--particles`` particles (``--size``^3, SNR ``--snr``, wedge
   +-60) as ``particles.star`` (RELION 5) with ``wedges.csv``; the reference is the true
   density. ``subalign batch`` aligns them to it globally (default settings), and locally
   from priors turned by ``--prior-deg`` about random axes and shifted by
   ``--prior-voxels``; the new poses are compared with the truth (median errors, gross
   failures: rotation error > 20 degrees).
2. ``--per-class`` particles of the paper phantom and as many of another four-blob phantom
   (``--classes-size``^3, SNR ``--classes-snr``), one RELION 5 set; ``subalign batch
   mode=all classes=2`` (8 candidates from a 30-degree set, shifts within 5 voxels); the
   adjusted Rand index of its average-linkage classes against the truth.

Every batch runs through the console script on the default executor (a local Dask cluster
of one worker process per core).

    python benchmarks/batch_recovery.py [--particles 20] [--size 32] [--snr 0.5]
        [--per-class 20] [--classes-size 24] [--classes-snr 2] [--only reference|classes] [--keep DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from batch_support import perturbed, pose_errors, simulate, two_structures  # noqa: E402

from subalign.io.formats import read_particles  # noqa: E402
from subalign.workflows.batch.clustering import adjusted_rand_index  # noqa: E402

SUBALIGN = Path(sys.executable).parent / "subalign"


def batch(*args: str) -> dict:
    """Run ``subalign batch`` and return its summary.json."""
    started = time.perf_counter()
    done = subprocess.run([str(SUBALIGN), "batch", *args, "histogram=false"], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    output_dir = next(a.split("=", 1)[1] for a in args if a.startswith("output_dir="))
    summary = json.loads((Path(output_dir) / "summary.json").read_text())
    summary["wall"] = time.perf_counter() - started
    return summary


def report(label: str, rotation: np.ndarray, shift: np.ndarray, summary: dict) -> None:
    print(f"{label}: median error {np.median(rotation):.2f} deg, {np.median(shift):.3f} voxels; "
          f"{int(np.sum(rotation > 20))} gross failures (> 20 deg) of {len(rotation)}; "
          f"{summary['seconds']:.0f} s ({summary['wall']:.0f} s with the cluster's start)")


def to_reference(work: Path, args: argparse.Namespace) -> None:
    sim = simulate(work / "sim", f"n={args.particles}", f"size={args.size}",
                   f"imaging.snr={args.snr}", "seed=7")
    truth = sim / "particles.star"
    common = [f"tomograms={sim / 'wedges.csv'}", f"reference={sim / 'reference.mrc'}"]
    print(f"{args.particles} particles of {args.size}^3, SNR {args.snr:g}, wedge +-60, "
          f"RELION 5 STAR")
    summary = batch(f"particles={truth}", *common, f"output_dir={work / 'global'}")
    report("to the reference, global", *pose_errors(work / "global" / "aligned.star", truth),
           summary)
    prior_error = perturbed(truth, work / "prior.star", args.prior_deg, args.prior_voxels)
    print(f"priors: {args.prior_deg:g} deg (median {np.median(prior_error):.1f}) and "
          f"{args.prior_voxels:g} voxels off")
    summary = batch(f"particles={work / 'prior.star'}", *common, "search=local",
                    f"output_dir={work / 'local'}")
    report("to the reference, local", *pose_errors(work / "local" / "aligned.star", truth),
           summary)


def classes(work: Path, args: argparse.Namespace) -> None:
    two = two_structures(work / "two", args.per_class, args.classes_size, args.classes_snr,
                         seed=11)
    summary = batch(f"particles={two}", f"tomograms={two.parent / 'wedges.csv'}", "mode=all",
                    "classes=2", "scan.keep=8", "sampler.spacing_deg=30", "max_shift_voxels=5",
                    f"output_dir={work / 'all'}")
    labels = read_particles(work / "all" / "aligned.star").fields["class_number"].to_numpy()
    truth_labels = np.repeat([1, 2], args.per_class)
    matrix = np.load(work / "all" / "dissimilarity.npy")
    half = args.per_class
    within = np.concatenate([matrix[:half, :half][np.triu_indices(half, 1)],
                             matrix[half:, half:][np.triu_indices(half, 1)]])
    print(f"all-vs-all of {2 * half} particles of 2 structures ({args.classes_size}^3, SNR "
          f"{args.classes_snr:g}; {summary['count']} pairs, {summary['seconds']:.0f} s): "
          f"adjusted Rand index {adjusted_rand_index(truth_labels, labels):.3f} after average "
          f"linkage (class sizes {summary['files']['class_sizes']}); dissimilarity median "
          f"{np.median(within):.3f} within classes, {np.median(matrix[:half, half:]):.3f} "
          "between")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--particles", type=int, default=20)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--snr", type=float, default=0.5)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--classes-size", type=int, default=24)
    parser.add_argument("--classes-snr", type=float, default=2.0)
    parser.add_argument("--only", choices=("reference", "classes"))
    parser.add_argument("--prior-deg", type=float, default=10.0)
    parser.add_argument("--prior-voxels", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, help="work here instead of a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        if args.only != "classes":
            to_reference(work, args)
        if args.only != "reference":
            classes(work, args)


if __name__ == "__main__":
    main()
