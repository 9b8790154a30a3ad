"""A reference's Fourier shells scaled to the particles' own amplitudes (``reference_spectrum=match``).

A map from elsewhere (another program's average, an atomic model's density, the simulator's
true map) seldom carries the spectrum its particles do: their CTF damps the low shells and
flips others, the detector's MTF and the dose damp the high ones. A least-squares score
then weighs every shell by the map's amplitude instead of the particles' signal, and the
poses lose precision (docs/benchmarks.md, "Per-particle precision": 1.81 deg median error
against the true map, 0.56 deg against the same map with its shells matched).

Model: particle ``i``'s half spectrum within its single-axis wedge ``W_i`` is
``P_i = a(s) W_i F[T_i g] + E_i`` in shell ``s`` (:func:`subalign.numerics.fourier.shell_index`,
shells 0 to N/2 - 1; the corners past Nyquist are left out of the fit), with ``g`` the
reference, ``T_i`` the particle's pose (it maps the reference onto the particle) and
``E_i`` noise. Over the particles, with ``M_i = W_i F[T_i g]``, the least-squares gain is

    a(s) = sum_i Re<P_i, M_i>_s / sum_i |M_i|^2_s

with standard error ``sqrt(r(s) / sum_i |M_i|^2_s)``, ``r(s)`` the residual power per
measured coefficient. The signal to noise per coefficient is ``a^2 sum|M|^2 / residual``.

The matched reference is ``g`` with shell ``s`` multiplied by ``a(s)`` where the gain is more
than :data:`SIGNIFICANT` standard errors above 0, else by 0 (a shell the particles do not
measurably carry, or carry flipped, is dropped); the mean is kept, the corners take the last
shell's factor (:func:`subalign.numerics.fourier.scale_shells`). It is the particles'
expected signal, the reference least squares wants.

Assumptions, stated because they bound what the gains mean:
- The noise is independent of ``M_i``. That holds at poses found without this map (the
  set's, or another reference's) and for a map not made from these particles; poses found
  against this map by a global search pull noise into line with it, and a map averaged
  from the same particles carries their noise, so noise-only shells then fit positive
  gains (on EMPIAR-10499, a map reconstructed from 40 particles including the 20 fitted
  gave gains rising from 0.65 to 13.5 with frequency; docs/benchmarks.md).
- One gain for the whole set: particles whose CTFs differ (defocus) are fitted to their
  average; the benchmark's particles share one defocus.
- Only the wedge ``W_i`` is known here: a particle whose measurement model carries its CTF
  (a 2-D stack, or a box with an ``rlnCtfImage`` volume, under a measurement that uses the
  transfer) is refused, since the score already multiplies the reference by that transfer
  and matching would count it twice. The reference's own wedge is not modelled: signal the
  particles carry and the reference misses counts as noise.

The gains need each particle's pose: the set's own (``search=local``), or those of a first
run against another map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from subalign.errors import ConfigError
from subalign.io.files import write_json
from subalign.io.particles import ParticleSet
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.fourier import fourier_grid, forward, scale_shells, shell_index
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange, wedge_mask

__all__ = ["SIGNIFICANT", "ShellGain", "check_matchable", "match_spectrum", "shell_gain"]

#: Standard errors a gain must exceed 0 by for its shell to be kept.
SIGNIFICANT = 2.0


@dataclass(frozen=True)
class ShellGain:
    """The particles' amplitude relative to a reference, per Fourier shell.

    Attributes
    ----------
    gain : ndarray of shape (N // 2,)
        ``a(s)`` of shells 0 to N/2 - 1 (module docstring); 0 where the reference has no
        power in the particles' wedges.
    standard_error : ndarray of shape (N // 2,)
        The standard error of each gain.
    signal_to_noise : ndarray of shape (N // 2,)
        Signal over noise power per measured coefficient of each shell.
    size : int
        The box edge ``N``, voxels.
    particles : int
        Particles the gains were fitted on.
    """

    gain: np.ndarray
    standard_error: np.ndarray
    signal_to_noise: np.ndarray
    size: int
    particles: int

    @property
    def kept(self) -> np.ndarray:
        """The factor each shell of the matched reference gets, shape (N // 2,): the gain
        where it exceeds :data:`SIGNIFICANT` standard errors, else 0."""
        return np.where(self.gain > SIGNIFICANT * self.standard_error, self.gain, 0.0)

    def summary(self) -> str:
        """One line: the particles, the gains' range and the shells kept."""
        kept = np.flatnonzero(self.kept[1:]) + 1
        gains = self.gain[1:]
        return (f"shell gains fitted on {self.particles} particles, from {gains.min():.3g} to "
                f"{gains.max():.3g} (shell {int(np.argmax(gains)) + 1}); {len(kept)} of "
                f"{len(gains)} shells kept (gain > {SIGNIFICANT:g} standard errors)")

    def write(self, path: str | Path) -> Path:
        """Write the gains, standard errors, factors and signal to noise per shell as JSON."""
        shells = [{"shell": s, "cycles_per_voxel": (s + 0.5) / self.size, "gain": float(a),
                   "standard_error": float(e), "factor": float(k),
                   "signal_to_noise": float(r)}
                  for s, (a, e, k, r) in enumerate(zip(self.gain, self.standard_error,
                                                       self.kept, self.signal_to_noise))]
        return write_json(path, {"particles": self.particles, "size": self.size,
                                 "significant": SIGNIFICANT, "shells": shells})


def shell_gain(particles: ParticleSet, tilts: np.ndarray, reference: np.ndarray, *,
               box_size: int | None = None, edge: str = "error",
               refuse_transfers: bool = True) -> ShellGain:
    """Fit ``a(s)`` of ``reference`` to ``particles`` at their poses (module docstring).

    Parameters
    ----------
    particles : ParticleSet
        Particles with poses.
    tilts : ndarray of shape (n, 2)
        Each particle's tilt range ``[min, max]`` in degrees (its wedge ``W_i``).
    reference : ndarray of shape (N, N, N)
        The map, in the particles' voxel size and box.
    box_size : int, optional
        Box edge for particles cropped from tomograms (default: the set's).
    edge : {"error", "zero", "mean"}
        A crop reaching past its tomogram's faces, as for :class:`SubtomogramReader`.
    refuse_transfers : bool
        Refuse particles whose boxes carry their transfer (:func:`check_matchable`): true
        when the run's measurement applies it.

    Returns
    -------
    ShellGain

    Raises
    ------
    ParticleTableError, ConfigError
        As :func:`check_matchable`.
    """
    check_matchable(particles, refuse_transfers)
    shape = reference.shape
    index, count = shell_index(shape), shape[0] // 2
    inside = index < count
    index, weights = index[inside], fourier_grid(shape).hermitian_weights[inside]
    sums = np.zeros((4, count))  # Re<P, M>, |M|^2, |P|^2, measured coefficients per shell
    masks: dict[tuple[float, float], np.ndarray] = {}
    with SubtomogramReader(particles, box_size=box_size, edge=edge) as reader:
        for row in range(len(particles)):
            box = reader(row)
            key = (float(tilts[row][0]), float(tilts[row][1]))
            if key not in masks:
                masks[key] = wedge_mask(shape, TiltRange.parse(key, field="tilt range"))[inside]
            measured = forward(box.volume)[inside] * masks[key]
            model = forward(transform_volume(reference, box.pose))[inside] * masks[key]
            for k, values in enumerate((np.real(measured * np.conj(model)), np.abs(model) ** 2,
                                        np.abs(measured) ** 2, masks[key])):
                sums[k] += np.bincount(index, weights * values, count)
    return _fitted(sums, shape[0], len(particles))


def _fitted(sums: np.ndarray, size: int, particles: int) -> ShellGain:
    """The gains, errors and signal to noise from the per-shell sums of :func:`shell_gain`."""
    cross, model_power, measured_power, measured = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.nan_to_num(cross / model_power)
        # The residual |P - a M|^2 summed is |P|^2 - a Re<P, M> at the least-squares a
        # (clipped at the rounding of that difference).
        residual = np.maximum(measured_power - gain * cross, 1e-12 * measured_power)
        error = np.nan_to_num(np.sqrt(residual / measured / model_power), nan=np.inf)
        ratio = np.nan_to_num(gain * cross / residual)
    return ShellGain(gain=gain, standard_error=error, signal_to_noise=ratio, size=size,
                     particles=particles)


def check_matchable(particles: ParticleSet, uses_transfer: bool) -> None:
    """Refuse, before any work, a set whose gains cannot be fitted here: one without poses,
    or (``uses_transfer``: the run's measurement applies each particle's transfer) one of
    2-D stacks or of boxes with ``rlnCtfImage`` weight volumes (module docstring).

    Raises
    ------
    ParticleTableError
        The set has no poses.
    ConfigError
        Its boxes carry their transfer and ``uses_transfer`` is true.
    """
    particles.require_poses("reference_spectrum=match")
    if not uses_transfer:
        return
    table = particles.source.table if particles.source is not None else None
    if particles.stacks:
        what = "2-D stacks"
    elif table is not None and "rlnCtfImage" in table.columns:
        what = "boxes with rlnCtfImage weight volumes"
    else:
        return
    raise ConfigError(f"reference_spectrum: expected given for {particles.label}, whose particles "
                      f"are {what}: the score already applies their CTF to the reference "
                      "(matching would count it twice), found 'match' (measurement=tilt_range "
                      "compares on the wedge alone and can be matched)")


def match_spectrum(reference: np.ndarray, gain: ShellGain) -> np.ndarray:
    """``reference`` with each shell scaled by :attr:`ShellGain.kept`, the mean kept.

    Parameters
    ----------
    reference : ndarray of shape (N, N, N)
    gain : ShellGain

    Returns
    -------
    ndarray of shape (N, N, N), float32
    """
    return scale_shells(reference, gain.kept).astype(np.float32)
