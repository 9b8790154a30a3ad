"""The contract of measurement plugins (:class:`~subalign.plugin.protocols.Measurement`).

:class:`MeasurementContract` builds a model from a known acquisition: a 41-tilt series from
-60 to +60 degrees whose beams wander up to 8 degrees off a single-axis series (as
EMPIAR-10499's Unt_076 does), and the transfer its CTF-premultiplied images give a box by
Fourier insertion. It checks the model against that geometry: the planes the beams define
are measured, frequencies far from all of them and outside the wedge are not.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from subalign.numerics.ctf import ctf_2d, dose_weight_2d
from subalign.numerics.insertion import insert_sections
from subalign.numerics.measurement import Acquisition, rotated_weights
from subalign.numerics.wedge import TiltRange
from subalign.plugin.protocols import Measurement, MeasurementModel
from subalign.testing.contracts import _Contract, _missing_methods

__all__ = ["MeasurementContract", "tilt_sections", "wandering_acquisition"]

#: Far from a plane: beyond the reach of trilinear insertion and sampling (2 sqrt 3 voxels).
FAR_VOXELS = 4.0


def tilt_sections(angles_deg: np.ndarray, wander_deg: float, seed: int) -> np.ndarray:
    """Rows ``a_u, a_v, beam`` (T, 3, 3) of tilts about ``y`` by ``angles_deg``, each then
    turned by up to ``wander_deg`` about a random axis."""
    rng = np.random.default_rng(seed)
    tilts = Rotation.from_euler("y", -np.asarray(angles_deg)[:, None], degrees=True).as_matrix().transpose(0, 2, 1)
    axes = rng.normal(size=(len(angles_deg), 3))
    wander = Rotation.from_rotvec(axes / np.linalg.norm(axes, axis=1)[:, None]
                                  * np.radians(rng.uniform(0, wander_deg, len(angles_deg))[:, None]))
    return tilts @ wander.as_matrix().transpose(0, 2, 1)


def wandering_acquisition(size: int = 32, wander_deg: float = 8.0, seed: int = 0) -> Acquisition:
    """An :class:`Acquisition` of a box of ``size``: 41 tilts over +-60 degrees about ``y``
    whose beams wander up to ``wander_deg`` off the series (module docstring), with the
    transfer of CTF-premultiplied images (defocus 3-4 um at 4 A/pixel, dose 3 e/A^2 per tilt)."""
    angles = np.linspace(-60.0, 60.0, 41)
    sections = tilt_sections(angles, wander_deg, seed)
    defocus = np.linspace(30000.0, 40000.0, len(angles))
    ctf = ctf_2d(size, 4.0, defocus, defocus * 1.02, np.full(len(angles), 30.0), voltage_kv=300,
                 cs_mm=2.7, amplitude_contrast=0.07)
    dose = dose_weight_2d(size, 4.0, 3.0 * np.argsort(np.argsort(np.abs(angles))))
    inserted = insert_sections(np.zeros((len(angles), size, size)), sections, ctf**2 * dose**2)
    transfer = inserted.weight / np.maximum(inserted.multiplicity, 1.0)
    return Acquisition(size, TiltRange(-60.0, 60.0), sections[:, 2], transfer)


@lru_cache(maxsize=1)
def _shared_acquisition() -> Acquisition:
    return wandering_acquisition()


class MeasurementContract(_Contract):
    """Contract of a measurement plugin: ``measurement`` is its config node.

    Attributes
    ----------
    measurement : dict or str
        Config node selecting the plugin.
    in_plane_fraction : float
        Fraction of frequencies on the measured planes (1 to 10 Fourier voxels from the
        origin) that must get a positive weight; below 1 for CTF zeros.
    """

    kind = "measurement"
    protocol = Measurement
    measurement: ClassVar[Any] = None
    in_plane_fraction: ClassVar[float] = 0.95

    @pytest.fixture
    def acquisition(self) -> Acquisition:
        return _shared_acquisition()

    @pytest.fixture
    def model(self, plugins, acquisition):
        return plugins.create("measurement", self.measurement).build(acquisition)

    def test_model_satisfies_its_protocol(self, model):
        missing = _missing_methods(model, MeasurementModel)
        assert not missing, f"build(): the model lacks {', '.join(missing)} of MeasurementModel"
        assert isinstance(model.kind, str) and isinstance(model.binary, bool), (
            f"build(): kind and binary must be str and bool, found {model.kind!r}, {model.binary!r}")
        assert isinstance(model.tilt_range(), TiltRange), "tilt_range(): expected a TiltRange"

    def test_weights_keep_the_shape_and_are_nonnegative(self, model):
        xi = np.random.default_rng(1).uniform(-0.4, 0.4, (50, 7, 3))
        weights = np.asarray(model.weights(xi, 32))
        assert weights.shape == (50, 7), f"weights(): expected shape (50, 7), found {weights.shape}"
        assert np.all(np.isfinite(weights.astype(float))) and weights.min() >= 0, (
            "weights(): expected finite, nonnegative values")
        if model.binary:
            assert weights.dtype == bool, f"weights(): a binary model must give bool, found {weights.dtype}"

    def test_the_same_at_minus_xi(self, model):
        xi = np.random.default_rng(2).uniform(-0.4, 0.4, (400, 3))
        np.testing.assert_allclose(np.asarray(model.weights(-xi, 32), float),
                                   np.asarray(model.weights(xi, 32), float), atol=1e-9,
                                   err_msg="weights(): differ at xi and -xi (not Hermitian)")

    def test_measured_planes_are_measured(self, model, acquisition):
        rng = np.random.default_rng(3)
        points = []
        for beam in acquisition.beams:
            directions = np.cross(beam, rng.normal(size=(20, 3)))
            directions /= np.linalg.norm(directions, axis=1)[:, None]
            points.append(directions * rng.uniform(1.0, 10.0, (20, 1)))
        weights = np.asarray(model.weights(np.concatenate(points) / 32, 32), float)
        fraction = float(np.mean(weights > 0))
        assert fraction >= self.in_plane_fraction, (
            f"weights(): only {fraction:.1%} of frequencies on the measured planes are "
            f"weighted, expected at least {self.in_plane_fraction:.0%}")

    def test_far_from_every_plane_and_outside_the_wedge_is_not(self, model, acquisition):
        k = np.random.default_rng(4).uniform(-14, 14, (4000, 3))
        far = np.abs(k @ acquisition.beams.T).min(axis=1) > FAR_VOXELS
        outside = ~acquisition.tilt_range.weights(k / 32, 32)
        chosen = k[far & outside]
        assert len(chosen) > 50, "contract setup: too few test frequencies"
        weights = np.asarray(model.weights(chosen / 32, 32), float)
        assert np.all(weights == 0), (
            f"weights(): {int((weights > 0).sum())} of {len(chosen)} frequencies more than "
            f"{FAR_VOXELS} Fourier voxels from every measured plane and outside the wedge are weighted")

    def test_binning_keeps_the_model(self, model):
        xi = np.random.default_rng(5).uniform(-0.2, 0.2, (400, 3))
        np.testing.assert_allclose(np.asarray(model.weights(2 * xi, 16), float),
                                   np.asarray(model.weights(xi, 32), float), atol=1e-9,
                                   err_msg="weights(): a box binned by 2 (frequencies x2, "
                                           "size / 2) changes the model")

    def test_a_margin_never_adds_weight(self, model):
        xi = np.random.default_rng(6).uniform(-0.4, 0.4, (2000, 3))
        eroded = np.asarray(model.weights(xi, 32, margin=1.5), float)
        exact = np.asarray(model.weights(xi, 32), float)
        assert np.all(eroded <= exact + 1e-12), "weights(margin=1.5): exceed those of margin 0"
        if model.binary:  # a binary model's boundary is eroded (weighted ones may ignore it)
            assert eroded.sum() < exact.sum(), "weights(margin=1.5): a binary model erodes nothing"

    def test_weights_depend_on_the_frequency_alone(self, model):
        """The framework turns a model by evaluating it at ``R^T xi``; that is right only if
        the weights are a function of the frequency, the same whenever and in whatever batch
        they are asked for (no state, no dependence on the order of the points)."""
        rng = np.random.default_rng(7)
        rotation = Rotation.random(random_state=8).as_matrix()
        xi = rng.uniform(-0.3, 0.3, (300, 3))
        model.weights(rng.uniform(-0.3, 0.3, (50, 3)), 32)  # an unrelated call in between
        # The volume turned by R has h(R^T xi'); at xi' = R xi that is h(xi).
        np.testing.assert_allclose(
            np.asarray(rotated_weights(model, xi @ rotation.T, rotation, 32), float),
            np.asarray(model.weights(xi, 32), float), atol=1e-6,
            err_msg="the model of a turned volume at R xi differs from the model at xi")
        np.testing.assert_allclose(np.asarray(model.weights(xi[::-1], 32), float),
                                   np.asarray(model.weights(xi, 32), float)[::-1], atol=1e-12,
                                   err_msg="weights(): depend on the order of the frequencies")
