"""Post-processing of two half maps as RELION's ``relion_postprocess`` does it.

From two independently refined half maps and a soft mask:

**FSC curves** (:func:`fsc_curves`), in the one-voxel shells of :mod:`subalign.workflows.fsc`:

- ``unmasked``: the half maps as they are;
- ``masked``: both multiplied by the mask; a tight mask correlates them beyond the true
  resolution (the mask's own spectrum is shared);
- ``randomized_masked``: the same after replacing the phases of both half maps, from the
  first shell where the unmasked FSC falls below :data:`RANDOMIZE_BELOW` (0.8), by random
  ones (each half its own, seeded: the same inputs give the same curves). What remains of
  their correlation there is the mask's;
- ``corrected`` (Chen et al. 2013): the masked FSC up to :data:`CORRECTION_OFFSET` (2)
  shells past the first randomized one (RELION's offset, which skips the artefacts near the
  randomization shell), beyond them ``(FSC_masked - FSC_randomized) / (1 - FSC_randomized)``.
  If the unmasked FSC never falls below 0.8, nothing is randomized and ``corrected`` is the
  masked curve. The resolution of the map is the corrected curve's at 0.143.

**B-factor** (:func:`fit_bfactor`): the Guinier plot is ``ln <|F|^2>`` per shell against
``s^2 = 1/d^2`` (Å^-2) of the masked average of the halves, each shell weighted by the FSC
weight below (RELION fits the weighted map too). A straight line through the shells from
``fit_from`` Å to the corrected resolution gives the slope, and the B-factor is
``B = 2 * slope`` (Å^2). **Convention**: the map is sharpened by multiplying its spectrum by
``exp(-B / 4 * s^2)``, so a negative B sharpens; a map whose amplitudes fall off as
``exp(-B_0 / 4 * s^2)`` (a blur of temperature factor ``B_0 > 0``) gives ``B = -B_0`` and is
restored by it. RELION reports B the same way (``4 * `` the slope of ``ln <|F|>``).
``fit_from`` is RELION's 10 Å (:func:`guinier_range`): a map coarser than that gets no
line unless ``fit_from`` is given, since its shells fall with the CTF's envelope and the
particle's shape more than with a B-factor. With fewer than
:data:`MIN_GUINIER_SHELLS` (3) shells in the range no line is fitted, and the result says so.

**Sharpened map** (:func:`sharpen`): the average of the halves, its spectrum multiplied per
shell by the FSC weight ``sqrt(2 FSC / (1 + FSC))`` of the corrected curve (0 where it is
<= 0; Rosenthal & Henderson 2003) and by ``exp(-B / 4 * s^2)``, then low-passed at the
corrected resolution with the cosine edge of :func:`subalign.workflows.maps.lowpass`.

Files (:func:`write_postprocess`) are written atomically; see ``docs/workflows.md``.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from subalign.errors import ConfigError
from subalign.io.figures import pyplot, save_figure, slices_figure
from subalign.io.files import atomic_path, write_json
from subalign.io.mrc import write_volume
from subalign.numerics.fourier import forward, fourier_grid, inverse, shell_index
from subalign.workflows.fsc import THRESHOLDS, fsc, fsc_figure, resolution_at, resolutions
from subalign.workflows.local_resolution import local_resolution, local_resolution_figure
from subalign.workflows.maps import lowpass
from subalign.workflows.phase_randomization import (CORRECTION_OFFSET, PHASE_SEED,
                                                    corrected_fsc, randomization_shell,
                                                    randomize_phases)

__all__ = ["CURVES", "MIN_GUINIER_SHELLS", "BFactorFit", "FscCurves", "Postprocessed", "fit_bfactor", "fsc_curves", "guinier",
           "guinier_range", "postprocess", "randomized_halves", "run_postprocess", "sharpen",
           "write_postprocess"]

log = logging.getLogger(__name__)

#: The low-resolution end of the Guinier fit, Å (RELION's ``--autob_lowres``).
GUINIER_FROM_ANGSTROM = 10.0
#: Fewest shells a B-factor is fitted over.
MIN_GUINIER_SHELLS = 3
#: The curves of :class:`FscCurves`, in the order of the table's columns.
CURVES = ("corrected", "unmasked", "masked", "randomized_masked")


@dataclass(frozen=True)
class FscCurves:
    """The four FSC curves of post-processing (module docstring), each of shape (S,).

    Attributes
    ----------
    frequency : ndarray
        Shell centres, cycles/voxel.
    unmasked, masked, randomized_masked, corrected : ndarray
    randomized_from : int or None
        The first shell whose phases were randomized (None: the unmasked FSC never falls
        below :data:`RANDOMIZE_BELOW`, and ``corrected`` is ``masked``).
    """

    frequency: np.ndarray
    unmasked: np.ndarray
    masked: np.ndarray
    randomized_masked: np.ndarray
    corrected: np.ndarray
    randomized_from: int | None

    def resolutions(self, pixel_size: float) -> dict:
        """``{curve: {"0.143": d, "0.5": d}}`` in Å (``inf`` if below from shell 1)."""
        return {name: resolutions(self.frequency, getattr(self, name), pixel_size)
                for name in CURVES}


def fsc_curves(first: np.ndarray, second: np.ndarray, mask: np.ndarray, *,
               seed: int = PHASE_SEED) -> FscCurves:
    """The unmasked, masked, phase-randomized masked and corrected FSC (module docstring).

    Parameters
    ----------
    first, second : ndarray of shape (N, N, N)
        The half maps.
    mask : ndarray of shape (N, N, N)
        Values in [0, 1].
    seed : int
        Of the random phases.
    """
    frequency, unmasked = fsc(first, second)
    masked = fsc(first * mask, second * mask)[1]
    start = randomization_shell(unmasked)
    if start is None:
        return FscCurves(frequency, unmasked, masked, np.zeros_like(masked), masked.copy(), None)
    random_first, random_second = randomized_halves(first, second, start, seed)
    randomized = fsc(random_first * mask, random_second * mask)[1]
    return FscCurves(frequency, unmasked, masked, randomized,
                     corrected_fsc(masked, randomized, start), start)


def randomized_halves(first: np.ndarray, second: np.ndarray, start: int,
                      seed: int = PHASE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Both half maps with the phases of shells ``>= start`` randomized (seeded)."""
    rng = np.random.default_rng(seed)
    return randomize_phases(first, start, rng), randomize_phases(second, start, rng)


