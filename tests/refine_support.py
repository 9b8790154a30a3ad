"""Shared by the averaging and classification tests and benchmarks/refine_sets.py: simulated
particle sets of one or several structures, on disk as a user gets them.

Every set is made by ``subalign simulate``'s own writer (:func:`batch_support.simulate`:
``particles.star`` in RELION 5, ``wedges.csv``, the true map as ``reference.mrc``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from batch_support import simulate
from subalign.io.formats import read_particles, write_particles
from subalign.io.particles import ParticleSet

#: Small and cheap alignment settings for tests at 16^3: a coarse global scan, few steps.
QUICK = ["scan.keep=4", "sampler.spacing_deg=30", "polish_max_steps=10",
         "refiner.n_max_iter=20", "figures=false"]


@pytest.fixture(autouse=True)
def keep_log_handlers():
    """Imported by a test module: after each test, the ``subalign`` logger's handlers as
    before it. The CLI adds a stderr handler once per process; bound to one test's captured
    stderr, it would write into a closed file in the next test."""
    logger = logging.getLogger("subalign")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


def mixture(directory: Path, structures: list[tuple[str, ...]], per_class: int,
            *overrides: str, seed: int = 0, name: str = "mixture.star") -> Path:
    """``per_class`` particles of each structure (``structures[c]``: the simulate overrides
    that make it) as one RELION 5 set: class ``c + 1`` for the particles of
    ``structures[c]``, in that order, with absolute subtomogram paths and ``wedges.csv``;
    each structure's true map is ``class<c + 1>/reference.mrc``.

    Returns
    -------
    Path
        The set.
    """
    parts = [simulate(directory / f"class{c + 1}", f"n={per_class}", f"seed={seed + c}",
                      *overrides, *extra) for c, extra in enumerate(structures)]
    sets = [read_particles(part / "particles.star", tomograms=part / "wedges.csv")
            for part in parts]
    names = np.concatenate([[str(s.resolve(n).resolve()) for n in s.fields["subtomogram"]]
                            for s in sets])
    combined = ParticleSet.create(
        np.concatenate([s.rotations for s in sets]), np.concatenate([s.shifts for s in sets]),
        pixel_size=sets[0].pixel_size, subtomogram=names.astype(object),
        tomogram=np.array(["1"] * len(names), dtype=object),
        class_number=np.repeat(np.arange(1, len(sets) + 1), per_class),
        half_set=1 + np.arange(len(names)) % 2, box_size=sets[0].box_size)
    write_particles(combined, directory / name, "relion5")
    (directory / "wedges.csv").write_text((parts[0] / "wedges.csv").read_text())
    return directory / name
