"""Rotation conventions, Euler angles, rigid transforms and their distances (subalign.numerics.geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from subalign.numerics.geometry import (
    RigidTransform,
    euler_zyz_to_matrix,
    matrix_to_euler_zyz,
    rotation_angle_deg,
    rotation_distance_deg,
    rotation_onto_z,
    rotation_vector_to_matrix,
    transform_distance,
)

SEEDS = list(range(8))


def rz(deg: float) -> np.ndarray:
    """Right-handed active rotation about +z, written out by hand."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def ry(deg: float) -> np.ndarray:
    """Right-handed active rotation about +y, written out by hand."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def random_angles(seed: int, count: int = 25) -> np.ndarray:
    """(phi, theta, psi) triples with theta kept away from the gimbal poles 0 and 180."""
    rng = np.random.default_rng(seed)
    phi = rng.uniform(-179.0, 179.0, count)
    theta = rng.uniform(5.0, 175.0, count)
    psi = rng.uniform(-179.0, 179.0, count)
    return np.stack([phi, theta, psi], axis=-1)


def random_transform(rng: np.random.Generator) -> RigidTransform:
    angles = rng.uniform([-180, 0, -180], [180, 180, 180])
    return RigidTransform.from_euler_zyz(angles, rng.uniform(-3.0, 3.0, 3))


def wrap_deg(angle):
    """Angle difference folded into [-180, 180)."""
    return (np.asarray(angle) + 180.0) % 360.0 - 180.0


# --- Euler ZYZ ------------------------------------------------------------------------------


def test_hand_built_rotations_are_right_handed():
    """Sanity of the reference matrices: Rz(90) takes +x to +y, Ry(90) takes +z to +x."""
    np.testing.assert_allclose(rz(90) @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(ry(90) @ [0, 0, 1], [1, 0, 0], atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_euler_zyz_matrix_is_rz_ry_rz_product(seed):
    for phi, theta, psi in random_angles(seed):
        expected = rz(phi) @ ry(theta) @ rz(psi)
        np.testing.assert_allclose(euler_zyz_to_matrix([phi, theta, psi]), expected, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_euler_zyz_round_trip_recovers_angles_and_matrix(seed):
    angles = random_angles(seed)
    matrices = euler_zyz_to_matrix(angles)
    recovered = matrix_to_euler_zyz(matrices)
    assert recovered.shape == angles.shape
    np.testing.assert_allclose(wrap_deg(recovered - angles), 0.0, atol=1e-8)
    np.testing.assert_allclose(euler_zyz_to_matrix(recovered), matrices, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_matrix_to_euler_zyz_ranges(seed):
    angles = matrix_to_euler_zyz(euler_zyz_to_matrix(random_angles(seed)))
    phi, theta, psi = angles.T
    assert np.all((phi > -180.0) & (phi <= 180.0))
    assert np.all((psi > -180.0) & (psi <= 180.0))
    assert np.all((theta >= 0.0) & (theta <= 180.0))


def test_euler_zyz_batch_shape_is_preserved():
    angles = random_angles(3, count=12).reshape(3, 4, 3)
    matrices = euler_zyz_to_matrix(angles)
    assert matrices.shape == (3, 4, 3, 3)
    np.testing.assert_allclose(matrices[2, 1], euler_zyz_to_matrix(angles[2, 1]), atol=1e-15)
    assert matrix_to_euler_zyz(matrices).shape == (3, 4, 3)


@pytest.mark.parametrize("angles", [(30.0, 0.0, 20.0), (-170.0, 0.0, -40.0), (30.0, 180.0, 20.0),
                                    (100.0, 180.0, -75.0)])
def test_gimbal_lock_returns_matrix_equivalent_triple_with_psi_zero(angles):
    matrix = euler_zyz_to_matrix(angles)
    recovered = matrix_to_euler_zyz(matrix)
    np.testing.assert_allclose(euler_zyz_to_matrix(recovered), matrix, atol=1e-12)
    assert recovered[1] == pytest.approx(angles[1], abs=1e-8)
    assert recovered[2] == pytest.approx(0.0, abs=1e-8)  # documented: psi is set to 0


# --- points ---------------------------------------------------------------------------------


def test_rotation_about_z_moves_x_to_y_actively():
    t = RigidTransform(rz(90.0), np.zeros(3))
    np.testing.assert_allclose(t.apply_to_points([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-15)


def test_euler_phi_only_is_active_rotation_about_z():
    """(phi, 0, 0) with phi = 90 moves +x onto +y (active), not onto -y (passive)."""
    t = RigidTransform.from_euler_zyz([90.0, 0.0, 0.0])
    np.testing.assert_allclose(t.apply_to_points([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("seed", SEEDS)
def test_apply_to_points_is_rotation_then_translation(seed):
    rng = np.random.default_rng(seed)
    t = random_transform(rng)
    points = rng.normal(size=(10, 3)) * 5.0
    expected = np.array([t.rotation @ p + t.translation for p in points])
    np.testing.assert_allclose(t.apply_to_points(points), expected, atol=1e-12)
    np.testing.assert_allclose(t.apply_to_points(points[0]), expected[0], atol=1e-12)


def test_rotation_vector_is_right_handed_about_its_axis():
    np.testing.assert_allclose(rotation_vector_to_matrix([0.0, 0.0, np.pi / 2]), rz(90.0),
                               atol=1e-15)
    np.testing.assert_allclose(rotation_vector_to_matrix([0.0, np.radians(35.0), 0.0]), ry(35.0),
                               atol=1e-15)


def test_rigid_transform_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(3, 3\) rotation"):
        RigidTransform(np.eye(2), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        RigidTransform(np.eye(3), np.zeros(2))


# --- inverse / compose ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_inverse_composed_with_transform_is_identity(seed):
    t = random_transform(np.random.default_rng(seed))
    for product in (t.inverse().compose(t), t.compose(t.inverse())):
        np.testing.assert_allclose(product.rotation, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(product.translation, np.zeros(3), atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_compose_applies_first_then_self(seed):
    rng = np.random.default_rng(seed)
    first, second = random_transform(rng), random_transform(rng)
    points = rng.normal(size=(6, 3)) * 4.0
    np.testing.assert_allclose(
        second.compose(first).apply_to_points(points),
        second.apply_to_points(first.apply_to_points(points)),
        atol=1e-12,
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_inverse_moves_points_back(seed):
    rng = np.random.default_rng(seed)
    t = random_transform(rng)
    points = rng.normal(size=(6, 3)) * 4.0
    np.testing.assert_allclose(t.inverse().apply_to_points(t.apply_to_points(points)), points,
                               atol=1e-12)


# --- distances ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_transform_distance_zero_symmetric_positive(seed):
    rng = np.random.default_rng(seed)
    a, b = random_transform(rng), random_transform(rng)
    a_copy = RigidTransform(a.rotation.copy(), a.translation.copy())
    assert transform_distance(a, a_copy) == pytest.approx(0.0, abs=1e-12)
    assert transform_distance(a, b) == pytest.approx(transform_distance(b, a), rel=1e-12)
    assert transform_distance(a, b) > 1e-3
    # small perturbations are still detected
    nudged_shift = RigidTransform(a.rotation, a.translation + [0.0, 0.01, 0.0])
    nudged_turn = RigidTransform(rz(0.5) @ a.rotation, a.translation)
    assert transform_distance(a, nudged_shift) > 1e-3
    assert transform_distance(a, nudged_turn) > 1e-3


def test_transform_distance_matches_eq12_for_pure_translation():
    """D = I - (I - a 1^T) = a 1^T, whose Frobenius norm is sqrt(3) |a|."""
    a = np.array([1.0, -2.0, 0.5])
    distance = transform_distance(RigidTransform.identity(), RigidTransform(np.eye(3), a))
    assert distance == pytest.approx(np.sqrt(3.0) * np.linalg.norm(a), rel=1e-12)


def test_transform_distance_matches_eq12_for_pure_rotation():
    """D = I - R^T, ||I - R^T||_F = sqrt(2 (3 - tr R)) = 2 sqrt(2) sin(angle / 2)."""
    angle = 40.0
    distance = transform_distance(RigidTransform.identity(), RigidTransform(ry(angle), np.zeros(3)))
    assert distance == pytest.approx(2.0 * np.sqrt(2.0) * np.sin(np.radians(angle) / 2), rel=1e-12)


@pytest.mark.parametrize("a, b", [(10.0, 50.0), (-30.0, 100.0), (170.0, -170.0), (0.0, 180.0),
                                  (25.0, 25.0)])
def test_rotation_distance_of_z_rotations_is_angle_difference(a, b):
    expected = abs(wrap_deg(a - b))
    assert rotation_distance_deg(rz(a), rz(b)) == pytest.approx(expected, abs=1e-6)
    assert rotation_distance_deg(rz(b), rz(a)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_rotation_angle_of_rotation_vector_is_its_norm(seed):
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = rng.uniform(1.0, 179.0)
    matrix = rotation_vector_to_matrix(axis * np.radians(angle))
    assert rotation_angle_deg(matrix) == pytest.approx(angle, abs=1e-6)


# --- rotation_onto_z ------------------------------------------------------------------------


def _check_onto_z(axis):
    r = rotation_onto_z(axis)
    unit = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    np.testing.assert_allclose(r @ unit, [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
    return r, unit


@pytest.mark.parametrize("seed", SEEDS)
def test_rotation_onto_z_maps_random_axes_to_plus_z(seed):
    rng = np.random.default_rng(seed)
    for _ in range(10):
        axis = rng.normal(size=3) * rng.uniform(0.1, 10.0)
        r, unit = _check_onto_z(axis)
        # smallest rotation: its angle is the angle between the axis and +z
        assert rotation_angle_deg(r) == pytest.approx(np.degrees(np.arccos(unit[2])), abs=1e-6)


@pytest.mark.parametrize("axis", [(0.0, 0.0, 1.0), (0.0, 0.0, 3.0), (0.0, 0.0, -1.0),
                                  (0.0, 0.0, -0.2), (1e-9, 0.0, -1.0), (1.0, 0.0, 0.0)])
def test_rotation_onto_z_special_axes(axis):
    _check_onto_z(axis)


def test_rotation_onto_z_of_plus_z_is_identity():
    np.testing.assert_allclose(rotation_onto_z([0.0, 0.0, 2.0]), np.eye(3), atol=1e-15)


@pytest.mark.parametrize("axis", [(0.0, 0.0, 0.0), (1.0, 2.0), (np.nan, 0.0, 1.0)])
def test_rotation_onto_z_rejects_bad_axes(axis):
    with pytest.raises(ValueError, match="non-zero"):
        rotation_onto_z(axis)


def test_rotation_vectors_round_trip_and_match_scipy():
    """exp and log of rotation vectors (single and batched; tiny, ordinary and near half
    turns) against scipy's Rotation, and log(exp(w)) = w for |w| < pi."""
    from scipy.spatial.transform import Rotation

    from subalign.numerics.geometry import matrix_to_rotation_vector

    rng = np.random.default_rng(12)
    directions = rng.normal(size=(300, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, 1e-6, 60), rng.uniform(1e-6, 1e-3, 60),
                             rng.uniform(1e-3, 3.0, 120), np.pi - rng.uniform(0, 2e-3, 60)])
    vectors = directions * angles[:, None]
    expected = Rotation.from_rotvec(vectors).as_matrix()
    np.testing.assert_allclose(rotation_vector_to_matrix(vectors), expected, atol=1e-14)
    for vector, matrix in zip(vectors, expected):
        np.testing.assert_allclose(rotation_vector_to_matrix(vector), matrix, atol=1e-14)
        recovered = matrix_to_rotation_vector(matrix)
        np.testing.assert_allclose(rotation_vector_to_matrix(recovered), matrix, atol=1e-12)
        if np.linalg.norm(vector) < np.pi - 1e-3:
            np.testing.assert_allclose(recovered, vector, atol=1e-12)


