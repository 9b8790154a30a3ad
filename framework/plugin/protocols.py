"""Protocols of the six plugin kinds, and the small records they exchange.

The search stage (:mod:`subalign.search`) and the pair orchestrator
(:mod:`subalign.align`) talk to plugins only through these. Shapes follow the conventions
of :mod:`subalign.numerics.geometry`: rotations ``(3, 3)`` acting on ``(x, y, z)``,
translations ``(3,)`` in voxels.

Parameters seen by an optimizer come from a :class:`Parameterization`: a vector whose
*last three* entries are the ``(x, y, z)`` translation in voxels (additive), preceded by
the rotation parameters in degrees. Scores give Jacobians in a parameterization-free form
(left rotation increments and translations);
:func:`subalign.numerics.parameterization.chain_jacobian` maps them onto a parameterization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from subalign.numerics.geometry import RigidTransform
from subalign.numerics.measurement import Acquisition
from subalign.numerics.wedge import TiltRange

__all__ = [
    "BinnableScore",
    "CalibratedObjective",
    "Constraint",
    "Objective",
    "Measurement",
    "MeasurementModel",
    "Optimizer",
    "OptimizerState",
    "Parameterization",
    "Refiner",
    "RefinementProblem",
    "RefinementResult",
    "Sampler",
    "Score",
    "WeightedScore",
]


@runtime_checkable
class Objective(Protocol):
    """A score prepared for one (fixed, moving) pair; built by :meth:`Score.prepare`.

    Its residual vector ``r`` (real or complex, ``n`` entries) gives the dissimilarity
    ``d = sum(|r|^2)`` of ``fixed`` and the moving volume transformed by ``(R, a)``.
    Attribute ``is_complex`` (bool) tells which kind of residuals it returns.
    """

    def residuals(
        self, transform: RigidTransform, *, mask_rotation: np.ndarray | None = None
    ) -> np.ndarray:
        """Residuals, shape (n,); the wedge mask is taken at ``mask_rotation`` (default R)."""

    def value(self, transform: RigidTransform) -> float:
        """``sum(|r|^2)`` with the mask at the transform's own rotation."""

    def jacobian(self, transform: RigidTransform) -> tuple[np.ndarray, np.ndarray]:
        """Residuals (n,) and Jacobian (n, 6) with the mask held at ``transform.rotation``.

        Columns 0-2: derivative along a left rotation increment ``R <- exp([w]_x) R``,
        ``w`` in radians about ``x, y, z``; columns 3-5: along the translation ``(x, y, z)``
        in voxels.
        """

    def best_translation(self, rotation: np.ndarray, max_shift: float | None) -> np.ndarray:
        """Best integer translation (3,) for ``rotation`` by FFT cross-correlation."""


@runtime_checkable
class CalibratedObjective(Objective, Protocol):
    """An objective that knows the score of a comparison that says nothing.

    The orchestrator uses it for the *support* of a result (``1 - d / d0``, part of its
    confidence); :class:`subalign.scoring.ConstrainedObjective` provides it.
    """

    def uninformative_value(self) -> float:
        """The expected score of two unrelated volumes (2 for ``2 - 2c`` scores)."""


@runtime_checkable
class Score(Protocol):
    """A dissimilarity score: prepares an :class:`Objective` for each pair."""

    def prepare(
        self,
        fixed: np.ndarray,
        moving: np.ndarray,
        fixed_tilt: TiltRange,
        moving_tilt: TiltRange,
    ) -> Objective:
        """Precompute what does not depend on the transform; volumes (N, N, N) ``[z, y, x]``."""


@runtime_checkable
class WeightedScore(Score, Protocol):
    """A score that takes measurement models (:class:`MeasurementModel`) where a
    :class:`Score` takes tilt ranges: a capability.

    Every score is prepared with ``fixed_tilt`` and ``moving_tilt``. A score whose class
    sets ``accepts_measurement_models = True`` gets each particle's measurement model there
    (a :class:`~subalign.numerics.wedge.TiltRange` is one); any other score gets the model's
    single-axis wedge, ``model.tilt_range()``, so scores written before 0.3 keep working.
    """

    accepts_measurement_models: bool


@runtime_checkable
class MeasurementModel(Protocol):
    """The Fourier weight (transfer) with which a particle was measured
    (:mod:`subalign.numerics.measurement`).

    Attributes
    ----------
    kind : str
        ``tilt_range``, ``planes``, ``weights`` or a plugin's own.
    binary : bool
        True when :meth:`weights` returns a bool mask (measured or not).
    """

    kind: str
    binary: bool

    def weights(self, frequencies: np.ndarray, size: int, *, margin: float = 0.0) -> np.ndarray:
        """The transfer at ``frequencies`` (..., 3), ``(x, y, z)`` cycles/voxel of a box of
        edge ``size``, in the model's own (unrotated) frame: shape (...), nonnegative
        (bool if binary), the same at ``xi`` and ``-xi``; ``margin`` erodes a binary model
        by that many Fourier voxels."""

    def tilt_range(self) -> TiltRange:
        """The single-axis wedge that stands for the model where a score takes only tilt
        ranges."""


