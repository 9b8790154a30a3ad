"""Reading and writing volumes (MRC) and results, validated and atomic.

Volumes come back as ``[z, y, x]`` float arrays, as mrcfile gives them. Every write goes
to a temporary file in the target directory and is renamed into place, so an interrupted
run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np

from .errors import VolumeError

__all__ = [
    "Volume",
    "atomic_path",
    "check_volume",
    "read_volume",
    "write_json",
    "write_volume",
]


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


def check_volume(data: np.ndarray, source: str = "<array>") -> np.ndarray:
    """Return ``data`` as float64 after checking it is a finite, cubic 3-D volume.

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
    finite = np.isfinite(array)
    if not finite.all():
        bad = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise VolumeError(
            f"{source}: expected finite values, found {np.count_nonzero(~finite)} "
            f"non-finite voxel(s), the first at [z, y, x] = {list(bad)}"
        )
    return array.astype(np.float64, copy=False)


def read_volume(path: str | os.PathLike) -> Volume:
    """Read and validate an MRC volume.

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
    path = Path(path)
    if not path.is_file():
        raise VolumeError(f"{path}: no such file (expected an MRC volume)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, permissive=True) as mrc:
                if mrc.data is None:
                    raise VolumeError(f"{path}: expected MRC volume data, found none")
                data = np.array(mrc.data)
                voxel_size = float(mrc.voxel_size.x)
    except VolumeError:
        raise
    except Exception as exc:  # mrcfile raises ValueError, OSError, EOFError, ...
        raise VolumeError(f"{path}: expected a readable MRC file, found: {exc}") from None
    data = check_volume(data, str(path))
    return Volume(data.astype(np.float32), voxel_size if voxel_size > 0 else 1.0, str(path))


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path`` and rename it into place on success.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".partial", dir=path.parent
    )
    os.close(handle)
    try:
        yield Path(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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


def write_json(path: str | os.PathLike, content: dict) -> Path:
    """Write ``content`` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2) + "\n")
    return Path(path)
