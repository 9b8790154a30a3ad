"""Paper Figure 2b: simulated subtomograms at several SNRs and tilt ranges, as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from subalign.io.figures import SLICE_PLANES, central_slices, pyplot, save_figure
from subalign.simulation.simulate import simulate_particle

__all__ = ["write_figure2b"]

FIGURE2B_SNRS = (float("inf"), 1.0, 0.5, 0.1)
FIGURE2B_TILTS = ((-60.0, 60.0), (-40.0, 40.0))


def write_figure2b(config: DictConfig, density: np.ndarray, path: str | Path) -> Path:
    """Paper Figure 2b: particle 0 at SNR inf, 1, 0.5, 0.1 and tilt +-60, +-40.

    Rows are (tilt range, plane) for planes xy, xz, yz; columns are SNRs. Each panel is
    scaled to its own range; the missing wedge shows as elongation along z in xz and yz.

    Parameters
    ----------
    config : DictConfig
        A :class:`subalign.simulation.simulate.SimulateConfig` node; its imaging settings other than
        SNR and tilt range are kept.
    density : ndarray of shape (N, N, N)
    path : str or Path
    """
    plt = pyplot()
    rows = [(tilt, plane) for tilt in FIGURE2B_TILTS for plane in SLICE_PLANES]
    figure, axes = plt.subplots(len(rows), len(FIGURE2B_SNRS),
                                figsize=(1.8 * len(FIGURE2B_SNRS), 1.8 * len(rows)))
    for column, snr in enumerate(FIGURE2B_SNRS):
        for tilt in FIGURE2B_TILTS:
            variant = OmegaConf.merge(config, {"imaging": {"snr": snr,
                                                           "tilt_range_deg": list(tilt)}})
            slices = central_slices(simulate_particle(variant, density, 0).subtomogram.volume)
            for plane in SLICE_PLANES:
                axis = axes[rows.index((tilt, plane)), column]
                axis.imshow(slices[plane], cmap="gray", origin="lower")
                axis.set_xticks([])
                axis.set_yticks([])
                if rows.index((tilt, plane)) == 0:
                    axis.set_title(f"SNR {snr:g}")
                if column == 0:
                    axis.set_ylabel(f"±{tilt[1]:g}° {plane}")
    figure.suptitle("Simulated subtomograms (particle 0)")
    return save_figure(figure, path)
