"""A simulation's ground truth as particle sets, for workflows on known poses.

Written next to the volumes by :func:`subalign.simulation.output.write_simulation`::

    particles.star   RELION 5 particles: rlnImageName, poses (rlnAngle*, rlnOrigin*Angst),
                     rlnTomoName 1, rlnRandomSubset alternating 1, 2 and, in a mixture,
                     the true class rlnClassNumber (Dynamo: the class column)
    particles.tbl    Dynamo table of the same poses, with the tilt range in columns 13-15
    dynamo/          Dynamo's particle folder: particle_00001.mrc ... link to subtomograms/
    wedges.csv       the tilt range of tomogram 1, for formats that hold none

Each format's convention is in :mod:`subalign.io`; the simulated particles have no tomogram,
so the tables hold no coordinates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from subalign.io.files import atomic_path
from subalign.io.formats import write_particles
from subalign.io.particles import ParticleSet
from subalign.numerics.geometry import RigidTransform, matrix_to_euler_zyz

__all__ = ["relion_pose_columns", "write_truth_tables"]


def relion_pose_columns(pose: RigidTransform, voxel_size_angstrom: float) -> dict[str, float]:
    """RELION columns of a pose (RELION's angles of ``R^T``; origin ``-t`` in Angstrom;
    :mod:`subalign.io.relion`)."""
    rot, tilt, psi = matrix_to_euler_zyz(pose.rotation.T)
    origin = -pose.translation * voxel_size_angstrom
    return {
        "rlnAngleRot": float(rot), "rlnAngleTilt": float(tilt), "rlnAnglePsi": float(psi),
        "rlnOriginXAngst": float(origin[0]), "rlnOriginYAngst": float(origin[1]),
        "rlnOriginZAngst": float(origin[2]),
    }


def write_truth_tables(config: DictConfig, output_dir: str | Path, files: list[str],
                       poses: list[RigidTransform], classes: np.ndarray | None = None) -> None:
    """Write ``particles.star``, ``particles.tbl`` with ``dynamo/`` and ``wedges.csv``.

    Parameters
    ----------
    config : DictConfig
        The simulation's :class:`subalign.simulation.simulate.SimulateConfig` node.
    output_dir : str or Path
    files : list of str
        Each particle's MRC file, relative to ``output_dir``.
    poses : list of RigidTransform
        Each particle's pose ``tau_t Lambda_R`` of the density.
    classes : ndarray of shape (n,), optional
        Each particle's true class, 1-based (a mixture); None: no class column.
    """
    output_dir = Path(output_dir)
    n = len(files)
    low, high = (float(a) for a in config.imaging.tilt_range_deg)
    truth = ParticleSet.create(
        np.stack([p.rotation for p in poses]), np.stack([p.translation for p in poses]),
        pixel_size=float(config.voxel_size_nm) * 10.0, subtomogram=np.array(files, dtype=object),
        tomogram=np.array(["1"] * n, dtype=object), tilt_min=np.full(n, low),
        tilt_max=np.full(n, high), half_set=1 + np.arange(n) % 2, class_number=classes,
        box_size=int(config.size), base_dir=str(output_dir))
    write_particles(truth, output_dir / "particles.star", "relion5")
    write_particles(truth, output_dir / "particles.tbl", "dynamo", subtomograms=output_dir / "dynamo")
    with atomic_path(output_dir / "wedges.csv") as temporary:
        temporary.write_text(f"tomogram,tilt_min,tilt_max,tilt_axis\n1,{low:g},{high:g},y\n")
