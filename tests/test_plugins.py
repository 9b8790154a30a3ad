"""The plugin system: discovery, registration checks, switches, Hydra groups, observer hooks.

Every test builds its own plugin set with :func:`subalign.plugin.manager.build_plugin_set`; none
uses the cached process-wide default. The example third-party plugin
``examples/subalign-ncc-score`` is pip-installed into the running interpreter for the
session (from a copy, so the source tree stays clean) and found through the ``subalign``
entry-point group exactly as a user's installed plugin would be.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

import subalign
from subalign.plugin.hookspecs import hookimpl
from subalign.errors import ConfigError, PluginError
from subalign.numerics.geometry import RigidTransform, rotation_distance_deg, rotation_vector_to_matrix
from subalign.plugin.manager import BLOCK_ENV, DISABLE_AUTOLOAD_ENV, build_plugin_set
from subalign.plugin.registry import KINDS
from subalign.scoring.constrained import ConstrainedScoreConfig
from subalign.simulation.synthetic import synthetic_pair
from subalign.testing import ScoreContract

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "subalign-ncc-score"
SUBALIGN_SCRIPT = Path(sys.executable).parent / "subalign"
BUILTIN_ORIGIN = f"subalign {importlib.metadata.version('subalign')}"
BUILTINS = {
    "score": {"rcs", "fcs"},
    "optimizer": {"lm", "lm_complex"},
    "sampler": {"euler_grid", "so3_uniform"},
    "constraint": {"full", "axis", "cone"},
    "refiner": {"stochastic_parallel", "independent", "exhaustive_scan"},
}
# Small and fast: 3 * 2 * 3 = 18 grid rotations on a 16^3 box, of which the rotation scan
# keeps the 12 distinct ones, and a handful of LM steps.
FAST = ["sampler=euler_grid", "sampler.interval_deg=120", "refiner.n_max_iter=5", "refiner.regression_window=3",
        "seed=0"]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)


@pytest.fixture(scope="module")
def pair():
    return synthetic_pair(0, size=16, snr=float("inf"))


def _module(name: str, **hooks) -> types.ModuleType:
    """A plugin module object named ``name`` whose functions are hook implementations."""
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def _registering(kind_hook: str, name: str, plugin_class, config_class, module="test_plugin"):
    def register_hook(register):
        register(name, plugin_class, config_class)
    return _module(module, **{kind_hook: register_hook})


@dataclass
class EmptyConfig:
    """No fields."""


class GoodScore:
    """A score that satisfies the protocol (never prepared in these tests)."""

    def __init__(self, config):
        self.config = config

    def prepare(self, fixed, moving, fixed_tilt, moving_tilt):
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Built-ins and registration checks
# --------------------------------------------------------------------------------------


def test_builtins_come_through_entry_points_with_subalign_origin():
    plugin_set = build_plugin_set(autoload=False, blocked=())
    assert set(plugin_set.registries) == set(KINDS)
    for kind, names in BUILTINS.items():
        registry = plugin_set.registries[kind]
        assert set(registry.names) == names
        for entry in registry:
            assert entry.origin.startswith("subalign")
            assert entry.origin == BUILTIN_ORIGIN
            assert entry.summary, f"{kind} {entry.name} has no docstring summary"
    # No entry points at all: nothing is registered, so built-ins are not imported directly.
    empty = build_plugin_set(load_entry_points=False)
    assert all(not registry.names for registry in empty.registries.values())


def test_extra_plugin_registers_a_new_score_with_object_origin():
    plugin_set = build_plugin_set(
        extra_plugins=[_registering("subalign_register_scores", "good", GoodScore, EmptyConfig)]
    )
    entry = plugin_set.registries["score"].get("good")
    assert entry.origin == "<object test_plugin>"
    assert entry.plugin_class is GoodScore
    # The stored Hydra node is the dataclass's defaults plus the plugin's ``name``.
    assert plugin_set.registries["score"].defaults("good")["name"] == "good"
    assert isinstance(plugin_set.create("score", "good"), GoodScore)


def test_duplicate_score_name_is_rejected_naming_both_origins():
    duplicate = _registering("subalign_register_scores", "rcs", GoodScore, EmptyConfig,
                             module="dup_rcs")
    with pytest.raises(PluginError) as info:
        build_plugin_set(extra_plugins=[duplicate])
    message = str(info.value)
    assert "'rcs'" in message
    assert "<object dup_rcs>" in message
    assert f"already registered by {BUILTIN_ORIGIN}" in message


def test_duplicate_plugin_name_is_rejected_naming_both_origins():
    with pytest.raises(PluginError) as info:
        build_plugin_set(extra_plugins=[_module("rcs")])
    message = str(info.value)
    assert "plugin 'rcs' from <object rcs>" in message
    assert f"already taken by {BUILTIN_ORIGIN}" in message


class LacksEverything:
    """Has none of the Optimizer protocol's methods."""

    def __init__(self, config):
        pass


