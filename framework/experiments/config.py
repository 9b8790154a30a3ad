"""Schema of ``subalign experiment``: an ``align`` config plus what an experiment needs.

An experiment preset (``conf/experiment/<name>.yaml``, ``# @package _global_``) sets
``name``, ``kind`` and its cell (``snr``, ``tilt``, plugins), and lists its sweep under
``hydra.sweeper.params``, so ``subalign experiment experiment=<name> -m`` runs every cell and
any key can still be overridden or swept from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from subalign.align.config import AlignConfig
from subalign.simulation.simulate import SimulateConfig

__all__ = ["AveragingConfig", "ClassificationConfig", "ExperimentConfig"]

@dataclass
class AveragingConfig:
    """Figure 5: align ``n`` subtomograms to a template and average them.

    Attributes
    ----------
    n : int
        Number of subtomograms (paper: 1000).
    template : {"first", "truth"}
        The initial template: subtomogram 0 (with its wedge, noise and CTF) or the true map.
    iterations : int
        Alignment rounds; from the second on, the template is the previous average.
    """

    n: int = 100
    template: str = "first"
    iterations: int = 1


@dataclass
class ClassificationConfig:
    """Figure 6: subtomograms of several complexes, all pairs aligned, then clustered.

    Attributes
    ----------
    structures : list of str
        Atomic models (PDB/mmCIF), one class each; relative paths are taken from
        ``structures_dir``.
    structures_dir : str
        Where relative structure paths live.
    per_class : int
        Subtomograms per complex (paper: 20).
    resolution_nm : float
        Low-pass of the maps (paper: 4 nm).
    """

    structures: List[str] = field(default_factory=lambda: [
        "groel14_from_1kp8A.pdb.gz", "3j9i_proteasome20S.pdb.gz", "4v4r_30S.pdb.gz",
        "4v1w_apoferritin.cif.gz",
    ])
    structures_dir: str = "../shared/data/structures"
    per_class: int = 20
    resolution_nm: float = 4.0


@dataclass
class ExperimentConfig(AlignConfig):
    """``subalign experiment``: one cell of one of the paper's experiments.

    Attributes
    ----------
    name : str
        Experiment name, e.g. ``table1_2``; names the output directory and report section.
    kind : {"pairs", "convergence", "speedup", "averaging", "classification"}
        Which runner (:mod:`subalign.experiments`).
    snr : float
        Simulated SNR of the cell (``inf`` for noise-free).
    tilt : float
        Tilt range ``+-tilt`` degrees of the cell (90: no missing wedge).
    n_pairs : int
        Pairs per cell (paper: 100).
    first_pair : int
        Index of the first pair: pair k is particles (2k, 2k+1) of the simulation.
    axis_from_truth : bool
        Constrain the rotation to the particle's own z axis as seen in each volume
        (Tables 3 and 4: ``constraint=axis`` with each volume's true axis).
    speedup_baseline : str
        Refiner compared with the configured one by ``kind=speedup``.
    workers : int
        Processes aligning pairs in parallel within the job.
    simulation : SimulateConfig
        The simulator; its ``imaging.snr`` and ``imaging.tilt_range_deg`` are set from
        ``snr`` and ``tilt``.
    averaging, classification : sub-configs of those kinds.
    description : str
        One line for the report.
    """

    name: str = "experiment"
    kind: str = "pairs"
    snr: float = 0.5
    tilt: float = 60.0
    n_pairs: int = 10
    first_pair: int = 0
    axis_from_truth: bool = False
    speedup_baseline: str = "independent"
    workers: int = 1
    simulation: SimulateConfig = field(default_factory=SimulateConfig)
    averaging: AveragingConfig = field(default_factory=AveragingConfig)
    classification: ClassificationConfig = field(default_factory=ClassificationConfig)
    description: str = ""
