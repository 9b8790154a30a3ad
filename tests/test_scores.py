"""RCS and FCS against their definitions (paper eq. 1-6 and 13-16), computed independently."""

import numpy as np
import pytest

from subalign.numerics.fourier import forward, inverse
from subalign.numerics.geometry import RigidTransform, rotation_vector_to_matrix
from subalign.plugin.manager import default_plugin_set
from subalign.numerics.filters import ROLL_OFF, soft_sphere, standardize
from subalign.simulation.synthetic import synthetic_pair
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange

WEDGE = TiltRange(-60.0, 60.0)


@pytest.fixture(scope="module")
def pair():
    return synthetic_pair(11, snr=1.0, tilt=WEDGE, max_translation=1.5)


def off_truth(pair, degrees=8.0, voxels=0.7):
    rotation = rotation_vector_to_matrix(np.radians(degrees) * np.array([0.6, -0.64, 0.48]))
    return RigidTransform(rotation @ pair.truth.rotation,
                          pair.truth.translation + voxels * np.array([0.48, 0.6, -0.64]))


def filtered_pair(objective, pair, transform):
    """Spectra of f1 and g1 of eq. 1-2, built step by step: each volume standardized,
    low-passed to the band (cosine roll-off) and masked by the soft sphere, the moving one
    rotated (real-space spline: the objectives compared are ``rotation=spline`` ones; the
    Fourier rotation is checked against the exact rotation in test_spectral.py) and
    shifted, both cut to the common mask."""
    shape = pair.fixed.shape
    fz, fy, fx = np.meshgrid(*(np.fft.fftfreq(n) for n in shape[:2]), np.fft.rfftfreq(shape[2]),
                             indexing="ij")
    beyond = np.clip((np.sqrt(fx**2 + fy**2 + fz**2) - objective.config.max_frequency) / ROLL_OFF, 0, 1)
    lowpass = 0.5 + 0.5 * np.cos(np.pi * beyond)
    sphere = soft_sphere(shape, objective.config.mask_edge_voxels)

    def prepared(volume):
        return inverse(forward(standardize(volume)) * lowpass, shape) * sphere

    fixed = prepared(pair.fixed)
    moving = transform_volume(prepared(pair.moving), transform,
                              order=objective.config.interpolation_order)
    mask = objective.common_mask(transform.rotation)
    return forward(fixed) * mask, forward(moving) * mask, mask


def test_rcs_is_two_minus_two_constrained_correlation(pair):
    objective = default_plugin_set().create("score", {"name": "rcs", "rotation": "spline"}).prepare(
        pair.fixed, pair.moving, WEDGE, WEDGE)
    transform = off_truth(pair)
    f_spectrum, g_spectrum, _ = filtered_pair(objective, pair, transform)
    f1, g1 = inverse(f_spectrum, pair.fixed.shape), inverse(g_spectrum, pair.fixed.shape)
    f1, g1 = f1 - f1.mean(), g1 - g1.mean()
    correlation = (f1 * g1).sum() / np.sqrt((f1**2).sum() * (g1**2).sum())
    assert objective.value(transform) == pytest.approx(2 - 2 * correlation, rel=1e-6)


def test_fcs_is_mean_squared_difference_over_the_common_mask(pair):
    objective = default_plugin_set().create("score", {"name": "fcs", "rotation": "spline"}).prepare(
        pair.fixed, pair.moving, WEDGE, WEDGE)
    transform = off_truth(pair)
    f_spectrum, g_spectrum, mask = filtered_pair(objective, pair, transform)
    # Full (not half) spectra: the Hermitian weights of the half spectrum must reproduce it.
    full_f = np.fft.fftn(inverse(f_spectrum, pair.fixed.shape), norm="ortho")
    full_g = np.fft.fftn(inverse(g_spectrum, pair.fixed.shape), norm="ortho")
    # Coefficients of the common mask in the full spectrum (it is Hermitian-symmetric).
    count = np.count_nonzero(np.abs(full_f) > 1e-9 * np.abs(full_f).max())
    assert count == objective.grid.hermitian_weights[mask].sum()
    expected = (np.abs(full_f - full_g) ** 2).sum() / count
    assert objective.value(transform) == pytest.approx(expected, rel=1e-6)


