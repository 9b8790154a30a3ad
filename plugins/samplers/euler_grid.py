"""``euler_grid``: candidate rotations on a regular ZYZ Euler grid (the paper's sampling).

``phi`` and ``psi`` run over ``[0, 360)`` and ``theta`` over ``[0, 180)`` in steps of
``interval_deg``: 60 degrees gives 6 * 3 * 6 = 108 candidates, 45 degrees 8 * 4 * 8 = 256.
The grid is redundant at ``theta = 0``, where only ``phi + psi`` matters: 30 of the 108
candidates at 60 degrees repeat a rotation (``stochastic_parallel`` drops the copies).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from subalign.api import ConfigError, euler_zyz_to_matrix, hookimpl


@dataclass
class EulerGridConfig:
    """Attributes: ``interval_deg`` (float), the grid step in degrees (0 < step <= 180)."""

    interval_deg: float = 60.0


class EulerGridSampler:
    """Regular ZYZ grid: phi, psi in [0, 360), theta in [0, 180), step interval_deg."""

    def __init__(self, config: EulerGridConfig) -> None:
        if not 0 < config.interval_deg <= 180:
            raise ConfigError(
                f"sampler.interval_deg: expected 0 < step <= 180 degrees, found {config.interval_deg}"
            )
        self.interval = float(config.interval_deg)

    def angles_about_axis(self) -> np.ndarray:
        """``[0, 360)`` in steps of ``interval_deg``, shape (360 / interval,)."""
        return np.arange(0.0, 360.0 - 1e-9, self.interval)

    def rotations(self) -> np.ndarray:
        """Grid rotations, shape (K, 3, 3), ordered by phi, then theta, then psi."""
        turn = self.angles_about_axis()
        tilt = np.arange(0.0, 180.0 - 1e-9, self.interval)
        grid = np.stack(np.meshgrid(turn, tilt, turn, indexing="ij"), axis=-1).reshape(-1, 3)
        return euler_zyz_to_matrix(grid)


@hookimpl
def subalign_register_samplers(register):
    register("euler_grid", EulerGridSampler, EulerGridConfig)
