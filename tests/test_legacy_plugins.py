"""Plugins written against earlier documented APIs keep working (the plugin API's promise).

``tests/legacy_plugins/`` holds the example score as it was written against two earlier
documented APIs, taken from the git history of the README and examples:

- ``ncc_v0`` (2026-11-24): ``subalign.hookimpl``, ``subalign.errors``, the since moved
  ``subalign.fourier``, ``subalign.scoring``; its score class is a plain class whose
  ``prepare`` returns a ``ConstrainedObjective`` (it has no ``binned``);
- ``ncc_v1`` (2026-11-28): everything from ``subalign.api``, a ``ConstrainedScore``.

Each is pip-installed as a user would install it and found through its entry point; it
must pass :class:`~subalign.testing.ScoreContract` and align noise-free realistic pairs
with the default settings (binned search included) to under 1 degree median.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import subalign
from subalign.numerics.geometry import rotation_distance_deg
from subalign.plugin.manager import build_plugin_set
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config
from subalign.testing import ScoreContract

LEGACY = Path(__file__).resolve().parent / "legacy_plugins"
VERSIONS = ("v0", "v1")
#: The README's own settings for the example score: compare over the common wedge mask.
NODE = {"constrained": True}


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def legacy_installed(tmp_path_factory):
    """Install both legacy plugins into this interpreter (from copies); uninstall after."""
    sources = []
    for version in VERSIONS:
        source = tmp_path_factory.mktemp("legacy") / f"ncc_{version}"
        shutil.copytree(LEGACY / f"ncc_{version}", source)
        sources.append(str(source))
    done = _pip("install", "--no-deps", "--no-build-isolation", "-q", *sources)
    assert done.returncode == 0, done.stderr
    importlib.invalidate_caches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # v0's imports; tested below
        plugins = build_plugin_set()
    yield plugins
    for version in VERSIONS:
        sys.modules.pop(f"subalign_ncc_{version}", None)
    done = _pip("uninstall", "-y", "-q", *(f"subalign-ncc-{v}" for v in VERSIONS))
    importlib.invalidate_caches()
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_legacy_plugin_is_found_through_its_entry_point(legacy_installed, version):
    entry = legacy_installed.registries["score"].get(f"ncc_{version}")
    assert entry.origin == f"subalign-ncc-{version} 0.1.0"


def test_the_first_api_still_imports_with_deprecation_warnings_naming_the_replacement(
        legacy_installed):
    sys.modules.pop("subalign_ncc_v0", None)
    sys.modules.pop("subalign.fourier", None)
    with pytest.warns(DeprecationWarning, match=r"subalign\.fourier .*use module "
                                                r"subalign\.numerics\.fourier"):
        importlib.import_module("subalign_ncc_v0")


def _contract(version: str):
    class LegacyContract(ScoreContract):
        score = {"name": f"ncc_{version}", **NODE}

        @pytest.fixture
        def plugins(self, legacy_installed):
            return legacy_installed
    LegacyContract.__name__ = f"TestLegacyNcc{version.upper()}Contract"
    return LegacyContract


TestLegacyNccV0Contract = _contract("v0")
TestLegacyNccV1Contract = _contract("v1")


@pytest.fixture(scope="module")
def realistic_pairs():
    """Noise-free pairs of the realistic simulator (32^3, +-60 degrees), seeds 0-3."""
    config = simulation_config({"imaging": {"snr": float("inf"), "tilt_range_deg": [-60, 60]}})
    density = load_density(config)
    return [simulate_pair(config, density, index) for index in range(4)]


@pytest.mark.parametrize("version", VERSIONS)
def test_legacy_plugin_aligns_realistic_pairs_with_the_defaults(legacy_installed,
                                                                realistic_pairs, version):
    """Default settings: binned search with the framework's rescaled settings, polish at
    full size. Measured 2026-12-06: v0 and v1 give the same poses (docs/benchmarks.md)."""
    # a dict, not compose_config: Hydra's ConfigStore is process-wide, and the plugins
    # are uninstalled after this module
    config = {"score": {"name": f"ncc_{version}", **NODE}}
    errors = []
    for pair in realistic_pairs:
        result = subalign.align_pair(config, pair.fixed, pair.moving, plugins=legacy_installed)
        assert result.details["search_binning"] == 2, "the framework bins every constrained score"
        errors.append(float(rotation_distance_deg(result.transform.rotation, pair.truth.rotation)))
    assert np.median(errors) < 1.0, f"rotation errors {np.round(errors, 2)} degrees"