# --- precision at small angles and batch shapes (mutation survivors, issue #24) -------------


def exact_rotation(vector) -> np.ndarray:
    """Rodrigues' formula in extended precision (``np.longdouble``), with the half-angle form
    ``b = 2 sin^2(t / 2) / t^2`` that has no cancellation: an oracle well below double
    rounding for the small angles where subalign uses Taylor terms."""
    w = np.asarray(vector, dtype=np.longdouble)
    angle = np.sqrt(np.sum(w * w))
    cross = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]], dtype=np.longdouble)
    a = np.sin(angle) / angle
    b = 2 * np.sin(angle / 2) ** 2 / angle**2
    return np.eye(3, dtype=np.longdouble) + a * cross + b * (cross @ cross)


#: Rotation vectors below the 1e-4 rad where the Taylor terms take over, none on an axis.
SMALL = np.array([[5.1e-5, -6.3e-5, 4.4e-5], [-2.0e-7, 3.0e-7, 1.0e-7], [9.0e-5, 2.0e-5, -3.0e-5]])


def test_small_rotation_vectors_give_the_exact_matrix_to_double_precision():
    """Every entry within 5e-15 (relative) of the extended-precision matrix, one vector at a
    time and as a batch: the Taylor terms' own error (t^4 / 120 < 1e-18) is far below it,
    a wrong coefficient (t^3 for t^2, a sign) is 1e-9 to 1e-14 off (measured)."""
    for vector in SMALL:
        exact = exact_rotation(vector).astype(float)
        np.testing.assert_allclose(rotation_vector_to_matrix(vector), exact, rtol=5e-15, atol=0)
    exact = np.stack([exact_rotation(v).astype(float) for v in SMALL])
    np.testing.assert_allclose(rotation_vector_to_matrix(SMALL), exact, rtol=5e-15, atol=0)


