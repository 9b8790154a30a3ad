"""Fourier-space rotation (subalign.numerics.spectral) against the direct sum and real space."""

import numpy as np
import pytest
import scipy.ndimage

import subalign.numerics.spectral as spectral
from subalign.numerics.fourier import forward, fourier_grid
from subalign.numerics.geometry import euler_zyz_to_matrix
from subalign.numerics.spectral import SpectrumSampler, on_grid
from subalign.numerics.volumes import box_centre
from subalign.plugin.manager import default_plugin_set
from subalign.numerics.filters import band_limited
from subalign.numerics.wedge import TiltRange

N = 24


def smooth_particle(seed: int = 3) -> np.ndarray:
    """A band-limited blob inside the box's inscribed sphere, (N, N, N)."""
    volume = scipy.ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=(N,) * 3), 1.2)
    z, y, x = np.indices((N,) * 3) - box_centre((N,) * 3)[:, None, None, None]
    return volume * (np.sqrt(x**2 + y**2 + z**2) < N / 2 - 2)


def direct_spectrum(volume: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """``sum_x v(x) exp(-2 pi i q . (x - c))`` term by term, (n,)."""
    z, y, x = np.indices(volume.shape) - box_centre(volume.shape)[:, None, None, None]
    phase = np.exp(-2j * np.pi * (frequencies[:, 0:1] * x.ravel() + frequencies[:, 1:2] * y.ravel()
                                  + frequencies[:, 2:3] * z.ravel()))
    return phase @ volume.ravel()


@pytest.mark.parametrize("width, tolerance", [(4, 1e-3), (6, 3e-5)])
def test_samples_match_the_direct_sum(width, tolerance):
    volume = smooth_particle()
    frequencies = np.random.default_rng(1).uniform(-0.4, 0.4, size=(300, 3))
    exact = direct_spectrum(volume, frequencies)
    sampled = SpectrumSampler(volume, width).sample(frequencies)
    assert np.linalg.norm(sampled - exact) / np.linalg.norm(exact) < tolerance


def test_gradient_is_the_derivative_of_the_samples_and_of_the_spectrum():
    """dV/dq against central differences of the samples themselves (what LM needs: the
    same function) and of the direct sum (the true spectrum's gradient)."""
    volume = smooth_particle()
    sampler = SpectrumSampler(volume)
    frequencies = np.random.default_rng(2).uniform(-0.3, 0.3, size=(60, 3))
    values, gradient = sampler.sample_with_gradient(frequencies)
    np.testing.assert_array_equal(values, sampler.sample(frequencies))
    assert gradient.shape == (60, 3)
    step = 1e-6
    for axis in range(3):
        offset = np.zeros(3)
        offset[axis] = step
        of_samples = (sampler.sample(frequencies + offset)
                      - sampler.sample(frequencies - offset)) / (2 * step)
        of_spectrum = (direct_spectrum(volume, frequencies + offset)
                       - direct_spectrum(volume, frequencies - offset)) / (2 * step)
        own = np.linalg.norm(gradient[:, axis] - of_samples) / np.linalg.norm(of_samples)
        true = np.linalg.norm(gradient[:, axis] - of_spectrum) / np.linalg.norm(of_spectrum)
        # own: complex64 rounding over a 1e-6 step; true: the W = 4 kernel's accuracy
        assert own < 3e-4 and true < 1e-2, (axis, own, true)


def test_compiled_and_numpy_kernels_agree(monkeypatch):
    """The numba kernel (installed with the test extra) and the numpy fallback give the same
    samples and gradients to 1e-6."""
    assert spectral.compiled_kernel(), "numba is part of the test extra"
    sampler = SpectrumSampler(smooth_particle() * (1 + 2j))
    frequencies = np.random.default_rng(4).uniform(-1.2, 1.2, size=(200, 3))
    compiled = (*sampler.sample_with_gradient(frequencies), sampler.sample(frequencies))
    monkeypatch.setattr(spectral, "_use_compiled", False)
    assert not spectral.compiled_kernel()
    fallback = (*sampler.sample_with_gradient(frequencies), sampler.sample(frequencies))
    for fast, slow in zip(compiled, fallback):
        assert np.abs(fast - slow).max() <= 1e-6 * np.abs(slow).max()


def test_periodic_in_frequency():
    """The spectrum of a volume on a grid is periodic with period 1 cycle/voxel."""
    sampler = SpectrumSampler(smooth_particle())
    frequencies = np.random.default_rng(5).uniform(-0.5, 0.5, size=(40, 3))
    shifted = frequencies + np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(sampler.sample(shifted), sampler.sample(frequencies), atol=1e-9)


def test_on_grid_gives_the_unrotated_samples():
    """The FFT of the volume times on_grid's separable factor equals the sampler at the box's own
    frequencies (how the fixed volume's band is made)."""
    volume = smooth_particle()
    fx, fy, fz = fourier_grid(volume.shape).frequency_xyz()
    xi = np.stack([fx.ravel(), fy.ravel(), fz.ravel()], axis=-1)
    to_rfftn_origin = np.exp(-2j * np.pi * xi @ box_centre(volume.shape)[::-1]) / np.sqrt(N**3)
    sampled = SpectrumSampler(volume).sample(xi) * to_rfftn_origin
    direct = forward(on_grid(volume)).ravel()
    assert np.abs(sampled - direct).max() <= 1e-6 * np.abs(direct).max()


def test_fourier_rotation_is_the_active_rotation_about_the_box_centre(builtin_score):
    """Round trip of the convention: the band a score rotates in Fourier space equals the
    exact spectrum of its prepared volume at ``R^T xi`` (to the kernel's accuracy) and the
    band of the volume rotated in real space (``rotation=spline``: active, about index
    N // 2; to the cubic spline's accuracy)."""
    tilt = TiltRange(-90.0, 90.0)
    volume = smooth_particle(7)
    plugins = default_plugin_set()
    fourier_objective, spline_objective = (
        plugins.create("score", {"name": builtin_score, "rotation": method}).prepare(
            volume, volume, tilt, tilt)
        for method in ("fourier", "spline"))
    rotation = euler_zyz_to_matrix([40.0, 70.0, -25.0])
    band = fourier_objective.band
    fourier = fourier_objective.rotated_spectrum(rotation)[band]
    spline = spline_objective.rotated_spectrum(rotation)[band]
    config = fourier_objective.config
    prepared = band_limited(volume, config.max_frequency, config.mask_edge_voxels)
    fx, fy, fz = fourier_grid(volume.shape).frequency_xyz()
    xi = np.stack([fx[band], fy[band], fz[band]], axis=-1)
    to_rfftn_origin = np.exp(-2j * np.pi * xi @ box_centre(volume.shape)[::-1]) / np.sqrt(N**3)
    exact = direct_spectrum(prepared, xi @ rotation) * to_rfftn_origin
    assert np.linalg.norm(fourier - exact) / np.linalg.norm(exact) < 1e-3
    assert np.linalg.norm(spline - exact) / np.linalg.norm(exact) < 5e-3
    # and without rotation the band is the forward FFT's (the identity is no special case)
    identity = fourier_objective.rotated_spectrum(np.eye(3))[band]
    assert np.linalg.norm(identity - forward(prepared)[band]) < 1e-3 * np.linalg.norm(identity)


@pytest.mark.parametrize("compiled", [True, False])
def test_a_sampler_kept_to_a_band_samples_as_the_whole_grid_and_refuses_beyond(
        monkeypatch, compiled):
    """``max_frequency`` keeps only the grid a band's samples reach: same samples (to float
    rounding of the positions), and a clear error for a frequency beyond it (both kernels)."""
    monkeypatch.setattr(spectral, "_use_compiled", compiled)
    volume = smooth_particle()
    whole, kept = SpectrumSampler(volume), SpectrumSampler(volume, max_frequency=0.3)
    assert kept.values.size < whole.values.size / 3
    frequencies = np.random.default_rng(6).uniform(-0.3, 0.3, size=(300, 3))
    for sampled, reference in zip(kept.sample_with_gradient(frequencies),
                                  whole.sample_with_gradient(frequencies)):
        assert np.abs(sampled - reference).max() <= 1e-9 * np.abs(reference).max()
    with pytest.raises(ValueError, match="0.4000 cycles/voxel is beyond"):
        kept.sample(np.array([[0.1, -0.4, 0.0]]))
    with pytest.raises(ValueError, match="beyond"):
        kept.sample_with_gradient(np.array([[0.1, 0.0, 1.45]]))  # 1.45 = -0.45 + 2 periods
