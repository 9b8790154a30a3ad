"""Schema of ``subalign batch``: an ``align`` config plus the particle set, mode and executor.

:class:`BatchConfig` extends :class:`~subalign.align.config.AlignSettings`, so every
alignment setting is written as for ``subalign align`` (``scan.keep=4``,
``sampler.spacing_deg=45``, ``score=fcs``). Wedges do not come from ``wedge.*``: each
particle has its own (from its file, ``tomograms``, or ``particle_wedge``), and the
reference has ``reference_wedge`` (null: none missing, as for an average or a map).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from subalign.align.config import AlignSettings, WedgeConfig
from subalign.execution.cluster import ExecutorConfig

__all__ = ["BATCH_MODES", "REFERENCE_SPECTRA", "SEARCHES", "BatchConfig", "LocalSearchConfig"]

#: ``reference``: every particle onto ``reference``; ``all``: every pair i < j of the set;
#: ``pairs``: the pairs of a pair list (``pairs.json``).
BATCH_MODES = ("reference", "all", "pairs")
#: ``global``: the configured sampler over all of SO(3); ``local``: around each particle's pose.
SEARCHES = ("global", "local")
#: ``given``: the reference as it is; ``match``: each Fourier shell scaled to the particles' own
#: amplitude, fitted at their poses (:mod:`subalign.workflows.reference_spectrum`).
REFERENCE_SPECTRA = ("given", "match")


@dataclass
class LocalSearchConfig:
    """The local search around each particle's current pose (``search=local``).

    The candidates are the rotation of the prior pose and the rotations of an
    ``so3_uniform`` set at ``spacing_deg`` within ``cone_deg`` of it (the ``cone``
    constraint); the scan keeps the best ``keep`` of them. Translations are searched up to
    the prior's shift plus ``max_shift_voxels`` from the box centre.

    Attributes
    ----------
    cone_deg : float
        Largest rotation from the prior pose of a candidate, degrees.
    spacing_deg : float
        Angular spacing of the candidates within the cone.
    max_shift_voxels : float
        Translation allowed beyond the prior's, voxels.
    keep : int
        Candidates refined (``scan.keep`` of the local search).
    """

    cone_deg: float = 15.0
    spacing_deg: float = 7.5
    max_shift_voxels: float = 3.0
    keep: int = 4


@dataclass
class BatchConfig(AlignSettings):
    """``subalign batch``: align a whole particle set (README, "Batch alignment").

    Attributes
    ----------
    particles : str
        The particle set, any format of :mod:`subalign.io.formats`.
    format : str, optional
        Its format (default: from the suffix and columns).
    tomograms : str, optional
        A tomogram table (tilt ranges, tomogram files, sizes, per-tilt tables); an
        optimisation set as ``particles`` names its own.
    project_dir : str, optional
        The RELION project directory, where an optimisation set's and tilt-series files'
        relative names start (default: found from the optimisation set's folder).
    subtomograms : str, optional
        Dynamo's particle folder, or AV3's and STOPGAP's file prefix.
    pixel_size : float, optional
        Angstrom per voxel, for formats that state none.
    particle_wedge : WedgeConfig
        Tilt range of particles that get none from the set or ``tomograms``.
    box_size : int, optional
        Box edge when cropping from tomograms.
    edge : {"error", "zero", "mean"}
        Boxes reaching past a tomogram's face.
    bad_particles : {"refuse", "skip"}
        A particle whose file fails the checks before work (missing, unreadable, another box
        or voxel size, a crop outside its tomogram): refuse the run naming it, or leave it
        out and record why in ``skipped.json`` (:mod:`subalign.workflows.particle_files`).
    mode : {"reference", "all", "pairs"}
    reference : str, optional
        MRC map (mode ``reference``), in the particles' voxel size and box.
    reference_wedge : WedgeConfig
        The reference's tilt range; null: nothing missing.
    reference_flip : {"x", "y", "z"}, optional
        Mirror the reference along this axis about its centre voxel before use (a map in the
        other hand than the particles).
    hand_check : int
        Mode ``reference``, for a set with poses: score both hands of the reference on this
        many particles first and refuse a reference the particles' poses fit better
        mirrored (:mod:`subalign.workflows.hand`); 0 skips it.
    reference_spectrum : {"given", "match"}
        Mode ``reference``: align to the map as given, or (``match``, for a set with poses)
        first scale each of its Fourier shells to the particles' own amplitude there, fitted
        over the particles at their poses (:mod:`subalign.workflows.reference_spectrum`);
        for a map from elsewhere whose spectrum is not the particles' (written as
        ``reference_matched.mrc`` with the gains in ``reference_spectrum.json``).
    search : {"global", "local"}
        Mode ``reference``: over all of SO(3), or around each particle's pose (``local``).
    local : LocalSearchConfig
    pair_list : str, optional
        Mode ``pairs``: a JSON file ``{"pairs": [{"fixed": f, "moving": m}, ...]}`` (as
        ``subalign simulate`` writes), ``f``/``m`` a particle's subtomogram name or row.
    output : str, optional
        Name of the aligned particle set in ``output_dir`` (default ``aligned`` with the
        input's suffix); its suffix or ``to`` chooses the format.
    to : str, optional
        Output format (default: the input's).
    classes : int, optional
        Mode ``all``: cluster the matrix into this many classes (average linkage) and
        write them as each particle's class.
    histogram : bool
        Write ``scores.png`` (needs matplotlib).
    executor : ExecutorConfig
        Where it runs (:mod:`subalign.execution.cluster`); not part of the job's identity.
    output_dir : str
        Where the results go (required); rerunning the same command with it resumes.
    wait : bool
        If another run holds ``output_dir``, wait for it to end (then resume what it left)
        instead of stopping; not part of the job's identity.
    """

    particles: Optional[str] = None
    format: Optional[str] = None
    tomograms: Optional[str] = None
    project_dir: Optional[str] = None
    subtomograms: Optional[str] = None
    pixel_size: Optional[float] = None
    particle_wedge: WedgeConfig = field(default_factory=WedgeConfig)
    box_size: Optional[int] = None
    edge: str = "error"
    bad_particles: str = "refuse"
    mode: str = "reference"
    reference: Optional[str] = None
    reference_wedge: WedgeConfig = field(default_factory=WedgeConfig)
    reference_flip: Optional[str] = None
    hand_check: int = 8
    reference_spectrum: str = "given"
    search: str = "global"
    local: LocalSearchConfig = field(default_factory=LocalSearchConfig)
    pair_list: Optional[str] = None
    output: Optional[str] = None
    to: Optional[str] = None
    classes: Optional[int] = None
    histogram: bool = True
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    output_dir: Optional[str] = None
    wait: bool = False
