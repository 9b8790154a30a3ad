"""PNG figures (needs the ``plots`` extra: matplotlib). Every figure is written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from .errors import MissingExtraError
from .io import atomic_path

__all__ = ["central_slices", "pyplot", "save_figure", "write_figure2b"]

FIGURE2B_SNRS = (float("inf"), 1.0, 0.5, 0.1)
FIGURE2B_TILTS = ((-60.0, 60.0), (-40.0, 40.0))
SLICE_PLANES = ("xy", "xz", "yz")


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, or an error that says how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError(
            "writing PNG figures needs matplotlib: pip install 'subalign[plots]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")
    pyplot().close(figure)
    return Path(path)


def central_slices(volume: np.ndarray) -> dict[str, np.ndarray]:
    """Central sections through the box centre ``N // 2``.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
        ``[z, y, x]``.

    Returns
    -------
    dict
        ``xy`` (``[y, x]`` at ``z = N // 2``), ``xz`` (``[z, x]``), ``yz`` (``[z, y]``).
    """
    c = volume.shape[0] // 2
    return {"xy": volume[c], "xz": volume[:, c, :], "yz": volume[:, :, c]}


def write_figure2b(config: DictConfig, density: np.ndarray, path: str | Path) -> Path:
    """Paper Figure 2b: particle 0 at SNR inf, 1, 0.5, 0.1 and tilt +-60, +-40.

    Rows are (tilt range, plane) for planes xy, xz, yz; columns are SNRs. Each panel is
    scaled to its own range; the missing wedge shows as elongation along z in xz and yz.

    Parameters
    ----------
    config : DictConfig
        A :class:`subalign.simulate.SimulateConfig` node; its imaging settings other than
        SNR and tilt range are kept.
    density : ndarray of shape (N, N, N)
    path : str or Path
    """
    from .simulate import simulate_particle

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
