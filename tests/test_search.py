"""Candidate samplers, constraint models and refiners: counts, geometry and mechanics."""

import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import subalign
from subalign.numerics.geometry import RigidTransform, rotation_distance_deg, transform_distance
from subalign.plugin.manager import default_plugin_set
from subalign.plugins.refiners.stochastic_parallel import regression_slope, selection_weights
from subalign.simulation.synthetic import synthetic_pair


@pytest.mark.parametrize("interval,count", [(60, 108), (45, 256), (90, 32)])
def test_euler_grid_counts(interval, count):
    sampler = default_plugin_set().create("sampler", {"name": "euler_grid", "interval_deg": interval})
    rotations = sampler.rotations()
    assert rotations.shape == (count, 3, 3)
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rotations.shape), atol=1e-12)


@pytest.mark.parametrize("interval,count", [(60, 6), (45, 8)])
def test_axis_constraint_candidates(interval, count):
    plugins = default_plugin_set()
    sampler = plugins.create("sampler", {"name": "euler_grid", "interval_deg": interval})
    fixed_axis, moving_axis = np.array([1.0, 2.0, 2.0]) / 3, np.array([0.0, -0.6, 0.8])
    constraint = plugins.create("constraint", {"name": "axis", "fixed_axis": fixed_axis.tolist(),
                                               "moving_axis": moving_axis.tolist()})
    rotations = constraint.candidate_rotations(sampler)
    assert rotations.shape == (count, 3, 3)
    # Every candidate (eq. 22) maps the moving volume's axis onto the fixed volume's axis...
    np.testing.assert_allclose(rotations @ moving_axis, np.broadcast_to(fixed_axis, (count, 3)), atol=1e-12)
    # ...and consecutive candidates differ by the interval about that axis.
    steps = rotation_distance_deg(rotations[1:], rotations[:-1])
    np.testing.assert_allclose(steps, interval, atol=1e-9)


def test_axis_parameterization_round_trip():
    constraint = default_plugin_set().create("constraint", {"name": "axis", "fixed_axis": [0, 1, 1],
                                                            "moving_axis": [1, 0, 0]})
    parameterization = constraint.parameterization()
    params = np.array([123.0, 0.5, -1.0, 2.0])
    back = parameterization.to_params(parameterization.to_transform(params))
    np.testing.assert_allclose(back, params, atol=1e-9)


def test_selection_weights_follow_eq_11():
    values = np.array([0.9, 0.2, 0.5, 0.21, 0.8])
    t = 2.0
    weights = selection_weights(values, t)
    order = np.argsort(-values)  # worst first
    ordered = weights[order]
    ratios = ordered[1:] / ordered[:-1]
    minimum = 10 ** (t / (len(values) - 1))
    assert np.all(ratios >= minimum * (1 - 1e-12))
    np.testing.assert_allclose(ratios, np.maximum(minimum, values[order][:-1] / values[order][1:]))
    assert ordered[-1] / ordered[0] >= 10**t


def test_regression_slope():
    assert regression_slope(np.array([5.0, 4.0, 3.0, 2.0])) == pytest.approx(-1.0)
    assert regression_slope(np.full(10, 0.3)) == 0.0


@pytest.fixture(scope="module")
def small_pair():
    return synthetic_pair(0, size=24, snr=np.inf, max_translation=1.0)


# The paper's scheme (no scan): every candidate of the grid, from the centroid translation.
FAST = ["sampler=euler_grid", "scan.keep=null", "sampler.interval_deg=90", "refiner.n_max_iter=40", "refiner.regression_window=10"]


@pytest.mark.slow  # full refinements of every candidate: 10-15 s
def test_stochastic_parallel_result_and_trace(small_pair):
    config = subalign.compose_config("align", FAST)
    result = subalign.align_pair(config, small_pair.fixed, small_pair.moving)
    assert result.n_candidates == 32
    search_steps = result.lm_steps - result.details["polish_steps"]
    assert 1 <= search_steps <= 40
    assert len(result.trace) == search_steps
    assert np.all(np.diff(result.trace) <= 0)  # a record minimum never rises
    # The search ran on the search score; the polish may only improve on its best.
    assert result.details["search_value"] == pytest.approx(result.trace[-1])
    assert result.details["stop_reason"] in {"regression", "all candidates converged", "n_max_iter"}
    # 90-degree grid: the 4 theta = 0 rows (phi + psi) hold 16 candidates but 4 rotations.
    assert result.details["candidates_removed"] >= 12
    assert result.details["candidates_left"] + result.details["candidates_removed"] == 32


def test_exhaustive_scan_takes_no_steps_and_picks_the_best_candidate(small_pair):
    config = subalign.compose_config("align", ["refiner=exhaustive_scan", "scan.keep=null",
                                               "sampler=euler_grid", "sampler.interval_deg=90",
                                               "search_score=null", "initial_translation=fft"])
    result = subalign.align_pair(config, small_pair.fixed, small_pair.moving)
    assert result.lm_steps == 0 and result.trace == []
    plugins = default_plugin_set()
    tilt = subalign.TiltRange(-60, 60)
    objective = plugins.create("score", config.score).prepare(small_pair.fixed, small_pair.moving, tilt, tilt)
    values = [objective.value(RigidTransform(r, objective.best_translation(r, None)))
              for r in plugins.create("sampler", config.sampler).rotations()]
    assert result.score_value == pytest.approx(min(values))
    assert result.score_value == pytest.approx(objective.value(result.transform))


