"""Global alignment of seeded phantom pairs: accuracy, LM steps and seconds per pair.

Each pair is two randomly posed copies of the phantom with +-60 degree wedges (or
``--tilt``) at ``--snr``: by default from the realistic simulator (tilt series, CTF, MTF,
weighted backprojection; pair k of seed 0 is particles 2k, 2k+1), or with ``--data quick``
from the quick wedge-filter generator (:mod:`subalign.simulation.synthetic`, pair k is seed k). The
aligner runs as ``subalign align`` would, with any Hydra overrides given after the options. Prints one line per pair and a summary: median and MAD
of the rotation and translation errors, pairs within 1 and 5 degrees, median LM steps and
median seconds (one thread).

    python benchmarks/global_search.py --pairs 10 --snr 0.5 score=fcs
"""

import argparse
import time

import _common  # noqa: F401  (one thread)
import numpy as np

from subalign import align_pair, compose_config
from subalign.experiments.records import median_mad
from subalign.numerics.geometry import transform_errors
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config
from subalign.simulation.synthetic import synthetic_pair
from subalign.numerics.wedge import TiltRange


def axis_overrides(pair) -> list[str]:
    """``constraint=axis`` with the particle's z axis as seen in each volume's frame."""
    fixed_axis, moving_axis = (pose.rotation[:, 2] for pose in (pair.fixed_pose, pair.moving_pose))
    return ["constraint=axis",
            "constraint.fixed_axis=[" + ",".join(f"{v:.12g}" for v in fixed_axis) + "]",
            "constraint.moving_axis=[" + ",".join(f"{v:.12g}" for v in moving_axis) + "]"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--snr", type=float, default=0.5)
    parser.add_argument("--tilt", type=float, default=60.0)
    parser.add_argument("--data", choices=("simulated", "quick"), default="simulated")
    parser.add_argument("--axis", action="store_true",
                        help="constraint=axis with each volume's true axis (the particle's z)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. score=fcs")
    args = parser.parse_args()
    tilt = TiltRange(-args.tilt, args.tilt)
    overrides = [*args.overrides, f"wedge.tilt_range_deg=[{-args.tilt},{args.tilt}]"]
    print(f"{args.data} data, snr {args.snr}, tilt +-{args.tilt:g}, overrides {args.overrides}"
          + (", axis-constrained with the true axes" if args.axis else ""))
    simulation = simulation_config({"imaging": {"snr": args.snr,
                                                "tilt_range_deg": [-args.tilt, args.tilt]}})
    density = load_density(simulation)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.pairs):
        if args.data == "simulated":
            pair = simulate_pair(simulation, density, seed)
        else:
            pair = synthetic_pair(seed, snr=args.snr, tilt=tilt)
        config = compose_config("align", overrides + (axis_overrides(pair) if args.axis else []))
        started = time.perf_counter()
        result = align_pair(config, pair.fixed, pair.moving)
        seconds = time.perf_counter() - started
        rotation, translation = transform_errors(result.transform, pair.truth)
        rows.append((rotation, translation, result.lm_steps, seconds))
        print(f"seed {seed:3d}: rotation error {rotation:7.2f} deg, translation error "
              f"{translation:6.3f} vox, {result.lm_steps:4d} LM steps, {seconds:6.2f} s, "
              f"{result.score_name} {result.score_value:.5f}", flush=True)
    rotation, translation, steps, seconds = np.array(rows).T
    print(f"rotation error {'%.2f +- %.2f' % median_mad(rotation)} deg (median +- MAD); "
          f"translation {'%.3f +- %.3f' % median_mad(translation)} vox; "
          f"within 1 deg {np.sum(rotation < 1)}/{len(rows)}, within 5 deg {np.sum(rotation < 5)}/{len(rows)}; "
          f"median {np.median(steps):.0f} LM steps, {np.median(seconds):.2f} s per pair")


if __name__ == "__main__":
    main()
