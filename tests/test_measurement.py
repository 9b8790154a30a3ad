"""Measurement models (subalign.numerics.measurement): binary models give the wedge-constrained
scores exactly, the real geometry and the CTF are followed, averages divide by the transfer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from subalign import align_pair
from subalign.api import hookimpl
from subalign.numerics.fourier import fourier_grid
from subalign.numerics.geometry import RigidTransform, rotation_distance_deg
from subalign.numerics.measurement import (
    SampledWeights,
    TiltPlanes,
    comparison_factors,
    full_spectrum,
    model_weights,
)
from subalign.numerics.overlap import expected_model_overlap, expected_overlap
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange, wedge_mask
from subalign.plugin.manager import default_plugin_set
from subalign.scoring.measured import prepare_score
from subalign.search.scan import scan_rotations
from subalign.simulation.density import phantom
from subalign.testing import MeasurementContract
from subalign.testing.measurement import wandering_acquisition
from subalign.workflows.averaging import WedgeAccumulator

WEDGE = TiltRange(-55.0, 60.0)
OTHER = TiltRange(-60.0, 45.0)


@dataclass(frozen=True)
class FloatWedge:
    """A tilt range posing as a weighted model: 0/1 weights as floats, so every comparison
    runs the weighted code path."""

    tilt: TiltRange
    kind: str = "float_wedge"
    binary: bool = False

    def weights(self, frequencies, size, *, margin=0.0):
        return self.tilt.weights(frequencies, size, margin=margin).astype(float)

    def tilt_range(self):
        return self.tilt


@pytest.fixture(scope="module")
def pair():
    volume = phantom(32).astype(float)
    truth = RigidTransform(Rotation.from_rotvec([0.3, -0.5, 0.2]).as_matrix(), np.array([1.0, -2.0, 0.5]))
    moving = transform_volume(volume, truth.inverse())
    rng = np.random.default_rng(0)
    return volume + rng.normal(0, 0.02, volume.shape), moving + rng.normal(0, 0.02, volume.shape)


@pytest.mark.parametrize("margin", [0.0, 1.5])
def test_fcs_with_binary_weights_fits_only_the_fixed_sides_scale(pair, margin):
    built = default_plugin_set().create("score", {"name": "fcs", "wedge_margin_voxels": margin})
    exact = prepare_score(built, *pair, WEDGE, OTHER)
    weighted = prepare_score(built, *pair, FloatWedge(WEDGE), FloatWedge(OTHER))
    for seed in range(4):
        transform = RigidTransform(Rotation.random(random_state=seed).as_matrix(),
                                   np.random.default_rng(seed).uniform(-2, 2, 3))
        mask = exact.band_mask(transform.rotation)
        moving = (exact.rotated_band(transform.rotation) * exact._phase_ramp(transform.translation))[mask]
        fixed, weights = exact.fixed_band[mask], exact.band_weights[mask]
        scale = max(float((weights * (moving * np.conj(fixed)).real).sum()), 0) / float(
            (weights * np.abs(fixed) ** 2).sum())
        fitted = float((weights * np.abs(moving - scale * fixed) ** 2).sum() / weights.sum())
        overlap_rule = exact.value(transform) - float(
            (weights * np.abs(moving - fixed) ** 2).sum() / weights.sum())
        assert overlap_rule == pytest.approx(0, abs=1e-12)  # these transforms overlap enough
        assert weighted.value(transform) == pytest.approx(fitted, abs=1e-12)


@pytest.mark.parametrize("score", ["rcs"])
@pytest.mark.parametrize("margin", [0.0, 1.5])
def test_binary_weights_give_the_wedge_constrained_score_to_1e_12(pair, score, margin):
    plugins = default_plugin_set()
    built = plugins.create("score", {"name": score, "wedge_margin_voxels": margin})
    exact = prepare_score(built, *pair, WEDGE, OTHER)
    weighted = prepare_score(built, *pair, FloatWedge(WEDGE), FloatWedge(OTHER))
    assert weighted.weighted and not exact.weighted
    assert weighted.expected_overlap == pytest.approx(exact.expected_overlap, abs=1e-12)
    for seed in range(4):
        transform = RigidTransform(Rotation.random(random_state=seed).as_matrix(),
                                   np.random.default_rng(seed).uniform(-2, 2, 3))
        assert weighted.value(transform) == pytest.approx(exact.value(transform), abs=1e-12)
        (r1, j1), (r2, j2) = exact.jacobian(transform), weighted.jacobian(transform)
        np.testing.assert_allclose(r2, r1, rtol=0, atol=1e-12)
        np.testing.assert_allclose(j2, j1, rtol=0, atol=1e-10)


def test_binary_weights_give_the_wedge_constrained_scan(pair):
    rotations = Rotation.random(40, random_state=3).as_matrix()
    settings = dict(max_frequency=0.3, wedge_margin_voxels=0.5, mask_edge_voxels=3.0, max_shift=6)
    exact = scan_rotations(*pair, WEDGE, OTHER, rotations, **settings)
    weighted = scan_rotations(*pair, FloatWedge(WEDGE), FloatWedge(OTHER), rotations, **settings)
    np.testing.assert_allclose(weighted.correlations, exact.correlations, atol=1e-6)  # complex64
    np.testing.assert_allclose(weighted.overlaps, exact.overlaps, atol=1e-12)


def test_a_tilt_range_model_is_the_wedge_mask():
    rotation = Rotation.random(random_state=1).as_matrix()
    np.testing.assert_array_equal(model_weights(WEDGE, (32,) * 3, rotation, margin=1.0),
                                  wedge_mask((32,) * 3, WEDGE, rotation, margin=1.0))
    assert expected_model_overlap((32,) * 3, WEDGE, OTHER, 0.3, 0.5) == \
        expected_overlap((32,) * 3, WEDGE, OTHER, 0.3, 0.5)


def test_planes_of_a_dense_single_axis_series_are_its_wedge():
    angles = np.radians(np.arange(-60.0, 60.5, 1.0))
    beams = np.stack([-np.sin(angles), 0 * angles, np.cos(angles)], axis=1)  # wedge.py's convention
    planes = TiltPlanes(beams, TiltRange(-60.0, 60.0))
    k = np.random.default_rng(0).uniform(-8, 8, (20000, 3))
    k = k[np.linalg.norm(k, axis=1) <= 8]
    from_planes = planes.weights(k / 32, 32)
    from_wedge = TiltRange(-60.0, 60.0).weights(k / 32, 32)
    assert not np.any(from_wedge & ~from_planes)  # 1-degree steps fill the wedge to this radius
    # what the planes add is the outermost planes' half-voxel slabs beyond the wedge
    outermost = np.abs(k @ beams[[0, -1]].T).min(axis=1)
    assert np.all(outermost[from_planes & ~from_wedge] <= 0.5 + 1e-9)


def test_planes_follow_beams_off_the_single_axis_plane():
    acquisition = wandering_acquisition(wander_deg=8.0)
    planes = TiltPlanes(acquisition.beams, acquisition.tilt_range)
    rng = np.random.default_rng(1)
    directions = np.cross(np.repeat(acquisition.beams, 30, axis=0), rng.normal(size=(41 * 30, 3)))
    k = directions / np.linalg.norm(directions, axis=1)[:, None] * rng.uniform(2, 12, (41 * 30, 1))
    assert planes.weights(k / 32, 32).all()  # every measured plane, wherever its beam points
    # the single-axis wedge misses the parts of the wandering planes outside it
    assert not acquisition.tilt_range.weights(k / 32, 32).all()


def test_sampled_weights_interpolate_their_grid_exactly_at_grid_points():
    acquisition = wandering_acquisition()
    model = SampledWeights(acquisition.transfer, acquisition.tilt_range)
    k = np.stack(np.meshgrid(*[np.fft.fftfreq(32, 1 / 32)] * 3, indexing="ij"), axis=-1)[..., ::-1]
    np.testing.assert_allclose(model.weights(k / 32, 32), acquisition.transfer, atol=1e-12)


def test_full_spectrum_round_trips_a_half_spectrum():
    full = np.abs(np.fft.fftn(np.random.default_rng(2).normal(size=(12, 12, 12))))
    np.testing.assert_allclose(full_spectrum(full[:, :, :7]), full)


def test_the_weightings_factors():
    fixed, moving = np.array([0.0, 0.5, 1.0]), np.array([0.2, 0.4, 0.0])
    support, a, b = comparison_factors(fixed, moving, "both")
    np.testing.assert_array_equal(support, [False, True, False])
    np.testing.assert_allclose((a, b), ([0, 0.4, 0], [0, 0.5, 0]))
    _, a, b = comparison_factors(fixed, moving, "one")
    np.testing.assert_allclose((a, b), ([0, 0.4, 0], [0, 1, 0]))
    _, a, b = comparison_factors(fixed, moving, "wiener")
    np.testing.assert_allclose(b[1], 1 / (0.4 + 0.1))
    # matched: both sides over the noise of their difference, sqrt(h_g^2 s_f^2 + h_f^2 s_g^2)
    _, a, b = comparison_factors(fixed, moving, "matched", None, np.array([1.0, 4.0, 1.0]))
    np.testing.assert_allclose((a[1], b[1]), (0.4 / (0.5 * 2.0), 0.5 / (0.5 * 2.0)))
    _, a2, b2 = comparison_factors(fixed, moving, "both", None, np.array([1.0, 4.0, 1.0]))
    np.testing.assert_allclose((a2[1], b2[1]), (0.4, 0.5))  # both ignores the noise


def ctf_particle(volume, transform, transfer):
    """The box a CTF-premultiplied acquisition gives of ``volume`` at pose ``transform``."""
    moved = transform_volume(volume, transform.inverse())
    return np.fft.fftshift(np.fft.ifftn(np.fft.fftn(np.fft.ifftshift(moved)) * transfer).real)


def test_the_ctf_model_recovers_a_pose_through_the_ctf_and_wandering_beams():
    acquisition = wandering_acquisition(wander_deg=8.0)
    volume = phantom(32).astype(float)
    model = default_plugin_set().create("measurement", "ctf").build(acquisition)
    rng = np.random.default_rng(5)
    errors = []
    for seed in range(3):
        truth = RigidTransform(Rotation.random(random_state=10 + seed).as_matrix(), rng.uniform(-2, 2, 3))
        particle = ctf_particle(volume, truth, acquisition.transfer)
        particle += rng.normal(0, particle.std(), particle.shape)  # SNR 1
        found = align_pair({}, volume, particle, models=(TiltRange(-90, 90), model)).transform
        errors.append(rotation_distance_deg(found.rotation, truth.rotation))
    # measured: 0.3-0.8 degrees; 3 degrees is a tenth of the 32-voxel phantom's finest blob
    assert max(errors) < 3.0, errors


def test_a_score_without_the_capability_gets_tilt_ranges():
    received = []

    class OldScore:
        def prepare(self, fixed, moving, fixed_tilt, moving_tilt):
            received.append((fixed_tilt, moving_tilt))

    planes = TiltPlanes(wandering_acquisition().beams, WEDGE)
    prepare_score(OldScore(), None, None, TiltRange(-90, 90), planes)
    assert received == [(TiltRange(-90, 90), WEDGE)]


def test_a_weighted_average_divides_by_the_transfer():
    acquisition = wandering_acquisition(wander_deg=0.0)
    volume = phantom(32).astype(float)
    model = SampledWeights(acquisition.transfer, acquisition.tilt_range)
    weighted, binary = WedgeAccumulator(32), WedgeAccumulator(32)
    for seed in range(12):
        pose = RigidTransform(Rotation.random(random_state=seed).as_matrix(), np.zeros(3))
        particle = ctf_particle(volume, pose, acquisition.transfer)
        weighted.add(particle, pose, model)  # pose maps the particle back onto the volume
        binary.add(particle, pose, acquisition.tilt_range)
    grid = fourier_grid((32,) * 3)
    band = (grid.radius > 0.05) & (grid.radius < 0.3)
    truth = np.fft.rfftn(volume)[band]

    def relative_error(average):  # after the best global scale
        found = np.fft.rfftn(average)[band]
        scale = np.vdot(found, truth).real / np.vdot(found, found).real
        return np.linalg.norm(scale * found - truth) / np.linalg.norm(truth)

    # The CTF-premultiplied sum divided by the summed transfer (plus the Wiener constant) is
    # close to the volume again; the binary model's average keeps the CTF^2 x dose^2
    # envelope. Measured: 0.23 against 0.45.
    assert relative_error(weighted.average()) < 0.25 and relative_error(binary.average()) > 0.35


class DepthOfFieldMeasurement:
    """A lab's own model, as a third party writes one: the measured planes, but only within
    a radius (as if a depth of field limited what the tilts measured)."""

    uses_transfer = False

    def __init__(self, config):
        self.config = config

    def build(self, acquisition):
        planes = TiltPlanes(acquisition.beams, acquisition.tilt_range)
        radius = self.config.radius_voxels

        class Limited:
            kind, binary = "depth_of_field", True

            def weights(self, frequencies, size, *, margin=0.0):
                inside = np.linalg.norm(np.asarray(frequencies) * size, axis=-1) <= radius
                return planes.weights(frequencies, size, margin=margin) & inside

            def tilt_range(self):
                return planes.tilt_range()
        return Limited()


@dataclass
class DepthOfFieldConfig:
    radius_voxels: float = 30.0


@hookimpl
def subalign_register_measurements(register):
    register("depth_of_field", DepthOfFieldMeasurement, DepthOfFieldConfig)


def depth_of_field_plugins():
    import types

    from subalign.plugin.manager import build_plugin_set

    return build_plugin_set(extra_plugins=[types.SimpleNamespace(
        subalign_register_measurements=subalign_register_measurements)])


class TestAThirdPartyMeasurement(MeasurementContract):
    measurement = {"name": "depth_of_field", "radius_voxels": 30.0}

    @pytest.fixture
    def plugins(self):
        return depth_of_field_plugins()


def test_a_third_party_model_aligns_a_pair_through_the_weighted_scores():
    plugins = depth_of_field_plugins()
    acquisition = wandering_acquisition(wander_deg=8.0)
    model = plugins.create("measurement", {"name": "depth_of_field"}).build(acquisition)
    volume = phantom(32).astype(float)
    truth = RigidTransform(Rotation.random(random_state=4).as_matrix(), np.array([1.0, 0.0, -1.0]))
    particle = ctf_particle(volume, truth, acquisition.transfer > 0)
    found = align_pair({}, volume, particle, models=(TiltRange(-90, 90), model), plugins=plugins)
    assert rotation_distance_deg(found.transform.rotation, truth.rotation) < 2.0
