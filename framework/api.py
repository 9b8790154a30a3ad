"""The public plugin API: everything a plugin (built-in or third-party) may import.

Built-in plugins import only this module, so it is exactly what a third-party plugin has.
It re-exports from the layers below; nothing in the core imports it.

- registering: :data:`hookimpl`;
- protocols and records: :class:`Score`, :class:`BinnableScore`, :class:`Objective`,
  :class:`CalibratedObjective`,
  :class:`Optimizer`, :class:`OptimizerState`, :class:`Sampler`, :class:`Constraint`,
  :class:`Parameterization`, :class:`Refiner`, :class:`RefinementProblem`,
  :class:`RefinementResult`, :class:`WeightedScore`, :class:`Measurement`,
  :class:`MeasurementModel`;
- measurement models: :class:`Acquisition`, :class:`TiltPlanes`, :class:`SampledWeights`
  (and :class:`TiltRange`), :func:`rotated_weights`, :func:`model_weights`;
- building a constrained score: :class:`ConstrainedScore`, :class:`ConstrainedObjective`,
  :class:`ConstrainedScoreConfig`, and the spectra :func:`forward`, :func:`inverse`;
- geometry and parameterizations: :class:`RigidTransform`, :class:`TiltRange`,
  :func:`euler_zyz_to_matrix`, :func:`rotation_angle_deg`, :func:`rotation_vector_to_matrix`,
  :func:`transform_distance_term`, :func:`chain_jacobian`, :class:`EulerParameterization`,
  :class:`IncrementParameterization`, :class:`AxisParameterization`;
- errors: :class:`ConfigError`.

:data:`API_VERSION` is ``(major, minor)``. A minor version adds names or capabilities; a
name it moves or removes keeps working until the next minor version, with a
``DeprecationWarning`` that names the replacement (:mod:`subalign.deprecation`). A major
version may remove what the previous one deprecated. ``docs/plugins.md`` lists what each
version changed.
"""

from subalign.errors import ConfigError
from subalign.numerics.fourier import forward, inverse
from subalign.numerics.geometry import (
    RigidTransform,
    euler_zyz_to_matrix,
    rotation_angle_deg,
    rotation_vector_to_matrix,
    transform_distance_term,
)
from subalign.numerics.parameterization import (
    AxisParameterization,
    EulerParameterization,
    IncrementParameterization,
    chain_jacobian,
)
from subalign.numerics.measurement import (
    Acquisition,
    SampledWeights,
    TiltPlanes,
    model_weights,
    rotated_weights,
)
from subalign.numerics.wedge import TiltRange
from subalign.plugin.hookspecs import hookimpl
from subalign.plugin.protocols import (
    BinnableScore,
    CalibratedObjective,
    Constraint,
    Measurement,
    MeasurementModel,
    Objective,
    Optimizer,
    OptimizerState,
    Parameterization,
    RefinementProblem,
    RefinementResult,
    Refiner,
    Sampler,
    Score,
    WeightedScore,
)
from subalign.scoring.constrained import (
    ConstrainedObjective,
    ConstrainedScore,
    ConstrainedScoreConfig,
)

#: ``(major, minor)`` of this plugin API: 1.0 the layered API of subalign 0.1; 1.1 (0.2)
#: the framework bins every ConstrainedScoreConfig score itself, and moved names warn; 1.2
#: (0.3) measurement models: the ``measurement`` kind, the WeightedScore capability.
API_VERSION = (1, 2)

__all__ = [
    "API_VERSION",
    "Acquisition",
    "AxisParameterization",
    "BinnableScore",
    "CalibratedObjective",
    "ConfigError",
    "ConstrainedObjective",
    "ConstrainedScore",
    "ConstrainedScoreConfig",
    "Constraint",
    "EulerParameterization",
    "IncrementParameterization",
    "Measurement",
    "MeasurementModel",
    "Objective",
    "Optimizer",
    "OptimizerState",
    "Parameterization",
    "RefinementProblem",
    "RefinementResult",
    "Refiner",
    "RigidTransform",
    "SampledWeights",
    "Sampler",
    "Score",
    "TiltPlanes",
    "TiltRange",
    "WeightedScore",
    "chain_jacobian",
    "euler_zyz_to_matrix",
    "forward",
    "hookimpl",
    "inverse",
    "model_weights",
    "rotation_angle_deg",
    "rotated_weights",
    "rotation_vector_to_matrix",
    "transform_distance_term",
]
