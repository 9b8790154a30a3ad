"""A progress observer: logs a line every ``every`` optimizer steps and a summary per pair.

It implements the observer hooks, so it is registered like any plugin (the CLI does so).
"""

from __future__ import annotations

import logging

from subalign.plugin.hookspecs import hookimpl

log = logging.getLogger("subalign")

__all__ = ["ProgressLog"]


class ProgressLog:
    """Log alignment progress through :mod:`logging` (Hydra configures the handlers)."""

    def __init__(self, every: int = 50) -> None:
        self.every = every
        self._record = None

    @hookimpl
    def subalign_alignment_started(self, n_candidates):
        self._record = None
        log.info("refining %d candidates (search score, on binned volumes when the box "
                 "allows)", n_candidates)

    @hookimpl
    def subalign_candidate_step(self, step, record):
        # A record minimum only falls within a stage; a rise is the polish starting, whose
        # full-size score is on another scale than the search score.
        if self._record is not None and record > self._record:
            log.info("step %d: polishing the best basins at full size with the configured "
                     "score (values on its own scale)", step)
        self._record = record
        if step % self.every == 0:
            log.info("step %d: record minimum %.6g", step, record)

    @hookimpl
    def subalign_alignment_finished(self, result):
        log.info("finished: %s = %.6g after %d steps, %d candidates, %.2f s, confidence %s",
                 result.score_name, result.score_value, result.lm_steps,
                 result.n_candidates, result.seconds,
                 "-" if result.confidence is None else f"{result.confidence:.3f}")
