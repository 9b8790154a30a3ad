"""One owner of the align defaults: any mapping given to align_pair is merged onto the
schema once, so a composed config, a plain dict and a partial dict align identically."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from subalign import align_pair, compose_config
from subalign.align.config import DEFAULT_PLUGINS, align_settings
from subalign.errors import ConfigError
from subalign.numerics.wedge import TiltRange
from subalign.simulation.synthetic import synthetic_pair


@pytest.fixture(scope="module")
def pair():
    return synthetic_pair(2, size=32, snr=np.inf, tilt=TiltRange(-60.0, 60.0))


def _same(first, second) -> None:
    np.testing.assert_array_equal(first.transform.rotation, second.transform.rotation)
    np.testing.assert_array_equal(first.transform.translation, second.transform.translation)
    assert first.score_value == second.score_value
    assert first.lm_steps == second.lm_steps
    assert first.trace == second.trace
    assert first.details == second.details


@pytest.mark.slow  # three full default alignments: 15-50 s
def test_plain_partial_and_composed_configs_give_bit_identical_results(pair):
    composed = compose_config("align", ["sampler.spacing_deg=60"])
    plain = OmegaConf.to_container(composed, resolve=True)
    partial = {"sampler": {"name": "so3_uniform", "spacing_deg": 60}}
    results = [align_pair(config, pair.fixed, pair.moving)
               for config in (composed, plain, partial)]
    for other in results[1:]:
        _same(results[0], other)
    # and the search stage ran (binned search then polish), not a one-stage fallback
    assert results[0].details["search_binning"] == 2
    assert results[0].details["polish_steps"] > 0


def test_a_score_node_alone_uses_every_other_default():
    settings = align_settings({"score": {"name": "fcs"}})
    assert settings.score == {"name": "fcs"}
    assert {kind: settings[kind]["name"] for kind in DEFAULT_PLUGINS if kind != "score"} == {
        kind: name for kind, name in DEFAULT_PLUGINS.items() if kind != "score"}
    assert settings.search_binning == 2 and settings.wedge.tilt_range_deg == [-60.0, 60.0]


def test_a_bare_plugin_name_selects_the_plugin():
    assert align_settings({"refiner": "independent"}).refiner == {"name": "independent"}


def test_the_yaml_defaults_select_the_schema_defaults():
    composed = compose_config("align")
    assert {kind: composed[kind]["name"] for kind in DEFAULT_PLUGINS} == DEFAULT_PLUGINS


@pytest.mark.parametrize("config, field", [
    ({"serch_binning": 2}, "serch_binning"),
    ({"search_binning": "two"}, "search_binning"),
    ({"score": 3}, "score"),
])
def test_bad_fields_are_named(config, field):
    with pytest.raises(ConfigError, match=field):
        align_settings(config)


@pytest.mark.parametrize("config, message", [
    ({"polish_max_steps": -1}, "polish_max_steps: expected an integer >= 0, found -1"),
    ({"search_binning": 0}, "search_binning: expected an integer >= 1, found 0"),
    ({"seed": -3}, "seed: expected an integer >= 0, found -3"),
    ({"max_shift_voxels": 0}, "max_shift_voxels: expected a number > 0, found 0.0"),
    ({"max_shift_voxels": float("nan")}, "max_shift_voxels: expected a number > 0, found nan"),
    ({"initial_translation": "middle"},
     "initial_translation: expected one of centroid, fft, found 'middle'"),
    ({"fixed_wedge": {"tilt_range_deg": [60, -60]}},
     "fixed_wedge.tilt_range_deg: expected -90 <= min <= max <= 90 degrees, found [60, -60]"),
    ({"wedge": {"tilt_range_deg": [-60]}},
     "wedge.tilt_range_deg: expected two angles [min, max] in degrees, found [-60.0]"),
])
def test_out_of_range_fields_are_refused_with_one_line(config, message):
    with pytest.raises(ConfigError) as info:
        align_settings(config)
    assert str(info.value) == message


def test_edge_values_are_accepted():
    merged = align_settings({"polish_max_steps": 0, "search_binning": 1, "seed": 0,
                             "max_shift_voxels": 0.5, "initial_translation": "fft"})
    assert (merged.polish_max_steps, merged.search_binning, merged.max_shift_voxels) == (0, 1, 0.5)
