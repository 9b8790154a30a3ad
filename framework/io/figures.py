"""PNG figures (needs the ``plots`` extra: matplotlib). Every figure is written atomically."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from subalign.errors import MissingExtraError
from subalign.io.files import atomic_path

__all__ = ["SLICE_PLANES", "central_slices", "figures_available", "pyplot", "save_figure",
           "slices_figure"]

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


def figures_available(setting: str) -> bool:
    """Whether matplotlib is installed; if not, one log line says the PNG figures are
    skipped, how to get them, and which setting (``figures``, ``histogram``) silences it.
    A command's results never depend on it: figures only show them."""
    try:
        pyplot()
    except MissingExtraError:
        logging.getLogger(__name__).warning(
            "figures skipped: PNG figures need matplotlib (pip install 'subalign[plots]'); "
            "%s=false silences this", setting)
        return False
    return True


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


def slices_figure(volumes: dict[str, np.ndarray], path: str | Path, *, title: str = "") -> Path:
    """One row of central sections (:func:`central_slices`: xy, xz, yz) per volume; PNG.

    Parameters
    ----------
    volumes : dict of str to ndarray of shape (N, N, N)
        Row label -> ``[z, y, x]`` volume; each panel is scaled to its own range.
    path : str or Path
    title : str
    """
    plt = pyplot()
    figure, axes = plt.subplots(len(volumes), 3, figsize=(6, 2 * len(volumes)), squeeze=False)
    for row, (label, volume) in enumerate(volumes.items()):
        for column, (plane, image) in enumerate(central_slices(volume).items()):
            axes[row, column].imshow(image, cmap="gray", origin="lower")
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
            if row == 0:
                axes[row, column].set_title(plane)
        axes[row, 0].set_ylabel(label, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path)
