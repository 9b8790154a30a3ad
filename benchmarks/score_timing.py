"""Cost and accuracy of score evaluations, Jacobians and LM steps on 32^3 volumes.

Prints, for rcs and fcs and each Jacobian method: the median (minimum) time of one residual
evaluation, one Jacobian and one LM step over ``--repeats`` calls on one thread, and the
relative error of each Jacobian column against central differences with a 1e-4 step.

    python benchmarks/score_timing.py [--repeats 20]
"""

import argparse

import _common  # noqa: F401  (one thread)
from _common import median_seconds
import numpy as np

from subalign.numerics.geometry import RigidTransform, rotation_vector_to_matrix
from subalign.plugin.manager import default_plugin_set
from subalign.numerics.parameterization import IncrementParameterization
from subalign.scoring.constrained import finite_difference_jacobian
from subalign.simulation.synthetic import synthetic_pair
from subalign.numerics.wedge import TiltRange

WEDGE = TiltRange(-60.0, 60.0)


def column_errors(objective, transform):
    """Relative error per Jacobian column against central differences (mask held)."""
    _, jacobian = objective.jacobian(transform)
    reference = finite_difference_jacobian(objective, transform)
    return np.linalg.norm(jacobian - reference, axis=0) / np.linalg.norm(reference, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    plugins = default_plugin_set()
    pair = synthetic_pair(0, snr=0.5, tilt=WEDGE)
    rng = np.random.default_rng(1)
    transforms = [
        RigidTransform(rotation_vector_to_matrix(np.radians(10) * rng.normal(size=3)) @ pair.truth.rotation,
                       pair.truth.translation + rng.normal(size=3))
        for _ in range(5)
    ]
    print(f"32^3, +-60 wedges, one thread, median (min) of {args.repeats} calls, milliseconds")
    print(f"{'score':<5} {'jacobian':<10} {'residuals':>16} {'jacobian':>16} {'LM step':>16}"
          f"   column errors vs FD (rot x,y,z | trans x,y,z), max over 5 points")
    for score, optimizer in (("rcs", "lm"), ("fcs", "lm_complex")):
        for method in ("numerical", "analytic"):
            objective = plugins.create("score", {"name": score, "jacobian": method}).prepare(
                pair.fixed, pair.moving, WEDGE, WEDGE)
            lm = plugins.create("optimizer", optimizer)
            parameterization = IncrementParameterization()
            state = lm.start(objective, parameterization, parameterization.to_params(transforms[0]))
            residual_time = median_seconds(lambda: objective.residuals(transforms[0]), args.repeats)
            jacobian_time = median_seconds(lambda: objective.jacobian(transforms[0]), args.repeats)
            step_time = median_seconds(lambda: lm.step(objective, parameterization, state), args.repeats)
            errors = np.max([column_errors(objective, t) for t in transforms], axis=0)
            print(f"{score:<5} {method:<10} "
                  + " ".join(f"{m * 1e3:8.2f} ({n * 1e3:5.2f})" for m, n in (residual_time, jacobian_time, step_time))
                  + "   " + " ".join(f"{e:.1e}" for e in errors))


if __name__ == "__main__":
    main()
