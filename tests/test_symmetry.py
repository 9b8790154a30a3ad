"""Point groups (subalign.numerics.symmetry) against ground truth: orders, closure, RELION's
axes; maps made symmetric by construction; pose errors and the confidence up to symmetry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from subalign.align.pair import align_pair
from subalign.errors import ConfigError
from subalign.numerics.geometry import RigidTransform, rotation_vector_to_matrix
from subalign.numerics.parameterization import EulerParameterization
from subalign.numerics.symmetry import cyclic_rotations, parse_symmetry, point_group
from subalign.numerics.volumes import transform_volume
from subalign.search.race import basin_gap, distinct_basins
from subalign.simulation.synthetic import make_subtomogram
from subalign.numerics.wedge import TiltRange
from subalign.workflows.maps import symmetrize, symmetry_rotations
from subalign.workflows.rounds.truth import pose_errors

PHI = (1 + 5 ** 0.5) / 2
ORDERS = {"C1": 1, "C2": 2, "C7": 7, "D1": 2, "D2": 4, "D7": 14, "T": 12, "O": 24, "I": 60,
          "I1": 60, "I2": 60, "I3": 60, "I4": 60}


def _about(axis, fold: int) -> np.ndarray:
    axis = np.asarray(axis, dtype=float)
    return rotation_vector_to_matrix(axis / np.linalg.norm(axis) * 2 * np.pi / fold)


def _holds(group, rotation: np.ndarray) -> bool:
    return bool(np.min(np.abs(group.rotations - rotation).max(axis=(1, 2))) < 1e-9)


# --- the groups -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, order", ORDERS.items())
def test_each_group_has_its_order_and_is_a_group(name, order):
    group = parse_symmetry(name)
    rotations = group.rotations
    assert group.order == len(group) == order
    assert np.allclose(rotations[0], np.eye(3))
    assert np.allclose(rotations @ np.swapaxes(rotations, 1, 2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rotations), 1.0)
    for a in rotations:  # closed under composition, and no element twice
        assert all(_holds(group, a @ b) for b in rotations)
    differences = np.abs(rotations[:, None] - rotations[None]).max(axis=(2, 3))
    assert np.all(differences[~np.eye(order, dtype=bool)] > 1e-3)


@pytest.mark.parametrize("name, fold, axis", [
    ("C7", 7, (0, 0, 1)),
    ("D7", 7, (0, 0, 1)), ("D7", 2, (1, 0, 0)),
    ("T", 3, (0, 0, 1)), ("T", 2, (0, 2 ** 0.5, 1)),          # RELION: a 3-fold on z
    ("O", 4, (1, 0, 0)), ("O", 4, (0, 1, 0)), ("O", 4, (0, 0, 1)), ("O", 3, (1, 1, 1)),
    ("I2", 2, (1, 0, 0)), ("I2", 2, (0, 1, 0)), ("I2", 2, (0, 0, 1)),
    ("I2", 5, (1, 0, PHI)), ("I2", 3, (0, 1, PHI ** 2)),
    ("I1", 2, (1, 0, 0)), ("I1", 2, (0, 1, 0)), ("I1", 2, (0, 0, 1)), ("I1", 5, (PHI, 0, -1)),
    ("I3", 5, (0, 0, 1)), ("I3", 2, (-1, 0, PHI)),
    ("I4", 5, (0, 0, 1)), ("I4", 2, (1, 0, PHI)), ("I4", 5, (2, 0, 1)),
])
def test_groups_hold_relions_axes(name, fold, axis):
    assert _holds(parse_symmetry(name), _about(axis, fold))


def test_axes_relion_does_not_use_are_absent():
    assert not _holds(parse_symmetry("T"), _about((1, 0, 0), 2))  # not Heymann's T
    assert not _holds(parse_symmetry("D7"), _about((0, 1, 0), 2))  # 7 is odd: no 2-fold on y
    assert not _holds(parse_symmetry("I2"), _about((0, 0, 1), 5))
    assert not _holds(parse_symmetry("I3"), _about((0, 0, 1), 2))


def test_names_as_relion_writes_them_and_cyclic_groups_as_before():
    assert parse_symmetry("I") == parse_symmetry("i2") and parse_symmetry(" d7 ").name == "D7"
    assert np.array_equal(parse_symmetry("c7").rotations, cyclic_rotations(7))
    assert np.array_equal(point_group(7).rotations, parse_symmetry("C7").rotations)
    assert np.array_equal(symmetry_rotations(4), cyclic_rotations(4))  # an int is C_n
    assert np.array_equal(symmetry_rotations("D7"), parse_symmetry("D7").rotations)
    import pickle
    assert pickle.loads(pickle.dumps(parse_symmetry("O"))) == parse_symmetry("O")


@pytest.mark.parametrize("text", ["X5", "I5", "D0", "C0", "", "7", "C-2", "O2", "Dn"])
def test_other_names_are_one_line_errors(text):
    with pytest.raises(ConfigError) as error:
        parse_symmetry(text)
    assert str(error.value) == f"symmetry: expected C<n>, D<n>, T, O or I<1-4>, found {text!r}"


# --- maps --------------------------------------------------------------------------------

def _blobs(positions_xyz: np.ndarray, size: int = 20, sigma: float = 1.2) -> np.ndarray:
    """Gaussian blobs at ``(x, y, z)`` offsets from the box centre."""
    z, y, x = np.indices((size,) * 3, dtype=float) - size // 2
    volume = np.zeros((size,) * 3)
    for px, py, pz in positions_xyz:
        volume += np.exp(-((x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2) / (2 * sigma ** 2))
    return volume


def _symmetric_volume(name: str, size: int = 20) -> np.ndarray:
    """A map of ``name``'s symmetry by construction: an asymmetric unit of two blobs copied
    by every rotation of the group (no interpolation)."""
    unit = np.array([[5.0, 1.5, 2.0], [2.0, -3.0, 4.5]])
    return _blobs(np.concatenate([unit @ s.T for s in parse_symmetry(name).rotations]), size)


@pytest.mark.parametrize("name", ["D7", "O", "T"])
def test_a_symmetric_map_is_unchanged_by_symmetrize(name):
    volume = _symmetric_volume(name)
    assert np.abs(symmetrize(volume, name) - volume).max() < 0.02 * volume.max()
    asymmetric = _blobs(np.array([[5.0, 1.5, 2.0], [2.0, -3.0, 4.5]]))
    made = symmetrize(asymmetric, parse_symmetry(name))
    for rotation in parse_symmetry(name).rotations[1:4]:  # and a map made so is invariant
        turned = transform_volume(made, RigidTransform(rotation, np.zeros(3)))
        assert np.abs(turned - made).max() < 0.03 * made.max()
    assert np.array_equal(symmetrize(asymmetric, "C1"), asymmetric)


def test_i2_symmetrize_of_a_symmetric_map():
    volume = _symmetric_volume("I2")
    assert np.abs(symmetrize(volume, "I") - volume).max() < 0.03 * volume.max()


# --- errors up to symmetry ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["D7", "O", "I2"])
def test_a_pose_composed_with_any_group_element_has_error_zero(name):
    group = parse_symmetry(name)
    rotation = Rotation.random(random_state=4).as_matrix()
    copies = rotation @ group.rotations
    assert np.allclose(group.pose_distance_deg(copies, rotation), 0.0, atol=1e-5)
    assert np.allclose(group.transform_distance_deg(group.rotations @ rotation.T, rotation.T),
                       0.0, atol=1e-5)
    assert np.all(parse_symmetry("C1").pose_distance_deg(copies[1:], rotation) > 10)


def test_pose_errors_count_symmetric_copies_once():
    rng = np.random.default_rng(5)
    n = 40
    truth = Rotation.random(n, random_state=6).as_matrix()
    shifts = rng.uniform(-2, 2, (n, 3))
    group = parse_symmetry("O")
    found = truth @ group.rotations[rng.integers(0, group.order, n)]
    errors = pose_errors(found, shifts, truth, shifts, symmetry="O")
    assert errors["median_rotation_error_deg"] < 1e-4 and errors["gross_failures"] == 0
    assert pose_errors(found, shifts, truth, shifts, symmetry=group) == errors
    ignored = pose_errors(found, shifts, truth, shifts, symmetry=1)
    assert ignored["median_rotation_error_deg"] > 30


# --- the confidence -------------------------------------------------------------------------

def test_a_symmetric_copy_is_not_the_runner_up():
    parameterization = EulerParameterization()
    group = parse_symmetry("D7")
    best = RigidTransform(Rotation.random(random_state=7).as_matrix(), np.zeros(3))
    copy = RigidTransform(group.rotations[3] @ best.rotation, np.zeros(3))
    other = RigidTransform(Rotation.random(random_state=8).as_matrix(), np.zeros(3))
    outcomes = [(parameterization.to_params(t), v) for t, v in
                ((best, 1.0), (copy, 1.01), (other, 2.0))]
    winner = outcomes[0][0]
    plain = basin_gap(outcomes, winner, parameterization)
    assert plain == pytest.approx(0.01 / 1.01)  # C1: the copy is a competitor
    assert basin_gap(outcomes, winner, parameterization, symmetry=group) == pytest.approx(0.5)
    assert basin_gap(outcomes, winner, parameterization, symmetry=None) == plain
    assert len(distinct_basins(outcomes, parameterization, 3)) == 3
    assert len(distinct_basins(outcomes, parameterization, 3, symmetry=group)) == 2


def _symmetric_pair(name: str):
    """A reference of ``name``'s symmetry (fixed) and a turned, shifted, wedged copy."""
    reference = _symmetric_volume(name, size=24)
    truth = RigidTransform(Rotation.from_rotvec([0.4, -0.9, 0.3]).as_matrix(), [1.0, -0.5, 0.5])
    moving, _ = make_subtomogram(reference, truth, TiltRange(-60, 60), np.inf,
                                 np.random.default_rng(9))
    return reference, moving, truth.inverse()