@runtime_checkable
class Measurement(Protocol):
    """Builds each particle's :class:`MeasurementModel` from what is known of its
    acquisition (``measurement=<name>`` of ``batch``, ``average`` and ``classify``)."""

    def build(self, acquisition: Acquisition) -> MeasurementModel:
        """The model of one particle; ``acquisition`` describes it in its box's frame."""


@runtime_checkable
class BinnableScore(Score, Protocol):
    """A score that can be searched on binned volumes: a capability the search stage needs.

    The global search (:mod:`subalign.search`) runs on volumes binned by
    ``search_binning``. A score with this capability says itself how its settings carry
    over to the smaller box (frequencies in cycles/voxel scale up, real-space lengths in
    voxels scale down). Without it the framework rebuilds the score from its config's
    ``binned(factor)`` where the config has one (every ``ConstrainedScoreConfig``), and
    searches any other score at full size, said once in the log.
    """

    def binned(self, factor: int) -> Score:
        """The same score for volumes binned by ``factor`` (an integer >= 2)."""


@runtime_checkable
class Parameterization(Protocol):
    """Maps an optimizer's parameter vector ``p`` (length ``n_params``) to rigid transforms."""

    def to_params(self, transform: RigidTransform) -> np.ndarray:
        """Parameters (n_params,) of the closest transform this parameterization can express."""

    def to_transform(self, params: np.ndarray) -> RigidTransform:
        """The transform of a parameter vector."""

    def rotation_jacobian(self, params: np.ndarray) -> np.ndarray:
        """``d w / d p_rot`` of shape (3, n_params - 3): left increment (radians) per unit."""

    def advance(self, params: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Parameters after an optimizer increment ``delta`` (n_params,)."""


@runtime_checkable
class Sampler(Protocol):
    """Produces candidate rotations to start local refinement from."""

    def rotations(self) -> np.ndarray:
        """Candidate rotations over SO(3), shape (K, 3, 3)."""

    def angles_about_axis(self) -> np.ndarray:
        """Candidate angles (K,) in degrees for a rotation about one axis."""


@runtime_checkable
class Constraint(Protocol):
    """Which transforms are searched and how an optimizer parameterizes them."""

    def parameterization(self) -> Parameterization:
        """The parameterization the optimizer works in."""

    def candidate_rotations(self, sampler: Sampler) -> np.ndarray:
        """Starting rotations (K, 3, 3) allowed by the constraint, drawn from ``sampler``."""


@dataclass
class OptimizerState:
    """Where a local optimizer stands on one candidate.

    Attributes
    ----------
    params : ndarray of shape (n_params,)
    value : float
        Score at ``params``.
    steps : int
        Optimizer steps taken (one Jacobian evaluation each: the paper's "iteration").
    converged : bool
        True once further steps are not expected to lower the score.
    memo : dict
        Optimizer-private state (e.g. the LM damping factor).
    """

    params: np.ndarray
    value: float
    steps: int = 0
    converged: bool = False
    memo: dict = field(default_factory=dict)


@runtime_checkable
class Optimizer(Protocol):
    """A local optimizer driven one step at a time (refiners interleave candidates)."""

    def start(
        self, objective: Objective, parameterization: Parameterization, params: np.ndarray
    ) -> OptimizerState:
        """Evaluate the starting point; no step is taken."""

    def step(
        self, objective: Objective, parameterization: Parameterization, state: OptimizerState
    ) -> OptimizerState:
        """Take one step (one Jacobian and its trial evaluations); return the new state."""


@dataclass
class RefinementProblem:
    """Everything a refiner needs for one pair.

    Attributes
    ----------
    objective : Objective
    optimizer : Optimizer
    parameterization : Parameterization
    candidates : list of ndarray
        Starting parameter vectors (n_params,), one per candidate.
    seed : int
        Seed for any randomness of the refiner.
    on_step : callable
        ``on_step(candidate=int, value=float, record=float, record_params=ndarray)`` to call
        after every optimizer step, with the stepped candidate's score, the lowest score of
        any candidate so far (starting scores included) and, optionally, that record
        holder's parameters; the orchestrator forwards it to the observer hooks.
    """

    objective: Objective
    optimizer: Optimizer
    parameterization: Parameterization
    candidates: list
    seed: int = 0
    on_step: Callable[..., None] = lambda **_: None


@dataclass
class RefinementResult:
    """What a refiner found.

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        Best parameters found.
    value : float
        Their score.
    steps : int
        Optimizer steps used in total (all candidates).
    trace : list of float
        Record minimum after every step (empty for refiners that take none).
    details : dict
        Refiner-specific extras (e.g. candidates kept), JSON-serializable.
    candidates : list of (ndarray, float)
        Where every candidate the refiner kept ended: ``(params, value)``. The orchestrator
        derives the confidence of the result from the best one in another basin; a refiner
        that leaves it empty gives results without a confidence.
    """

    params: np.ndarray
    value: float
    steps: int
    trace: list = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    candidates: list = field(default_factory=list)


@runtime_checkable
class Refiner(Protocol):
    """Turns candidates into one best transform using an optimizer."""

    def refine(self, problem: RefinementProblem) -> RefinementResult:
        """Refine ``problem.candidates``; return the best."""
