"""Class averages: per class, the wedge-compensated average of its members, its half maps'
FSC, and the files of a classification round.

Files (each written atomically into a round's directory): ``class1.mrc``, ``class2.mrc``,
... (float32, pixel size in the header; a class without members is not written);
``fsc_class1.csv``, ... (the FSC of the class's masked half maps); ``fsc.png`` (every
class's curve) and ``class_averages.png`` (central sections of every class average).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from subalign.io.figures import slices_figure
from subalign.io.mrc import write_volume
from subalign.numerics.geometry import RigidTransform
from subalign.workflows.batch.clustering import adjusted_rand_index
from subalign.workflows.fsc import fsc, fsc_figure, resolutions, write_fsc_table
from subalign.workflows.maps import symmetrize
from subalign.workflows.rounds.passes import Subtomograms, accumulate
from subalign.workflows.rounds.inputs import RefineInputs
from subalign.workflows.rounds.loop import HALVES

__all__ = ["ClassMap", "class_maps", "medoid_frames", "truth_agreement", "write_class_maps"]


@dataclass
class ClassMap:
    """One class's average.

    Attributes
    ----------
    number : int
        1-based class number.
    size : int
        Members.
    volume : ndarray of shape (N, N, N) or None
        The average (C_n-symmetrized); None for an empty class.
    curve : tuple of ndarray or None
        ``(frequency, correlation)`` of its masked half maps (None with fewer than two
        members in either half).
    resolution : dict or None
        Angstrom at FSC 0.143 and 0.5.
    """

    number: int
    size: int
    volume: np.ndarray | None
    curve: tuple | None
    resolution: dict | None


def class_maps(inputs: RefineInputs, volumes: Subtomograms, classes: np.ndarray, count: int,
               half_set: np.ndarray, rotations: np.ndarray, shifts: np.ndarray) -> list[ClassMap]:
    """Average every class's members at their poses and compare its half maps.

    Parameters
    ----------
    inputs : RefineInputs
    volumes : Subtomograms
    classes : ndarray of int, shape (n,)
        1-based class of each particle.
    count : int
        Number of classes.
    half_set : ndarray of int, shape (n,)
    rotations : ndarray of shape (n, 3, 3)
    shifts : ndarray of shape (n, 3)
        Each particle's pose against its class average (the set's convention).

    Returns
    -------
    list of ClassMap
        Class 1 first.
    """
    found = []
    for number in range(1, count + 1):
        sums = [accumulate(inputs, volumes, np.flatnonzero((classes == number) & (half_set == h)),
                           rotations, shifts) for h in HALVES]
        size = sums[0].count + sums[1].count
        if size == 0:
            found.append(ClassMap(number, 0, None, None, None))
            continue
        volume = symmetrize(sums[0].merged(sums[1]).average(), inputs.symmetry)
        curve = resolution = None
        if min(s.count for s in sums) >= 2:
            halves = [symmetrize(s.average(), inputs.symmetry) * inputs.mask for s in sums]
            curve = fsc(*halves)
            resolution = resolutions(*curve, inputs.pixel_size)
        found.append(ClassMap(number, size, volume, curve, resolution))
    return found


def write_class_maps(directory: Path, maps: list[ClassMap], pixel_size: float, *,
                     figures: bool, title: str) -> dict:
    """Write the class averages, their FSC tables and figures (module docstring); returns
    the file names by role."""
    files = {}
    for item in maps:
        if item.volume is not None:
            write_volume(directory / f"class{item.number}.mrc", item.volume, voxel_size=pixel_size)
            files[f"class{item.number}"] = f"class{item.number}.mrc"
        if item.curve is not None:
            write_fsc_table(directory / f"fsc_class{item.number}.csv", *item.curve, pixel_size)
    if figures:
        curves = {f"class {m.number} ({m.size}): {m.resolution['0.143']:.0f} Å": m.curve
                  for m in maps if m.curve is not None}
        if curves:
            fsc_figure(curves, pixel_size, directory / "fsc.png", title=f"{title}: class half maps")
            files["fsc_figure"] = "fsc.png"
        shown = {f"class {m.number} ({m.size})": m.volume for m in maps if m.volume is not None}
        slices_figure(shown, directory / "class_averages.png", title=f"{title}: class averages")
        files["class_averages"] = "class_averages.png"
    return files


def medoid_frames(labels: np.ndarray, dissimilarity: np.ndarray,
                  onto: Callable[[int, int], RigidTransform]) -> dict[int, tuple[int, list]]:
    """Each cluster's medoid and its members' transforms onto the medoid's frame.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
    dissimilarity : ndarray of shape (n, n)
        Symmetric; the medoid of a cluster has the least sum over its members.
    onto : callable
        ``onto(i, j)``: the transform mapping particle ``j`` onto particle ``i`` (``i != j``).

    Returns
    -------
    dict
        Label -> ``(medoid, [(member, transform onto the medoid), ...])``, members in
        increasing order, the medoid's own transform the identity.
    """
    frames = {}
    for label in sorted(set(np.asarray(labels).tolist())):
        members = np.flatnonzero(np.asarray(labels) == label).tolist()
        medoid = min(members, key=lambda k: dissimilarity[k, members].sum())
        frames[label] = (medoid, [(k, RigidTransform.identity() if k == medoid
                                   else onto(medoid, k)) for k in members])
    return frames


def truth_agreement(inputs: RefineInputs, classes: np.ndarray) -> dict | None:
    """``{"adjusted_rand_index": ...}`` against the truth set's classes, if it has them."""
    if inputs.truth is None or not inputs.truth.has("class_number"):
        return None
    return {"adjusted_rand_index": adjusted_rand_index(
        inputs.truth.fields["class_number"].to_numpy(), classes)}
