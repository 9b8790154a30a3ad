"""Missing-wedge masks for single-axis tilt series.

Convention: the tilt axis is ``y`` and the beam is along ``z``. Tilting the specimen by
``alpha`` (right-handed about ``+y``) measures the central section of Fourier space that
contains ``y`` and the direction ``(cos alpha, 0, sin alpha)`` in ``(x, z)``. A tilt range
``[theta_min, theta_max]`` therefore measures every frequency whose line angle
``atan(xi_z / xi_x)`` lies in that range; for ``+-theta`` this is the paper's
``|xi_z| <= |xi_x| tan(theta)``. The ``y`` axis and the origin are always measured, and the
range ``[-90, 90]`` measures everything (no missing wedge).

A *margin* erodes the mask: only frequencies at least ``margin`` Fourier voxels from both
wedge boundary planes count as measured. Interpolation and the finite box smear a volume's
spectrum across the wedge boundary by about a voxel, so coefficients closer than that are
part missing data; scores compare only the eroded region.

Masks live on the half spectrum of :mod:`subalign.numerics.fourier`. A volume rotated by ``R`` has
its spectrum rotated by the same ``R``, so the rotated mask is ``(Lambda_R M)(xi) =
M(R^-1 xi)``, evaluated exactly rather than interpolated.

Tilt axis ``x``: a tilt series about ``x`` measures the ``y``-axis wedge turned by
:func:`tilt_axis_rotation` ``Q = Rz(+90 deg)``, ``M_x(xi) = M_y(Q^-1 xi)``: tilting by ``alpha``
measures the plane through ``x`` and ``(0, cos alpha, sin alpha)``. A volume with tilt axis
``x`` rotated by ``R`` has the mask ``wedge_mask(shape, tilt, R @ Q)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from subalign.errors import ConfigError
from subalign.numerics.fourier import fourier_grid

__all__ = ["TILT_AXES", "TiltRange", "measured", "tilt_axis_rotation", "wedge_mask"]

TILT_AXES = ("y", "x")


@dataclass(frozen=True)
class TiltRange:
    """A single-axis tilt range in degrees, ``-90 <= min_deg <= max_deg <= 90``.

    It is also the binary measurement model ``tilt_range``
    (:mod:`subalign.numerics.measurement`): :meth:`weights` is :func:`measured`.
    """

    min_deg: float
    max_deg: float
    kind: ClassVar[str] = "tilt_range"
    binary: ClassVar[bool] = True

    @classmethod
    def parse(cls, value, *, field: str = "tilt_range_deg") -> "TiltRange":
        """Validate ``[min, max]`` from a config; ``field`` names it in the error message."""
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{field}: expected two angles [min, max] in degrees, found {value!r}"
            ) from None
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ConfigError(f"{field}: expected finite angles, found [{low}, {high}]")
        if not -90.0 <= low <= high <= 90.0:
            raise ConfigError(
                f"{field}: expected -90 <= min <= max <= 90 degrees, found [{low:g}, {high:g}]"
            )
        return cls(low, high)

    @property
    def is_full(self) -> bool:
        """True when nothing is missing (``[-90, 90]``)."""
        return self.min_deg <= -90.0 and self.max_deg >= 90.0

    def weights(self, frequencies: np.ndarray, size: int, *, margin: float = 0.0) -> np.ndarray:
        """Whether each frequency ``(..., 3)`` ``(x, y, z)`` in cycles/voxel of a box of edge
        ``size`` was measured, bool (...) (:func:`measured`)."""
        frequencies = np.asarray(frequencies, dtype=float)
        return measured(frequencies[..., 0], frequencies[..., 2], self, margin=margin, size=size)

    def tilt_range(self) -> "TiltRange":
        """The model's single-axis wedge: itself."""
        return self


def wedge_mask(
    shape: tuple[int, int, int],
    tilt: TiltRange,
    rotation: np.ndarray | None = None,
    *,
    margin: float = 0.0,
) -> np.ndarray:
    """Binary mask of measured Fourier coefficients, optionally rotated.

    Parameters
    ----------
    shape : tuple of int
        Real-space box ``(N, N, N)``.
    tilt : TiltRange
        Tilt range of the tilt series the volume was reconstructed from.
    rotation : ndarray of shape (3, 3), optional
        Active rotation ``R`` of the volume; the result is then ``M(R^-1 xi)``.
    margin : float
        Keep only frequencies at least this many Fourier voxels inside both boundary planes
        (0: the exact mask).

    Returns
    -------
    ndarray of bool, shape (N, N, N // 2 + 1)
        Half-spectrum mask (``rfftn`` layout), True where measured.
    """
    grid = fourier_grid(tuple(shape))
    if tilt.is_full:
        return np.ones(grid.spectrum_shape, dtype=bool)
    fx, fy, fz = grid.frequency_xyz()
    if rotation is not None:
        # Components of R^-1 xi = R^T xi; only its x and z components are needed.
        r = np.asarray(rotation, dtype=float)
        fx, fz = (r[0, 0] * fx + r[1, 0] * fy + r[2, 0] * fz,
                  r[0, 2] * fx + r[1, 2] * fy + r[2, 2] * fz)
    return measured(fx, fz, tilt, margin=margin, size=shape[0])


def measured(fx: np.ndarray, fz: np.ndarray, tilt: TiltRange, *, margin: float = 0.0,
             size: int = 1) -> np.ndarray:
    """Whether frequencies with these ``x`` and ``z`` components were measured.

    Parameters
    ----------
    fx, fz : ndarray
        ``x`` and ``z`` components (cycles/voxel) of frequencies in the volume's own frame,
        any broadcastable shapes.
    tilt : TiltRange
    margin : float
        Required clearance from both boundary planes, in Fourier voxels of a box of ``size``.
    size : int
        Box edge the margin is measured in.

    Returns
    -------
    ndarray of bool
    """
    if tilt.is_full:
        return np.ones(np.broadcast(fx, fz).shape, dtype=bool)
    # Signed distances (cycles/voxel) to the two boundary planes through the tilt axis:
    # r_xz sin(angle - min) and r_xz sin(max - angle). A frequency's line lies in the range
    # when both have one sign (the point or its antipode is between the planes); on the y
    # axis both are 0 and it is measured.
    low_sin, low_cos = np.sin(np.radians(tilt.min_deg)), np.cos(np.radians(tilt.min_deg))
    high_sin, high_cos = np.sin(np.radians(tilt.max_deg)), np.cos(np.radians(tilt.max_deg))
    above_low = fz * low_cos - fx * low_sin
    below_high = fx * high_sin - fz * high_cos
    inside = above_low * below_high >= -1e-15
    if margin <= 0:
        return inside
    clearance = np.minimum(np.abs(above_low), np.abs(below_high)) * size
    return inside & (clearance >= margin)


def tilt_axis_rotation(axis: str) -> np.ndarray:
    """The rotation ``Q`` that turns the ``y``-axis wedge into the wedge of ``axis``.

    Parameters
    ----------
    axis : {"y", "x"}
        The tilt axis of the tilt series.

    Returns
    -------
    ndarray of shape (3, 3)
        Identity for ``y``; ``Rz(+90 deg)`` for ``x`` (module docstring).

    Raises
    ------
    ConfigError
        Any other axis.
    """
    if axis == "y":
        return np.eye(3)
    if axis == "x":
        return np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    raise ConfigError(f"tilt_axis: expected one of {', '.join(TILT_AXES)}, found {axis!r}")
