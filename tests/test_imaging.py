"""The imaging chain against physical facts: projection geometry, CTF and MTF values,
wedge-shaped reconstructions."""

import numpy as np
import pytest

from subalign.errors import ConfigError
from subalign.numerics.fourier import forward, fourier_grid
from subalign.simulation.imaging import (
    CTFParameters,
    ctf,
    electron_wavelength_nm,
    mtf,
    tilt_angles,
    tilt_series_geometry,
)
from subalign.numerics.wedge import TiltRange, wedge_mask

N = 32


def point_volume(x: int, y: int, z: int) -> np.ndarray:
    """A unit point at voxel offset (x, y, z) from the box centre."""
    volume = np.zeros((N, N, N))
    volume[N // 2 + z, N // 2 + y, N // 2 + x] = 1.0
    return volume


def test_tilt_angles_are_one_degree_steps_including_both_ends():
    angles = tilt_angles(-60, 60)
    assert len(angles) == 121
    assert angles[0] == -60 and angles[-1] == 60 and np.allclose(np.diff(angles), 1.0)


@pytest.mark.parametrize("bad", [(0.0, 10.0, 0.0), (-95.0, 60.0, 1.0), (30.0, -30.0, 1.0)])
def test_bad_tilt_settings_name_the_field(bad):
    with pytest.raises(ConfigError, match="tilt_"):
        tilt_angles(*bad)


def test_projection_at_zero_tilt_is_the_sum_along_the_beam():
    rng = np.random.default_rng(0)
    volume = rng.standard_normal((N, N, N))
    geometry = tilt_series_geometry(N, (0.0,))
    image = geometry.project(volume)[0]  # [y, u]
    offset = geometry.width // 2 - N // 2
    np.testing.assert_allclose(image[:, offset:offset + N], volume.sum(axis=0), atol=1e-10)
    assert np.abs(image[:, :offset]).max() == 0 and np.abs(image[:, offset + N:]).max() == 0


@pytest.mark.parametrize("alpha", [-50.0, -20.0, 35.0, 60.0])
def test_tilt_is_right_handed_about_y_and_beam_along_z(alpha):
    """A point at (x, z) lands at u = x cos(alpha) + z sin(alpha); y stays on its row."""
    geometry = tilt_series_geometry(N, (alpha,))
    centre = geometry.width // 2
    for (x, y, z) in [(6, 3, 0), (0, -4, 7), (-5, 2, 4)]:
        image = geometry.project(point_volume(x, y, z))[0]
        row = image[N // 2 + y]
        assert row.sum() == pytest.approx(1.0, abs=1e-9)  # mass is conserved
        assert np.abs(np.delete(image, N // 2 + y, axis=0)).max() == 0
        u = (np.arange(geometry.width) - centre) @ row
        expected = x * np.cos(np.radians(alpha)) + z * np.sin(np.radians(alpha))
        assert u == pytest.approx(expected, abs=1e-9)


def test_projection_conserves_mass_at_every_tilt():
    rng = np.random.default_rng(1)
    volume = np.zeros((N, N, N))
    volume[8:24, 8:24, 8:24] = rng.uniform(size=(16, 16, 16))  # well inside the box
    images = tilt_series_geometry(N, tuple(tilt_angles(-60, 60, 10))).project(volume)
    np.testing.assert_allclose(images.sum(axis=(1, 2)), volume.sum(), rtol=1e-12)


def missing_to_measured_power(reconstruction: np.ndarray, tilt: TiltRange) -> float:
    """Median over Fourier shells 3-13 of mean power in the missing wedge over mean power in
    the measured region, both at least 2 Fourier voxels from the boundary planes (shells
    with fewer than 20 coefficients on either side are left out)."""
    power = np.abs(forward(reconstruction)) ** 2
    measured = wedge_mask((N, N, N), tilt, margin=2.0)
    missing = ~wedge_mask((N, N, N), tilt, margin=-2.0)
    grid = fourier_grid((N, N, N))
    radius = np.sqrt(grid.fx**2 + grid.fy**2 + grid.fz**2) * N
    ratios = []
    for shell in range(3, 14):
        inside = (radius >= shell) & (radius < shell + 1)
        if min((missing & inside).sum(), (measured & inside).sum()) < 20:
            continue
        ratios.append(power[missing & inside].mean() / power[measured & inside].mean())
    assert len(ratios) >= 5
    return float(np.median(ratios))


@pytest.mark.parametrize("limit", [60.0, 40.0])
def test_reconstruction_is_empty_in_the_missing_wedge_only(limit):
    """A white-noise volume (energy at every frequency), projected and reconstructed.

    What remains in the wedge (about 5% of the measured power) is the leakage of a finite,
    non-periodic box: backprojected streaks end at the box faces. Exact trigonometric
    interpolation leaves the same amount, so it is not the linear interpolation.
    """
    rng = np.random.default_rng(2)
    volume = rng.standard_normal((N, N, N))
    tilt = TiltRange(-limit, limit)
    limited = tilt_series_geometry(N, tuple(tilt_angles(-limit, limit)))
    assert missing_to_measured_power(limited.backproject(limited.project(volume)), tilt) < 0.08
    full = tilt_series_geometry(N, tuple(tilt_angles(-90, 89)))
    assert missing_to_measured_power(full.backproject(full.project(volume)), tilt) > 0.7


def test_electron_wavelength_at_300_kv():
    assert electron_wavelength_nm(300) == pytest.approx(0.0019687, rel=1e-4)


def test_ctf_first_lobe_positive_first_zero_where_theory_says_and_negative_lobes_gone():
    parameters = CTFParameters()  # 300 kV, Cs 2 mm, -4 um, pure phase
    pixel = 0.25  # fine sampling along u up to 2/nm
    transfer = ctf((1, 2048), pixel, parameters)[0]
    k = np.fft.fftfreq(2048, d=pixel)
    positive = k > 0
    k, transfer = k[positive], transfer[positive]
    wavelength, underfocus, cs = electron_wavelength_nm(300), 4000.0, 2e6
    chi = np.pi * wavelength * underfocus * k**2 - 0.5 * np.pi * cs * wavelength**3 * k**4
    raw = np.sin(chi)
    first_zero = k[np.argmax(raw < 0)]
    # The defocus term dominates: the first zero is near 1 / sqrt(lambda dz) = 0.356/nm.
    assert first_zero == pytest.approx(1 / np.sqrt(wavelength * underfocus), rel=0.02)
    assert np.all(transfer[k < first_zero * 0.98] > 0)
    assert np.all(transfer >= 0)
    assert np.all(transfer[raw < 0] == 0)  # reversed contrast eliminated
    np.testing.assert_allclose(transfer[raw > 0], raw[raw > 0])  # positive lobes kept
    assert (raw < 0).sum() > 50 and (raw[k > first_zero] > 0).sum() > 50


def test_ctf_amplitude_contrast_sets_the_zero_frequency_transfer():
    transfer = ctf((8, 8), 1.0, CTFParameters(amplitude_contrast=0.07))
    assert transfer[0, 0] == pytest.approx(0.07)
    assert ctf((8, 8), 1.0, CTFParameters())[0, 0] == 0.0


@pytest.mark.parametrize("field, value", [("defocus_um", 1.0), ("amplitude_contrast", 1.2)])
def test_bad_ctf_parameters_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        CTFParameters(**{field: value})


def test_mtf_is_one_at_dc_and_two_over_pi_at_nyquist():
    transfer = mtf((32, 46))
    assert transfer[0, 0] == pytest.approx(1.0)
    assert transfer[16, 0] == pytest.approx(2 / np.pi)  # y Nyquist, w = 1
    assert np.all(np.diff(transfer[0, :23]) < 0)


def test_a_half_turn_range_counts_the_plus_minus_90_view_once():
    angles = tilt_angles(-90, 90)
    assert len(angles) == 180 and angles[0] == -90 and angles[-1] == 89