@dataclass
class NoDefaultConfig:
    order: int


@dataclass
class ReservedConfig:
    name: str = "mine"


class NotADataclass:
    order = 1


@pytest.mark.parametrize(
    ("hook", "name", "plugin_class", "config_class", "expected"),
    [
        pytest.param("subalign_register_optimizers", "empty", LacksEverything, EmptyConfig,
                     "does not satisfy the Optimizer protocol: missing method(s) start, step",
                     id="missing-methods"),
        pytest.param("subalign_register_scores", "empty", LacksEverything, EmptyConfig,
                     "does not satisfy the Score protocol: missing method(s) prepare",
                     id="missing-prepare"),
        pytest.param("subalign_register_scores", "func", lambda config: None, EmptyConfig,
                     "expected a class, found function", id="not-a-class"),
        pytest.param("subalign_register_scores", "plain", GoodScore, NotADataclass,
                     "config_class must be a dataclass", id="config-not-dataclass"),
        pytest.param("subalign_register_scores", "plain", GoodScore, NoDefaultConfig(1),
                     "config_class must be a dataclass", id="config-instance"),
        pytest.param("subalign_register_scores", "nodefault", GoodScore, NoDefaultConfig,
                     "config field(s) order need a default", id="field-without-default"),
        pytest.param("subalign_register_scores", "reserved", GoodScore, ReservedConfig,
                     "config field 'name' is reserved", id="reserved-field"),
        pytest.param("subalign_register_scores", "Bad-Name", GoodScore, EmptyConfig,
                     "name must be lower-case letters, digits and '_' starting with a letter; "
                     "found 'Bad-Name'", id="bad-name"),
        pytest.param("subalign_register_scores", "class", GoodScore, EmptyConfig,
                     "found 'class'", id="keyword-name"),
    ],
)
def test_wrong_registrations_are_rejected(hook, name, plugin_class, config_class, expected):
    with pytest.raises(PluginError) as info:
        build_plugin_set(extra_plugins=[_registering(hook, name, plugin_class, config_class)])
    assert expected in str(info.value)
    assert "test_plugin" in str(info.value)  # says who registered it


def test_misspelled_hook_fails_check_pending():
    typo = _module("typo_plugin", subalign_register_scorez=lambda register: None)
    with pytest.raises(PluginError) as info:
        build_plugin_set(extra_plugins=[typo])
    message = str(info.value)
    assert "subalign_register_scorez" in message
    assert "typo_plugin" in message


# --------------------------------------------------------------------------------------
# Switches: blocking and autoload
# --------------------------------------------------------------------------------------


def test_blocked_argument_removes_a_builtin():
    plugin_set = build_plugin_set(blocked={"fcs"})
    assert "fcs" not in plugin_set.registries["score"]
    assert "rcs" in plugin_set.registries["score"]
    assert not plugin_set.manager.has_plugin("fcs")
    with pytest.raises(PluginError, match="no such score plugin; available: ") as info:
        plugin_set.create("score", "fcs")
    assert "rcs" in str(info.value).split("available: ")[1]


def test_block_environment_variable_removes_plugins(monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, " fcs , independent ")
    plugin_set = build_plugin_set()
    assert "fcs" not in plugin_set.registries["score"]
    assert "independent" not in plugin_set.registries["refiner"]
    assert "rcs" in plugin_set.registries["score"]
    # An explicit argument wins over the environment.
    assert "fcs" in build_plugin_set(blocked=()).registries["score"]