def test_rotation_vectors_of_any_batch_shape_give_each_vectors_matrix():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(2, 4, 3))
    matrices = rotation_vector_to_matrix(vectors)
    assert matrices.shape == (2, 4, 3, 3)
    for index in np.ndindex(2, 4):
        np.testing.assert_allclose(matrices[index], exact_rotation(vectors[index]).astype(float),
                                   atol=1e-14)


def test_rotation_angles_of_a_batch_are_the_rotation_vectors_norms():
    rng = np.random.default_rng(4)
    directions = rng.normal(size=(2, 5, 3))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    angles = rng.uniform(0.01, np.pi - 0.01, (2, 5))
    matrices = np.stack([[exact_rotation(d * t).astype(float) for d, t in zip(row, trow)]
                         for row, trow in zip(directions, angles)])
    np.testing.assert_allclose(rotation_angle_deg(matrices), np.degrees(angles), atol=1e-10)
    np.testing.assert_allclose(rotation_distance_deg(matrices, np.eye(3)), np.degrees(angles),
                               atol=1e-10)


@pytest.mark.parametrize("size", [1e-15, 1e-13, 3e-10])
def test_tiny_rotation_vectors_are_recovered_from_their_matrices(size):
    """log(exp(w)) = w to 1e-9 relative for |w| far below 1e-6, where the axis comes from the
    antisymmetric part alone (scale 1/2)."""
    from subalign.numerics.geometry import matrix_to_rotation_vector

    vector = size * np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    recovered = matrix_to_rotation_vector(exact_rotation(vector).astype(float))
    np.testing.assert_allclose(recovered, vector, rtol=1e-9, atol=0)
