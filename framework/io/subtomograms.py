"""A particle's subtomogram: read from its own file, made from its 2-D stack, or cropped.

A particle with a ``subtomogram`` file is read from it (MRC; ``.em`` files with ``emfile``);
in a set of 2-D stacks that file is the particle's tilt images, made into a box in its
tomogram's tilt frame (:mod:`subalign.io.stacks`).
Otherwise the box is cropped from its tomogram's MRC file, memory-mapped, so only the box
is read. Cropping convention: the box centre's position ``p`` (voxel index from 0, from the
particle's coordinates in any frame) is rounded to the voxel ``c = floor(p + 0.5)``, the box
is ``[c - N // 2, c - N // 2 + N)`` on each axis (its centre voxel ``N // 2`` is ``c``), and
the remainder goes into the pose: the particle's shift becomes ``t + (p - c)``, so
:attr:`Subtomogram.pose` always describes the box returned. :attr:`Subtomogram.frame` says
how: the box's pose is ``frame`` composed after the set's pose (the remainder's translation
for a cropped box, the tilt frame's rotation for a stack, the identity for a file), so a
pose found for the box is the set's pose ``frame.inverse().compose(found)``. A box reaching past the
tomogram's faces is an error, or is padded with zeros or with the mean of the part inside
(``edge``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from subalign.errors import SubalignError
from subalign.io.mrc import read_map
from subalign.io.particles import ParticleSet, ParticleTableError, row_error
from subalign.io.stacks import StackBox, read_stack, reconstruct_stack, stack_layout
from subalign.io.weights import WeightVolume, read_weight_volume
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.measurement import Acquisition, full_spectrum, relative
from subalign.numerics.wedge import TiltRange
from subalign.numerics.volumes import check_volume

__all__ = ["EDGE_MODES", "Subtomogram", "SubtomogramReader"]

EDGE_MODES = ("error", "zero", "mean")


@dataclass(frozen=True)
class Subtomogram:
    """One particle's box and the pose that describes it.

    Attributes
    ----------
    index : int
        The particle's row in its set.
    volume : ndarray of shape (N, N, N)
        float32, ``[z, y, x]``.
    pose : RigidTransform
        ``tau_t Lambda_R`` of the reference (:mod:`subalign.io.particles`); for a cropped box
        the sub-voxel remainder of the coordinate is in ``t``.
    frame : RigidTransform
        ``pose = frame.compose(set pose)`` (module docstring).
    stack : StackBox, optional
        For a box made from a 2-D stack: its multiplicity and CTF^2 x dose^2 weight.
    weight : WeightVolume, optional
        For a 3-D box whose table names a weight volume (``rlnCtfImage``,
        :mod:`subalign.io.weights`).
    """

    index: int
    volume: np.ndarray
    pose: RigidTransform
    frame: RigidTransform = RigidTransform.identity()
    stack: StackBox | None = None
    weight: WeightVolume | None = None

    def set_pose(self, found: RigidTransform) -> RigidTransform:
        """The set's pose of the particle from a pose ``found`` for this box."""
        return self.frame.inverse().compose(found)

    def acquisition(self, tilt_range: TiltRange) -> Acquisition:
        """What is known of how this box was measured, for a measurement plugin: its tilt
        range (the set's), and for a box made from a 2-D stack its beams and transfer, for a
        3-D box with a weight volume that volume as its transfer."""
        size = self.volume.shape[0]
        if self.stack is not None:
            return Acquisition(size, tilt_range, self.stack.beams, self.stack.transfer,
                               self.stack.noise)
        if self.weight is not None:  # RELION's sum of CTF x images: noise as the weight
            transfer = full_spectrum(self.weight.weight)
            return Acquisition(size, tilt_range, transfer=transfer, noise=relative(transfer))
        return Acquisition(size, tilt_range)