def test_blocked_extra_plugin_is_not_registered():
    extra = _registering("subalign_register_scores", "good", GoodScore, EmptyConfig)
    assert "good" not in build_plugin_set(extra_plugins=[extra],
                                          blocked={"test_plugin"}).registries["score"]


# --------------------------------------------------------------------------------------
# Building plugins from configs; plugin configs as Hydra groups
# --------------------------------------------------------------------------------------


def test_unknown_plugin_name_lists_available_names():
    plugin_set = build_plugin_set(autoload=False)
    with pytest.raises(PluginError) as info:
        plugin_set.create("score", {"name": "nope"})
    assert str(info.value) == "score='nope': no such score plugin; available: fcs, rcs"


def test_unknown_config_field_is_named():
    plugin_set = build_plugin_set()
    with pytest.raises(ConfigError, match="bogus_field"):
        plugin_set.create("score", {"name": "rcs", "bogus_field": 1})
    with pytest.raises(ConfigError, match="interpolation_order"):
        plugin_set.create("score", {"name": "rcs", "interpolation_order": "cubic"})
    with pytest.raises(ConfigError, match="expected a config with a 'name' field"):
        plugin_set.create("score", {"interpolation_order": 1})
    score = plugin_set.create("score", {"name": "rcs", "interpolation_order": 1})
    assert score.config.interpolation_order == 1
    assert type(score.config).__name__ == "RcsConfig"


def test_plugin_config_dataclass_is_a_hydra_group_option_without_yaml():
    assert not files("subalign.conf").joinpath("score").is_dir()  # no YAML for scores
    config = subalign.compose_config("align", ["score=fcs", "score.interpolation_order=1"],
                                     plugins=build_plugin_set())
    assert config.score.name == "fcs"
    assert config.score.interpolation_order == 1
    assert config.score.jacobian == ConstrainedScoreConfig.jacobian  # dataclass defaults
    assert config.optimizer.name == "lm" and config.refiner.name == "stochastic_parallel"


def test_unknown_group_option_lists_available_options():
    with pytest.raises(ConfigError) as info:
        subalign.compose_config("align", ["score=nope"], plugins=build_plugin_set())
    assert str(info.value) == "score=nope: expected one of fcs, rcs, found 'nope'"


def test_unknown_field_of_a_plugin_group_is_rejected_by_hydra():
    with pytest.raises(ConfigError, match="not_a_field"):
        subalign.compose_config("align", ["score=rcs", "score.not_a_field=1"],
                                plugins=build_plugin_set())


# --------------------------------------------------------------------------------------
# Observer hooks
# --------------------------------------------------------------------------------------


class Recorder:
    """Implements every observer hook; the step hook takes only a subset of the arguments."""

    def __init__(self):
        self.started, self.steps, self.finished = [], [], []

    @hookimpl
    def subalign_alignment_started(self, n_candidates, config):
        self.started.append((n_candidates, config.score.name))

    @hookimpl
    def subalign_candidate_step(self, candidate, step, value, record):
        self.steps.append((candidate, step, value, record))

    @hookimpl
    def subalign_alignment_finished(self, result):
        self.finished.append(result)


def test_observer_hooks_are_called_during_alignment(pair):
    recorder = Recorder()
    plugin_set = build_plugin_set(extra_plugins=[recorder])
    config = subalign.compose_config("align", FAST, plugins=plugin_set)
    result = subalign.align_pair(config, pair.fixed, pair.moving, plugins=plugin_set)

    assert recorder.started == [(result.n_candidates, "rcs")]
    assert result.n_candidates == 12
    assert recorder.finished == [result]
    assert 1 <= len(result.trace) <= 5  # n_max_iter search steps; the polish adds its own
    candidates, steps, values, records = zip(*recorder.steps)
    assert list(steps) == list(range(1, result.lm_steps + 1))
    assert all(0 <= c < result.n_candidates for c in candidates)
    # The record is the lowest score of any candidate so far, starting scores included:
    # the refiner's own trace.
    search = len(result.trace)
    assert list(records[:search]) == result.trace
    # The polish reports its own candidate's score under the configured score, never rising.
    polish = records[search:]
    assert len(polish) == result.details["polish_steps"]
    assert all(later <= earlier for earlier, later in zip(polish, polish[1:]))
    assert all(r <= v for r, v in zip(records, values))
    assert result.details["search_value"] <= min(values[:search]) + 1e-12
    assert result.score_value <= min(values[search:]) + 1e-12


