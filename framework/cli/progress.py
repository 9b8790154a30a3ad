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

    @hookimpl
    def subalign_alignment_started(self, n_candidates):
        log.info("refining %d candidates", n_candidates)

    @hookimpl
    def subalign_candidate_step(self, step, record):
        if step % self.every == 0:
            log.info("step %d: record minimum %.6g", step, record)

    @hookimpl
    def subalign_alignment_finished(self, result):
        log.info("finished: %s = %.6g after %d steps, %d candidates, %.2f s, confidence %s",
                 result.score_name, result.score_value, result.lm_steps,
                 result.n_candidates, result.seconds,
                 "-" if result.confidence is None else f"{result.confidence:.3f}")