def fsc_weights(correlation: np.ndarray) -> np.ndarray:
    """``sqrt(2 FSC / (1 + FSC))`` per shell, 0 where the FSC is <= 0."""
    positive = np.clip(correlation, 0.0, 1.0)
    return np.sqrt(2 * positive / (1 + positive))


def _per_shell(shape: tuple[int, int, int], values: np.ndarray) -> np.ndarray:
    """A per-shell array spread onto the half spectrum (0 beyond the last shell)."""
    padded = np.concatenate([values, [0.0]])
    return padded[np.minimum(shell_index(shape), len(values))]


def guinier(volume: np.ndarray, pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """The Guinier plot of a map: ``s^2`` (Å^-2) and ``ln <|F|^2>`` of shells 1 to N/2 - 1.

    Shells whose power is 0 give ``-inf``.
    """
    shape = volume.shape
    index, count = shell_index(shape), shape[0] // 2
    keep = index < count
    weights = fourier_grid(shape).hermitian_weights
    power = np.bincount(index[keep], (weights * np.abs(forward(volume)) ** 2)[keep], count)
    number = np.bincount(index[keep], weights[keep], count)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_power = np.log(power / number)
    s2 = ((np.arange(count) + 0.5) / shape[0] / pixel_size) ** 2
    return s2[1:], ln_power[1:]


def guinier_range(resolution: float, fit_from: float | None = None) -> tuple[float, float]:
    """``(low, high)`` Å of the Guinier fit: from ``fit_from`` (default RELION's 10 Å) to
    ``resolution``. A map coarser than 10 Å gets no fit by default: its shells fall with the
    CTF's envelope and the particle's shape, not with a B-factor (measured: a 30S map at
    21 Å, fitted from 42 Å, gave -15,554 Å², a 6,800-fold boost at 21 Å)."""
    low = GUINIER_FROM_ANGSTROM if fit_from is None else fit_from
    return float(low), float(resolution)


@dataclass(frozen=True)
class BFactorFit:
    """A line through the Guinier plot (module docstring).

    Attributes
    ----------
    bfactor : float or None
        Å^2, ``2 *`` the slope; negative sharpens. None when not fitted.
    intercept : float or None
    shells : int
        Guinier points in the range.
    low, high : float
        The range, Å.
    note : str
        Why no line was fitted ("" when one was).
    """

    bfactor: float | None
    intercept: float | None
    shells: int
    low: float
    high: float
    note: str = ""


def fit_bfactor(s2: np.ndarray, ln_power: np.ndarray, low: float, high: float) -> BFactorFit:
    """Least-squares line through the Guinier points with ``1/low^2 <= s^2 <= 1/high^2``.

    Fewer than :data:`MIN_GUINIER_SHELLS` finite points give no B-factor and a note.
    """
    inside = (s2 >= 1 / low ** 2) & (s2 <= 1 / high ** 2) & np.isfinite(ln_power)
    shells = int(inside.sum())
    if shells < MIN_GUINIER_SHELLS or low <= high:
        note = (f"B-factor not fitted: {shells} Fourier shell(s) between {low:.3g} and "
                f"{high:.3g} Angstrom, expected at least {MIN_GUINIER_SHELLS}")
        return BFactorFit(None, None, shells, low, high, note)
    slope, intercept = np.polyfit(s2[inside], ln_power[inside], 1)
    return BFactorFit(float(2 * slope), float(intercept), shells, low, high)


def sharpen(average: np.ndarray, pixel_size: float, bfactor: float, weights: np.ndarray,
            resolution: float) -> np.ndarray:
    """FSC-weighted, B-factor-sharpened, low-passed map (module docstring).

    Parameters
    ----------
    average : ndarray of shape (N, N, N)
    pixel_size : float
        Å per voxel.
    bfactor : float
        Å^2; the spectrum is multiplied by ``exp(-bfactor / 4 * s^2)`` (negative sharpens).
    weights : ndarray of shape (S,)
        Per shell (:func:`fsc_weights`); ones for none.
    resolution : float
        Low-pass, Å (cosine edge of :func:`subalign.workflows.maps.lowpass`).
    """
    shape = average.shape
    s2 = (fourier_grid(shape).radius / pixel_size) ** 2
    spectrum = forward(average) * _per_shell(shape, weights) * np.exp(-bfactor / 4 * s2)
    return lowpass(inverse(spectrum, shape), pixel_size / resolution)


@dataclass(frozen=True)
class Postprocessed:
    """What :func:`postprocess` found and made.

    Attributes
    ----------
    curves : FscCurves
    resolution : float
        The corrected FSC's 0.143 resolution, Å: the low-pass of the sharpened map.
    fit : BFactorFit
    bfactor : float
        The B-factor applied, Å^2 (given, fitted, or 0 when none could be fitted).
    weighted : ndarray of shape (N, N, N)
        The masked average of the halves with the FSC weights: the Guinier plot's map.
    sharpened : ndarray of shape (N, N, N)
    pixel_size : float
    """

    curves: FscCurves
    resolution: float
    fit: BFactorFit
    bfactor: float
    weighted: np.ndarray
    sharpened: np.ndarray
    pixel_size: float


def postprocess(first: np.ndarray, second: np.ndarray, pixel_size: float, mask: np.ndarray,
                *, bfactor: float | None = None, fit_from: float | None = None,
                seed: int = PHASE_SEED) -> Postprocessed:
    """FSC curves, B-factor and sharpened map of two half maps (module docstring).

    Parameters
    ----------
    first, second : ndarray of shape (N, N, N)
    pixel_size : float
        Å per voxel.
    mask : ndarray of shape (N, N, N)
        Values in [0, 1].
    bfactor : float, optional
        Å^2 to apply (negative sharpens); default: fitted, or 0 where no line can be.
    fit_from : float, optional
        Low-resolution end of the Guinier fit, Å (:func:`guinier_range`).
    seed : int

    Raises
    ------
    ConfigError
        The corrected FSC is below 0.143 from the first shell: the maps share no signal.
    """
    curves = fsc_curves(first, second, mask, seed=seed)
    resolution = resolution_at(curves.frequency, curves.corrected, THRESHOLDS[0], pixel_size)
    if math.isinf(resolution):
        raise ConfigError(
            f"half maps: expected two half maps of one structure, found a corrected FSC of "
            f"{curves.corrected[1]:.3f} (below 0.143) already at the first shell "
            f"({pixel_size * len(first) / 1.5:.0f} Angstrom)")
    weights = fsc_weights(curves.corrected)
    average = (first + second) / 2
    weighted = inverse(forward(average * mask) * _per_shell(average.shape, weights), average.shape)
    low, high = guinier_range(resolution, fit_from)
    fit = fit_bfactor(*guinier(weighted, pixel_size), low, high)
    applied = bfactor if bfactor is not None else (fit.bfactor or 0.0)
    sharpened = sharpen(average, pixel_size, applied, weights, resolution)
    return Postprocessed(curves, resolution, fit, float(applied), weighted, sharpened, pixel_size)


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def write_curves_table(path: Path, curves: FscCurves, pixel_size: float) -> Path:
    """``fsc_postprocess.csv``: ``shell, frequency_per_angstrom, resolution_angstrom, fsc``
    (the corrected curve, so :func:`subalign.workflows.fsc.read_fsc_table` reads it), then
    ``fsc_unmasked, fsc_masked, fsc_randomized_masked``."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["shell", "frequency_per_angstrom", "resolution_angstrom", "fsc",
                     *(f"fsc_{name}" for name in CURVES[1:])])
    for shell, f in enumerate(curves.frequency):
        writer.writerow([shell, f"{f / pixel_size:.6g}", f"{pixel_size / f:.4g}",
                         *(f"{getattr(curves, name)[shell]:.6f}" for name in CURVES)])
    with atomic_path(path) as temporary:
        Path(temporary).write_text(text.getvalue())
    return Path(path)


def guinier_figure(result: Postprocessed, path: Path) -> Path:
    """``guinier.png``: the weighted and the sharpened map's Guinier plots, and the fit."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    s2, ln_power = guinier(result.weighted, result.pixel_size)
    axis.plot(s2, ln_power, ".-", label="masked average, FSC-weighted")
    sharp = guinier(result.sharpened, result.pixel_size)
    axis.plot(*sharp, ".-", label=f"sharpened (B = {result.bfactor:.0f} Å², low-passed)")
    fit = result.fit
    if fit.bfactor is not None:
        line = np.array([1 / fit.low ** 2, 1 / fit.high ** 2])
        axis.plot(line, fit.intercept + fit.bfactor / 2 * line, "k--",
                  label=f"fit {fit.low:.3g}–{fit.high:.3g} Å: B = {fit.bfactor:.0f} Å²")
    axis.set_xlabel("1/d² (1/Å²)")
    axis.set_ylabel("ln <|F|²>")
    axis.set_title(fit.note or "Guinier plot", fontsize=8)
    axis.legend(fontsize=7)
    return save_figure(figure, path)


def record(result: Postprocessed, local: dict | None = None) -> dict:
    """``postprocess.json``: resolutions of every curve, B-factor, fit range, the shell where
    randomization began (numbers that are infinite are null)."""
    curves, fit = result.curves, result.fit
    start = curves.randomized_from
    found = {name: {k: _finite(v) for k, v in values.items()}
             for name, values in curves.resolutions(result.pixel_size).items()}
    box = len(result.sharpened)
    return {
        "resolution_angstrom": _finite(result.resolution),
        "resolutions_angstrom": found,
        "pixel_size_angstrom": result.pixel_size, "box": box,
        "randomized_from_shell": start,
        "randomized_from_angstrom": None if start is None else round(
            result.pixel_size * box / start, 3),
        "corrected_from_shell": None if start is None else start + CORRECTION_OFFSET,
        "randomized_masked_fsc_at_resolution": _randomized_at(result),
        "bfactor_angstrom2": round(result.bfactor, 2),
        "bfactor_source": "fitted" if fit.bfactor is not None and result.bfactor == fit.bfactor
        else ("given" if result.bfactor else "none"),
        "bfactor_convention": "spectrum multiplied by exp(-B/4 * s^2), s = 1/d; negative sharpens",
        "guinier_fit": {"bfactor_angstrom2": fit.bfactor, "intercept": fit.intercept,
                        "from_angstrom": round(fit.low, 3), "to_angstrom": round(fit.high, 3),
                        "shells": fit.shells, "note": fit.note},
        "local_resolution": local,
    }


def _randomized_at(result: Postprocessed) -> float | None:
    """The randomized masked FSC at the corrected resolution's shell (RELION warns above
    0.1: the mask is too tight for the correction to be trusted)."""
    if result.curves.randomized_from is None:
        return None
    frequency = result.pixel_size / result.resolution
    return round(float(np.interp(frequency, result.curves.frequency,
                                 result.curves.randomized_masked)), 4)


def write_postprocess(directory: Path, result: Postprocessed, mask: np.ndarray, *,
                      figures: bool, local: tuple[np.ndarray, dict] | None = None,
                      extra: dict | None = None, write_mask: bool = False) -> dict:
    """Write every file of post-processing into ``directory`` (each atomically) and return
    the record of ``postprocess.json`` (written last, with ``extra`` merged in).

    Files: ``postprocess.mrc`` (sharpened), ``postprocess_masked.mrc``,
    ``fsc_postprocess.csv``, ``mask.mrc`` (with ``write_mask``), ``local_resolution.mrc``
    (with ``local``, from
    :func:`subalign.workflows.local_resolution.local_resolution`) and, with ``figures``,
    ``fsc_postprocess.png``, ``guinier.png``, ``postprocess.png`` (central sections) and
    ``local_resolution.png``.
    """
    directory, pixel = Path(directory), result.pixel_size
    write_volume(directory / "postprocess.mrc", result.sharpened, voxel_size=pixel)
    write_volume(directory / "postprocess_masked.mrc", result.sharpened * mask, voxel_size=pixel)
    write_curves_table(directory / "fsc_postprocess.csv", result.curves, pixel)
    files = ["postprocess.mrc", "postprocess_masked.mrc", "fsc_postprocess.csv"]
    if write_mask:
        write_volume(directory / "mask.mrc", mask, voxel_size=pixel)
        files.append("mask.mrc")
    if local is not None:
        write_volume(directory / "local_resolution.mrc", local[0], voxel_size=pixel)
        files.append("local_resolution.mrc")
    if figures:
        curves = result.curves
        fsc_figure({name.replace("_", " "): (curves.frequency, getattr(curves, name))
                    for name in CURVES}, pixel, directory / "fsc_postprocess.png",
                   title=f"corrected FSC 0.143: {result.resolution:.1f} Å")
        guinier_figure(result, directory / "guinier.png")
        slices_figure({"sharpened": result.sharpened, "masked": result.sharpened * mask},
                      directory / "postprocess.png", title="post-processed map")
        files += ["fsc_postprocess.png", "guinier.png", "postprocess.png"]
        if local is not None:
            local_resolution_figure(result.sharpened, local[0], mask,
                                    directory / "local_resolution.png",
                                    title=f"local resolution, median {local[1]['median']:.1f} Å")
            files.append("local_resolution.png")
    content = {**record(result, None if local is None else local[1]), **(extra or {}),
               "files": files + ["postprocess.json"]}
    write_json(directory / "postprocess.json", content)
    tight = content["randomized_masked_fsc_at_resolution"]
    if tight is not None and tight > 0.1:
        log.warning("the phase-randomized masked FSC is %.2f at the resolution (RELION warns "
                    "above 0.1): the mask may be too tight", tight)
    return content


def run_postprocess(first: np.ndarray, second: np.ndarray, pixel_size: float, mask: np.ndarray,
                    output_dir: str | Path, *, bfactor: float | None = None,
                    fit_from: float | None = None, window_angstrom: float | None = None,
                    figures: bool = True, extra: dict | None = None,
                    write_mask: bool = False) -> dict:
    """:func:`postprocess` and the local resolution of two half maps, every number found
    before the first file is written (:func:`write_postprocess`); returns the record.

    Parameters are those of :func:`postprocess` and of
    :func:`subalign.workflows.local_resolution.local_resolution` (``window_angstrom``);
    ``write_mask`` writes the mask as ``mask.mrc`` (one made here, not the user's).
    """
    result = postprocess(first, second, pixel_size, mask, bfactor=bfactor, fit_from=fit_from)
    local = local_resolution(first, second, mask, pixel_size, window_angstrom=window_angstrom)
    return write_postprocess(Path(output_dir), result, mask, figures=figures, local=local,
                             extra=extra, write_mask=write_mask)
