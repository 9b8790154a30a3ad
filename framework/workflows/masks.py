"""A soft mask made from a map, as RELION's ``relion_mask_create`` makes it.

Four steps, in this order, on a ``[z, y, x]`` map of a cubic box:

1. **Low-pass** the map (:func:`subalign.workflows.maps.lowpass`, cosine edge) to
   ``lowpass_angstrom``; by default :func:`default_lowpass_angstrom`: RELION users' usual
   15 Å, but never finer than 3 voxels, so that a coarse map is filtered too (30 Å at
   10 Å/voxel). 0 skips it.
2. **Binarize** at ``threshold``: voxels of the low-passed map ``>= threshold`` are inside.
   Without a threshold, :func:`automatic_threshold` picks ``median + 0.2 (max - median)``
   of the low-passed map: the solvent level (the median, for a particle filling less than
   half the box) plus a fifth of the particle's peak above it, as cryoSPARC's dynamic
   masks threshold at a fraction (0.2) of the maximum.
3. **Extend** the binary region by ``extend_angstrom`` (every voxel whose centre lies
   within that distance of an inside voxel's centre joins it; a negative value erodes).
4. **Soft edge**: a raised cosine over ``soft_edge_angstrom`` beyond the extended region,
   ``0.5 + 0.5 cos(pi d / S)`` at distance ``d`` from it, 1 inside and 0 from ``d >= S``.

Defaults of steps 3 and 4 (:data:`DEFAULT_EXTEND_VOXELS`, :data:`DEFAULT_SOFT_EDGE_VOXELS`)
are in voxels so that they suit any pixel size.
"""

from __future__ import annotations

import numpy as np

from subalign.errors import ConfigError
from subalign.workflows.maps import lowpass

__all__ = ["DEFAULT_EXTEND_VOXELS", "DEFAULT_SOFT_EDGE_VOXELS", "MaskRecipe",
           "automatic_threshold", "default_lowpass_angstrom", "mask_from_map"]

#: Extension of the binary region when none is given: 2 voxels.
DEFAULT_EXTEND_VOXELS = 2.0
#: Width of the raised-cosine edge when none is given: 4 voxels.
DEFAULT_SOFT_EDGE_VOXELS = 4.0
#: The fraction of the low-passed map's peak above its median that :func:`automatic_threshold`
#: puts the threshold at.
AUTOMATIC_FRACTION = 0.2


def default_lowpass_angstrom(pixel_size: float) -> float:
    """15 Å, or 3 voxels where that is coarser (``max(15, 3 * pixel_size)``)."""
    return max(15.0, 3.0 * pixel_size)


def automatic_threshold(lowpassed: np.ndarray) -> float:
    """``median + 0.2 * (max - median)`` of a low-passed map (module docstring, step 2)."""
    median = float(np.median(lowpassed))
    return median + AUTOMATIC_FRACTION * (float(lowpassed.max()) - median)


class MaskRecipe(dict):
    """What :func:`mask_from_map` did: ``threshold``, ``threshold_rule`` (``"given"`` or
    ``"automatic"``), ``lowpass_angstrom``, ``extend_angstrom``, ``soft_edge_angstrom`` and
    ``inside_fraction`` (the binary region's share of the box before the soft edge); a dict,
    so it goes into a JSON record as it is."""


def _distance_outside(region: np.ndarray) -> np.ndarray:
    """Distance in voxels from each voxel's centre to the nearest voxel of ``region``."""
    from scipy.ndimage import distance_transform_edt

    return distance_transform_edt(~region)


def mask_from_map(volume: np.ndarray, pixel_size: float, *, threshold: float | None = None,
                  extend_angstrom: float | None = None, soft_edge_angstrom: float | None = None,
                  lowpass_angstrom: float | None = None) -> tuple[np.ndarray, MaskRecipe]:
    """A soft mask from a map: low-pass, binarize, extend, soft edge (module docstring).

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
        ``[z, y, x]``.
    pixel_size : float
        Angstrom per voxel.
    threshold : float, optional
        Map value from which a voxel is inside; default :func:`automatic_threshold`.
    extend_angstrom, soft_edge_angstrom, lowpass_angstrom : float, optional
        Defaults: :data:`DEFAULT_EXTEND_VOXELS` and :data:`DEFAULT_SOFT_EDGE_VOXELS` voxels,
        :func:`default_lowpass_angstrom`; ``lowpass_angstrom=0`` does not filter.

    Returns
    -------
    mask : ndarray of shape (N, N, N), float64 in [0, 1]
    recipe : MaskRecipe

    Raises
    ------
    ConfigError
        A negative soft edge or low-pass, or a threshold that leaves no voxel inside, or
        every voxel.
    """
    extend = DEFAULT_EXTEND_VOXELS * pixel_size if extend_angstrom is None else extend_angstrom
    soft = DEFAULT_SOFT_EDGE_VOXELS * pixel_size if soft_edge_angstrom is None else soft_edge_angstrom
    cutoff = default_lowpass_angstrom(pixel_size) if lowpass_angstrom is None else lowpass_angstrom
    if soft < 0 or cutoff < 0:
        name, value = ("soft edge", soft) if soft < 0 else ("low-pass", cutoff)
        raise ConfigError(f"{name}: expected a number of Angstrom >= 0, found {value:g}")
    filtered = lowpass(volume, pixel_size / cutoff) if cutoff > 0 else np.asarray(volume, float)
    rule = "given" if threshold is not None else "automatic"
    threshold = automatic_threshold(filtered) if threshold is None else float(threshold)
    region = filtered >= threshold
    if not region.any() or region.all():
        found = "no voxel" if not region.any() else "every voxel"
        raise ConfigError(
            f"threshold: {found} of the map low-passed to {cutoff:g} Angstrom reaches "
            f"{threshold:.4g} (its values run from {filtered.min():.4g} to {filtered.max():.4g}); "
            "expected a value between, where the particle meets the solvent")
    if extend > 0:
        region = _distance_outside(region) <= extend / pixel_size
    elif extend < 0:
        region = _distance_outside(~region) > -extend / pixel_size
        if not region.any():
            raise ConfigError(f"extend: {extend:g} Angstrom erodes the whole region above the "
                              f"threshold; expected a smaller erosion or a lower threshold")
    if soft > 0:
        fraction = np.clip(_distance_outside(region) * pixel_size / soft, 0.0, 1.0)
        mask = 0.5 + 0.5 * np.cos(np.pi * fraction)
    else:
        mask = region.astype(float)
    recipe = MaskRecipe(threshold=threshold, threshold_rule=rule, lowpass_angstrom=cutoff,
                        extend_angstrom=extend, soft_edge_angstrom=soft,
                        inside_fraction=float(region.mean()))
    return mask, recipe
