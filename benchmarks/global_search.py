"""Global alignment of seeded simulated pairs: accuracy, failures and their cause, steps, time.

Each pair is two randomly posed copies of a density (``--structure``: the phantom or an
atomic model from ``../shared/data/structures``, or ``groel_arc``: four chains of the GroEL
14-mer, an asymmetric piece of a real complex) through the realistic simulator (tilt
series in 1-degree steps over ``--tilt``, CTF, MTF, weighted backprojection, ``--snr``);
pair k of seed 0 is particles 2k, 2k+1. With ``--data quick`` the quick wedge-filter
generator (:mod:`subalign.simulation.synthetic`) is used instead (phantom only). The aligner
runs as ``subalign align`` would, with any Hydra overrides given after the options.

Prints one line per pair and a summary: median and MAD of the rotation and translation
errors, gross failures (rotation error > 20 degrees) with, for each, whether the score in
the true basin (at the truth, or polished from it) is lower than at the result (the search
missed it) or not (the score prefers the wrong transform), pairs within 1 and 5 degrees, median LM steps and seconds
(one thread), and the confidence of correct and failed results. ``--json FILE`` also
writes every row.

    python benchmarks/global_search.py --pairs 10 --snr 0.5 score=fcs
    python benchmarks/global_search.py --structure proteasome --tilt 40 --snr inf
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np

from subalign import align_pair, compose_config
from subalign.align.config import align_settings, resolve_tilts
from subalign.experiments.records import median_mad
from subalign.numerics.geometry import RigidTransform, rotation_vector_to_matrix, transform_errors
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange
from subalign.plugin.manager import default_plugin_set
from subalign.search import polish
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config
from subalign.simulation.synthetic import synthetic_pair

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "structures"
STRUCTURES = {
    "phantom": None,
    "groel": DATA / "groel14_from_1kp8A.pdb.gz",
    "proteasome": DATA / "3j9i_proteasome20S.pdb.gz",
    "ribosome30s": DATA / "4v4r_30S.pdb.gz",
}
#: Point group order n of the dihedral (Dn) structures; rotation errors are taken modulo it.
#: At 4 nm both are close to cylinders, so their rotation about the n-fold axis is barely
#: defined; the asymmetric structures below are the ones to judge a search by.
DIHEDRAL = {"groel": 7, "proteasome": 7}
#: Asymmetric complexes cut from a symmetric one: (source, chains kept).
SUBSETS = {"groel_arc": ("groel", ("A", "B", "C", "H"))}
GROSS_DEG = 20.0


def axis_overrides(pair) -> list[str]:
    """``constraint=axis`` with the particle's z axis as seen in each volume's frame."""
    fixed_axis, moving_axis = (pose.rotation[:, 2] for pose in (pair.fixed_pose, pair.moving_pose))
    return ["constraint=axis",
            "constraint.fixed_axis=[" + ",".join(f"{v:.12g}" for v in fixed_axis) + "]",
            "constraint.moving_axis=[" + ",".join(f"{v:.12g}" for v in moving_axis) + "]"]


def structure_path(structure: str) -> Path | None:
    """The atomic model of ``structure``; a subset is written once to the temporary folder."""
    if structure not in SUBSETS:
        return STRUCTURES[structure]
    import gemmi

    source, chains = SUBSETS[structure]
    path = Path(tempfile.gettempdir()) / "subalign-benchmarks" / f"{structure}.pdb"
    if not path.exists():
        model = gemmi.read_structure(str(STRUCTURES[source]))
        for name in [chain.name for chain in model[0] if chain.name not in chains]:
            model[0].remove_chain(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.write_pdb(str(path))
    return path


def simulation(structure: str, snr: float, tilt: float):
    """The simulator's config for a structure at an SNR and tilt range."""
    overrides = {"imaging": {"snr": snr, "tilt_range_deg": [-tilt, tilt]}}
    path = structure_path(structure)
    if path is not None:
        overrides["density"] = {"source": "structure", "path": str(path)}
    return simulation_config(overrides)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def dihedral_group(density: np.ndarray, order: int) -> list[np.ndarray]:
    """The 2n rotations of a Dn density about the box centre, found from the density.

    The n-fold axis is the inertia axis with the distinct moment; the 2-fold axes lie
    perpendicular to it at the azimuth (0.5-degree steps) where a half turn correlates
    best. Every operation is checked to map the density onto itself (correlation > 0.9).
    """
    weights = np.clip(density, 0, None)
    offsets = np.indices(density.shape, dtype=float) - (np.array(density.shape)[:, None, None, None] // 2)
    xyz = offsets[::-1].reshape(3, -1)
    inertia = (xyz * weights.ravel()) @ xyz.T
    values, vectors = np.linalg.eigh(inertia)
    gaps = [abs(values[i] - values[j]) for i, j in ((0, 1), (1, 2))]
    axis = vectors[:, 0] if gaps[0] > gaps[1] else vectors[:, 2]
    first, second = (vectors[:, 1], vectors[:, 2]) if gaps[0] > gaps[1] else (vectors[:, 0], vectors[:, 1])
    turns = [rotation_vector_to_matrix(axis * 2 * np.pi * k / order) for k in range(order)]
    best = max(np.radians(np.arange(0.0, 180.0 / order, 0.5)),
               key=lambda phi: _correlation(transform_volume(density, RigidTransform(
                   rotation_vector_to_matrix(np.pi * (np.cos(phi) * first + np.sin(phi) * second)),
                   np.zeros(3))), density))
    flip = rotation_vector_to_matrix(np.pi * (np.cos(best) * first + np.sin(best) * second))
    group = turns + [turn @ flip for turn in turns]
    for operation in group:
        moved = transform_volume(density, RigidTransform(operation, np.zeros(3)))
        assert _correlation(moved, density) > 0.9, "the density is not Dn-symmetric as assumed"
    return group


def rotation_error(found, pair, group) -> tuple[float, float]:
    """Rotation and translation error, the rotation modulo the density's symmetry ``group``
    (``pose_f S pose_m^-1`` is as true as the truth for every S in it)."""
    best = min((pair.fixed_pose.compose(RigidTransform(s, np.zeros(3))).compose(
                    pair.moving_pose.inverse()) for s in group),
               key=lambda truth: transform_errors(found, truth)[0])
    return transform_errors(found, best)


def blame(config, pair, result) -> str:
    """``search`` if the configured score is lower in the true basin than at the result (the
    search did not reach it), else ``score`` (the score prefers the wrong transform). The
    true basin's value is the lower of the score at the exact truth and after polishing
    from the truth with the configured optimizer: at low SNR the basin's minimum can lie
    below the exact truth's value."""
    settings = align_settings(config)
    fixed_tilt, moving_tilt = resolve_tilts(settings)
    plugins = default_plugin_set()
    objective = plugins.create("score", settings.score).prepare(
        pair.fixed, pair.moving, fixed_tilt, moving_tilt)
    parameterization = plugins.create("constraint", settings.constraint).parameterization()
    polished = polish(objective, plugins.create("optimizer", settings.optimizer),
                      parameterization, parameterization.to_params(pair.truth),
                      settings.polish_max_steps, lambda state: None)
    in_basin = min(objective.value(pair.truth), polished.value)
    return "search" if in_basin < result.score_value else "score"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--snr", type=float, default=0.5)
    parser.add_argument("--tilt", type=float, default=60.0)
    parser.add_argument("--structure", choices=sorted([*STRUCTURES, *SUBSETS]), default="phantom")
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
    group = ([np.eye(3)] if args.structure not in DIHEDRAL
             else dihedral_group(density, DIHEDRAL[args.structure]))
    if len(group) > 1:
        print(f"rotation errors modulo the {len(group)} operations of D{DIHEDRAL[args.structure]}")
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
        rotation, translation = rotation_error(result.transform, pair, group)
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