# --------------------------------------------------------------------------------------
# The example third-party plugin, installed and discovered through its entry point
# --------------------------------------------------------------------------------------


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="session")
def ncc_installed(tmp_path_factory):
    """Install ``examples/subalign-ncc-score`` into this interpreter; uninstall afterwards."""
    try:
        importlib.metadata.distribution("subalign-ncc-score")
        preinstalled = True
    except importlib.metadata.PackageNotFoundError:
        preinstalled = False
    if not preinstalled:
        # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
        source = tmp_path_factory.mktemp("example") / EXAMPLE.name
        shutil.copytree(EXAMPLE, source)
        done = _pip("install", "--no-deps", "--no-build-isolation", "-q", str(source))
        assert done.returncode == 0, done.stderr
        importlib.invalidate_caches()
    yield
    if not preinstalled:
        sys.modules.pop("subalign_ncc_score", None)
        done = _pip("uninstall", "-y", "-q", "subalign-ncc-score")
        importlib.invalidate_caches()
        assert done.returncode == 0, done.stderr


def test_example_plugin_is_discovered_through_its_entry_point(ncc_installed):
    (entry_point,) = [ep for ep in importlib.metadata.entry_points(group="subalign")
                      if ep.name == "ncc"]
    assert entry_point.value == "subalign_ncc_score"
    assert entry_point.dist.name == "subalign-ncc-score"

    plugin_set = build_plugin_set()
    entry = plugin_set.registries["score"].get("ncc")
    assert entry.origin.startswith("subalign-ncc-score ")
    assert entry.origin == "subalign-ncc-score 0.1.0"
    assert ("score", "ncc", entry.origin, entry.summary) in plugin_set.rows()
    assert "rcs" in plugin_set.registries["score"]


def test_example_plugin_config_composes_and_validates(ncc_installed):
    plugin_set = build_plugin_set()
    config = subalign.compose_config("align", ["score=ncc", "score.lowpass_sigma_voxels=2"],
                                     plugins=plugin_set)
    assert config.score.name == "ncc"
    assert config.score.lowpass_sigma_voxels == 2.0
    assert config.score.constrained is False
    # inherited from ConstrainedScoreConfig
    assert config.score.interpolation_order == ConstrainedScoreConfig.interpolation_order
    with pytest.raises(ConfigError, match="score.lowpass_sigma_voxels must be >= 0"):
        plugin_set.create("score", {"name": "ncc", "lowpass_sigma_voxels": -1.0})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_example_plugin_finds_the_truth_with_the_default_search(ncc_installed, seed):
    # As its README sets it (constrained), noise-free 32^3, +-60: measured 0.42, 0.71, 0.70 deg,
    # <= 0.06 voxel (2026-12-06); unconstrained, these pairs end 117-125 degrees off.
    pair = synthetic_pair(seed, size=32, snr=float("inf"))
    result = subalign.align_pair({"score": {"name": "ncc", "constrained": True}}, pair.fixed,
                                 pair.moving, plugins=build_plugin_set())
    assert result.score_name == "ncc"
    assert rotation_distance_deg(result.transform.rotation, pair.truth.rotation) < 1.5
    assert np.linalg.norm(result.transform.translation - pair.truth.translation) < 0.2


class TestExamplePluginContract(ScoreContract):  # the contract its README points to
    score = {"name": "ncc", "constrained": True}
    plugins = pytest.fixture(lambda self, ncc_installed: build_plugin_set(), name="plugins")


