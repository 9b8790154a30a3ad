"""A simulation written as a RELION 5 2-D stack set, with exact ground truth.

``subalign simulate stacks=true`` writes, beside the 3-D subtomograms, ``relion5_stacks/``::

    particles.star          rlnTomoSubTomosAre2DStacks 1; per particle its stack, true pose
                            (tomogram frame), centred coordinate, visible tilts, half set
                            and, in a mixture, true class (rlnClassNumber)
    tomograms.star          data_global (size, hand -1, pixel size, microscope, dose per tilt)
                            and data_sim: per tilt rlnTomoProjX/Y/Z/W (rotation only, as
                            WarpTools writes), defocus, CTF scale, pre-exposure
    optimisation_set.star   naming both
    stacks/particle_NNNNNN.mrcs

Each particle's images are exactly what its 3-D subtomogram was reconstructed from
(:func:`subalign.simulation.simulate.measure_tilt_series`: the same pose, projections, noise,
CTF and MTF), cut to ``N x N`` about the projected centre and CTF-premultiplied
(``rlnCtfDataAreCtfPremultiplied 1``; without a CTF, 0). Every third particle (rows 2, 5,
...) misses one tilt, and its stack holds only its visible tilts, as RELION 5 writes them.

Geometry. The simulator tilts about its ``y`` axis (:mod:`subalign.numerics.wedge`). The
tomogram's frame is the simulator's turned by ``G = Rz(stack_axis_deg)``: a point ``p`` of
the simulator is ``G p`` in the tomogram, so each tilt's projection rows are the simulator's
times ``G^T``, the true pose is ``tau_(G t) Lambda_(G R)``, and the tilt axis lies
``stack_axis_deg`` from the tomogram's ``y``. Tilts are taken dose-symmetrically: the
pre-exposure of a tilt is its rank in ``|angle|`` times the dose per tilt (3 e/A^2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from subalign.io.mrc import write_volume
from subalign.io.star import write_star
from subalign.io.tiltseries import nominal_projections
from subalign.numerics.geometry import RigidTransform
from subalign.simulation.imaging import CTFParameters, ctf, filter_images
from subalign.simulation.mixture import class_entry, density_of, particle_classes
from subalign.simulation.particle_tables import relion_pose_columns
from subalign.simulation.simulate import (
    check_imaging,
    measure_tilt_series,
    particle_rng,
    random_pose,
)

__all__ = ["DOSE_PER_TILT", "TOMOGRAM", "write_relion5_stacks"]

TOMOGRAM = "sim"
DOSE_PER_TILT = 3.0
TOMOGRAM_SIZE = (1000, 1000, 300)


def _turn(angle_deg: float) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _matrix_text(row: np.ndarray) -> str:
    return "[" + ",".join(repr(float(v)) for v in row) + "]"


def _visible(index: int, tilts: int) -> np.ndarray:
    """Which tilts show particle ``index`` (module docstring), bool (tilts,)."""
    visible = np.ones(tilts, dtype=bool)
    if index % 3 == 1:
        visible[(7 * index) % tilts] = False
    return visible


def _tomograms_blocks(config: DictConfig, angles: np.ndarray, turn: np.ndarray) -> dict:
    imaging = config.imaging
    pixel = float(config.voxel_size_nm) * 10.0
    microscope = CTFParameters(**imaging.ctf) if imaging.ctf is not None else CTFParameters()
    projections = nominal_projections(angles)
    projections[:, :3, :3] = projections[:, :3, :3] @ turn.T
    order = np.argsort(np.argsort(np.abs(angles), kind="stable"), kind="stable")
    underfocus = -microscope.defocus_um * 1e4
    tilts = pd.DataFrame({
        **{f"rlnTomoProj{axis}": [_matrix_text(m[k]) for m in projections]
           for k, axis in enumerate("XYZW")},
        "rlnDefocusU": underfocus, "rlnDefocusV": underfocus, "rlnDefocusAngle": 0.0,
        "rlnCtfScalefactor": 1.0, "rlnMicrographPreExposure": order * DOSE_PER_TILT})
    overview = pd.DataFrame({
        "rlnTomoName": [TOMOGRAM], "rlnTomoTiltSeriesName": ["sim.mrc"],
        "rlnTomoFrameCount": [len(angles)], "rlnTomoSizeX": [TOMOGRAM_SIZE[0]],
        "rlnTomoSizeY": [TOMOGRAM_SIZE[1]], "rlnTomoSizeZ": [TOMOGRAM_SIZE[2]],
        "rlnTomoHand": [-1.0], "rlnTomoTiltSeriesPixelSize": [pixel],
        "rlnVoltage": [microscope.voltage_kv], "rlnSphericalAberration": [microscope.cs_mm],
        "rlnAmplitudeContrast": [microscope.amplitude_contrast],
        "rlnTomoImportFractionalDose": [DOSE_PER_TILT]})
    return {"global": overview, TOMOGRAM: tilts}


def _stack(config: DictConfig, density: np.ndarray, index: int, turn: np.ndarray,
           premultiply: np.ndarray | None) -> tuple[np.ndarray, RigidTransform, np.ndarray]:
    """Particle ``index``'s visible images (v, N, N), true pose (tomogram frame), visibility."""
    rng = particle_rng(config, index)
    pose = random_pose(rng, float(config.max_translation_voxels))
    measured = measure_tilt_series(density, pose, config.imaging, rng,
                                   voxel_size_nm=float(config.voxel_size_nm))
    images = measured.measured_images()
    size, width = images.shape[1], images.shape[2]
    start = width // 2 - size // 2
    images = images[:, :, start:start + size]
    if premultiply is not None:
        images = filter_images(images, premultiply)
    visible = _visible(index, len(images))
    truth = RigidTransform(turn @ pose.rotation, turn @ pose.translation)
    return images[visible], truth, visible