class SubtomogramReader:
    """Reads the subtomograms of a set, one particle at a time (a context manager).

    Parameters
    ----------
    particles : ParticleSet
    box_size : int, optional
        Edge of the boxes in voxels; default the set's, else the first file's size. Cropping
        needs one.
    edge : {"error", "zero", "mean"}
        What to do with a box that reaches past the tomogram's faces.
    weights : bool
        Also read each 3-D box's weight volume (``rlnCtfImage``, :mod:`subalign.io.weights`)
        where the table names one; off by default, so a set whose weight files are elsewhere
        or unreadable still reads as before.
    """

    def __init__(self, particles: ParticleSet, *, box_size: int | None = None, edge: str = "error",
                 weights: bool = False):
        if edge not in EDGE_MODES:
            raise ParticleTableError(f"edge: expected one of {', '.join(EDGE_MODES)}, found {edge!r}")
        self.particles = particles
        self.box_size = box_size if box_size is not None else particles.box_size
        self.edge = edge
        self.weights = weights
        self._tomograms: dict[str, tuple] = {}

    def __enter__(self) -> "SubtomogramReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the memory-mapped tomograms."""
        for handle, *_ in self._tomograms.values():
            handle.close()
        self._tomograms.clear()

    def __call__(self, index: int) -> Subtomogram:
        """The box of particle ``index`` and its pose."""
        name = self.particles.fields["subtomogram"].iloc[index]
        if name and self.particles.stacks:
            return self._stack(index, name)
        if name:
            rotations = self.particles.box_rotations
            frame = (RigidTransform.identity() if rotations is None
                     else RigidTransform(rotations[index], np.zeros(3)))
            volume = self._read(index, name)
            return Subtomogram(index, volume, frame.compose(self.particles.pose(index)), frame,
                               weight=self._weight(index))
        return self._crop(index)

    def _opened(self, index: int, name: str, read) -> Any:
        """``read(path)`` of particle ``index``'s file ``name``, which returns its content and
        voxel size: the file must exist, read without error and agree with the set's pixel
        size; any failure is one line naming the row. Returns the content."""
        path = self._existing(index, name)
        try:
            content, voxel = read(path)
        except SubalignError as exc:
            raise self._error(index, "subtomogram", str(exc)) from None
        self._check_pixel(index, "subtomogram", voxel, str(path))
        return content

    def _stack(self, index: int, name: str) -> Subtomogram:
        images = self._opened(index, name, read_stack)
        self._check_box(index, name, images.shape[-1], "its images are")
        box = reconstruct_stack(self.particles, index, images, name)
        frame = RigidTransform(box.frame, np.zeros(3))
        return Subtomogram(index, box.volume, frame.compose(self.particles.pose(index)), frame, box)

    def _weight_path(self, index: int) -> Path | None:
        """The file of the particle's ``rlnCtfImage`` when weights are read and its table names
        one (None otherwise); a named file that is not there is one line naming the row."""
        table = self.particles.source.table if self.particles.source is not None else None
        if not self.weights or table is None or "rlnCtfImage" not in table.columns:
            return None
        name = str(table["rlnCtfImage"].iloc[index])
        if name in ("", "nan", "None"):
            return None
        path = self.particles.resolve(name)
        if not path.is_file():
            raise row_error(self.particles.label, index, "rlnCtfImage",
                            f"weight volume {name} not found (looked in {self.particles.base_dir} "
                            "and the working directory)")
        return path

    def _weight(self, index: int) -> WeightVolume | None:
        """The particle's ``rlnCtfImage``, if its table names one."""
        path = self._weight_path(index)
        if path is None:
            return None
        try:
            return read_weight_volume(path, self.box_size)
        except ParticleTableError as exc:
            raise row_error(self.particles.label, index, "rlnCtfImage", str(exc)) from None

    def _existing(self, index: int, name: str) -> Path:
        path = self.particles.resolve(name)
        if not path.is_file():
            raise self._error(index, "subtomogram",
                              f"{'stack' if self.particles.stacks else 'subtomogram'} {name} not "
                              f"found (looked in {self.particles.base_dir} and the working directory)")
        return path

    def _check_box(self, index: int, name: str, edge: int, what: str) -> None:
        if self.box_size is None:
            self.box_size = edge
        if edge != self.box_size:
            raise self._error(index, "subtomogram", f"{name}: {what} {edge} voxels wide; expected "
                                                    f"{self.box_size} like the set's other particles")

    def _error(self, index: int, field: str, message: str) -> ParticleTableError:
        return row_error(self.particles.label, index, self.particles.column(field), message)

    def _check_pixel(self, index: int, field: str, found: float, what: str) -> None:
        pixel = self.particles.pixel_size
        if pixel is not None and found > 0 and abs(found - pixel) > 1e-3 * pixel:
            raise self._error(index, field, f"{what} has a voxel size of {found:g} Angstrom, "
                                            f"inconsistent with the set's pixel size {pixel:g} Angstrom")

    def _read(self, index: int, name: str) -> np.ndarray:
        volume = self._opened(index, name, self._volume)
        if self.box_size is None:
            self.box_size = volume.shape[0]
        if volume.shape != (self.box_size,) * 3:
            raise self._error(index, "subtomogram",
                              f"{name} holds a (z, y, x) = {volume.shape} volume; expected "
                              f"{(self.box_size,) * 3} like the set's other subtomograms")
        return volume

    @classmethod
    def _volume(cls, path: Path) -> tuple[np.ndarray, float]:
        """A 3-D subtomogram file's float32 volume and voxel size (0: not stated)."""
        if path.suffix.lower() == ".em":
            return cls._read_em(path), 0.0
        read = read_map(path)
        return check_volume(read.data, read.source).astype(np.float32), float(read.voxel_size[2])

    @staticmethod
    def _read_em(path: Path) -> np.ndarray:
        import emfile

        try:
            _, data = emfile.read(path)
        except Exception as exc:  # struct and numpy errors on a malformed file
            raise ParticleTableError(f"{path}: expected an EM volume, found {exc}") from None
        return check_volume(np.asarray(data), str(path)).astype(np.float32)

    def files(self, index: int) -> list[Path]:
        """The files particle ``index`` is read from: its subtomogram or stack and, when
        weights are read, its weight volume; or the tomogram its box is cropped from."""
        name = self.particles.fields["subtomogram"].iloc[index]
        if not name:
            return [self._tomogram_path(index)]
        weight = self._weight_path(index)
        return [self._existing(index, name)] + ([] if weight is None else [weight])

    def _tomogram_path(self, index: int) -> Path:
        """The MRC file of particle ``index``'s tomogram (one line naming the row if none)."""
        name = self.particles.fields["tomogram"].iloc[index]
        known = self.particles.tomograms.get(name)
        file = known.path if known is not None and known.path else name
        path = self.particles.resolve(file) if file else None
        if path is None or not path.is_file():
            raise self._error(index, "tomogram",
                              f"no subtomogram file, and tomogram {name!r} has no file to crop "
                              f"from (looked for {file!r}); expected a tomogram MRC (give a tomogram "
                              "table with a path column)")
        return path

    def _tomogram(self, index: int) -> tuple:
        name = self.particles.fields["tomogram"].iloc[index]
        if name in self._tomograms:
            return self._tomograms[name]
        known = self.particles.tomograms.get(name)
        path = self._tomogram_path(index)
        import mrcfile

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                handle = mrcfile.mmap(path, mode="r", permissive=True)
        except Exception as exc:  # mrcfile raises ValueError, OSError, ...
            raise self._error(index, "tomogram", f"{path}: expected a readable MRC file, found {exc}") from None
        header = handle.header
        if (int(header.mapc), int(header.mapr), int(header.maps)) != (1, 2, 3) or handle.data is None \
                or handle.data.ndim != 3:
            handle.close()
            raise self._error(index, "tomogram", f"{path}: expected a 3-D tomogram stored x, y, z "
                                                 "(mapc, mapr, maps = 1, 2, 3)")
        voxel = float(handle.voxel_size.x)
        self._check_pixel(index, "tomogram", voxel, f"tomogram {path}")
        entry = (handle, voxel if voxel > 0 else self.particles.pixel_size, path)
        if known is not None and known.size is not None and known.voxel_size and entry[1]:
            stated = np.array(known.size) * known.voxel_size  # Angstrom, (x, y, z)
            shape = tuple(int(n) for n in handle.data.shape[::-1])
            if np.any(np.abs(stated - np.array(shape) * entry[1]) > entry[1]):
                handle.close()
                raise self._error(index, "tomogram",
                                  f"tomogram {name!r}: its table says {tuple(known.size)} voxels of "
                                  f"{known.voxel_size:g} A, {path} holds {shape} of "
                                  f"{entry[1]:g} A; expected them to agree (coordinates would be "
                                  "placed by one and cropped from the other)")
        self._tomograms[name] = entry
        return entry

    def _position(self, index: int, shape_xyz: np.ndarray, voxel: float | None) -> np.ndarray:
        """The box centre as a voxel index from 0 in the tomogram, ``(x, y, z)``."""
        particles = self.particles
        value = particles.fields[["x", "y", "z"]].iloc[index].to_numpy(dtype=float)
        if np.isnan(value).any():
            raise self._error(index, "tomogram", "no subtomogram file and no coordinate to crop at")
        unit = particles.coordinate_unit
        if particles.coordinate_frame == "centre":
            if unit is None or voxel is None:
                raise self._error(index, "tomogram", "pixel size absent; expected one to place "
                                                     "centred coordinates in the tomogram")
            return value * unit / voxel + shape_xyz // 2
        value = value - (1.0 if particles.coordinate_frame == "index1" else 0.0)
        if unit is None:
            return value
        if voxel is None:
            raise self._error(index, "tomogram", "pixel size absent; expected the tomogram's "
                                                 "voxel size to place coordinates in it")
        return value * unit / voxel

    def check(self, index: int) -> None:
        """The cheap checks of particle ``index``, before any work: its file's header (box,
        voxel size; a stack's image count) and, when weights are read, that its weight
        volume is there; or its crop's place in the tomogram.

        Raises
        ------
        ParticleTableError
            One line naming the row, column and file.
        """
        name = self.particles.fields["subtomogram"].iloc[index]
        if not name:
            self._bounds(index)
            return
        shape = self._opened(index, name, _header)
        self._weight_path(index)  # a weight volume to be read must be there
        if self.particles.stacks:
            if shape[-1] != shape[-2]:
                raise self._error(index, "subtomogram", f"stack {name} holds images of "
                                                        f"{shape[-2:]} pixels; expected square ones")
            self._check_box(index, name, shape[-1], "its images are")
            stack_layout(self.particles, index, shape[0] if len(shape) == 3 else 1, name)
        elif shape != (self.box_size,) * 3 and self.box_size is not None:
            raise self._error(index, "subtomogram",
                              f"{name} holds a (z, y, x) = {shape} volume; expected "
                              f"{(self.box_size,) * 3} like the set's other subtomograms")

    def _bounds(self, index: int) -> tuple:
        """Where particle ``index``'s box lies in its tomogram: the tomogram, the box centre's
        position, its first voxel and the part inside the tomogram; an error if it reaches
        outside and ``edge`` is ``error``."""
        if self.box_size is None:
            raise self._error(index, "tomogram", "box size unknown; expected one to crop from the "
                                                 "tomogram (give --box-size)")
        handle, voxel, path = self._tomogram(index)
        shape_xyz = np.array(handle.data.shape[::-1])
        position = self._position(index, shape_xyz, voxel)
        low = np.floor(position + 0.5).astype(int) - self.box_size // 2
        high = low + self.box_size
        inside_low, inside_high = np.maximum(low, 0), np.minimum(high, shape_xyz)
        if np.any(inside_high <= inside_low) or (self.edge == "error" and (
                np.any(low < 0) or np.any(high > shape_xyz))):
            raise self._error(
                index, "tomogram",
                f"a box of {self.box_size} voxels at (x, y, z) = {tuple(float(v) for v in np.round(position, 2))} "
                f"reaches outside tomogram {path} of {tuple(int(v) for v in shape_xyz)} voxels; "
                "expected it inside (or --edge zero / mean to pad)")
        return handle, position, low, inside_low, inside_high

    def _crop(self, index: int) -> Subtomogram:
        handle, position, low, inside_low, inside_high = self._bounds(index)
        data, size = handle.data, self.box_size
        centre = low + size // 2
        part = np.asarray(data[inside_low[2]:inside_high[2], inside_low[1]:inside_high[1],
                               inside_low[0]:inside_high[0]], dtype=np.float32)
        if part.shape == (size,) * 3:
            volume = part.copy()
        else:
            fill = 0.0 if self.edge == "zero" else float(part.mean())
            volume = np.full((size,) * 3, fill, dtype=np.float32)
            start = inside_low - low
            volume[start[2]:start[2] + part.shape[0], start[1]:start[1] + part.shape[1],
                   start[0]:start[0] + part.shape[2]] = part
        frame = RigidTransform(np.eye(3), position - centre)
        return Subtomogram(index, volume, frame.compose(self.particles.pose(index)), frame)



