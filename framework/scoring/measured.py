"""Preparing any score for a pair whose volumes carry measurement models.

Scores with the :class:`~subalign.plugin.protocols.WeightedScore` capability
(``accepts_measurement_models = True``: the built-in RCS and FCS) are prepared with the
models themselves; any other score, written against tilt ranges, with the models' single-axis
wedges (``model.tilt_range()``), said once per score in the log. A tilt range is its own wedge,
so with tilt ranges every score is prepared exactly as before measurement models.
"""

from __future__ import annotations

import logging

import numpy as np

from subalign.numerics.wedge import TiltRange

__all__ = ["prepare_score"]

log = logging.getLogger("subalign")
_SAID: set = set()


def prepare_score(score, fixed: np.ndarray, moving: np.ndarray, fixed_model, moving_model):
    """``score.prepare(fixed, moving, ...)`` with the models the score takes.

    Parameters
    ----------
    score : Score
    fixed, moving : ndarray of shape (N, N, N)
    fixed_model, moving_model : TiltRange or measurement model

    Returns
    -------
    Objective
    """
    if not getattr(score, "accepts_measurement_models", False):
        models = (fixed_model, moving_model)
        if not all(isinstance(m, TiltRange) for m in models):
            name = getattr(score, "name", type(score).__name__)
            if name not in _SAID:
                _SAID.add(name)
                log.info("score %s takes tilt ranges only: it compares each particle's "
                         "single-axis wedge, not its measurement model", name)
            fixed_model, moving_model = (m.tilt_range() for m in models)
    return score.prepare(fixed, moving, fixed_model, moving_model)
