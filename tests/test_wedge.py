"""Missing-wedge masks and tilt ranges (subalign.numerics.wedge).

The half spectrum is ``rfftn`` of a ``[z, y, x]`` box: index ``[iz, iy, ix]`` with
``fx = ix / N`` (ix = 0 .. N // 2) and ``fy, fz = fftfreq(N)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from subalign.errors import ConfigError
from subalign.numerics.fourier import fourier_grid
from subalign.numerics.geometry import euler_zyz_to_matrix, rotation_vector_to_matrix
from subalign.numerics.wedge import TiltRange, wedge_mask

N = 32
SHAPE = (N, N, N)


def reference_mask(fx, fy, fz, tilt: TiltRange) -> np.ndarray:
    """Independent statement of the convention: measured iff the line angle atan(fz / fx)
    (90 degrees when fx = 0) lies in the tilt range, or fx = fz = 0."""
    fx, fy, fz = np.broadcast_arrays(fx, fy, fz)
    with np.errstate(divide="ignore", invalid="ignore"):
        angle = np.where(np.abs(fx) < 1e-12, 90.0, np.degrees(np.arctan(fz / fx)))
    on_axis = (np.abs(fx) < 1e-12) & (np.abs(fz) < 1e-12)
    tol = 1e-9
    return on_axis | ((angle >= tilt.min_deg - tol) & (angle <= tilt.max_deg + tol))


def measured(mask: np.ndarray, ix: int, iy: int, iz: int) -> bool:
    """Mask value at integer frequency (ix, iy, iz) in Fourier voxels (ix >= 0)."""
    return bool(mask[iz % N, iy % N, ix])


def weighted_fraction(mask: np.ndarray) -> float:
    """Fraction of the full spectrum inside the Nyquist sphere (origin excluded) that is measured."""
    grid = fourier_grid(SHAPE)
    fx, fy, fz = grid.frequency_xyz()
    radius = np.sqrt(fx**2 + fy**2 + fz**2)
    inside = (radius > 0) & (radius <= 0.5)
    weights = grid.hermitian_weights * inside
    return float((weights * mask).sum() / weights.sum())


# --- axes -----------------------------------------------------------------------------------


def test_plus_minus_60_measures_x_and_y_axes_but_not_z_axis():
    mask = wedge_mask(SHAPE, TiltRange(-60.0, 60.0))
    assert mask.shape == (N, N, N // 2 + 1)
    assert mask.dtype == bool
    for k in range(1, N // 2 + 1):
        assert measured(mask, k, 0, 0), f"x axis at {k}"
    for k in range(1, N // 2):
        assert measured(mask, 0, k, 0) and measured(mask, 0, -k, 0), f"y axis at {k}"
        assert not measured(mask, 0, 0, k) and not measured(mask, 0, 0, -k), f"z axis at {k}"
    assert measured(mask, 0, 0, 0)


@pytest.mark.parametrize(
    "tilt", [(-60, 60), (-40, 60), (-60, 30), (-20, 20), (-75, 45), (0, 0), (-89, 89)]
)
def test_wedge_mask_matches_line_angle_rule(tilt):
    tilt = TiltRange(*map(float, tilt))
    fx, fy, fz = fourier_grid(SHAPE).frequency_xyz()
    np.testing.assert_array_equal(wedge_mask(SHAPE, tilt), reference_mask(fx, fy, fz, tilt))


@pytest.mark.parametrize("theta", [20.0, 30.0, 50.0, 60.0, 70.0])
def test_measured_fraction_of_symmetric_range_is_theta_over_90(theta):
    """+-theta measures line angles [-theta, theta] out of 180 degrees.

    (45 is left out: its boundaries run along lattice diagonals, which puts a whole line of
    grid points exactly on the boundary and biases a 32^3 count by about 3 %.)
    """
    fraction = weighted_fraction(wedge_mask(SHAPE, TiltRange(-theta, theta)))
    assert fraction == pytest.approx(theta / 90.0, abs=0.01)


@pytest.mark.parametrize("low, high", [(-40.0, 60.0), (-60.0, 30.0), (-10.0, 70.0)])
def test_measured_fraction_of_asymmetric_range(low, high):
    fraction = weighted_fraction(wedge_mask(SHAPE, TiltRange(low, high)))
    assert fraction == pytest.approx((high - low) / 180.0, abs=0.01)


def test_asymmetric_range_measures_plus_50_not_minus_50():
    mask = wedge_mask(SHAPE, TiltRange(-40.0, 60.0))
    # (ix, iz) = (5, +-6): line angle +-50.19 degrees
    assert np.degrees(np.arctan2(6, 5)) == pytest.approx(50.19, abs=0.01)
    assert measured(mask, 5, 0, 6)
    assert not measured(mask, 5, 0, -6)
    # the same holds off the x-z plane: the y component does not matter
    assert measured(mask, 5, 7, 6)
    assert not measured(mask, 5, -3, -6)


@pytest.mark.parametrize(
    "ix, iz, inside",
    [(10, -8, True), (10, -9, False), (7, 12, True), (6, 11, False)],
    ids=["-38.7", "-42.0", "+59.7", "+61.4"],
)
def test_asymmetric_range_boundaries(ix, iz, inside):
    mask = wedge_mask(SHAPE, TiltRange(-40.0, 60.0))
    assert measured(mask, ix, 0, iz) is inside


def test_full_range_measures_everything():
    assert wedge_mask(SHAPE, TiltRange(-90.0, 90.0)).all()
    rotation = euler_zyz_to_matrix([20.0, 60.0, -35.0])
    assert wedge_mask(SHAPE, TiltRange(-90.0, 90.0), rotation).all()
    assert TiltRange(-90.0, 90.0).is_full
    assert not TiltRange(-89.0, 90.0).is_full


def test_nearly_full_range_misses_only_the_z_direction_plane():
    """[-89, 89] misses a thin wedge around the z axis, not the whole spectrum."""
    mask = wedge_mask(SHAPE, TiltRange(-89.0, 89.0))
    assert not mask.all()
    assert not measured(mask, 0, 0, 3)
    assert weighted_fraction(mask) > 0.95


# --- rotated mask ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rotated_mask_is_unrotated_rule_at_r_transpose_xi(seed):
    rng = np.random.default_rng(seed)
    rotation = euler_zyz_to_matrix(rng.uniform([-180, 0, -180], [180, 180, 180]))
    tilt = TiltRange(-50.0, 65.0)
    fx, fy, fz = fourier_grid(SHAPE).frequency_xyz()
    xi = np.stack([fx, fy, fz], axis=-1)
    back = xi @ rotation  # rows are (R^T xi)^T
    expected = reference_mask(back[..., 0], back[..., 1], back[..., 2], tilt)
    np.testing.assert_array_equal(wedge_mask(SHAPE, tilt, rotation), expected)


def test_rotation_by_90_about_y_swaps_measured_x_and_z_axes():
    rotation = rotation_vector_to_matrix([0.0, np.pi / 2, 0.0])
    mask = wedge_mask(SHAPE, TiltRange(-60.0, 60.0), rotation)
    for k in range(1, N // 2):
        assert not measured(mask, k, 0, 0), f"x axis at {k}"
        assert measured(mask, 0, 0, k) and measured(mask, 0, 0, -k), f"z axis at {k}"
        assert measured(mask, 0, k, 0), f"y axis at {k}"


def test_rotation_about_y_by_30_shifts_an_asymmetric_wedge():
    """Active rotation by +30 about y turns line angle a into a - 30 (Ry(b) maps
    (cos a, 0, sin a) to the direction at angle a - b), so [-40, 60] becomes [-70, 30]."""
    rotation = rotation_vector_to_matrix([0.0, np.radians(30.0), 0.0])
    rotated = wedge_mask(SHAPE, TiltRange(-40.0, 60.0), rotation)
    shifted = wedge_mask(SHAPE, TiltRange(-70.0, 30.0))
    fx, _, fz = fourier_grid(SHAPE).frequency_xyz()
    # Compare away from the boundary lines, where rounding decides.
    angle = np.degrees(np.arctan2(fz, fx))
    clear = (np.abs(angle - 30.0) > 1e-6) & (np.abs(angle + 70.0) > 1e-6)
    np.testing.assert_array_equal(rotated[clear], shifted[clear])


def test_rotation_about_z_by_180_leaves_wedge_unchanged():
    rotation = rotation_vector_to_matrix([0.0, 0.0, np.pi])
    tilt = TiltRange(-60.0, 60.0)
    np.testing.assert_array_equal(wedge_mask(SHAPE, tilt, rotation), wedge_mask(SHAPE, tilt))


# --- margin ---------------------------------------------------------------------------------


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("tilt", [(-60.0, 60.0), (-40.0, 60.0)])
def test_margin_mask_is_strict_subset_of_exact_mask(margin, tilt):
    tilt = TiltRange(*tilt)
    exact = wedge_mask(SHAPE, tilt)
    eroded = wedge_mask(SHAPE, tilt, margin=margin)
    assert not np.any(eroded & ~exact)
    assert eroded.sum() < exact.sum()
    assert eroded.sum() > 0.5 * exact.sum()


def test_larger_margin_is_subset_of_smaller_margin():
    tilt = TiltRange(-55.0, 45.0)
    small = wedge_mask(SHAPE, tilt, margin=1.0)
    large = wedge_mask(SHAPE, tilt, margin=2.0)
    assert not np.any(large & ~small)
    assert large.sum() < small.sum()


def test_margin_keeps_frequencies_at_least_margin_voxels_from_both_planes():
    tilt = TiltRange(-40.0, 60.0)
    margin = 1.5
    fx, fy, fz = fourier_grid(SHAPE).frequency_xyz()
    x, z = fx * N, fz * N

    def distance_to_plane(deg):
        # plane spanned by y and (cos deg, 0, sin deg); unit normal (-sin deg, 0, cos deg)
        return np.abs(-np.sin(np.radians(deg)) * x + np.cos(np.radians(deg)) * z)

    clearance = np.minimum(distance_to_plane(tilt.min_deg), distance_to_plane(tilt.max_deg))
    expected = reference_mask(fx, fy, fz, tilt) & (clearance >= margin)
    decisive = np.abs(clearance - margin) > 1e-9
    eroded = wedge_mask(SHAPE, tilt, margin=margin)
    np.testing.assert_array_equal(eroded[decisive], expected[decisive])
    # a frequency on the x axis far out is kept; one just inside the +60 plane is dropped
    assert measured(eroded, 10, 0, 0)
    assert measured(wedge_mask(SHAPE, tilt), 7, 0, 12)
    assert not measured(eroded, 7, 0, 12)


# --- TiltRange.parse ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, found",
    [
        ([-100, 60], "found [-100, 60]"),
        ([60, -60], "found [60, -60]"),
        (["a", 1], "found ['a', 1]"),
        ([1], "found [1]"),
        ([1, 2, 3], "found [1, 2, 3]"),
        (None, "found None"),
        ([float("nan"), 60], "found [nan, 60"),
    ],
)
def test_tilt_range_parse_rejects_with_field_and_value(value, found):
    with pytest.raises(ConfigError) as info:
        TiltRange.parse(value)
    message = str(info.value)
    assert message.startswith("tilt_range_deg:")
    assert found in message
    assert "expected" in message
    assert "\n" not in message


def test_tilt_range_parse_names_the_given_field():
    with pytest.raises(ConfigError, match=r"^data\.fixed_tilt: .*found \[60, -60\]"):
        TiltRange.parse([60, -60], field="data.fixed_tilt")


def test_tilt_range_parse_range_message_states_the_bounds():
    with pytest.raises(ConfigError, match=r"-90 <= min <= max <= 90"):
        TiltRange.parse([-100, 60])


@pytest.mark.parametrize("value", [[-60, 60], ("-40", "60.5"), [-90, 90], [10, 10]])
def test_tilt_range_parse_accepts_valid_ranges(value):
    tilt = TiltRange.parse(value)
    assert (tilt.min_deg, tilt.max_deg) == (float(value[0]), float(value[1]))
    assert isinstance(tilt.min_deg, float)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        TiltRange.parse([60, -60])


def test_range_starting_at_minus_90_measures_the_z_axis_line():
    """Line angle -90 is folded onto +90: [-90, 60] measures the z axis like [-60, 90] does."""
    shape = (16, 16, 16)
    grid = fourier_grid(shape)
    fx, fy, fz = grid.frequency_xyz()
    z_axis = (fx == 0) & (fy == 0) & (fz != 0)
    assert wedge_mask(shape, TiltRange(-90.0, 60.0))[z_axis].all()
    assert wedge_mask(shape, TiltRange(-60.0, 90.0))[z_axis].all()
    assert not wedge_mask(shape, TiltRange(-60.0, 60.0))[z_axis].any()


# --- tilt axis x, defaults, the model's name (mutation survivors, issue #24) ----------------


def test_tilt_axis_x_rotation_is_rz_plus_90():
    """Q is a proper rotation that turns +x onto +y (the y-axis wedge's tilt axis y onto -x)."""
    from subalign.numerics.wedge import tilt_axis_rotation

    q = tilt_axis_rotation("x")
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-15)
    assert np.linalg.det(q) == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(q @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(tilt_axis_rotation("y"), np.eye(3), atol=0)


@pytest.mark.parametrize("ix, iy, iz, inside", [
    (0, 4, 2, True),    # line angle atan(2 / 4) = 26.6 degrees in [-30, 60]
    (0, 2, 3, True),    # 56.3
    (0, 4, -3, False),  # -36.9
    (0, 1, 5, False),   # 78.7
    (0, -4, 3, False),  # the line of (0, 4, -3)
    (3, 0, 0, True),    # the tilt axis x
    (3, 0, 4, False),   # the beam direction z with an x component: 90 degrees
    (3, 1, 1, True),    # 45
    (3, -1, 1, False),  # -45
    (0, 5, 0, True),    # untilted: y is measured
])
def test_tilt_axis_x_measures_the_plane_through_x_and_cos_sin_of_each_tilt(ix, iy, iz, inside):
    """Module docstring: about x, tilting by alpha measures the plane through x and
    (0, cos alpha, sin alpha); a range [-30, 60] is told apart from its mirror image."""
    from subalign.numerics.wedge import tilt_axis_rotation

    mask = wedge_mask((16, 16, 16), TiltRange(-30.0, 60.0), tilt_axis_rotation("x"))
    assert bool(mask[iz % 16, iy % 16, ix]) is inside


def test_tilt_axis_names_other_than_x_and_y_are_refused():
    from subalign.numerics.wedge import tilt_axis_rotation

    with pytest.raises(ConfigError, match=r"tilt_axis: expected one of y, x, found 'z'"):
        tilt_axis_rotation("z")


def test_measured_without_a_margin_is_the_exact_rule():
    """``measured``'s default margin is 0: a frequency just inside a boundary plane is
    measured, one just outside is not, whatever the box."""
    from subalign.numerics.wedge import measured

    tilt = TiltRange(-60.0, 60.0)
    just = np.tan(np.radians(60.0))
    fx = np.array([0.01, 0.01, 0.2, 0.2])
    fz = np.array([0.01 * just * 0.999, 0.01 * just * 1.001, 0.2 * just * 0.999, -0.2 * just * 1.001])
    np.testing.assert_array_equal(measured(fx, fz, tilt), [True, False, True, False])
    np.testing.assert_array_equal(measured(fx, fz, tilt, size=64), [True, False, True, False])


@pytest.mark.parametrize("value", [[float("nan"), 60], [-60, float("inf")], [float("-inf"), 30]])
def test_tilt_range_parse_names_a_non_finite_angle(value):
    with pytest.raises(ConfigError, match=r"^tilt_range_deg: expected finite angles, found \["):
        TiltRange.parse(value)


def test_tilt_range_is_the_measurement_model_named_tilt_range():
    """Its ``kind`` is the name of the measurement plugin that builds it."""
    from subalign.plugin.manager import build_plugin_set

    tilt = TiltRange(-60.0, 60.0)
    assert tilt.kind == "tilt_range" and tilt.binary is True
    assert tilt.kind in build_plugin_set(autoload=False).registries["measurement"].names
