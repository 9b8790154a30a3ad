"""The simulated particle sets of issue 14's measurements (``subalign average``, ``subalign
classify``), written as a user gets them from ``subalign simulate``.

``single``: ``--particles`` particles of one real structure (default the 30S ribosomal
subunit, asymmetric) in ``--size``^3 boxes of 1 nm voxels, SNR ``--snr``, wedge +-60, random
poses; ``DIR/single/particles.star`` (RELION 5, true poses, half sets alternating),
``wedges.csv`` and the true map ``reference.mrc``.

``mixture``: ``--per-class`` particles of each of three structures (30S, 20S proteasome,
apoferritin), one RELION 5 set ``DIR/mixture/mixture.star`` whose class column is the truth
(1, 2, 3 in that order), ``class<c>/reference.mrc`` the true maps; ``mixture_all`` the same
with ``--per-class-all`` particles (the all-vs-all run).

    python benchmarks/refine_sets.py DIR [--particles 300] [--per-class 50] [--per-class-all 15]

Then run the commands of docs/benchmarks.md ("Averaging and classification") on them.
"""

import argparse
import sys
from pathlib import Path

import _common  # noqa: F401  (one thread)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from batch_support import simulate  # noqa: E402
from refine_support import mixture  # noqa: E402

STRUCTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "structures"
#: The mixture's structures, class 1, 2, 3.
MIXTURE = ("4v4r_30S.pdb.gz", "3j9i_proteasome20S.pdb.gz", "4v1w_apoferritin.cif.gz")


def _structure(name: str) -> tuple[str, ...]:
    return ("density.source=structure", f"density.path={STRUCTURES / name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--particles", type=int, default=300)
    parser.add_argument("--structure", default=MIXTURE[0])
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--per-class-all", type=int, default=15)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--snr", type=float, default=0.5)
    parser.add_argument("--only", choices=("single", "mixture", "mixture_all"))
    args = parser.parse_args()
    common = [f"size={args.size}", f"imaging.snr={args.snr}", "imaging.tilt_range_deg=[-60,60]"]
    if args.only in (None, "single"):
        path = simulate(args.directory / "single", f"n={args.particles}", "seed=14", *common,
                        *_structure(args.structure))
        print(f"wrote {path / 'particles.star'} ({args.particles} particles), "
              f"{path / 'reference.mrc'}")
    for name, count, seed in (("mixture", args.per_class, 20), ("mixture_all",
                                                                args.per_class_all, 40)):
        if args.only not in (None, name):
            continue
        path = mixture(args.directory / name, [_structure(s) for s in MIXTURE], count, *common,
                       seed=seed)
        print(f"wrote {path} ({count} particles of each of {', '.join(MIXTURE)})")


if __name__ == "__main__":
    main()
