"""A reference's Fourier shells scaled to the particles' own amplitudes (``reference_spectrum=match``).

A map from elsewhere (another program's average, an atomic model's density, the simulator's
true map) seldom carries the spectrum its particles do: their CTF damps the low shells and
flips none back, the detector's MTF and the dose damp the high ones. A least-squares score
then weighs every shell by the map's amplitude instead of the particles' signal, and the
poses lose precision (docs/benchmarks.md, "Per-particle precision": 1.81 deg against the true
map, 0.71 deg against the same map with its shells matched).

Model: particle ``i``'s half spectrum within its wedge ``W_i`` is
``P_i = a(s) W_i F[T_i g] + E_i`` in shell ``s``, with ``g`` the reference, ``T_i`` the
particle's pose and ``E_i`` noise independent of ``g``. The least-squares gain of a shell over
the particles is

    a(s) = sum_i Re<P_i, W_i F[T_i g]>_s / sum_i |W_i F[T_i g]|^2_s

(unbiased by the noise: it does not correlate with the turned map). The matched reference
is ``g`` with shell ``s`` multiplied by ``max(a(s), 0)``: the particles' expected signal up to
the noise. Its mean (shell 0) is kept. The signal per coefficient of shell ``s`` is
``a(s)^2 |W F[T g]|^2_s / n_s`` and the noise the residual power per coefficient; their
ratio is reported so that a user sees where the particles carry the reference at all.

The gain needs each particle's pose: the set's own (``search=local``), or those of a first
run against the map as given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from subalign.io.files import atomic_path
from subalign.io.particles import ParticleSet
from subalign.io.subtomograms import SubtomogramReader
from subalign.numerics.fourier import fourier_grid, forward, inverse
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TiltRange, wedge_mask
from subalign.workflows.phase_randomization import shells

__all__ = ["ShellGain", "match_spectrum", "shell_gain"]


@dataclass(frozen=True)
class ShellGain:
    """The particles' amplitude relative to a reference, per Fourier shell.

    Attributes
    ----------
    gain : ndarray of shape (N // 2,)
        ``a(s)`` of shells 0 to N/2 - 1 (module docstring); 0 where the reference has no
        power in the particles' wedges.
    signal_to_noise : ndarray of shape (N // 2,)
        Signal over noise power per measured coefficient of each shell.
    particles : int
        Particles the gain was fitted on.
    """

    gain: np.ndarray
    signal_to_noise: np.ndarray
    particles: int

    def summary(self) -> str:
        """One line: the particles, the gain's range and the last shell whose signal per
        coefficient exceeds the noise."""
        above = np.flatnonzero(self.signal_to_noise[1:] > 1.0)
        last = f"shell {above[-1] + 1} of {len(self.gain) - 1}" if len(above) else "no shell"
        gains = self.gain[1:]
        return (f"shell gains fitted on {self.particles} particles, from {gains.min():.3g} to "
                f"{gains.max():.3g} (shell {int(np.argmax(gains)) + 1}); signal above the "
                f"noise up to {last}")

    def write(self, path: str | Path) -> Path:
        """Write the gain and signal to noise per shell as JSON (atomically)."""
        record = {"particles": self.particles,
                  "shells": [{"shell": s, "cycles_per_voxel": (s + 0.5) / (2 * len(self.gain)),
                              "gain": float(a), "signal_to_noise": float(r)}
                             for s, (a, r) in enumerate(zip(self.gain, self.signal_to_noise))]}
        with atomic_path(path) as temporary:
            Path(temporary).write_text(json.dumps(record, indent=1) + "\n")
        return Path(path)


def shell_gain(particles: ParticleSet, tilts: np.ndarray, reference: np.ndarray, *,
               box_size: int | None = None, edge: str = "error") -> ShellGain:
    """Fit ``a(s)`` of ``reference`` to ``particles`` at their poses (module docstring).

    Parameters
    ----------
    particles : ParticleSet
        Particles with poses.
    tilts : ndarray of shape (n, 2)
        Each particle's tilt range ``[min, max]`` in degrees (its wedge ``W_i``).
    reference : ndarray of shape (N, N, N)
    box_size, edge
        How boxes are cropped from tomograms, as for :class:`SubtomogramReader`.

    Returns
    -------
    ShellGain
    """
    shape = reference.shape
    index = shells(shape)
    count = shape[0] // 2
    index = np.minimum(index, count - 1)  # the corners past Nyquist join the last shell
    weights = fourier_grid(shape).hermitian_weights
    sums = np.zeros((3, count))  # Re<P, M>, |M|^2, |P|^2 per shell
    masks: dict[tuple[float, float], np.ndarray] = {}
    with SubtomogramReader(particles, box_size=box_size, edge=edge) as reader:
        for row in range(len(particles)):
            box = reader(row)
            key = (float(tilts[row][0]), float(tilts[row][1]))
            if key not in masks:
                masks[key] = wedge_mask(shape, TiltRange.parse(key, field="tilt range"))
            measured = forward(box.volume) * masks[key]
            model = forward(transform_volume(reference, box.pose)) * masks[key]
            for k, values in enumerate((np.real(measured * np.conj(model)), np.abs(model) ** 2,
                                        np.abs(measured) ** 2)):
                sums[k] += np.bincount(index.ravel(), (weights * values).ravel(), count)
    cross, model_power, measured_power = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.nan_to_num(cross / model_power)
        # The residual |P - a M|^2 summed is |P|^2 - a Re<P, M> at the least-squares a
        # (clipped at the rounding of that difference).
        residual = np.maximum(measured_power - gain * cross, 1e-12 * measured_power)
        ratio = np.nan_to_num(gain * cross / residual)
    return ShellGain(gain=gain, signal_to_noise=ratio, particles=len(particles))


def match_spectrum(reference: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """``reference`` with shell ``s`` multiplied by ``max(gain[s], 0)``, the mean kept.

    Parameters
    ----------
    reference : ndarray of shape (N, N, N)
    gain : ndarray of shape (N // 2,)
        Per shell, as :attr:`ShellGain.gain`; corners past Nyquist take the last shell's.

    Returns
    -------
    ndarray of shape (N, N, N), float32
    """
    shape = reference.shape
    scale = np.clip(np.asarray(gain, dtype=float), 0.0, None)
    index = np.minimum(shells(shape), len(scale) - 1)
    factor = scale[index]
    factor[index == 0] = 1.0
    return inverse(forward(reference) * factor, shape).astype(np.float32)