def test_scores_ignore_offset_and_scale_of_either_volume(pair, builtin_score):
    objective = default_plugin_set().create("score", builtin_score)
    transform = off_truth(pair)
    reference = objective.prepare(pair.fixed, pair.moving, WEDGE, WEDGE).value(transform)
    changed = objective.prepare(3.0 * pair.fixed + 7.0, 0.2 * pair.moving - 1.0, WEDGE, WEDGE)
    assert changed.value(transform) == pytest.approx(reference, rel=1e-9)


def test_common_mask_is_held_fixed_when_asked(pair, builtin_score):
    objective = default_plugin_set().create("score", builtin_score).prepare(pair.fixed, pair.moving, WEDGE, WEDGE)
    transform = off_truth(pair)
    other = off_truth(pair, degrees=20.0)
    held = objective.residuals(other, mask_rotation=transform.rotation)
    own = objective.residuals(other)
    if builtin_score == "fcs":  # one residual per coefficient of the mask at the held rotation,
        # and the overlap rule's one (0 here: the overlap suffices)
        assert held.size == np.count_nonzero(objective.common_mask(transform.rotation)) + 1
        assert held[-1] == 0
    # The mask moves with the rotation unless held: it selects other coefficients.
    assert np.count_nonzero(objective.common_mask(other.rotation) != objective.common_mask(transform.rotation)) > 0
    assert not (held.size == own.size and np.allclose(held, own))


def test_remembered_rotation_never_changes_a_result(pair, builtin_score):
    """Interleaved evaluations give what a fresh objective gives for each transform."""
    score = default_plugin_set().create("score", builtin_score)
    first, second = off_truth(pair), off_truth(pair, degrees=25.0)
    objective = score.prepare(pair.fixed, pair.moving, WEDGE, WEDGE)
    values = [objective.value(t) for t in (first, second, first, first)]
    objective.jacobian(second)
    values.append(objective.value(first))
    fresh = [score.prepare(pair.fixed, pair.moving, WEDGE, WEDGE).value(t) for t in (first, second)]
    assert values == [fresh[0], fresh[1], fresh[0], fresh[0], fresh[0]]
    with pytest.raises(ValueError):  # remembered arrays are read-only
        objective.rotated_band(first.rotation)[0] = 0
    with pytest.raises(ValueError):
        objective.band_mask(first.rotation)[0] = True


@pytest.mark.parametrize("rotation", ["fourier", "spline"])
def test_full_spectrum_layout_gives_what_the_band_layout_gives(pair, rotation):
    """A score written against full half spectra (``band_only = False``, what third-party
    scores get by default) scores and differentiates exactly as the same score written
    against the band's coefficients (FCS, ``band_only = True``)."""
    fcs = default_plugin_set().create("score", {"name": "fcs", "rotation": rotation})
    band_objective = fcs.prepare(pair.fixed, pair.moving, WEDGE, WEDGE)

    class FullLayoutFcs(type(band_objective)):
        band_only = False

        def residual_parts(self, spectrum, mask):
            assert spectrum.shape == mask.shape == self.grid.spectrum_shape
            weights = self.grid.hermitian_weights[mask]
            scale = np.sqrt(weights / weights.sum())
            return scale * (spectrum[mask] - self.fixed_spectrum[mask]), (mask, scale)

        def residual_derivative(self, context, spectrum_derivative):
            mask, scale = context
            return scale * spectrum_derivative[mask]

    full_objective = FullLayoutFcs(pair.fixed, pair.moving, WEDGE, WEDGE, fcs.config)
    transform = off_truth(pair)
    assert full_objective.value(transform) == pytest.approx(band_objective.value(transform),
                                                            rel=1e-12)
    full_r, full_j = full_objective.jacobian(transform)
    band_r, band_j = band_objective.jacobian(transform)
    np.testing.assert_allclose(full_r, band_r, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(full_j, band_j, rtol=1e-12, atol=1e-12)
