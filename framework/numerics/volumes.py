"""Apply rigid transforms to ``[z, y, x]`` volumes.

Rotation is by interpolation about the box centre (index ``N // 2`` on each axis) with
:func:`scipy.ndimage.affine_transform`; translation is a Fourier phase shift, exact for any
subvoxel amount on band-limited data and periodic over the box. Rotation fills what enters
the box with 0; scores apply a soft spherical mask first, so nothing reaches the faces. Conventions are those of
:mod:`subalign.numerics.geometry`: ``(tau_a Lambda_R g)(x) = g(R^-1 (x - a))``.
"""

from __future__ import annotations

import numpy as np

from subalign.errors import VolumeError
from subalign.numerics.fourier import forward, fourier_grid, inverse
from subalign.numerics.geometry import RigidTransform

__all__ = [
    "FLIP_AXES",
    "bin_volume",
    "box_centre",
    "check_finite",
    "check_volume",
    "flip_volume",
    "particle_centre",
    "prefilter",
    "rotate_volume",
    "rotate_volume_batch",
    "shift_volume",
    "transform_volume",
]

# (x, y, z) <-> (z, y, x): reversing the axis order.
_XYZ_TO_ZYX = np.eye(3)[::-1]


def check_volume(data: np.ndarray, source: str = "<array>", *,
                 constant_ok: bool = False) -> np.ndarray:
    """Return ``data`` as float64 after checking it is a finite, non-constant, cubic 3-D volume
    (``constant_ok``: constant allowed, as a mask of ones is).

    Raises
    ------
    VolumeError
        Naming ``source``, what was found and what was expected.
    """
    array = np.asarray(data)
    if array.ndim != 3:
        raise VolumeError(
            f"{source}: expected a 3-D volume, found {array.ndim}-D data of shape {array.shape}"
        )
    if len(set(array.shape)) != 1:
        raise VolumeError(
            f"{source}: expected a cubic box (N, N, N), found shape (z, y, x) = {array.shape}"
        )
    if array.shape[0] < 4:
        raise VolumeError(f"{source}: expected a box of at least 4 voxels, found {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise VolumeError(f"{source}: expected real-valued voxels, found dtype {array.dtype}")
    check_finite(array, source)
    if not constant_ok and array.min() == array.max():
        raise VolumeError(f"{source}: expected a volume with contrast, found a constant volume "
                          f"(every voxel {array.flat[0]:g}): nothing to align")
    return array.astype(np.float64, copy=False)


def check_finite(array: np.ndarray, source: str = "<array>") -> None:
    """Raise a :class:`VolumeError` naming ``source``, the count of non-finite voxels and
    the first one's ``[z, y, x]`` index, if ``array`` (Z, Y, X) holds any."""
    finite = np.isfinite(array)
    if not finite.all():
        bad = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise VolumeError(
            f"{source}: expected finite values, found {np.count_nonzero(~finite)} "
            f"non-finite voxel(s), the first at [z, y, x] = {list(bad)}"
        )


def box_centre(shape: tuple[int, ...]) -> np.ndarray:
    """Index of the rotation centre, ``N // 2`` on every axis, in array order ``(z, y, x)``."""
    return np.array([n // 2 for n in shape], dtype=float)


# Zeros padded around a volume before spline filtering, so the coefficients describe a
# volume that is 0 outside the box (what scipy does internally for constant modes).
SPLINE_PAD = 12


def bin_volume(volume: np.ndarray, factor: int) -> np.ndarray:
    """Downsample a cubic volume by an integer factor, keeping every frequency it can hold.

    Fourier cropping: the result samples the band-limited volume at every ``factor``-th
    position, so binned index ``i`` sits at original index ``factor * i`` and the box
    centre ``M // 2`` at the original ``N // 2`` (for even ``M = N / factor``). Values keep
    their scale (the mean is unchanged); the unpaired Nyquist planes of the small box are
    dropped.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
    factor : int
        Divides N.

    Returns
    -------
    ndarray of shape (N / factor, N / factor, N / factor)
    """
    size = volume.shape[0] // factor
    if factor == 1:
        return np.asarray(volume, dtype=float)
    spectrum = np.fft.fftshift(np.fft.fftn(volume))
    start = volume.shape[0] // 2 - size // 2
    cropped = spectrum[start:start + size, start:start + size, start:start + size].copy()
    if size % 2 == 0:
        cropped[0], cropped[:, 0], cropped[:, :, 0] = 0, 0, 0
    return np.fft.ifftn(np.fft.ifftshift(cropped)).real / factor**3


def particle_centre(volume: np.ndarray, *, smoothing_voxels: float = 2.0) -> np.ndarray:
    """Where the structure in a volume sits: centroid of ``|smoothed volume - mean|``.

    Using the absolute deviation makes it independent of the contrast's sign; the Gaussian
    smoothing (sigma ``smoothing_voxels``) keeps noise from dominating the weights.

    Parameters
    ----------
    volume : ndarray of shape (Z, Y, X)

    Returns
    -------
    ndarray of shape (3,)
        ``(x, y, z)`` in voxels from the box centre.
    """
    import scipy.ndimage  # scipy loads on first use: importing subalign stays light

    weights = np.abs(scipy.ndimage.gaussian_filter(volume - volume.mean(), smoothing_voxels))
    total = weights.sum()
    if total == 0:
        return np.zeros(3)
    offsets = np.indices(volume.shape, dtype=float) - box_centre(volume.shape)[:, None, None, None]
    z, y, x = (np.tensordot(weights, offsets[axis], axes=3) / total for axis in range(3))
    return np.array([x, y, z])


def prefilter(volume: np.ndarray, order: int) -> np.ndarray:
    """Spline coefficients for repeated rotations of one volume with ``order`` > 1.

    Pass the result to :func:`rotate_volume` with ``prefiltered=True`` to skip the spline
    filter on every call.

    Returns
    -------
    ndarray
        For ``order`` > 1, shape ``(Z + 2 * SPLINE_PAD, ...)``: coefficients of the volume
        padded with zeros. For ``order`` <= 1 the volume itself as float64.
    """
    import scipy.ndimage  # scipy loads on first use: importing subalign stays light

    volume = np.asarray(volume, dtype=np.float64)
    if order <= 1:
        return volume
    padded = np.pad(volume, SPLINE_PAD, mode="constant")
    return scipy.ndimage.spline_filter(padded, order=order, mode="mirror")


def rotate_volume(
    volume: np.ndarray, rotation: np.ndarray, *, order: int = 3, prefiltered: bool = False
) -> np.ndarray:
    """``Lambda_R g``: rotate a volume actively about its box centre.

    Parameters
    ----------
    volume : ndarray of shape (Z, Y, X)
        Indexed ``[z, y, x]``. Values outside the box are taken as 0. With
        ``prefiltered=True`` and ``order`` > 1: the padded coefficients from
        :func:`prefilter` (the output then has the unpadded shape).
    rotation : ndarray of shape (3, 3)
        Active rotation acting on ``(x, y, z)``.
    order : int
        Spline interpolation order (0-5); 1 is trilinear, 3 cubic.
    prefiltered : bool
        ``volume`` already holds spline coefficients from :func:`prefilter`.

    Returns
    -------
    ndarray of shape (Z, Y, X), float64
    """
    import scipy.ndimage  # scipy loads on first use: importing subalign stays light

    pad = SPLINE_PAD if prefiltered and order > 1 else 0
    shape = tuple(n - 2 * pad for n in volume.shape)
    rotation_zyx = _XYZ_TO_ZYX @ np.asarray(rotation, dtype=float) @ _XYZ_TO_ZYX
    # Output index o samples the input at R^-1 (o - c) + c, all in (z, y, x) order.
    matrix = rotation_zyx.T
    centre = box_centre(shape)
    offset = centre - matrix @ centre + pad
    return scipy.ndimage.affine_transform(
        volume,
        matrix,
        offset=offset,
        output_shape=shape,
        order=order,
        mode="grid-constant",
        cval=0.0,
        prefilter=not prefiltered,
    )


def rotate_volume_batch(
    volume: np.ndarray, rotations: np.ndarray, *, order: int = 3
) -> np.ndarray:
    """Rotate one volume by many rotations, filtering the spline coefficients only once.

    Parameters
    ----------
    volume : ndarray of shape (Z, Y, X)
    rotations : ndarray of shape (K, 3, 3)
    order : int

    Returns
    -------
    ndarray of shape (K, Z, Y, X)
    """
    coefficients = prefilter(volume, order)
    return np.stack(
        [rotate_volume(coefficients, r, order=order, prefiltered=True) for r in rotations]
    )


def shift_volume(volume: np.ndarray, translation_xyz: np.ndarray) -> np.ndarray:
    """``tau_a g``: translate by ``a = (x, y, z)`` voxels with a Fourier phase shift.

    Subvoxel shifts are exact for band-limited volumes; content leaving one face of the box
    re-enters at the opposite face (periodic boundary).

    Parameters
    ----------
    volume : ndarray of shape (Z, Y, X)
    translation_xyz : array_like of shape (3,)

    Returns
    -------
    ndarray of shape (Z, Y, X), float64
    """
    grid = fourier_grid(volume.shape)
    return inverse(forward(volume) * grid.phase_ramp(translation_xyz), volume.shape)


def transform_volume(
    volume: np.ndarray, transform: RigidTransform, *, order: int = 3
) -> np.ndarray:
    """``tau_a Lambda_R g``: rotate about the box centre, then translate.

    Parameters
    ----------
    volume : ndarray of shape (Z, Y, X)
    transform : RigidTransform
    order : int
        Spline order of the rotation.

    Returns
    -------
    ndarray of shape (Z, Y, X), float64
    """
    rotated = rotate_volume(volume, transform.rotation, order=order)
    if np.any(transform.translation):
        return shift_volume(rotated, transform.translation)
    return rotated


#: Axes a map can be mirrored along, by their ``(x, y, z)`` name.
FLIP_AXES = ("x", "y", "z")


def flip_volume(volume: np.ndarray, axis: str) -> np.ndarray:
    """Mirror a ``[z, y, x]`` volume along ``axis`` (``"x"``, ``"y"`` or ``"z"``) about its
    centre voxel ``N // 2``: voxel ``i`` goes to ``2 (N // 2) - i`` (cyclically), so the
    centre stays put. Mirroring changes a map's hand; it is its own inverse.

    Returns
    -------
    ndarray of the same shape
    """
    if axis not in FLIP_AXES:
        raise ValueError(f"flip axis: expected one of {', '.join(FLIP_AXES)}, found {axis!r}")
    array_axis = 2 - FLIP_AXES.index(axis)
    size = volume.shape[array_axis]
    return np.roll(np.flip(volume, array_axis), 1 - size % 2, axis=array_axis)