def write_relion5_stacks(config: DictConfig, output_dir: str | Path, *densities: np.ndarray) -> Path:
    """Write ``config.n`` particles as a RELION 5 2-D stack set (module docstring).

    Parameters
    ----------
    config : DictConfig
        A :class:`subalign.simulation.simulate.SimulateConfig` node.
    output_dir : str or Path
    *densities : ndarray of shape (N, N, N)
        The true map of each structure, class 1 first (one without ``structures``).

    Returns
    -------
    Path
        The optimisation set.
    """
    folder = Path(output_dir) / "relion5_stacks"
    (folder / "stacks").mkdir(parents=True, exist_ok=True)
    size = int(config.size)
    pixel = float(config.voxel_size_nm) * 10.0
    angles = check_imaging(config.imaging)
    turn = _turn(float(config.stack_axis_deg))
    premultiply = (None if config.imaging.ctf is None else
                   ctf((size, size), float(config.voxel_size_nm), CTFParameters(**config.imaging.ctf)))
    rows = []
    positions = np.random.default_rng([int(config.seed), 7]).uniform(-1, 1, (int(config.n), 3))
    classes = particle_classes(config)
    for index in range(int(config.n)):
        images, truth, visible = _stack(config, density_of(densities, classes, index), index, turn,
                                        premultiply)
        name = f"stacks/particle_{index + 1:06d}.mrcs"
        write_volume(folder / name, images, voxel_size=pixel)
        centre = positions[index] * np.array(TOMOGRAM_SIZE) * pixel / 4
        rows.append({"rlnTomoName": TOMOGRAM, "rlnTomoParticleName": f"{TOMOGRAM}/{index + 1}",
                     "rlnImageName": name, "rlnCenteredCoordinateXAngst": centre[0],
                     "rlnCenteredCoordinateYAngst": centre[1], "rlnCenteredCoordinateZAngst": centre[2],
                     **relion_pose_columns(truth, pixel), "rlnOpticsGroup": 1,
                     "rlnTomoVisibleFrames": "[" + ",".join(str(int(v)) for v in visible) + "]",
                     "rlnRandomSubset": 1 + index % 2,
                     **class_entry(classes, index, "rlnClassNumber")})
    optics = pd.DataFrame({
        "rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
        "rlnTomoTiltSeriesPixelSize": [pixel], "rlnCtfDataAreCtfPremultiplied": [int(premultiply is not None)],
        "rlnImageDimensionality": [2], "rlnTomoSubtomogramBinning": [1.0],
        "rlnImagePixelSize": [pixel], "rlnImageSize": [size]})
    write_star(folder / "particles.star", {"general": {"rlnTomoSubTomosAre2DStacks": 1},
                                           "optics": optics, "particles": pd.DataFrame(rows)})
    write_star(folder / "tomograms.star", _tomograms_blocks(config, angles, turn))
    return write_star(folder / "optimisation_set.star", {"": {
        "rlnTomoParticlesFile": "particles.star", "rlnTomoTomogramsFile": "tomograms.star"}})
