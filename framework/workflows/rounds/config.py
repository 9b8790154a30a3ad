"""Schemas of ``subalign average`` and ``subalign classify``: refinement in rounds.

Both extend :class:`~subalign.align.config.AlignSettings`, so every alignment setting is
written as for ``subalign align`` or ``subalign batch`` (``scan.keep=8``,
``sampler.spacing_deg=20``, ``polish_max_steps=30``); they apply to the global rounds, and
the local rounds replace the sampler, constraint, scan and shift limit by the
:class:`ScheduleConfig`. The particle set is read as ``subalign batch`` reads it
(``particles``, ``tomograms``, ``particle_wedge``, ...); each particle's wedge comes from the
set, the reference maps have none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from subalign.align.config import AlignSettings, WedgeConfig
from subalign.execution.cluster import ExecutorConfig

__all__ = ["AVERAGE_STARTS", "CLASSIFY_MODES", "CLASSIFY_STARTS", "REFERENCE_FILTERS",
           "AverageConfig", "ClassifyConfig", "MaskConfig", "RefineRunConfig", "ScheduleConfig"]

#: ``reference``: the map ``reference``; ``particle``: the particles aligned to one of them and
#: averaged (the paper's Figure 5 protocol); ``poses``: the set's own poses.
AVERAGE_STARTS = ("reference", "particle", "poses")
#: How a round's half map becomes the next round's reference (:class:`AverageConfig`).
REFERENCE_FILTERS = ("lowpass", "fsc")
#: ``multiref``: multi-reference refinement; ``all``: all-vs-all matrix and clustering.
CLASSIFY_MODES = ("multiref", "all")
#: ``references``: the maps ``references``; ``classes``: the set's classes and poses.
CLASSIFY_STARTS = ("references", "classes")


@dataclass
class MaskConfig:
    """The mask applied to references before alignment and to maps before the FSC.

    Attributes
    ----------
    file : str, optional
        An MRC mask (values 0 to 1) in the particles' box and pixel size; replaces the sphere.
    radius_angstrom : float, optional
        Radius of the soft sphere about the box centre; null: 0.4 times the box edge.
    edge_angstrom : float, optional
        Width of its cosine edge; null: 3 voxels.
    """

    file: Optional[str] = None
    radius_angstrom: Optional[float] = None
    edge_angstrom: Optional[float] = None


@dataclass
class ScheduleConfig:
    """Global rounds first, then local rounds whose search shrinks as the resolution improves.

    After a round reaching resolution ``d`` with a particle of radius ``r`` (the mask's),
    the angular step that resolves ``d`` at the particle's edge is
    ``step = degrees(d / (2 r))``. The next local round tries the prior pose and the
    rotations at ``step`` spacing within ``cone_steps * step`` of it (the ``cone``
    constraint), keeps the best ``keep`` and refines them, with translations up to the
    prior's plus ``shift_resolutions * d / pixel`` voxels; the cone and the shift are
    clipped to the ranges below.

    Attributes
    ----------
    global_rounds : int, optional
        Rounds searching all of SO(3) with the align settings (0: every round local); null:
        1, or 0 when starting from the set's poses.
    cone_steps : float
    min_cone_deg, max_cone_deg : float
    min_step_deg : float
        Smallest angular spacing of the candidates.
    shift_resolutions : float
    min_shift_voxels, max_shift_voxels : float
    keep : int
        Candidates refined per particle in a local round.
    """

    global_rounds: Optional[int] = None
    cone_steps: float = 2.0
    min_cone_deg: float = 6.0
    max_cone_deg: float = 30.0
    min_step_deg: float = 5.0
    shift_resolutions: float = 0.5
    min_shift_voxels: float = 1.0
    max_shift_voxels: float = 4.0
    keep: int = 4


@dataclass
class RefineRunConfig(AlignSettings):
    """What ``subalign average`` and ``subalign classify`` share: the set, mask, schedule,
    rounds, outputs and executor.

    Attributes
    ----------
    particles : str, optional
        The particle set, any format of :mod:`subalign.io.formats`.
    format, tomograms, project_dir, subtomograms, pixel_size, particle_wedge, box_size, edge
        How to read it, as for ``subalign batch``.
    bad_particles : {"refuse", "skip"}
        A particle whose file fails the checks before work: refuse, or leave it out and
        record why in ``skipped.json``, as for ``subalign batch``.
    dedupe_angstrom : float, optional
        Drop every particle that repeats an earlier one: the same file, or its centre
        (coordinate plus shift) within this distance in the same tomogram, as RELION's
        duplicate removal does; null keeps them (a particle in both halves is refused).
    truth : str, optional
        A particle set of the same particles with their true poses and classes (simulated
        data): each round then reports the pose errors (and, classifying, the adjusted Rand
        index) against it.
    initial_lowpass_angstrom : float
        Low-pass of the starting references (and of an average made from the particles).
    rounds : int
        Most refinement rounds.
    half_set_seed : int
        Seed of the random half sets given to a set whose file has none (written back).
    symmetry : str
        The references' point group as RELION names it (``C1``, ``C7``, ``D7``, ``T``, ``O``,
        ``I``), RELION's axes through the box centre (docs/conventions.md, "Symmetry").
    mask : MaskConfig
    local : ScheduleConfig
    output : str, optional
        Name of the particle set written per round and at the end (default ``particles`` with
        the input's suffix); its suffix or ``to`` chooses the format.
    to : str, optional
        Output format (default: the input's).
    figures : bool
        Write the PNG figures (FSC, central slices) and ``report.md`` (needs matplotlib).
    executor : ExecutorConfig
        Where the alignments run (:mod:`subalign.execution.cluster`); not part of the run's
        identity.
    output_dir : str
        Where the rounds and results go (required); rerunning the same command with it
        resumes.
    wait : bool
        If another run holds ``output_dir``, wait for it to end instead of stopping; not part
        of the run's identity.
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
    dedupe_angstrom: Optional[float] = None
    truth: Optional[str] = None
    initial_lowpass_angstrom: float = 60.0
    rounds: int = 8
    half_set_seed: int = 0
    symmetry: str = "C1"
    mask: MaskConfig = field(default_factory=MaskConfig)
    local: ScheduleConfig = field(default_factory=ScheduleConfig)
    output: Optional[str] = None
    to: Optional[str] = None
    figures: bool = True
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    output_dir: Optional[str] = None
    wait: bool = False


@dataclass
class AverageConfig(RefineRunConfig):
    """``subalign average``: gold-standard refinement of one structure (README, "Averaging").

    Attributes
    ----------
    reference : str, optional
        Starting map (MRC, the particles' box and pixel size), low-passed to
        ``initial_lowpass_angstrom``.
    reference_flip : {"x", "y", "z"}, optional
        Mirror the reference along this axis about its centre voxel first.
    hand_check : int
        For a set with poses: score both hands of the reference on this many particles and
        refuse one the poses fit better mirrored (:mod:`subalign.workflows.hand`); 0 skips.
    start : {"reference", "particle", "poses"}, optional
        Where round 1's references come from (:data:`AVERAGE_STARTS`); null: ``reference``
        if one is given, else ``particle``.
    start_particle : int
        Row (from 0) of the particle the others are aligned to for ``start=particle``.
    min_improvement : float
        Stop when a round improves the best FSC-0.143 resolution by less than this fraction.
    min_moved : float
        Stop when fewer than this fraction of the particles moved past 5 degrees or 1 voxel
        in a round (the poses settled).
    reference_filter : {"lowpass", "fsc"}
        Each half's next reference: its half map low-passed at the round's FSC-0.143
        resolution, or Wiener-filtered by the round's half-set FSC, shell by shell.
    """

    reference: Optional[str] = None
    reference_flip: Optional[str] = None
    hand_check: int = 8
    start: Optional[str] = None
    start_particle: int = 0
    min_improvement: float = 0.01
    min_moved: float = 0.01
    reference_filter: str = "lowpass"


@dataclass
class ClassifyConfig(RefineRunConfig):
    """``subalign classify``: sort a particle set into classes (README, "Classification").

    Attributes
    ----------
    mode : {"multiref", "all"}
        Multi-reference refinement, or hierarchical clustering of the all-vs-all matrix.
    classes : int, optional
        Number of classes (multiref: default the number of ``references``).
    references : list of str, optional
        Multiref: the starting maps, one per class.
    start : {"references", "classes"}, optional
        Multiref: the maps ``references``, or the averages of the set's classes with its
        poses; null: ``references`` if given, else ``classes``.
    min_changes : float
        Multiref: stop when fewer than this fraction of the particles change class.
    """

    mode: str = "multiref"
    classes: Optional[int] = None
    references: Optional[List[str]] = None
    start: Optional[str] = None
    min_changes: float = 0.01
