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


def test_plain_partial_and_composed_configs_give_bit_identical_results(pair):
    composed = compose_config("align", ["sampler.interval_deg=90"])
    plain = OmegaConf.to_container(composed, resolve=True)
    partial = {"sampler": {"name": "euler_grid", "interval_deg": 90}}
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
