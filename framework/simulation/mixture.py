"""A simulation of several structures: which structure each particle shows.

``structures=[a, b, ...]`` lists densities of the same kinds as ``density`` (a phantom, an
atomic model or a map); ``proportions=[p_1, p_2, ...]`` (null: equal) says how many of the
``n`` particles show each. Without ``structures`` the simulation has the one ``density``, as
before, and writes no classes.

Counts are exact: class ``k`` (1-based, RELION's ``rlnClassNumber``) gets ``n p_k`` rounded
by largest remainder, so the counts sum to ``n``, each within 1 of ``n p_k``. Which particles
they are is a permutation drawn from ``numpy.random.default_rng([seed, n, 1])`` (a particle's
own stream ``[seed, i]`` has two entries, so the streams never coincide): a particle's pose
and noise do not depend on its class, and the same seed and ``n`` give the same classes.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from subalign.errors import ConfigError
from subalign.simulation.density import density_from_config

__all__ = ["PROPORTION_TOLERANCE", "check_mixture", "class_entry", "density_of", "load_densities",
           "particle_classes", "structure_entries"]

#: How far from 1 the proportions may sum.
PROPORTION_TOLERANCE = 1e-6


def structure_entries(config: DictConfig) -> list[tuple[str, DictConfig]]:
    """Each structure's ``DensityConfig`` node and its name in messages, class 1 first.

    Parameters
    ----------
    config : DictConfig
        A :class:`subalign.simulation.simulate.SimulateConfig` node.

    Returns
    -------
    list of (str, DictConfig)
        ``[("density", config.density)]`` without ``structures``, else
        ``("structures[k]", entry)`` for each entry (``k`` from 0, as omegaconf names it).
    """
    if config.structures is None:
        return [("density", config.density)]
    return [(f"structures[{k}]", entry) for k, entry in enumerate(config.structures)]


def check_mixture(config: DictConfig, prefix: str = "") -> None:
    """Refuse ``structures`` and ``proportions`` that make no mixture (reads no file).

    Raises
    ------
    ConfigError
        In one line naming the field, what was found and what was expected.
    """
    structures, proportions = config.structures, config.proportions
    if structures is None:
        if proportions is not None:
            raise ConfigError(f"{prefix}proportions: expected null without structures (one "
                              f"proportion per structure), found {list(proportions)}")
        return
    if len(structures) == 0:
        raise ConfigError(f"{prefix}structures: expected at least one density "
                          "({source: phantom|structure|map, ...}), found []")
    if proportions is None:
        return
    found = [float(p) for p in proportions]
    if len(found) != len(structures):
        raise ConfigError(f"{prefix}proportions: expected {len(structures)} numbers (one per "
                          f"structure), found {len(found)}: {found}")
    if not all(p >= 0 for p in found):
        raise ConfigError(f"{prefix}proportions: expected non-negative numbers, found {found}")
    if not abs(sum(found) - 1) <= PROPORTION_TOLERANCE:
        raise ConfigError(f"{prefix}proportions: expected numbers summing to 1 (within "
                          f"{PROPORTION_TOLERANCE:g}), found {found} summing to {sum(found):g}")


def _counts(n: int, proportions: np.ndarray) -> np.ndarray:
    """``n p`` rounded by largest remainder (ties to the lower class), int (K,) summing to n."""
    exact = n * proportions / proportions.sum()
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:n - counts.sum()]] += 1
    return counts


def particle_classes(config: DictConfig) -> np.ndarray | None:
    """Each particle's true class (module docstring), or None without ``structures``.

    Parameters
    ----------
    config : DictConfig
        A checked :class:`subalign.simulation.simulate.SimulateConfig` node.

    Returns
    -------
    ndarray of shape (n,) or None
        Class numbers, 1-based: particle ``i`` shows ``structures[classes[i] - 1]``.
    """
    if config.structures is None:
        return None
    n, count = int(config.n), len(config.structures)
    proportions = (np.full(count, 1.0 / count) if config.proportions is None
                   else np.array([float(p) for p in config.proportions]))
    classes = np.repeat(np.arange(1, count + 1), _counts(n, proportions))
    return np.random.default_rng([int(config.seed), n, 1]).permutation(classes)


def load_densities(config: DictConfig) -> list[np.ndarray]:
    """The true map of each structure, class 1 first (the one ``density`` without
    ``structures``): a list of ndarray of shape (N, N, N), ``[z, y, x]``."""
    return [density_from_config(entry, size=int(config.size),
                                voxel_size_nm=float(config.voxel_size_nm), field=field)
            for field, entry in structure_entries(config)]


def density_of(densities: list[np.ndarray], classes: np.ndarray | None, index: int) -> np.ndarray:
    """The true map particle ``index`` shows: ``densities[classes[index] - 1]``, or the one
    density without classes (ndarray of shape (N, N, N))."""
    return densities[0 if classes is None else int(classes[index]) - 1]


def class_entry(classes: np.ndarray | None, index: int, key: str) -> dict[str, int]:
    """``{key: class of particle index}`` for a table row or record; ``{}`` without classes."""
    return {} if classes is None else {key: int(classes[index])}
