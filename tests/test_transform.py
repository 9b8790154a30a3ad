"""Volume transforms (subalign.numerics.volumes) and the Fourier grid (subalign.numerics.fourier).

Volumes are ``[z, y, x]``; points are ``(x, y, z)`` measured from index ``N // 2``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

from subalign.simulation.density import phantom
from subalign.numerics.fourier import fourier_grid, forward, inverse
from subalign.numerics.geometry import (
    RigidTransform,
    euler_zyz_to_matrix,
    rotation_vector_to_matrix,
)
from subalign.numerics.volumes import (
    box_centre,
    rotate_volume,
    rotate_volume_batch,
    shift_volume,
    transform_volume,
)

N = 32


def gaussian(centre_xyz, sigma: float, size: int = N) -> np.ndarray:
    """Analytic Gaussian in a ``[z, y, x]`` box, centre in (x, y, z) voxels from ``size // 2``."""
    z, y, x = np.indices((size,) * 3, dtype=float) - size // 2
    cx, cy, cz = centre_xyz
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2.0 * sigma**2))


def centroid_xyz(volume: np.ndarray) -> np.ndarray:
    """Intensity centroid in (x, y, z) voxels from the box centre."""
    z, y, x = np.indices(volume.shape, dtype=float) - volume.shape[0] // 2
    total = volume.sum()
    return np.array([(x * volume).sum(), (y * volume).sum(), (z * volume).sum()]) / total


def rot(axis, deg):
    return rotation_vector_to_matrix(np.asarray(axis, dtype=float) * np.radians(deg))


def test_box_centre_is_n_over_2():
    np.testing.assert_array_equal(box_centre((32, 32, 32)), [16, 16, 16])
    np.testing.assert_array_equal(box_centre((7, 7, 7)), [3, 3, 3])


# --- axis order and active rotation ---------------------------------------------------------


def test_blob_at_plus_x_lies_on_last_array_axis():
    """Guard for the helpers: (x, y, z) = (5, 0, 0) sits at index [16, 16, 21]."""
    volume = gaussian((5.0, 0.0, 0.0), 1.5)
    assert np.unravel_index(np.argmax(volume), volume.shape) == (16, 16, 21)


@pytest.mark.parametrize(
    "rotation, expected_peak_index",
    [
        # 90 deg about z: +x -> +y, so the peak moves from x = 16 + 5 to y = 16 + 5
        (rot([0, 0, 1], 90), (16, 21, 16)),
        # 90 deg about y: +x -> -z
        (rot([0, 1, 0], 90), (11, 16, 16)),
        # 90 deg about x: +x stays
        (rot([1, 0, 0], 90), (16, 16, 21)),
    ],
)
def test_rotate_volume_is_active_in_xyz(rotation, expected_peak_index):
    volume = gaussian((5.0, 0.0, 0.0), 1.5)
    rotated = rotate_volume(volume, rotation)
    assert np.unravel_index(np.argmax(rotated), rotated.shape) == expected_peak_index


@pytest.mark.parametrize(
    "rotation",
    [
        rot([0, 0, 1], 90),
        rot([1, 0, 0], 90),
        rot([0, 1, 0], 90),
        euler_zyz_to_matrix([33.0, 71.0, -122.0]),
        euler_zyz_to_matrix([-150.0, 20.0, 64.0]),
    ],
    ids=["z90", "x90", "y90", "euler_a", "euler_b"],
)
def test_transform_volume_moves_blob_to_r_p_plus_a(rotation):
    """The feature at p moves to R p + a (centroid within 0.05 voxel)."""
    p = np.array([4.0, 1.0, -2.0])
    a = np.array([1.5, -0.7, 0.3])
    volume = gaussian(p, 2.0)
    moved = transform_volume(volume, RigidTransform(rotation, a))
    np.testing.assert_allclose(centroid_xyz(moved), rotation @ p + a, atol=0.05)


def test_transform_volume_z90_is_not_the_passive_rotation():
    """90 deg about z: p = (4, 1, -2) must land at (-1, 4, -2), not the passive (1, -4, -2)."""
    p = np.array([4.0, 1.0, -2.0])
    moved = transform_volume(gaussian(p, 2.0), RigidTransform(rot([0, 0, 1], 90), np.zeros(3)))
    np.testing.assert_allclose(centroid_xyz(moved), [-1.0, 4.0, -2.0], atol=0.05)


def test_transform_volume_pure_translation_moves_centroid():
    a = np.array([2.25, -1.5, 0.75])
    moved = transform_volume(gaussian((0.0, 0.0, 0.0), 2.0), RigidTransform(np.eye(3), a))
    np.testing.assert_allclose(centroid_xyz(moved), a, atol=0.05)


def test_rotate_volume_identity_returns_input():
    volume = phantom(N)
    np.testing.assert_allclose(rotate_volume(volume, np.eye(3)), volume, atol=1e-10)


# --- round trip and batch -------------------------------------------------------------------


def smooth_phantom(size: int = N) -> np.ndarray:
    """Four asymmetric Gaussians with sigma 1.5-3 voxels (band-limited well below Nyquist)."""
    return (
        gaussian((-3.8, -2.9, -1.9), 3.0, size)
        + 0.8 * gaussian((5.1, -1.9, 1.0), 2.0, size)
        + 0.9 * gaussian((-1.0, 5.1, 2.9), 2.5, size)
        + 0.7 * gaussian((1.9, 1.9, -6.1), 1.5, size)
    )


def random_rigid(seed: int) -> RigidTransform:
    rng = np.random.default_rng(seed)
    angles = rng.uniform([-180, 0, -180], [180, 180, 180])
    return RigidTransform.from_euler_zyz(angles, rng.uniform(-2.0, 2.0, 3))