@pytest.mark.parametrize("jacobian", ["numerical", "analytic"])
@pytest.mark.parametrize("constrained", [False, True])
def test_example_plugin_jacobian_matches_finite_differences(ncc_installed, pair, jacobian,
                                                            constrained):
    score = build_plugin_set().create("score", {
        "name": "ncc", "jacobian": jacobian, "constrained": constrained,
        "lowpass_sigma_voxels": 1.5,
    })
    tilt = subalign.TiltRange(-60.0, 60.0)
    objective = score.prepare(pair.fixed, pair.moving, tilt, tilt)
    at = RigidTransform.from_euler_zyz([30.0, 40.0, 50.0], [0.3, -0.2, 0.5])
    residuals, jacobian_matrix = objective.jacobian(at)
    assert jacobian_matrix.shape == (residuals.size, 6)
    np.testing.assert_allclose(residuals, objective.residuals(at))
    assert objective.value(at) == pytest.approx(float(residuals @ residuals))

    h = 1e-4
    for k in range(6):
        rotation_step, translation_step = np.zeros(3), np.zeros(3)
        (rotation_step if k < 3 else translation_step)[k % 3] = h

        def moved(sign):
            transform = RigidTransform(
                rotation_vector_to_matrix(sign * rotation_step) @ at.rotation,
                at.translation + sign * translation_step,
            )
            return objective.residuals(transform, mask_rotation=at.rotation)

        finite = (moved(1.0) - moved(-1.0)) / (2 * h)
        error = np.linalg.norm(jacobian_matrix[:, k] - finite) / np.linalg.norm(finite)
        # Translation columns are exact; analytic rotation columns differ from the rotation's
        # interpolant by its interpolation error, and the 1e-4 differences also see the
        # small kinks of the Fourier kernel's interpolant at its support's edge (0.5% measured).
        tolerance = 1e-5 if k >= 3 else (5e-2 if jacobian == "analytic" else 1e-2)
        assert error < tolerance, (k, error)


def test_blocking_removes_the_example_plugin(ncc_installed, monkeypatch):
    assert "ncc" not in build_plugin_set(blocked={"ncc"}).registries["score"]
    monkeypatch.setenv(BLOCK_ENV, "ncc")
    plugin_set = build_plugin_set()
    assert "ncc" not in plugin_set.registries["score"]
    assert {"rcs", "fcs"} <= set(plugin_set.registries["score"].names)


def test_disabling_autoload_skips_third_party_but_keeps_builtins(ncc_installed, monkeypatch):
    assert "ncc" in build_plugin_set().registries["score"]
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    plugin_set = build_plugin_set()
    assert "ncc" not in plugin_set.registries["score"]
    for kind, names in BUILTINS.items():
        assert set(plugin_set.registries[kind].names) == names
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "0")  # "0" means autoload stays on
    assert "ncc" in build_plugin_set().registries["score"]
    assert "ncc" not in build_plugin_set(autoload=False).registries["score"]


def test_example_plugin_is_listed_by_the_console_script(ncc_installed, tmp_path):
    done = subprocess.run([str(SUBALIGN_SCRIPT), "plugins"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.split()[:2] == ["score", "ncc"]]
    assert "subalign-ncc-score 0.1.0" in line


def test_search_settings_a_score_lacks_are_reported_with_the_way_out():
    plugin_set = build_plugin_set(
        extra_plugins=[_registering("subalign_register_scores", "good", GoodScore, EmptyConfig)]
    )
    config = subalign.compose_config("align", ["score=good", "race_score=null"],
                                     plugins=plugin_set)
    pair = synthetic_pair(0, size=16, snr=float("inf"))
    with pytest.raises(ConfigError, match=r"search_score=.*max_frequency.*search_score=null"):
        subalign.align_pair(config, pair.fixed, pair.moving, plugins=plugin_set)


def test_race_settings_a_score_lacks_are_reported_before_any_work():
    """A race score the configured score cannot take (``race_score`` names a field it lacks)
    is refused with the way out before the search runs, however many basins a pair has."""
    plugin_set = build_plugin_set(
        extra_plugins=[_registering("subalign_register_scores", "good", GoodScore, EmptyConfig)]
    )
    config = subalign.compose_config("align", ["score=good", "search_score=null",
                                               "polish_basins=1"], plugins=plugin_set)
    pair = synthetic_pair(0, size=16, snr=float("inf"))
    with pytest.raises(ConfigError, match=r"race_score=.*max_frequency.*race_score=null"):
        subalign.align_pair(config, pair.fixed, pair.moving, plugins=plugin_set)
