"""Phase randomization and the FSC corrected by it (Chen et al. 2013), as RELION does it.

A mask multiplies both half maps by the same function, so their spectra share the mask's
own: masked half maps correlate beyond the resolution their signal reaches. Replacing the
phases of both halves beyond a shell by random ones (each half its own) removes the signal
there and keeps what the mask adds; the FSC of those masked maps, ``FSC_n``, measures it, and
``(FSC_t - FSC_n) / (1 - FSC_n)`` removes it from the masked FSC ``FSC_t``. RELION starts
the correction :data:`CORRECTION_OFFSET` (2) shells past the first randomized one, which
skips the artefacts near it; so does :func:`corrected_fsc`.
"""

from __future__ import annotations

import numpy as np

from subalign.numerics.fourier import forward, inverse, shell_index

__all__ = ["CORRECTION_OFFSET", "PHASE_SEED", "RANDOMIZE_BELOW", "corrected_fsc",
           "randomization_shell", "randomize_phases"]

#: The unmasked FSC level below which phases are randomized (RELION's 0.8).
RANDOMIZE_BELOW = 0.8
#: Shells past the first randomized one where the correction starts (RELION's 2).
CORRECTION_OFFSET = 2
#: Seed of the random phases.
PHASE_SEED = 2013


def randomization_shell(unmasked: np.ndarray) -> int | None:
    """The first shell from 1 where the unmasked FSC is below :data:`RANDOMIZE_BELOW`, or
    None where it never is."""
    below = np.nonzero(np.asarray(unmasked)[1:] < RANDOMIZE_BELOW)[0]
    return int(below[0]) + 1 if len(below) else None


def randomize_phases(volume: np.ndarray, from_shell: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``volume`` with the phases of every shell ``>= from_shell`` replaced by random ones.

    The phases are those of the spectrum of white noise (Hermitian, so the map stays real);
    the amplitudes are kept.

    Parameters
    ----------
    volume : ndarray of shape (N, N, N)
    from_shell : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (N, N, N)
    """
    spectrum = forward(volume)
    noise = forward(rng.standard_normal(volume.shape))
    phases = noise / np.maximum(np.abs(noise), 1e-30)
    beyond = shell_index(volume.shape) >= from_shell
    spectrum[beyond] = np.abs(spectrum[beyond]) * phases[beyond]
    return inverse(spectrum, volume.shape)


def corrected_fsc(masked: np.ndarray, randomized: np.ndarray, from_shell: int) -> np.ndarray:
    """The masked FSC up to shell ``from_shell + CORRECTION_OFFSET``, beyond it
    ``(masked - randomized) / (1 - randomized)``; shape (S,) like both curves."""
    corrected = np.array(masked, dtype=float)
    beyond = np.arange(len(masked)) >= from_shell + CORRECTION_OFFSET
    with np.errstate(divide="ignore", invalid="ignore"):
        fixed = (masked - randomized) / (1.0 - randomized)
    corrected[beyond] = np.nan_to_num(fixed[beyond])
    return corrected
