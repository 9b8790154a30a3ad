"""Point groups: the rotations that leave a symmetric map unchanged, named as RELION names them.

A :class:`PointGroup` holds its rotations as ``(n, 3, 3)`` matrices in subalign's convention
(:mod:`subalign.numerics.geometry`): active, acting on ``(x, y, z)`` about the box centre
``N // 2``; the identity first. A group is a set closed under inverses, so the same set
describes RELION's symmetry operators whichever way round RELION applies them.

Groups and axes (``(x, y, z)`` of the map), as RELION 5 builds them from generator axes in
``src/symmetries.cpp`` (``SymList::fill_symmetry_class``, read in github.com/3dem/relion at
commit 73f0a3c; the same axes as RELION's documented conventions). Each group below is the
closure of the listed generators:

======  =====  ==============================================================================
name    order  generators
======  =====  ==============================================================================
``Cn``  n      n-fold about z
``Dn``  2n     n-fold about z, 2-fold about x
``T``   12     3-fold about z, 2-fold about (0, sqrt(2/3), sqrt(1/3)). RELION puts a 3-fold
               on z here, unlike the 3DEM convention (Heymann et al. 2005) of 2-folds on
               x, y and z
``O``   24     4-fold about z, 3-fold about (1, 1, 1): 4-folds on x, y and z
``I1``  60     2-fold about x, 5-fold about (phi, 0, -1), 3-fold about (phi^2, 1, 0)
``I2``  60     2-fold about z, 5-fold about (1, 0, phi), 3-fold about (0, 1, phi^2): 2-folds
               on x, y and z (Crowther's orientation); RELION's ``I`` is ``I2``
``I3``  60     5-fold about z, 2-fold about (-1, 0, phi)
``I4``  60     5-fold about z, 2-fold about (1, 0, phi)
======  =====  ==============================================================================

(``phi`` is the golden ratio; axes are normalised.) RELION's I3 and I4 list a second 5-fold
and a 3-fold as well; the closure of the two generators above already holds them (tested).
RELION's I5 is not implemented in RELION either; groups with mirrors (Cnv, Dnh, Oh, ...) are
not rotations of a chiral molecule and are not offered.

Copies: a particle posed ``R`` (particle = ``Lambda_R`` map) of a map with group ``G`` is
equally well posed ``R S`` for every ``S`` in ``G`` (:meth:`PointGroup.pose_distance_deg`);
a transform ``T`` that brings a particle onto the symmetric map scores as ``S T`` does
(:meth:`PointGroup.transform_distance_deg`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from subalign.errors import ConfigError
from subalign.numerics.geometry import rotation_distance_deg, rotation_vector_to_matrix

__all__ = ["GROUP_NAMES", "PointGroup", "cyclic_rotations", "parse_symmetry", "point_group"]

#: What :func:`parse_symmetry` accepts, as its error message names it.
GROUP_NAMES = "C<n>, D<n>, T, O or I<1-4>"

_PHI = (1.0 + np.sqrt(5.0)) / 2.0

#: Generators of the polyhedral groups: (fold, axis (x, y, z)) pairs (module docstring).
_GENERATORS = {
    "T": ((3, (0.0, 0.0, 1.0)), (2, (0.0, np.sqrt(2.0), 1.0))),
    "O": ((4, (0.0, 0.0, 1.0)), (3, (1.0, 1.0, 1.0))),
    "I1": ((2, (1.0, 0.0, 0.0)), (5, (_PHI, 0.0, -1.0)), (3, (_PHI ** 2, 1.0, 0.0))),
    "I2": ((2, (0.0, 0.0, 1.0)), (5, (1.0, 0.0, _PHI)), (3, (0.0, 1.0, _PHI ** 2))),
    "I3": ((5, (0.0, 0.0, 1.0)), (2, (-1.0, 0.0, _PHI))),
    "I4": ((5, (0.0, 0.0, 1.0)), (2, (1.0, 0.0, _PHI))),
}

#: Two rotations closer than this (largest matrix entry difference) are the same element.
_SAME = 1e-6


class PointGroup:
    """A point group's rotations (module docstring).

    Parameters
    ----------
    name : str
        As RELION writes it: ``C1``, ``C7``, ``D7``, ``T``, ``O``, ``I1`` ... ``I4``.
    rotations : ndarray of shape (n, 3, 3)
        Active rotations on ``(x, y, z)``, the identity first (stored read-only).
    """

    def __init__(self, name: str, rotations: np.ndarray) -> None:
        self.name = name
        self.rotations = np.array(rotations, dtype=float)
        self.rotations.setflags(write=False)

    @property
    def order(self) -> int:
        """Number of rotations."""
        return len(self.rotations)

    def __len__(self) -> int:
        return self.order

    def __repr__(self) -> str:
        return f"PointGroup({self.name!r}, order={self.order})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PointGroup) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self):  # pickled by name: a worker rebuilds the same rotations
        return point_group, (self.name,)

    def pose_distance_deg(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Least rotation angle (degrees, shape (...)) between poses ``first`` and ``second``
        (..., 3, 3) over the copies ``first @ S``: a particle of the symmetric map posed ``R``
        is also posed ``R S``."""
        first = np.asarray(first, dtype=float)
        return _least_deg([first @ s for s in self.rotations], second)

    def transform_distance_deg(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """As :meth:`pose_distance_deg` over the copies ``S @ first``: transforms that bring a
        particle onto the symmetric map score alike."""
        first = np.asarray(first, dtype=float)
        return _least_deg([s @ first for s in self.rotations], second)


def _least_deg(copies: list, second: np.ndarray) -> np.ndarray:
    """The least over ``copies`` of their rotation angle to ``second``, degrees."""
    return np.min([rotation_distance_deg(copy, second) for copy in copies], axis=0)


def cyclic_rotations(order: int) -> np.ndarray:
    """The ``n`` rotations of C_n about ``z`` by ``2 pi k / n``, shape (n, 3, 3), ``k = 0..n-1``."""
    angles = 2 * np.pi * np.arange(order) / order
    rotations = np.zeros((order, 3, 3))
    rotations[:, 0, 0] = rotations[:, 1, 1] = np.cos(angles)
    rotations[:, 0, 1], rotations[:, 1, 0] = -np.sin(angles), np.sin(angles)
    rotations[:, 2, 2] = 1.0
    return rotations


def _about(fold: int, axis) -> np.ndarray:
    """The rotation by ``360 / fold`` degrees about ``axis`` (x, y, z)."""
    axis = np.asarray(axis, dtype=float)
    return rotation_vector_to_matrix(axis / np.linalg.norm(axis) * 2 * np.pi / fold)


def _closure(generators: list[np.ndarray]) -> np.ndarray:
    """Every product of ``generators``: the group they generate, the identity first."""
    elements, frontier = [np.eye(3)], [np.eye(3)]
    while frontier:
        found = []
        for element in frontier:
            for generator in generators:
                product = generator @ element
                if not any(np.abs(product - known).max() < _SAME for known in elements):
                    elements.append(product)
                    found.append(product)
        frontier = found
    rotations = np.stack(elements)
    rotations[np.abs(rotations) < 1e-12] = 0.0
    return rotations


@lru_cache(maxsize=None)
def _group(name: str) -> PointGroup:
    """The group of a canonical name (``C7``, ``D7``, ``T``, ``O``, ``I2``)."""
    kind, order = name[0], int(name[1:]) if name[0] in "CD" else 0
    if kind == "C":
        return PointGroup(name, cyclic_rotations(order))
    if kind == "D":
        cyclic = cyclic_rotations(order)
        flip = np.diag([1.0, -1.0, -1.0])  # 2-fold about x
        return PointGroup(name, np.concatenate([cyclic, cyclic @ flip]))
    return PointGroup(name, _closure([_about(f, a) for f, a in _GENERATORS[name]]))


def parse_symmetry(text: str, field: str = "symmetry") -> PointGroup:
    """The point group named by ``text``, as RELION writes it (any case; ``I`` is ``I2``).

    Raises
    ------
    ConfigError
        ``"<field>: expected C<n>, D<n>, T, O or I<1-4>, found '...'"``: anything else,
        ``C0`` or ``D0`` included.
    """
    canonical = str(text).strip().upper()
    canonical = "I2" if canonical == "I" else canonical
    match = re.fullmatch(r"([CD])([0-9]+)|T|O|I[1-4]", canonical)
    if match is None or (match.group(2) is not None and int(match.group(2)) < 1):
        raise ConfigError(f"{field}: expected {GROUP_NAMES}, found {text!r}")
    if match.group(2) is not None:
        canonical = f"{match.group(1)}{int(match.group(2))}"  # C07 is C7
    return _group(canonical)


def point_group(symmetry: "int | str | PointGroup") -> PointGroup:
    """A group from what callers pass: a :class:`PointGroup`, a name, or an int ``n`` (C_n,
    as symmetry was given before point groups)."""
    if isinstance(symmetry, PointGroup):
        return symmetry
    if isinstance(symmetry, (int, np.integer)) and not isinstance(symmetry, bool):
        return parse_symmetry(f"C{int(symmetry)}")
    return parse_symmetry(symmetry)
