"""Global alignment of seeded simulated pairs: accuracy, failures and their cause, steps, time.

Each pair is two randomly posed copies of a density (``--structure``: the phantom or an
atomic model from ``../shared/data/structures``) through the realistic simulator (tilt
series in 1-degree steps over ``--tilt``, CTF, MTF, weighted backprojection, ``--snr``);
pair k of seed 0 is particles 2k, 2k+1. With ``--data quick`` the quick wedge-filter
generator (:mod:`subalign.simulation.synthetic`) is used instead (phantom only). The aligner
runs as ``subalign align`` would, with any Hydra overrides given after the options.

Prints one line per pair and a summary: median and MAD of the rotation and translation
errors, gross failures (rotation error > 20 degrees) with, for each, whether the score at
the true transform is lower than at the result (the search missed it) or not (the score
prefers the wrong transform), pairs within 1 and 5 degrees, median LM steps and seconds
(one thread), and the confidence of correct and failed results. ``--json FILE`` also
writes every row.

    python benchmarks/global_search.py --pairs 10 --snr 0.5 score=fcs
    python benchmarks/global_search.py --structure proteasome --tilt 40 --snr inf
"""

import argparse
import json
import time
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np

from subalign import align_pair, compose_config
from subalign.align.config import align_settings, resolve_tilts
from subalign.experiments.records import median_mad
from subalign.numerics.geometry import transform_errors
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import default_plugin_set
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config
from subalign.simulation.synthetic import synthetic_pair

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "structures"
STRUCTURES = {
    "phantom": None,
    "groel": DATA / "groel14_from_1kp8A.pdb.gz",
    "proteasome": DATA / "3j9i_proteasome20S.pdb.gz",
    "ribosome30s": DATA / "4v4r_30S.pdb.gz",
    "apoferritin": DATA / "4v1w_apoferritin.cif.gz",
}
GROSS_DEG = 20.0


def axis_overrides(pair) -> list[str]:
    """``constraint=axis`` with the particle's z axis as seen in each volume's frame."""
    fixed_axis, moving_axis = (pose.rotation[:, 2] for pose in (pair.fixed_pose, pair.moving_pose))
    return ["constraint=axis",
            "constraint.fixed_axis=[" + ",".join(f"{v:.12g}" for v in fixed_axis) + "]",
            "constraint.moving_axis=[" + ",".join(f"{v:.12g}" for v in moving_axis) + "]"]


def simulation(structure: str, snr: float, tilt: float):
    """The simulator's config for a structure at an SNR and tilt range."""
    overrides = {"imaging": {"snr": snr, "tilt_range_deg": [-tilt, tilt]}}
    if STRUCTURES[structure] is not None:
        overrides["density"] = {"source": "structure", "path": str(STRUCTURES[structure])}
    return simulation_config(overrides)


def blame(config, pair, result) -> str:
    """``search`` if the configured score is lower at the truth than at the result (the
    search did not reach the true basin), else ``score``."""
    fixed_tilt, moving_tilt = resolve_tilts(align_settings(config))
    objective = default_plugin_set().create("score", config.score).prepare(
        pair.fixed, pair.moving, fixed_tilt, moving_tilt)
    at_truth = objective.value(pair.truth)
    return "search" if at_truth < result.score_value else "score"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--snr", type=float, default=0.5)
    parser.add_argument("--tilt", type=float, default=60.0)
    parser.add_argument("--structure", choices=sorted(STRUCTURES), default="phantom")
    parser.add_argument("--data", choices=("simulated", "quick"), default="simulated")
    parser.add_argument("--axis", action="store_true",
                        help="constraint=axis with each volume's true axis (the particle's z)")
    parser.add_argument("--json", type=Path, help="write every row to this file")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. score=fcs")
    args = parser.parse_args()
    tilt = TiltRange(-args.tilt, args.tilt)
    overrides = [*args.overrides, f"wedge.tilt_range_deg=[{-args.tilt},{args.tilt}]"]
    print(f"{args.data} data, {args.structure}, snr {args.snr}, tilt +-{args.tilt:g}, "
          f"overrides {args.overrides}" + (", axis-constrained with the true axes" if args.axis else ""))
    settings = simulation(args.structure, args.snr, args.tilt)
    density = load_density(settings)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.pairs):
        if args.data == "simulated":
            pair = simulate_pair(settings, density, seed)
        else:
            pair = synthetic_pair(seed, snr=args.snr, tilt=tilt)
        config = compose_config("align", overrides + (axis_overrides(pair) if args.axis else []))
        started = time.perf_counter()
        result = align_pair(config, pair.fixed, pair.moving)
        seconds = time.perf_counter() - started
        rotation, translation = transform_errors(result.transform, pair.truth)
        cause = blame(config, pair, result) if rotation > GROSS_DEG else ""
        rows.append({"seed": seed, "rotation_error_deg": rotation,
                     "translation_error_voxels": translation, "lm_steps": result.lm_steps,
                     "seconds": seconds, "score": result.score_value,
                     "confidence": result.confidence, "gross_cause": cause})
        print(f"seed {seed:3d}: rotation error {rotation:7.2f} deg, translation error "
              f"{translation:6.3f} vox, {result.lm_steps:4d} LM steps, {seconds:6.2f} s, "
              f"{result.score_name} {result.score_value:.5f}, confidence "
              f"{result.confidence if result.confidence is None else round(result.confidence, 3)}"
              + (f"  GROSS ({cause})" if cause else ""), flush=True)
    rotation = np.array([r["rotation_error_deg"] for r in rows])
    gross = [r for r in rows if r["gross_cause"]]
    causes = {c: sum(r["gross_cause"] == c for r in gross) for c in ("search", "score")}
    confidences = {kind: [r["confidence"] for r in rows if (r["rotation_error_deg"] > GROSS_DEG)
                          == failed and r["confidence"] is not None]
                   for kind, failed in (("correct", False), ("gross", True))}
    print(f"rotation error {'%.2f +- %.2f' % median_mad(rotation)} deg (median +- MAD); "
          f"translation {'%.3f +- %.3f' % median_mad([r['translation_error_voxels'] for r in rows])} vox; "
          f"gross (> {GROSS_DEG:g} deg) {len(gross)}/{len(rows)} (search {causes['search']}, "
          f"score {causes['score']}); within 1 deg {np.sum(rotation < 1)}/{len(rows)}, "
          f"within 5 deg {np.sum(rotation < 5)}/{len(rows)}; median "
          f"{np.median([r['lm_steps'] for r in rows]):.0f} LM steps, "
          f"{np.median([r['seconds'] for r in rows]):.2f} s per pair; confidence min "
          + ", ".join(f"{kind} {min(v):.3f}" if v else f"{kind} -" for kind, v in confidences.items()))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
