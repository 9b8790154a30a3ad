"""Hook specifications: the whole plugin API of subalign in one module.

A plugin is a module (or object) with functions named like the specs below and decorated
with :data:`subalign.hookimpl`. Distributions make a plugin known through an entry point in
the ``subalign`` group; subalign's own built-in plugins are registered exactly that way.
Hooks are always called with keyword arguments, so an implementation may accept any subset
of a spec's parameters.

Registration hooks receive a ``register`` callback ``register(name, plugin_class,
config_class)``: ``plugin_class(config)`` must build an object satisfying the kind's
protocol in :mod:`subalign.plugin.protocols`, and ``config_class`` is a dataclass whose fields
(all with defaults) become the Hydra config group of that kind, so ``score=<name>
score.<field>=<value>`` works with no YAML file. The registry rejects duplicate names,
reserved field names and classes that lack the protocol's methods.

Observer hooks are called while an alignment runs. They must not change their arguments;
their return values are ignored.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("subalign")
#: Marks a plugin's hook implementations; exported as ``subalign.hookimpl``.
hookimpl = pluggy.HookimplMarker("subalign")

# --------------------------------------------------------------------------------------
# Registration hooks: called once per plugin manager, when it is built, in plugin order.
# --------------------------------------------------------------------------------------


@hookspec
def subalign_register_scores(register) -> None:
    """Register dissimilarity scores (protocol :class:`subalign.plugin.protocols.Score`).

    Called once when the plugin manager is built.

    :param register: ``register(name, plugin_class, config_class)``.
    :return: ignored.
    """


@hookspec
def subalign_register_optimizers(register) -> None:
    """Register local optimizers (protocol :class:`subalign.plugin.protocols.Optimizer`).

    Called once when the plugin manager is built.

    :param register: ``register(name, plugin_class, config_class)``.
    :return: ignored.
    """


@hookspec
def subalign_register_samplers(register) -> None:
    """Register candidate-rotation samplers (protocol :class:`subalign.plugin.protocols.Sampler`).

    Called once when the plugin manager is built.

    :param register: ``register(name, plugin_class, config_class)``.
    :return: ignored.
    """


@hookspec
def subalign_register_constraints(register) -> None:
    """Register constraint models (protocol :class:`subalign.plugin.protocols.Constraint`).

    A constraint model decides which rigid transforms are searched (e.g. all of SO(3), or
    rotations about one axis) and how they are parameterized for the optimizer.
    Called once when the plugin manager is built.

    :param register: ``register(name, plugin_class, config_class)``.
    :return: ignored.
    """


@hookspec
def subalign_register_refiners(register) -> None:
    """Register refiners (protocol :class:`subalign.plugin.protocols.Refiner`).

    A refiner turns a set of candidate transforms into one best transform, deciding which
    candidate the local optimizer works on next. Called once when the plugin manager is built.

    :param register: ``register(name, plugin_class, config_class)``.
    :return: ignored.
    """


@hookspec
def subalign_register_measurements(register) -> None:
    """Register measurement models (protocol :class:`subalign.plugin.protocols.Measurement`).

    A measurement plugin builds each particle's model of how it was measured (its Fourier
    transfer: a tilt range, the measured planes, CTF^2 x dose^2) from what the particle set
    knows of its acquisition; ``batch``, ``average`` and ``classify`` choose one with
    ``measurement=<name>``. Called once when the plugin manager is built.

    :param register: ``register(name, plugin_class, config_class)``.
    :return: ignored.
    """


# --------------------------------------------------------------------------------------
# Observer hooks: called during an alignment; every implementation is called.
# --------------------------------------------------------------------------------------


@hookspec
def subalign_alignment_started(n_candidates: int, config) -> None:
    """Called once per aligned pair, after candidates are built and before refinement.

    :param n_candidates: number of candidate transforms the refiner starts from.
    :param config: the alignment config (a mapping with ``score``, ``optimizer``, ...).
    :return: ignored.
    """


@hookspec
def subalign_candidate_step(
    candidate: int, step: int, value: float, record: float, record_transform
) -> None:
    """Called after every local-optimizer step of a candidate.

    :param candidate: index of the candidate in the refiner's starting list.
    :param step: number of optimizer steps taken so far on this pair (all candidates), 1-based.
    :param value: the candidate's score after the step.
    :param record: the lowest score of any candidate so far (the record minimum).
    :param record_transform: the :class:`~subalign.numerics.geometry.RigidTransform` holding the
        record, in the input volumes' voxels (binned search stages are scaled back), or
        None when the refiner does not report it. Implementations may leave it out.
    :return: ignored.
    """


@hookspec
def subalign_alignment_finished(result) -> None:
    """Called once per aligned pair with its :class:`subalign.align.AlignmentResult`.

    :param result: the finished result (transform, score, steps, trace, seconds).
    :return: ignored.
    """
