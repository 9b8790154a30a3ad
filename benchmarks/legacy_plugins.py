"""Plugins written against earlier documented APIs, aligned with today's defaults.

Loads each plugin of ``tests/legacy_plugins/`` from its file (as an installed entry point
would load it), aligns noise-free and SNR 0.5 pairs of the realistic simulator (32^3, ±60°)
with the default settings, and prints per plugin the rotation error per pair, the median,
the gross failures (> 20°) and seconds per pair. The built-in ``fcs`` runs beside them for
reference.

    python benchmarks/legacy_plugins.py --pairs 8
"""

import argparse
import importlib.util
import time
import warnings
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np

import subalign
from subalign.numerics.geometry import rotation_distance_deg
from subalign.plugin.manager import build_plugin_set
from subalign.simulation.simulate import load_density, simulate_pair, simulation_config

LEGACY = Path(__file__).resolve().parents[1] / "tests" / "legacy_plugins"


def load(version: str):
    """The legacy plugin module ``subalign_ncc_<version>``, loaded from its file."""
    path = LEGACY / f"ncc_{version}" / f"subalign_ncc_{version}.py"
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        spec.loader.exec_module(module)
    for warning in caught:
        print(f"  {path.name}: {warning.category.__name__}: {warning.message}")
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()
    plugins = build_plugin_set(extra_plugins=[load("v0"), load("v1")])
    for snr in (np.inf, 0.5):
        settings = simulation_config({"imaging": {"snr": snr, "tilt_range_deg": [-60, 60]}})
        density = load_density(settings)
        pairs = [simulate_pair(settings, density, k) for k in range(args.pairs)]
        for score in ({"name": "ncc_v0", "constrained": True},
                      {"name": "ncc_v1", "constrained": True}, {"name": "fcs"}):
            errors, seconds, binning = [], [], set()
            for pair in pairs:
                started = time.perf_counter()
                result = subalign.align_pair({"score": score}, pair.fixed, pair.moving,
                                             plugins=plugins)
                seconds.append(time.perf_counter() - started)
                binning.add(result.details.get("search_binning"))
                errors.append(float(rotation_distance_deg(result.transform.rotation,
                                                          pair.truth.rotation)))
            gross = [k for k, e in enumerate(errors) if e > 20]
            print(f"SNR {snr:g} {score['name']:7s}: median {np.median(errors):.2f} deg, "
                  f"gross {len(gross)} of {len(errors)} {gross}, search binning {sorted(binning)}, "
                  f"{np.median(seconds):.2f} s per pair; errors {np.round(errors, 2).tolist()}")


if __name__ == "__main__":
    main()