@pytest.mark.slow  # full refinements of every candidate: 10-15 s
def test_independent_refines_every_candidate(small_pair):
    config = subalign.compose_config("align", ["refiner=independent", "sampler=euler_grid",
                                               "sampler.interval_deg=120",
                                               "refiner.max_steps_per_candidate=3"])
    result = subalign.align_pair(config, small_pair.fixed, small_pair.moving)
    per_candidate = result.details["steps_per_candidate"]
    assert len(per_candidate) == result.n_candidates
    assert sum(per_candidate) + result.details["polish_steps"] == result.lm_steps
    assert all(1 <= s <= 3 for s in per_candidate)


def test_duplicate_candidates_are_dropped(small_pair):
    """Two identical starting candidates: one goes before any step."""
    plugins = default_plugin_set()
    config = subalign.compose_config("align", [])
    tilt = subalign.TiltRange(-60, 60)
    objective = plugins.create("score", config.score).prepare(small_pair.fixed, small_pair.moving, tilt, tilt)
    parameterization = plugins.create("constraint", config.constraint).parameterization()
    start = parameterization.to_params(RigidTransform.identity())
    refiner = plugins.create("refiner", {"name": "stochastic_parallel", "n_max_iter": 1})
    from subalign.plugin.protocols import RefinementProblem
    result = refiner.refine(RefinementProblem(objective, plugins.create("optimizer", "lm"),
                                              parameterization, [start, start.copy()]))
    assert result.details["candidates_removed"] == 1
    assert result.details["candidates_left"] == 1


def test_the_euler_grid_repeats_rotations_at_theta_zero():
    """At theta = 0 only phi + psi matters: 36 of the 108 candidates are 6 rotations."""
    rotations = default_plugin_set().create("sampler", "euler_grid").rotations()
    transforms = [RigidTransform(r, np.zeros(3)) for r in rotations]
    distinct = []
    for t in transforms:
        if all(transform_distance(t, d) > 1e-9 for d in distinct):
            distinct.append(t)
    assert len(distinct) == 108 - 30


def _align_in_worker(arguments):
    config, fixed, moving = arguments
    return subalign.align_pair(config, fixed, moving)


@pytest.mark.slow  # alignments in two spawned processes: 40 s
def test_align_pair_is_picklable_and_deterministic_across_processes(small_pair):
    config = subalign.compose_config("align", FAST)
    arguments = (config, small_pair.fixed, small_pair.moving)
    pickle.dumps(arguments)
    here = subalign.align_pair(*arguments)
    with ProcessPoolExecutor(max_workers=2) as pool:
        there = list(pool.map(_align_in_worker, [arguments, arguments]))
    for result in there:
        np.testing.assert_array_equal(result.transform.rotation, here.transform.rotation)
        np.testing.assert_array_equal(result.transform.translation, here.transform.translation)
        assert result.lm_steps == here.lm_steps
    pickle.dumps(here)


@pytest.mark.parametrize("spacing,count", [(65, 105), (60, 134), (45, 314)])
def test_so3_uniform_counts_and_spread(spacing, count):
    rotations = default_plugin_set().create("sampler", {"name": "so3_uniform", "spacing_deg": spacing}).rotations()
    assert rotations.shape == (count, 3, 3)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-12)
    nearest = [np.sort(rotation_distance_deg(rotations, r))[1] for r in rotations]
    assert min(nearest) > spacing / 2  # no two candidates closer than half the spacing


def test_so3_uniform_covers_so3_better_than_the_euler_grid_at_similar_count():
    from scipy.spatial.transform import Rotation
    plugins = default_plugin_set()
    uniform = plugins.create("sampler", {"name": "so3_uniform", "spacing_deg": 65}).rotations()
    grid = plugins.create("sampler", {"name": "euler_grid", "interval_deg": 60}).rotations()
    probes = Rotation.random(2000, random_state=7).as_matrix()
    gap_uniform = max(rotation_distance_deg(uniform, p).min() for p in probes)
    gap_grid = max(rotation_distance_deg(grid, p).min() for p in probes)
    assert len(uniform) <= len(grid)
    assert gap_uniform < gap_grid - 10


@pytest.mark.parametrize("seed", range(3))
def test_axis_constrained_alignment_with_true_axes(seed):
    """Noise-free, +-60 wedges, 6 candidates about the known axis: within 1 degree."""
    pair = synthetic_pair(seed, snr=np.inf)
    fixed_axis, moving_axis = (pose.rotation[:, 2] for pose in (pair.fixed_pose, pair.moving_pose))
    config = subalign.compose_config("align", [
        "constraint=axis", "sampler=euler_grid",
        "constraint.fixed_axis=[" + ",".join(f"{v:.12g}" for v in fixed_axis) + "]",
        "constraint.moving_axis=[" + ",".join(f"{v:.12g}" for v in moving_axis) + "]",
    ])
    result = subalign.align_pair(config, pair.fixed, pair.moving)
    assert result.n_candidates == 6
    np.testing.assert_allclose(result.transform.rotation @ moving_axis, fixed_axis, atol=1e-9)
    assert rotation_distance_deg(result.transform.rotation, pair.truth.rotation) < 1.0


def test_the_default_global_search_finds_the_truth(builtin_score):
    """Noise-free, +-60 wedges, random true poses (seeds 0-4, not chosen): the default search
    (the scan of so3_uniform's rotations, binned search, polish race) lands within 1 degree
    in every pair; measured 0.15-0.33 (rcs) and 0.15-0.46 degrees (fcs), 2026-12-06, 2-5 s.
    benchmarks/global_search.py reports the held-out figures."""
    config = subalign.compose_config("align", [f"score={builtin_score}"])
    errors = []
    for seed in range(5):
        pair = synthetic_pair(seed, snr=np.inf)
        result = subalign.align_pair(config, pair.fixed, pair.moving)
        errors.append(float(rotation_distance_deg(result.transform.rotation, pair.truth.rotation)))
    assert max(errors) < 1.0, errors