def assert_round_trip(volume: np.ndarray, t: RigidTransform, max_rel_error: float) -> None:
    moved = transform_volume(volume, t)
    back = transform_volume(moved, t.inverse())
    correlation = np.corrcoef(back.ravel(), volume.ravel())[0, 1]
    assert correlation > 0.999
    assert np.abs(back - volume).max() < max_rel_error * volume.max()
    # and the move itself was not trivial
    assert np.abs(moved - volume).max() > 0.2 * volume.max()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_transform_then_inverse_recovers_smooth_phantom(seed):
    """Two cubic interpolations of sigma >= 1.5 Gaussians: measured max error ~0.7 %."""
    assert_round_trip(smooth_phantom(), random_rigid(seed), max_rel_error=0.015)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_transform_then_inverse_recovers_four_gaussian_phantom(seed):
    """The package phantom at N = 32 has a 1-voxel-sigma Gaussian, so cubic interpolation
    loses more at its peak: measured max error 3-4.5 % of the maximum."""
    assert_round_trip(phantom(N), random_rigid(seed), max_rel_error=0.06)


def _batch_test_volume(kind: str) -> np.ndarray:
    if kind == "phantom":
        return phantom(N)
    # white noise fills the box up to its faces, like a real subtomogram
    return np.random.default_rng(11).normal(size=(N, N, N))


@pytest.mark.parametrize("kind", ["phantom", "noise"])
@pytest.mark.parametrize("order", [1, 3])
def test_rotate_volume_batch_equals_individual_rotations(order, kind):
    """Same result as one rotate_volume call per rotation, to float precision."""
    rng = np.random.default_rng(7)
    rotations = euler_zyz_to_matrix(rng.uniform([-180, 0, -180], [180, 180, 180], (3, 3)))
    volume = _batch_test_volume(kind)
    batch = rotate_volume_batch(volume, rotations, order=order)
    assert batch.shape == (3, N, N, N)
    for k, rotation in enumerate(rotations):
        single = rotate_volume(volume, rotation, order=order)
        assert np.abs(batch[k] - single).max() <= 1e-9 * np.abs(volume).max()


@pytest.mark.parametrize("order", [1, 3])
def test_rotate_volume_batch_identity_returns_input(order):
    volume = _batch_test_volume("noise")
    assert np.abs(rotate_volume(volume, np.eye(3), order=order) - volume).max() < 1e-9
    batch = rotate_volume_batch(volume, np.eye(3)[None], order=order)
    assert np.abs(batch[0] - volume).max() < 1e-9


# --- subvoxel shift -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shift",
    [(0.5, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, 0.5), (0.5, 0.5, 0.5), (1.37, -0.4, 0.25),
     (-3.0, 2.0, 1.0)],
)
def test_shift_volume_matches_analytic_shifted_gaussian(shift):
    sigma = 2.5
    shifted = shift_volume(gaussian((0.0, 0.0, 0.0), sigma), shift)
    expected = gaussian(shift, sigma)
    assert np.abs(shifted - expected).max() < 1e-3 * expected.max()


def test_shift_volume_is_periodic():
    volume = phantom(N)
    np.testing.assert_allclose(shift_volume(volume, (N, 0.0, -N)), volume, atol=1e-10)
    np.testing.assert_allclose(
        shift_volume(volume, (3.0, -5.0, 7.0)), np.roll(volume, (7, -5, 3), axis=(0, 1, 2)),
        atol=1e-10,
    )


# --- Fourier grid ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [7, 8, 15, 16])
def test_hermitian_weights_give_parseval(size):
    x = np.random.default_rng(size).normal(size=(size,) * 3)
    spectrum = scipy.fft.rfftn(x, norm="ortho")
    weights = fourier_grid((size,) * 3).hermitian_weights
    assert weights.shape == spectrum.shape
    assert np.sum(weights * np.abs(spectrum) ** 2) == pytest.approx(np.sum(x**2), rel=1e-12)


@pytest.mark.parametrize("size", [7, 8])
def test_fourier_grid_frequencies_match_rfftn_layout(size):
    grid = fourier_grid((size,) * 3)
    fx, fy, fz = grid.frequency_xyz()
    assert fx.shape == (size, size, size // 2 + 1) == grid.spectrum_shape
    np.testing.assert_allclose(fx[0, 0, :], np.fft.rfftfreq(size))
    np.testing.assert_allclose(fy[0, :, 0], np.fft.fftfreq(size))
    np.testing.assert_allclose(fz[:, 0, 0], np.fft.fftfreq(size))


def test_forward_inverse_round_trip():
    x = np.random.default_rng(3).normal(size=(9, 9, 9))
    np.testing.assert_allclose(inverse(forward(x), x.shape), x, atol=1e-12)


def test_bin_volume_keeps_centre_mean_and_band_limited_content():
    """Fourier cropping by 2: binned index i sits at original index 2 i, so a band-limited
    Gaussian sampled at half the rate is the same Gaussian, and the centre stays the centre."""
    from subalign.numerics.volumes import bin_volume

    def gaussian(size, spacing, centre_xyz, sigma):
        z, y, x = (np.indices((size,) * 3, dtype=float) - size // 2) * spacing
        cx, cy, cz = centre_xyz
        return np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * sigma**2))

    fine = gaussian(32, 1.0, (3.0, -2.0, 1.5), 3.0)
    binned = bin_volume(fine, 2)
    expected = gaussian(16, 2.0, (3.0, -2.0, 1.5), 3.0)
    assert binned.shape == (16, 16, 16)
    assert binned.mean() == pytest.approx(fine.mean(), rel=1e-12)
    assert np.abs(binned - expected).max() < 1e-3