def test_confidence_of_a_symmetric_particle_is_not_lowered_by_its_copies():
    fixed, moving, wanted = _symmetric_pair("D2")
    settings = {"scan": {"keep": 4}, "polish_max_steps": 10, "polish_basins": 2,
                "sampler": {"name": "so3_uniform", "spacing_deg": 40}}  # quick: < 1 s each
    plain = align_pair(settings, fixed, moving)
    given = align_pair({**settings, "symmetry": "D2"}, fixed, moving)
    group = parse_symmetry("D2")
    assert group.transform_distance_deg(given.transform.rotation, wanted.rotation) < 3.0
    assert given.confidence > plain.confidence + 0.1
    c1 = align_pair({**settings, "symmetry": "C1"}, fixed, moving)  # C1 is the default,
    assert np.array_equal(c1.transform.rotation, plain.transform.rotation)  # bit for bit
    assert c1.confidence == plain.confidence and c1.score_value == plain.score_value


def test_align_refuses_an_unknown_symmetry():
    fixed, moving, _ = _symmetric_pair("C2")
    with pytest.raises(ConfigError, match=r"^symmetry: expected C<n>, D<n>, T, O or I<1-4>, "
                                          r"found 'X5'$"):
        align_pair({"symmetry": "X5"}, fixed, moving)
