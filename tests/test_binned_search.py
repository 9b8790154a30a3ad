"""Binned search is the framework's choice, not a demand on scores (docs/plugins.md,
"Compatibility"): the search stage bins a score that can rescale itself or whose config
can, and searches any other at full size with one log line."""

from __future__ import annotations

import dataclasses
import logging
import types
from dataclasses import dataclass

import pytest

from subalign.align.config import align_settings, search_settings
from subalign.errors import ConfigError, PluginError
from subalign.numerics.wedge import TiltRange
from subalign.plugin.hookspecs import hookimpl
from subalign.plugin.manager import build_plugin_set
from subalign.plugins.scores.fcs import FourierSpaceObjective
from subalign.scoring.constrained import ConstrainedScoreConfig
from subalign.search import stage
from subalign.search.stage import SearchStage
from subalign.simulation.synthetic import synthetic_pair

WEDGE = TiltRange(-60.0, 60.0)


@dataclass
class LegacyConfig(ConstrainedScoreConfig):
    """A ConstrainedScoreConfig subclass, as the first documented API showed."""


@dataclass
class BandConfig:
    """The fields the default search settings override, but no ``binned``."""

    max_frequency: float = 0.3
    wedge_margin_voxels: float = 1.5


@dataclass
class WrongBinnedConfig(ConstrainedScoreConfig):
    def binned(self, factor: int):
        return BandConfig()


@dataclass
class NarrowConfig(ConstrainedScoreConfig):
    """Refuses bands above 0.2 cycles/voxel: its binned search settings (0.3) fail."""

    def validate(self, score: str) -> None:
        super().validate(score)
        if self.max_frequency > 0.2:
            raise ConfigError(f"score={score}: max_frequency must be <= 0.2, "
                              f"found {self.max_frequency}")


class PlainScore:
    """Not a ConstrainedScore: no ``binned``; its ``prepare`` returns an FCS objective."""

    def __init__(self, config) -> None:
        if hasattr(config, "validate"):
            config.validate("plain")
        self.config = config

    def prepare(self, fixed, moving, fixed_tilt, moving_tilt):
        fields = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)
                  if f.name in {g.name for g in dataclasses.fields(ConstrainedScoreConfig)}}
        return FourierSpaceObjective(fixed, moving, fixed_tilt, moving_tilt,
                                     ConstrainedScoreConfig(**fields))


def _plugins(config_class):
    @hookimpl
    def subalign_register_scores(register):
        register("plain", PlainScore, config_class)
    return build_plugin_set(extra_plugins=[types.SimpleNamespace(
        __name__=f"test_{config_class.__name__}",
        subalign_register_scores=subalign_register_scores)])


@pytest.fixture(scope="module")
def pair():
    return synthetic_pair(0, size=32, snr=float("inf"))


def _stage(config_class, pair) -> SearchStage:
    settings = search_settings(align_settings({"search_binning": 2}))
    return SearchStage(_plugins(config_class), {"name": "plain"}, settings, pair.fixed,
                       pair.moving, WEDGE, WEDGE)


def test_a_score_with_a_constrained_config_is_searched_binned_with_its_band_rescaled(pair):
    found = _stage(LegacyConfig, pair)
    assert found.factor == 2 and found.fixed.shape == (16, 16, 16)
    # the default search band, 0.15 cycles/voxel of the full box, is 0.3 of the binned one
    assert found.objective.config.max_frequency == pytest.approx(0.3)


@pytest.mark.parametrize("config_class, why", [
    (BandConfig, "has no binned settings"),
    (NarrowConfig, "refuses its binned settings"),
])
def test_any_other_score_is_searched_at_full_size_with_one_log_line(pair, config_class, why,
                                                                    caplog, monkeypatch):
    monkeypatch.setattr(stage, "_UNBINNED_SAID", set())
    with caplog.at_level(logging.INFO, logger="subalign"):
        first = _stage(config_class, pair)
        _stage(config_class, pair)
    assert first.factor == 1 and first.fixed.shape == (32, 32, 32)
    lines = [r.getMessage() for r in caplog.records if "full size" in r.getMessage()]
    assert len(lines) == 1 and why in lines[0] and "'plain'" in lines[0]


def test_a_binned_config_of_another_class_is_a_plugin_error(pair):
    with pytest.raises(PluginError, match=r"WrongBinnedConfig.binned\(2\) returned a "
                                          r"BandConfig, expected a WrongBinnedConfig"):
        _stage(WrongBinnedConfig, pair)
