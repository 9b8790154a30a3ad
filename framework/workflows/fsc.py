"""Fourier shell correlation, the resolution where it crosses a threshold, its table and plot.

Shells are one Fourier voxel wide (shell ``s`` holds radii in ``[s, s + 1)`` voxels of the
``N``-voxel box, centre ``(s + 0.5) / N`` cycles/voxel) up to Nyquist. Resolutions are in
the unit of the voxel size given (Angstrom for maps with a pixel size). Two thresholds are
reported: 0.143 between independently refined half maps (the gold standard) and 0.5.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from subalign.io.figures import pyplot, save_figure
from subalign.io.files import atomic_path
from subalign.numerics.fourier import forward, fourier_grid, scale_shells, shell_index

__all__ = ["THRESHOLDS", "fsc", "fsc_figure", "fsc_weighted", "read_fsc_table", "resolution_at",
           "resolutions", "write_fsc_table"]

#: The FSC thresholds every curve is read at.
THRESHOLDS = (0.143, 0.5)


def fsc(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fourier shell correlation in one-voxel-wide shells up to Nyquist.

    Parameters
    ----------
    first, second : ndarray of shape (N, N, N)

    Returns
    -------
    frequency : ndarray of shape (N // 2,)
        Shell centres in cycles/voxel (shell ``s`` holds radii in ``[s, s + 1)`` voxels).
    correlation : ndarray of shape (N // 2,)
    """
    shape = first.shape
    shells = shell_index(shape)
    a, b, w = forward(first), forward(second), fourier_grid(shape).hermitian_weights
    count = shape[0] // 2
    keep = shells < count
    cross = np.bincount(shells[keep], (w * np.real(a * np.conj(b)))[keep], count)
    power_a = np.bincount(shells[keep], (w * np.abs(a) ** 2)[keep], count)
    power_b = np.bincount(shells[keep], (w * np.abs(b) ** 2)[keep], count)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = cross / np.sqrt(power_a * power_b)
    return (np.arange(count) + 0.5) / shape[0], np.nan_to_num(correlation)


def fsc_weighted(half: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """A half map Wiener-filtered by its half-set FSC: each shell times ``max(FSC, 0)``.

    A half map is ``H = S + E``, signal and independent error; two halves correlate as
    ``FSC = P_S / (P_S + P_E)`` per shell, which is the Wiener gain ``SSNR / (1 + SSNR)``
    of one half (SSNR ``= P_S / P_E``). Shells past Nyquist's corner keep the last shell's
    weight. A masked FSC overstates the gain where the mask correlates the halves.

    Parameters
    ----------
    half : ndarray of shape (N, N, N)
    correlation : ndarray of shape (N // 2,)
        FSC per shell (:func:`fsc`).

    Returns
    -------
    ndarray of shape (N, N, N), float64
    """
    return scale_shells(half, np.clip(np.asarray(correlation, dtype=float), 0.0, 1.0))


def resolution_at(frequency: np.ndarray, correlation: np.ndarray, threshold: float,
                  voxel_size: float = 1.0) -> float:
    """Resolution (``voxel_size`` units) where the FSC first falls below ``threshold``.

    The crossing is interpolated linearly between shells, starting from shell 1 (shell 0
    holds the DC term). If the FSC never falls below, the Nyquist resolution ``2 *
    voxel_size`` is returned; if shell 1 is already below, ``inf``.
    """
    for shell in range(1, len(correlation)):
        if correlation[shell] < threshold:
            if shell == 1:
                return float("inf")
            high, low = correlation[shell - 1], correlation[shell]
            t = (high - threshold) / (high - low)
            crossing = frequency[shell - 1] + t * (frequency[shell] - frequency[shell - 1])
            return float(voxel_size / crossing)
    return float(2 * voxel_size)


def resolutions(frequency: np.ndarray, correlation: np.ndarray, voxel_size: float) -> dict:
    """``{"0.143": d, "0.5": d}``: the resolution at each of :data:`THRESHOLDS`."""
    return {f"{t:g}": resolution_at(frequency, correlation, t, voxel_size) for t in THRESHOLDS}


def write_fsc_table(path: str | Path, frequency: np.ndarray, correlation: np.ndarray,
                    voxel_size: float) -> Path:
    """Write an FSC curve as CSV: ``shell, frequency_per_angstrom, resolution_angstrom, fsc``.

    Parameters
    ----------
    path : str or Path
    frequency, correlation : ndarray of shape (S,)
        From :func:`fsc` (cycles/voxel).
    voxel_size : float
        Angstrom per voxel.
    """
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["shell", "frequency_per_angstrom", "resolution_angstrom", "fsc"])
    for shell, (f, c) in enumerate(zip(frequency, correlation)):
        writer.writerow([shell, f"{f / voxel_size:.6g}", f"{voxel_size / f:.4g}", f"{c:.6f}"])
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text.getvalue())
    return Path(path)


def read_fsc_table(path: str | Path, voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """A curve written by :func:`write_fsc_table`: frequency (cycles/voxel of ``voxel_size``
    Angstrom) and FSC, each of shape (S,)."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return table[:, 1] * voxel_size, table[:, 3]


def fsc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], voxel_size: float,
               path: str | Path, *, title: str = "") -> Path:
    """Plot FSC curves against resolution with the :data:`THRESHOLDS` as lines; PNG.

    Shell 0 (the DC term alone, +-1) is left out.

    Parameters
    ----------
    curves : dict of str to (frequency, correlation)
        Label -> a curve of :func:`fsc` (cycles/voxel).
    voxel_size : float
        Angstrom per voxel (the axis is in 1/Angstrom).
    path : str or Path
    title : str
    """
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    for label, (frequency, correlation) in curves.items():
        axis.plot(np.asarray(frequency)[1:] / voxel_size, np.asarray(correlation)[1:],
                  label=label)
    for threshold in THRESHOLDS:
        axis.axhline(threshold, color="grey", lw=0.6, ls="--")
    axis.set_xlabel("spatial frequency (1/Å)")
    axis.set_ylabel("FSC")
    axis.set_ylim(-0.1, 1.02)
    if title:
        axis.set_title(title, fontsize=9)
    ticks = axis.get_xticks()
    top = axis.secondary_xaxis("top")
    top.set_xticks([t for t in ticks if t > 0])
    top.set_xticklabels([f"{1 / t:.0f}" for t in ticks if t > 0])
    top.set_xlabel("resolution (Å)")
    axis.legend(fontsize=7)
    return save_figure(figure, path)
