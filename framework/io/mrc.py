"""Reading and writing MRC volumes: the one MRC reader and writer of subalign.

Volumes come back as ``[z, y, x]`` arrays, whatever axis order the header declares
(``mapc, mapr, maps``), with the voxel size per axis from the header. Writes are atomic
(:mod:`subalign.io.files`) and reproducible (no time stamp in the header).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import mrcfile.utils
import numpy as np

from subalign.errors import VolumeError
from subalign.io.files import atomic_path
from subalign.numerics.volumes import check_finite, check_volume

__all__ = ["MapData", "Volume", "read_map", "read_volume", "write_volume"]


@dataclass(frozen=True)
class MapData:
    """A 3-D map as stored in an MRC file, reordered to ``[z, y, x]``.

    Attributes
    ----------
    data : ndarray of shape (Z, Y, X), float64
    voxel_size : ndarray of shape (3,)
        Angstrom per voxel along ``(z, y, x)``; 0 where the header holds 0.
    source : str
        The file name, for error messages.
    """

    data: np.ndarray
    voxel_size: np.ndarray
    source: str


@dataclass(frozen=True)
class Volume:
    """A validated cubic volume.

    Attributes
    ----------
    data : ndarray of shape (N, N, N)
        float32 voxels indexed ``[z, y, x]``.
    voxel_size : float
        Angstrom per voxel from the file header (1.0 when the header holds 0).
    source : str
        File name, or a description for in-memory volumes, used in error messages.
    """

    data: np.ndarray
    voxel_size: float = 1.0
    source: str = "<array>"


def _check_not_truncated(path: Path, header) -> None:
    """Raise a :class:`VolumeError` if the header's data mode is unknown or it promises more
    voxels than the file holds (mrcfile, permissive, then reads no data)."""
    try:
        itemsize = mrcfile.utils.dtype_from_mode(header.mode).itemsize
    except ValueError:
        raise VolumeError(f"{path}: expected a readable MRC file, found a header with the "
                          f"unknown data mode {int(header.mode)}") from None
    shape = (int(header.nz), int(header.ny), int(header.nx))
    expected = int(np.prod(shape)) * itemsize
    found = path.stat().st_size - 1024 - int(header.nsymbt)
    if expected > 0 and found < expected:
        raise VolumeError(f"{path}: expected {expected} bytes of voxels after the header "
                          f"(shape {shape}, MRC mode {int(header.mode)}), found {max(found, 0)}: "
                          "the file is truncated")


def read_map(path: str | os.PathLike) -> MapData:
    """Read any 3-D MRC map (gzip or bzip2 compressed allowed) as ``[z, y, x]``.

    Raises
    ------
    VolumeError
        The file is missing or unreadable, holds no 3-D data, declares an axis mapping that
        is not a permutation of 1, 2, 3, or holds non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise VolumeError(f"{path}: no such file (expected an MRC volume)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, permissive=True) as mrc:
                if mrc.data is not None and np.iscomplexobj(mrc.data):
                    raise VolumeError(f"{path}: expected real-valued voxels, found complex "
                                      f"values (MRC mode {int(mrc.header.mode)})")
                data = None if mrc.data is None else np.array(mrc.data, dtype=np.float64)
                header = mrc.header
                axis_order = (int(header.maps), int(header.mapr), int(header.mapc))
                voxel = mrc.voxel_size
                if data is None:
                    _check_not_truncated(path, header)
    except VolumeError:
        raise
    except Exception as exc:  # mrcfile raises ValueError, OSError, EOFError, ...
        raise VolumeError(f"{path}: expected a readable MRC file, found: {exc}") from None
    if data is None or data.ndim != 3:
        found = "no data" if data is None else f"{data.ndim}-D data of shape {data.shape}"
        raise VolumeError(f"{path}: expected a 3-D volume, found {found}")
    if sorted(axis_order) != [1, 2, 3]:
        raise VolumeError(
            f"{path}: expected an axis mapping (mapc, mapr, maps) that permutes 1, 2, 3, "
            f"found {axis_order[::-1]}"
        )
    # Stored axes are (sections, rows, columns); axis_order says which of x=1, y=2, z=3 each is.
    data = np.transpose(data, [axis_order.index(axis) for axis in (3, 2, 1)])
    check_finite(data, str(path))
    return MapData(data, np.array([voxel.z, voxel.y, voxel.x], dtype=float), str(path))


def read_volume(path: str | os.PathLike) -> Volume:
    """Read and validate a cubic MRC volume (a subtomogram or a reference).

    Parameters
    ----------
    path : str or path-like
        An ``.mrc`` / ``.map`` / ``.rec`` file (gzip or bzip2 compressed allowed).

    Returns
    -------
    Volume

    Raises
    ------
    VolumeError
        The file is missing, not a readable MRC file, not 3-D, not cubic, or not finite.
    """
    read = read_map(path)
    data = check_volume(read.data, read.source)
    voxel_size = float(read.voxel_size[2])
    return Volume(data.astype(np.float32), voxel_size if voxel_size > 0 else 1.0, read.source)


def write_volume(path: str | os.PathLike, data: np.ndarray, *, voxel_size: float = 1.0) -> Path:
    """Write a ``[z, y, x]`` volume as float32 MRC, atomically and reproducibly.

    The header's one label is fixed text (mrcfile's default label holds the time), so the
    same data always give the same bytes.

    Parameters
    ----------
    path : str or path-like
    data : ndarray of shape (Z, Y, X)
    voxel_size : float
        Angstrom per voxel, stored in the header.

    Returns
    -------
    Path
        The written file.
    """
    data = np.asarray(data, dtype=np.float32)
    with atomic_path(path) as temporary:
        with mrcfile.new(temporary, overwrite=True) as mrc:
            mrc.set_data(data)
            mrc.voxel_size = voxel_size
            mrc.header.label[0] = b"subalign"
            mrc.header.nlabl = 1
    return Path(path)
