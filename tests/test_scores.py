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


# --- the constrained base class (mutation survivors, issue #24) ------------------------------


def test_a_subclass_of_the_base_gets_full_half_spectra_by_default(pair):
    """A third-party score that subclasses ConstrainedObjective and sets nothing else gets
    the documented default layout (``band_only = False``): full half spectra and masks."""
    from subalign.scoring.constrained import ConstrainedObjective

    fcs = default_plugin_set().create("score", {"name": "fcs"})
    shapes = []

    class PlainFcs(ConstrainedObjective):
        def residual_parts(self, spectrum, mask):
            shapes.append((spectrum.shape, mask.shape))
            weights = self.grid.hermitian_weights[mask]
            return np.sqrt(weights / weights.sum()) * (spectrum[mask] - self.fixed_spectrum[mask]), None

    transform = off_truth(pair)
    plain = PlainFcs(pair.fixed, pair.moving, WEDGE, WEDGE, fcs.config).value(transform)
    assert set(shapes) == {(plain_shape := fcs.prepare(pair.fixed, pair.moving, WEDGE, WEDGE)
                            .grid.spectrum_shape, plain_shape)}
    assert plain == pytest.approx(fcs.prepare(pair.fixed, pair.moving, WEDGE, WEDGE).value(transform),
                                  rel=1e-12)


def test_band_is_every_frequency_above_zero_up_to_and_including_max_frequency():
    """``0 < |xi| <= max_frequency``: with no wedge, the common mask of a 16^3 box at 0.25
    cycles/voxel keeps (4, 0, 0) / 16 and (0, 3, 0) / 16, not the DC term, not 5 / 16."""
    volume = np.random.default_rng(5).normal(size=(16, 16, 16))
    full = TiltRange(-90.0, 90.0)
    objective = default_plugin_set().create("score", {"name": "rcs", "max_frequency": 0.25}).prepare(
        volume, volume, full, full)
    mask = objective.common_mask(np.eye(3))  # [z, y, x], x the half axis
    assert mask[0, 0, 4] and mask[0, 3, 0] and mask[0, -4, 0]
    assert not mask[0, 0, 0] and not mask[0, 0, 5] and not mask[3, 3, 3]
    fz, fy, fx = np.meshgrid(np.fft.fftfreq(16), np.fft.fftfreq(16), np.fft.rfftfreq(16), indexing="ij")
    radius = np.sqrt(fx**2 + fy**2 + fz**2)
    np.testing.assert_array_equal(mask, (radius > 0) & (radius <= 0.25 + 1e-12))


def test_spline_analytic_jacobian_is_the_derivative_of_the_value(pair):
    """rotation=spline, jacobian=analytic: 2 Re(r . J) against central differences of the
    value along left rotation increments and translations (step 1e-4). Measured: the
    rotation components 0.14-0.23% off (the derivative is spectral, the rotation a cubic
    spline), translations to 1e-6; tolerance 1% (4x), where a wrong factor is 90% off."""
    objective = default_plugin_set().create(
        "score", {"name": "rcs", "rotation": "spline", "jacobian": "analytic"}).prepare(
        pair.fixed, pair.moving, WEDGE, WEDGE)
    transform = off_truth(pair)
    r, jacobian = objective.jacobian(transform)
    gradient = 2 * np.real(np.conj(r) @ jacobian)
    step = 1e-4
    numerical = []
    for k in range(6):
        increment = np.zeros(6)
        increment[k] = step
        values = []
        for sign in (1.0, -1.0):
            moved = RigidTransform(rotation_vector_to_matrix(sign * increment[:3]) @ transform.rotation,
                                   transform.translation + sign * increment[3:])
            values.append(objective.value(moved))
        numerical.append((values[0] - values[1]) / (2 * step))
    np.testing.assert_allclose(gradient, numerical, rtol=1e-2)


def test_weights_of_one_everywhere_score_as_the_binary_model_that_measures_everything(pair):
    """A weighted model (SampledWeights) whose transfer is 1 everywhere is the full binary
    range: the same value, Jacobian and best integer shift through the weighted path."""
    from subalign.numerics.measurement import SampledWeights

    full = TiltRange(-90.0, 90.0)
    ones = SampledWeights(np.ones(pair.fixed.shape), full)
    score = default_plugin_set().create("score", {"name": "rcs"})
    transform = off_truth(pair)
    weighted = score.prepare(pair.fixed, pair.moving, ones, ones)
    binary = score.prepare(pair.fixed, pair.moving, full, full)
    assert weighted.weighted and not binary.weighted
    assert weighted.value(transform) == pytest.approx(binary.value(transform), rel=1e-9)
    np.testing.assert_allclose(weighted.jacobian(transform)[1], binary.jacobian(transform)[1],
                               rtol=1e-7, atol=1e-9)
    shift = weighted.best_translation(pair.truth.rotation, None)
    np.testing.assert_array_equal(shift, binary.best_translation(pair.truth.rotation, None))
    assert np.abs(shift - pair.truth.translation).max() < 1.0  # an integer next to it (0.51 measured)
