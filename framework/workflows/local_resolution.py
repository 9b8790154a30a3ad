"""Local resolution: the FSC of two half maps in moving windows, as a map and a PNG.

A window is a soft sphere (:func:`subalign.workflows.maps.soft_sphere_mask`) of diameter
``window_angstrom`` to where its cosine edge begins, the edge ``max(2, r / 2)`` voxels wide
(``r`` the radius in voxels), cut out of both half maps in a cube just large enough to hold
it (zeros beyond the box). Windows are centred on a grid of ``step`` voxels (default ``r``,
at least 1: neighbouring windows overlap by half; RELION's ``--locres_sampling`` steps by
about a window's diameter) through the box centre, at every grid point where the mask is at least
0.5. A window multiplies both halves by the same function, as a tight mask does, so each
window's FSC (:func:`subalign.workflows.fsc.fsc`) is corrected as the global one is
(:mod:`subalign.workflows.phase_randomization`, as RELION's local resolution does): by the
FSC of the same window on the half maps with their phases randomized from the shell where
their unmasked FSC falls below 0.8. The window's resolution is where that corrected FSC
first falls below 0.143 (:func:`subalign.workflows.fsc.resolution_at`). A window already below at
its first shell gets that shell's resolution, the coarsest a window can tell (``n p / 1.5``
for a cube of ``n`` voxels of ``p`` Å); one never below, Nyquist (``2 p``). Every voxel where
the mask is above 0 takes the value of the nearest window centre; the rest of the box is 0.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from subalign.errors import ConfigError
from subalign.io.figures import central_slices, pyplot, save_figure
from subalign.numerics.volumes import box_centre
from subalign.workflows.fsc import THRESHOLDS, fsc, resolution_at
from subalign.workflows.maps import soft_sphere_mask
from subalign.workflows.phase_randomization import (PHASE_SEED, corrected_fsc,
                                                    randomization_shell, randomize_phases)

__all__ = ["DEFAULT_WINDOW_VOXELS", "check_window", "local_resolution", "local_resolution_figure",
           "window_centres"]

#: The window's diameter when none is given, in voxels.
DEFAULT_WINDOW_VOXELS = 12.0
#: The smallest window diameter, in voxels.
MIN_WINDOW_VOXELS = 4.0


def check_window(window_angstrom: float, pixel_size: float, field: str = "window_angstrom") -> None:
    """Refuse a window diameter under :data:`MIN_WINDOW_VOXELS` voxels (``field`` names it)."""
    if not window_angstrom >= MIN_WINDOW_VOXELS * pixel_size:
        raise ConfigError(f"{field}: expected a window of at least {MIN_WINDOW_VOXELS:g} voxels "
                          f"({MIN_WINDOW_VOXELS * pixel_size:g} Angstrom), found "
                          f"{window_angstrom:g} Angstrom")


def window_centres(mask: np.ndarray, step: int) -> np.ndarray:
    """``[z, y, x]`` indices, shape (K, 3), of the grid of ``step`` voxels through the box
    centre where the mask is at least 0.5 (the box centre alone if none is)."""
    size = mask.shape[0]
    centre = int(box_centre(mask.shape)[0])
    axis = np.arange(centre % step, size, step)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    inside = grid[mask[grid[:, 0], grid[:, 1], grid[:, 2]] >= 0.5]
    return inside if len(inside) else np.array([[centre] * 3])


def _window(window_angstrom: float, pixel_size: float) -> tuple[np.ndarray, int]:
    """The soft-sphere window and the edge of its (even) cube."""
    radius = window_angstrom / pixel_size / 2
    edge = max(2.0, radius / 2)
    size = 2 * math.ceil(radius + edge) + 2
    return soft_sphere_mask(size, radius, edge), size


def _window_resolutions(first: np.ndarray, second: np.ndarray, window: np.ndarray,
                        centres: np.ndarray, pixel_size: float) -> np.ndarray:
    """The corrected FSC-0.143 resolution (Å) of the window at each centre."""
    size, box = len(window), len(first)
    start = randomization_shell(fsc(first, second)[1])
    rng = np.random.default_rng(PHASE_SEED)
    maps = [first, second] + ([] if start is None else
                              [randomize_phases(half, start, rng) for half in (first, second)])
    padded = [np.pad(volume, size // 2) for volume in maps]
    coarsest = pixel_size * size / 1.5
    values = np.empty(len(centres))
    for k, (z, y, x) in enumerate(centres):
        cut = [volume[z:z + size, y:y + size, x:x + size] * window for volume in padded]
        frequency, correlation = fsc(cut[0], cut[1])
        if start is not None:
            randomized = fsc(cut[2], cut[3])[1]
            correlation = corrected_fsc(correlation, randomized, math.ceil(start * size / box))
        found = resolution_at(frequency, correlation, THRESHOLDS[0], pixel_size)
        values[k] = min(found, coarsest)
    return values


def local_resolution(first: np.ndarray, second: np.ndarray, mask: np.ndarray,
                     pixel_size: float, *, window_angstrom: float | None = None,
                     step: int | None = None) -> tuple[np.ndarray, dict]:
    """Local FSC-0.143 resolution in moving windows (module docstring).

    Parameters
    ----------
    first, second : ndarray of shape (N, N, N)
        The half maps, ``[z, y, x]``.
    mask : ndarray of shape (N, N, N)
        Values in [0, 1]: where windows are centred (>= 0.5) and the map is filled (> 0).
    pixel_size : float
        Å per voxel.
    window_angstrom : float, optional
        Window diameter, Å; default :data:`DEFAULT_WINDOW_VOXELS` voxels.
    step : int, optional
        Grid of window centres, voxels; default half the window's diameter.

    Returns
    -------
    ndarray of shape (N, N, N)
        Local resolution, Å (0 where the mask is 0).
    dict
        ``window_angstrom``, ``step_voxels``, ``windows``, and the ``median``, ``min``
        and ``max`` resolution of the windows, Å.

    Raises
    ------
    ConfigError
        A window smaller than :data:`MIN_WINDOW_VOXELS` voxels.
    """
    from scipy.ndimage import distance_transform_edt

    window_angstrom = DEFAULT_WINDOW_VOXELS * pixel_size if window_angstrom is None \
        else window_angstrom
    check_window(window_angstrom, pixel_size)
    window, size = _window(window_angstrom, pixel_size)
    step = step or max(1, round(window_angstrom / pixel_size / 2))
    centres = window_centres(mask, step)
    values = _window_resolutions(first, second, window, centres, pixel_size)
    marks = np.ones(first.shape, dtype=bool)
    marks[tuple(centres.T)] = False
    index = np.full(first.shape, -1)
    index[tuple(centres.T)] = np.arange(len(centres))
    nearest = distance_transform_edt(marks, return_distances=False, return_indices=True)
    local = np.where(mask > 0, values[index[tuple(nearest)]], 0.0)
    summary = {"window_angstrom": float(window_angstrom), "step_voxels": int(step),
               "windows": int(len(centres)), "median": round(float(np.median(values)), 3),
               "min": round(float(values.min()), 3), "max": round(float(values.max()), 3)}
    return local, summary


def local_resolution_figure(average: np.ndarray, local: np.ndarray, mask: np.ndarray,
                            path: str | Path, *, title: str = "") -> Path:
    """Central sections (xy, xz, yz) of ``average`` in grey with the local resolution in
    colour where the mask is at least 0.5, and a colour bar in Å; PNG."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(8.4, 3.0))
    inside = local[mask >= 0.5]
    low, high = (float(inside.min()), float(inside.max())) if inside.size else (0.0, 1.0)
    shown = None
    for axis, (plane, image), colour, where in zip(
            axes, central_slices(average).items(), central_slices(local).values(),
            central_slices(mask).values()):
        axis.imshow(image, cmap="gray", origin="lower")
        shown = axis.imshow(np.ma.masked_where(where < 0.5, colour), cmap="jet_r",
                            origin="lower", alpha=0.55, vmin=low, vmax=max(high, low + 1e-6))
        axis.set_title(plane)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(shown, ax=list(axes), label="local resolution (Å)", shrink=0.8)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)