def _header(path: Path) -> tuple[tuple, float]:
    """``(z, y, x)`` shape and voxel size (Angstrom, 0: unknown) from a file's header only; an
    MRC file shorter than its header's data is refused (one ``stat``, nothing read)."""
    try:
        if path.suffix.lower() == ".em":
            import emfile

            header, _ = emfile.read(path, header_only=True)
            return tuple(int(header[k]) for k in ("zdim", "ydim", "xdim")), 0.0
        import mrcfile

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, permissive=True, header_only=True) as mrc:
                header = mrc.header
                shape = tuple(int(header[k]) for k in ("nz", "ny", "nx"))
                voxel = float(mrc.voxel_size.x)
                needed = 1024 + int(header.nsymbt) + int(np.prod(shape)) * \
                    mrcfile.utils.data_dtype_from_header(header).itemsize
    except Exception as exc:  # mrcfile and emfile raise several kinds on a bad header
        raise ParticleTableError(f"{path}: expected a readable header, found {exc}") from None
    found = path.stat().st_size
    if found < needed:
        raise ParticleTableError(f"{path}: its header promises {shape[::-1]} voxels (x, y, z) in "
                                 f"{needed} bytes, the file has {found}; expected a whole file "
                                 "(cut short while copying?)")
    return (shape[1:] if shape[0] == 1 else shape), voxel
