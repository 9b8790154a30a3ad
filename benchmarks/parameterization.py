"""Euler angles vs rotation increments as LM parameters: steps and accuracy.

From seeded starts 15 degrees and 1.5 voxels off the truth (noise-free, +-60 wedges, rcs +
lm), refine with each parameterization; once on general poses and once on poses whose
relative rotation has theta = 0 (Euler gimbal lock). Prints median rotation error and
median LM steps.

    python benchmarks/parameterization.py [--pairs 8]
"""

import argparse

import _common  # noqa: F401  (one thread)
import numpy as np

from subalign.numerics.geometry import (
    RigidTransform,
    rotation_distance_deg,
    rotation_vector_to_matrix,
)
from subalign.plugin.manager import default_plugin_set
from subalign.numerics.parameterization import EulerParameterization, IncrementParameterization
from subalign.simulation.synthetic import synthetic_pair
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange

WEDGE = TiltRange(-60.0, 60.0)


def refine(objective, optimizer, parameterization, start):
    state = optimizer.start(objective, parameterization, parameterization.to_params(start))
    while not state.converged and state.steps < 100:
        state = optimizer.step(objective, parameterization, state)
    return parameterization.to_transform(state.params), state.steps


def cases(pairs: int, gimbal: bool):
    for seed in range(pairs):
        pair = synthetic_pair(seed, snr=np.inf, tilt=WEDGE, max_translation=1.5)
        fixed, truth = pair.fixed, pair.truth
        if gimbal:
            truth = RigidTransform.from_euler_zyz([37.0 * (seed + 1), 0.0, 0.0], [0.4, -0.2, 0.3])
        moving = transform_volume(fixed, truth.inverse()) if gimbal else pair.moving
        rng = np.random.default_rng(500 + seed)
        axis = rng.normal(size=3)
        start = RigidTransform(
            rotation_vector_to_matrix(np.radians(15) * axis / np.linalg.norm(axis)) @ truth.rotation,
            truth.translation + 1.5 * rng.normal(size=3) / np.sqrt(3))
        yield fixed, moving, truth, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()
    plugins = default_plugin_set()
    optimizer = plugins.create("optimizer", "lm")
    print(f"rcs + lm, +-60 wedges, noise-free, {args.pairs} pairs per row, start 15 deg / 1.5 vox off")
    print(f"{'poses':<14} {'parameterization':<16} {'median error (deg)':>19} {'max error':>10} {'median steps':>13}")
    for gimbal in (False, True):
        results = {"euler": [], "increment": []}
        for fixed, moving, truth, start in cases(args.pairs, gimbal):
            objective = plugins.create("score", "rcs").prepare(fixed, moving, WEDGE, WEDGE)
            for name, parameterization in (("euler", EulerParameterization()),
                                           ("increment", IncrementParameterization())):
                found, steps = refine(objective, optimizer, parameterization, start)
                results[name].append((float(rotation_distance_deg(found.rotation, truth.rotation)), steps))
        for name, rows in results.items():
            errors, steps = np.array(rows).T
            print(f"{'theta = 0' if gimbal else 'random':<14} {name:<16} {np.median(errors):19.3f} "
                  f"{errors.max():10.3f} {np.median(steps):13.1f}")


if __name__ == "__main__":
    main()
