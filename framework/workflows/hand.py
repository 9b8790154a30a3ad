"""Is the reference in the particles' hand? Both hands scored on a few particles.

A reference in the other hand than the particles (a map flipped for deposition, a project
whose tilt angles were inverted at import) cannot be aligned to: every pose found is wrong.
Particles that carry poses (refined, or from template matching) say which hand they agree
with. :func:`check_hand` aligns ``count`` of them, spread over the set, by a local search
around their own poses (:func:`subalign.workflows.batch.worker.local_search` with its
defaults) to the reference and to its mirror along ``z`` (:func:`subalign.numerics.volumes.flip_volume`),
and compares the scores pair by pair. The mirror *wins* when at least two thirds of the
particles score better against it and the mean improvement exceeds two standard errors of
the paired differences; only then is the reference refused, in one line with the fix
(``reference_flip=z``; ``hand_check=0`` skips the check). A set whose poses are all equal
(no prior) is not checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from subalign.align.pair import align_pair
from subalign.errors import ConfigError
from subalign.io.particles import ParticleSet
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.volumes import FLIP_AXES, flip_volume

__all__ = ["HandCheck", "check_hand", "reference_hand"]

logger = logging.getLogger(__name__)

#: The local search of the check, as :class:`subalign.workflows.batch.config.LocalSearchConfig`.
LOCAL = {"cone_deg": 15.0, "spacing_deg": 7.5, "max_shift_voxels": 3.0, "keep": 4}


@dataclass(frozen=True)
class HandCheck:
    """The scores of ``rows`` against the reference as given (``given``) and mirrored
    (``mirrored``), each shape (k,), lower is better."""

    rows: np.ndarray
    given: np.ndarray
    mirrored: np.ndarray

    @property
    def mirror_wins(self) -> bool:
        """At least 2/3 prefer the mirror, and its mean gain exceeds 2 standard errors."""
        gain = self.given - self.mirrored
        if len(gain) < 2:
            return False
        error = gain.std(ddof=1) / np.sqrt(len(gain))
        return bool((gain > 0).mean() >= 2 / 3 and gain.mean() > 2 * error)

    def summary(self) -> str:
        """One line: how many particles prefer each hand, and the mean scores."""
        better = int((self.mirrored < self.given).sum())
        return (f"{better} of {len(self.rows)} particles score better against the z-mirrored "
                f"reference (mean dissimilarity {self.mirrored.mean():.4g} mirrored, "
                f"{self.given.mean():.4g} as given)")


def reference_hand(volume: np.ndarray, flip: str | None, field: str = "reference_flip") -> np.ndarray:
    """``volume`` mirrored along ``flip`` (``"x"``, ``"y"``, ``"z"``; None: as it is)."""
    if flip in (None, ""):
        return volume
    if flip not in FLIP_AXES:
        raise ConfigError(f"{field}: expected one of {', '.join(FLIP_AXES)} or null, found {flip!r}")
    return flip_volume(volume, flip)


def _scores(particles: ParticleSet, rows: np.ndarray, tilts: np.ndarray, maps: tuple, align: dict,
            *, box_size: int | None, edge: str) -> np.ndarray:
    """Each map's score (after a local search around the particle's pose) for each of
    ``rows``, shape (len(maps), len(rows)).

    Each particle is compared over its single-axis wedge (the ``tilt_range`` measurement
    model), whatever the run's ``measurement``: on EMPIAR-10499 the map as given scores
    better mirrored on 7 of 8 particles with the wedge and 3 or 4 of 8 with ``ctf``
    (``CTF^2 x dose^2`` weights leave little of the low frequencies that tell the hands
    apart, docs/benchmarks.md)."""
    from subalign.workflows.batch.worker import local_search

    scores = np.zeros((len(maps), len(rows)))
    quiet = logging.getLogger("subalign")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # a local search's low-confidence warnings mean nothing here
    try:
        with SubtomogramReader(particles, box_size=box_size, edge=edge) as reader:
            for k, row in enumerate(rows):
                box = reader(int(row))
                config = {**align, "fixed_wedge": {"tilt_range_deg": [-90.0, 90.0]},
                          "moving_wedge": {"tilt_range_deg": [float(a) for a in tilts[row]]},
                          **local_search(box.pose.inverse(), LOCAL)}
                for side, volume in enumerate(maps):
                    scores[side, k] = align_pair(config, volume, box.volume).score_value
    finally:
        quiet.setLevel(level)
    return scores


def _has_priors(particles: ParticleSet) -> bool:
    return bool(np.ptp(particles.rotations.reshape(len(particles), -1), axis=0).max() > 1e-6)


def check_hand(particles: ParticleSet, tilts: np.ndarray, reference: np.ndarray, align: dict,
               *, count: int, reference_field: str = "reference", box_size: int | None = None,
               edge: str = "error") -> HandCheck | None:
    """Score both hands of ``reference`` on ``count`` particles (module docstring).

    Parameters
    ----------
    particles : ParticleSet
    tilts : ndarray of shape (n, 2)
        Each particle's tilt range ``[min, max]`` in degrees.
    reference : ndarray of shape (N, N, N)
    align : dict
        The run's alignment settings.
    count : int
        Particles to score (0: no check).
    reference_field : str
        The setting that names the reference, for the message.
    box_size, edge
        How boxes are cropped from tomograms, as for :class:`SubtomogramReader`.

    Returns
    -------
    HandCheck or None
        None when not checked (``count`` 0, or no poses to score at).

    Raises
    ------
    ConfigError
        The mirror wins: the reference is in the other hand.
    """
    if count <= 0 or not _has_priors(particles):
        if count > 0:
            logger.info("hand check skipped: the set's poses are all equal (no prior to score at)")
        return None
    rows = np.unique(np.linspace(0, len(particles) - 1, min(count, len(particles))).round().astype(int))
    logger.info("hand check: scoring %d particles against the reference and its mirror "
                "(hand_check=0 skips this)", len(rows))
    scores = _scores(particles, rows, tilts, (reference, flip_volume(reference, "z")), align,
                     box_size=box_size, edge=edge)
    check = HandCheck(rows, scores[0], scores[1])
    if check.mirror_wins:
        raise ConfigError(f"{reference_field}: in the other hand than the particles' poses: "
                          f"{check.summary()}; expected the particles' hand (give "
                          "reference_flip=z to mirror it, or hand_check=0 to skip this check)")
    logger.info("hand check: %s; the reference's hand is kept", check.summary())
    return check
