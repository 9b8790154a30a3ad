"""Clustering a dissimilarity matrix and scoring a partition against the truth.

Used by ``subalign batch mode=all classes=K`` and by the classification experiment
(:mod:`subalign.experiments.classification`).
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

__all__ = ["adjusted_rand_index", "cluster"]


def adjusted_rand_index(truth, found) -> float:
    """Adjusted Rand index of two labelings (1: identical partitions, ~0: chance).

    Hubert & Arabie (1985): ``(I - E) / (M - E)`` with ``I`` the pairs together in both,
    ``E`` its expectation under independence and ``M`` the mean of the pairs together in
    each labeling.
    """
    truth, found = np.asarray(truth), np.asarray(found)
    _, truth_codes = np.unique(truth, return_inverse=True)
    _, found_codes = np.unique(found, return_inverse=True)
    table = np.zeros((truth_codes.max() + 1, found_codes.max() + 1))
    np.add.at(table, (truth_codes, found_codes), 1)

    def pairs(counts):
        return float(np.sum(counts * (counts - 1) / 2))

    together = pairs(table)
    rows, columns = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * columns / pairs(np.array([truth.size]))
    maximum = (rows + columns) / 2
    return 1.0 if maximum == expected else (together - expected) / (maximum - expected)


def cluster(dissimilarity: np.ndarray, n_clusters: int) -> np.ndarray:
    """Average-linkage clustering of a symmetric matrix into ``n_clusters`` labels (1-based).

    Parameters
    ----------
    dissimilarity : ndarray of shape (n, n)
        Symmetric, zero diagonal.
    n_clusters : int

    Returns
    -------
    ndarray of int, shape (n,)
    """
    condensed = squareform(np.asarray(dissimilarity, dtype=float), checks=False)
    return fcluster(linkage(condensed, method="average"), n_clusters, criterion="maxclust")
