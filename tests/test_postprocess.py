"""Post-processing and masks against ground truth built here (fixed seeds).

- FSC: half maps = a localized truth + independent white noise, so the expected FSC of every
  shell is ``P(s) / (P(s) + sigma^2 m)`` (``P`` the truth's power in the shell, ``m`` the mean
  square of the mask, 1 unmasked): the unmasked and the corrected (loose-mask) resolutions
  agree with it; halves whose phases are randomized beyond a shell have no signal there,
  and the corrected FSC says so where a tight mask inflates the masked one.
- B-factor: a map of point atoms (a flat spectrum) blurred by a known B is recovered by the
  Guinier fit, and sharpening flattens the spectrum again.
- Local resolution: half maps low-passed on one side of the box report the worse resolution
  there.
- Masks: a sphere of known radius, thresholded and extended, gives radius + E, and the soft
  edge falls from 1 to 0 over S.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from subalign.cli import main
from subalign.errors import ConfigError
from subalign.io.mrc import read_volume, write_volume
from subalign.numerics.fourier import forward, fourier_grid, inverse
from subalign.workflows.fsc import read_fsc_table, resolution_at
from subalign.workflows.local_resolution import local_resolution
from subalign.workflows.maps import lowpass, soft_sphere_mask
from subalign.workflows.masks import mask_from_map
from subalign.workflows.phase_randomization import CORRECTION_OFFSET, randomize_phases
from subalign.workflows.postprocess import (MIN_GUINIER_SHELLS, fit_bfactor, fsc_curves, guinier,
                                            postprocess)

N = 48
PIXEL = 5.0


def _shell_power(volume: np.ndarray) -> np.ndarray:
    """Mean ``|F|^2`` per one-voxel shell (as :func:`subalign.workflows.fsc.fsc` bins)."""
    grid = fourier_grid(volume.shape)
    shells = np.floor(grid.radius * volume.shape[0]).astype(int)
    keep = shells < volume.shape[0] // 2
    power = np.bincount(shells[keep], (grid.hermitian_weights * np.abs(forward(volume)) ** 2)[keep])
    return power / np.bincount(shells[keep], grid.hermitian_weights[keep])


@pytest.fixture(scope="module")
def halves():
    """Truth: white noise low-passed to 0.3 cycles/voxel in a soft sphere of radius 14;
    noise: white, sigma 0.5 of the truth's spread; and the truth, the noise sigma."""
    rng = np.random.default_rng(25)
    truth = lowpass(rng.standard_normal((N,) * 3), 0.3) * soft_sphere_mask(N, 14, 3)
    sigma = 0.5 * truth.std()
    first, second = (truth + sigma * rng.standard_normal((N,) * 3) for _ in range(2))
    return first, second, truth, sigma


def test_unmasked_and_corrected_resolutions_agree_with_the_expected_fsc(halves):
    first, second, truth, sigma = halves
    loose = soft_sphere_mask(N, 19, 4)  # holds the whole truth (radius 14 + 3)
    curves = fsc_curves(first, second, loose)
    power = _shell_power(truth)
    frequency = curves.frequency
    expected_unmasked = power / (power + sigma ** 2)
    expected_masked = power / (power + sigma ** 2 * np.mean(loose ** 2))
    shell = PIXEL * N  # Angstrom of one shell's frequency
    for measured, expected in ((curves.unmasked, expected_unmasked),
                               (curves.corrected, expected_masked)):
        found = resolution_at(frequency, measured, 0.143, PIXEL)
        truth_resolution = resolution_at(frequency, expected, 0.143, PIXEL)
        assert abs(shell / found - shell / truth_resolution) < 1.0  # within one shell
    assert curves.randomized_from is not None
    beyond = slice(curves.randomized_from + CORRECTION_OFFSET, None)
    assert np.abs(curves.corrected[beyond] - curves.masked[beyond]).max() < 0.1  # loose: no inflation


def test_a_tight_mask_inflates_the_masked_fsc_and_not_the_corrected_one(halves):
    first, second, _, _ = halves
    cut = 10  # no shared signal beyond shell 10: each half's phases randomized there
    first, second = (randomize_phases(half, cut, np.random.default_rng(seed))
                     for seed, half in ((1, first), (2, second)))
    tight = soft_sphere_mask(N, 11, 0)  # hard, and cutting into the truth (radius 14)
    curves = fsc_curves(first, second, tight)
    assert curves.randomized_from <= cut
    assert np.abs(curves.unmasked[cut + 1:]).max() < 0.1
    assert curves.masked[cut + 1:cut + 3].mean() > 0.2  # the mask's own correlation
    beyond = curves.corrected[curves.randomized_from + CORRECTION_OFFSET:]
    assert abs(beyond.mean()) < 0.03 and np.abs(beyond).max() < 0.2
    found = curves.resolutions(PIXEL)
    assert found["corrected"]["0.143"] > found["masked"]["0.143"]


def _blurred_atoms(bfactor: float, pixel: float, seed: int) -> np.ndarray:
    """Point atoms at random voxels of a sphere (a flat expected spectrum), amplitudes
    multiplied by ``exp(-bfactor / 4 * s^2)``."""
    rng = np.random.default_rng(seed)
    volume = np.zeros((32,) * 3)
    inside = np.argwhere(soft_sphere_mask(32, 11, 0) > 0)
    for z, y, x in inside[rng.choice(len(inside), 600, replace=False)]:
        volume[z, y, x] = 1.0
    s2 = (fourier_grid(volume.shape).radius / pixel) ** 2
    return inverse(forward(volume) * np.exp(-bfactor / 4 * s2), volume.shape)


def test_the_guinier_fit_recovers_a_known_bfactor_and_sharpening_undoes_it():
    pixel, blur = 2.0, 150.0  # Nyquist 4 A: the fit runs over 10 to 4 A
    truth = _blurred_atoms(blur, pixel, seed=3)
    rng = np.random.default_rng(4)
    first, second = (truth + 0.02 * truth.std() * rng.standard_normal(truth.shape)
                     for _ in range(2))
    result = postprocess(first, second, pixel, soft_sphere_mask(32, 14, 2))
    assert result.fit.bfactor == pytest.approx(-blur, rel=0.1)
    assert (result.fit.low, result.fit.high) == pytest.approx((10.0, 4.0), abs=0.05)
    assert result.fit.shells >= 8 and result.bfactor == result.fit.bfactor
    s2, ln_power = guinier(result.sharpened, pixel)
    inside = (s2 >= 1 / 10 ** 2) & (s2 <= 1 / 4.5 ** 2)  # below the low-pass edge
    slope = np.polyfit(s2[inside], ln_power[inside], 1)[0]
    assert abs(2 * slope) < 0.1 * blur  # flat again: the blur undone


def test_too_few_shells_are_not_fitted_and_say_so():
    s2 = ((np.arange(1, 16) + 0.5) / 320) ** 2  # 32^3 at 10 A/voxel
    fit = fit_bfactor(s2, -100 * s2, 120.0, 60.0)
    assert fit.bfactor is None and fit.shells < MIN_GUINIER_SHELLS
    assert f"expected at least {MIN_GUINIER_SHELLS}" in fit.note
    assert fit_bfactor(s2, -100 * s2, 80.0, 30.0).bfactor == pytest.approx(-200)


def test_a_map_coarser_than_10_angstrom_is_not_sharpened_unless_asked():
    """The same blurred atoms at 8 A/voxel (Nyquist 16 A): by default the fit would run from
    10 A, finer than the map, so no line and B = 0; from 64 A it fits the known blur."""
    pixel, blur = 8.0, 1500.0
    truth = _blurred_atoms(blur, pixel, seed=3)
    rng = np.random.default_rng(4)
    first, second = (truth + 0.02 * truth.std() * rng.standard_normal(truth.shape)
                     for _ in range(2))
    mask = soft_sphere_mask(32, 14, 2)
    default = postprocess(first, second, pixel, mask)
    assert default.resolution > 10.0 and default.fit.bfactor is None and default.bfactor == 0.0
    asked = postprocess(first, second, pixel, mask, fit_from=64.0)
    assert asked.fit.bfactor == pytest.approx(-blur, rel=0.15)


def test_local_resolution_is_worse_where_the_half_maps_are_low_passed():
    rng = np.random.default_rng(9)
    truth = lowpass(rng.standard_normal((N,) * 3), 0.2) * soft_sphere_mask(N, 16, 3)
    blend = np.clip((np.arange(N) - N / 2 + 3) / 6, 0, 1)[None, None, :]  # x: left 0 -> right 1
    truth = blend * truth + (1 - blend) * lowpass(truth, 0.08)  # the left half low-passed
    first, second = (truth + 2 * truth.std() * rng.standard_normal(truth.shape)
                     for _ in range(2))
    mask = soft_sphere_mask(N, 16, 3)
    local, summary = local_resolution(first, second, mask, PIXEL, window_angstrom=60.0)
    assert summary["windows"] > 20 and summary["step_voxels"] == 6
    side = N // 2 - 6
    left = local[:, :, :side][mask[:, :, :side] > 0.5]
    right = local[:, :, -side:][mask[:, :, -side:] > 0.5]
    # the truth's bands are 25 A (right) and 62 A (left); a 60 A window blurs the spectrum by
    # about two of its 20-voxel cube's shells, so both read finer, but left reads worse
    assert np.median(left) > 1.3 * np.median(right)
    assert np.all(local[mask == 0] == 0)


def _sphere(radius: float, size: int = 40) -> np.ndarray:
    return soft_sphere_mask(size, radius, 0)


def _radius_along_x(mask: np.ndarray, level: float) -> float:
    """Distance from the centre along +x of the last voxel at or above ``level``."""
    centre = mask.shape[0] // 2
    row = mask[centre, centre, centre:]
    return float(np.nonzero(row >= level)[0].max())


@pytest.mark.parametrize("extend", [0.0, 3.0])
def test_a_masked_sphere_grows_by_the_extension_and_softens_over_the_edge(extend):
    radius, soft, pixel = 9.0, 4.0, 2.0
    mask, recipe = mask_from_map(_sphere(radius), pixel, threshold=0.5, lowpass_angstrom=0,
                                 extend_angstrom=extend * pixel, soft_edge_angstrom=soft * pixel)
    assert _radius_along_x(mask, 1.0) == pytest.approx(radius + extend, abs=1.0)
    assert _radius_along_x(mask, 1e-9) == pytest.approx(radius + extend + soft, abs=1.0)
    edge = mask[20, 20, 20 + int(radius + extend) + 1: 20 + int(radius + extend + soft)]
    assert np.all(np.diff(edge) < 0) and 0 < edge.min() and edge.max() < 1
    assert recipe["threshold_rule"] == "given" and recipe["lowpass_angstrom"] == 0


def test_the_automatic_threshold_finds_a_sphere_in_noise():
    rng = np.random.default_rng(7)
    volume = _sphere(10.0) + 0.3 * rng.standard_normal((40,) * 3)
    mask, recipe = mask_from_map(volume, 5.0, extend_angstrom=0, soft_edge_angstrom=0)
    assert recipe["threshold_rule"] == "automatic" and recipe["lowpass_angstrom"] == 15.0
    assert _radius_along_x(mask, 1.0) == pytest.approx(10.0, abs=1.0)
    assert recipe["inside_fraction"] == pytest.approx(4 / 3 * np.pi * 10 ** 3 / 40 ** 3, rel=0.2)
    with pytest.raises(ConfigError, match="no voxel of the map low-passed to 15 Angstrom"):
        mask_from_map(volume, 5.0, threshold=99.0)


def test_postprocess_and_mask_commands_write_every_file(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(32)
    truth = lowpass(rng.standard_normal((32,) * 3), 0.3) * soft_sphere_mask(32, 10, 2)
    first, second = (truth + 0.5 * truth.std() * rng.standard_normal(truth.shape)
                     for _ in range(2))
    monkeypatch.chdir(tmp_path)
    write_volume("h1.mrc", first, voxel_size=PIXEL)
    write_volume("h2.mrc", second, voxel_size=PIXEL)
    main(["mask", "h1.mrc", "--output", "m/mask.mrc", "--threshold", "0.05"])
    assert (tmp_path / "m" / "mask.png").is_file()
    mask = read_volume("m/mask.mrc")
    assert mask.voxel_size == PIXEL and 0 <= mask.data.min() and mask.data.max() <= 1
    main(["postprocess", "h1.mrc", "h2.mrc", "--mask", "m/mask.mrc", "--output-dir", "pp",
          "--local-window-angstrom", "60"])  # with figures: matplotlib's import is most of it
    out = capsys.readouterr().out
    assert "FSC 0.143: corrected" in out
    record = json.loads((tmp_path / "pp" / "postprocess.json").read_text())
    for name in ("postprocess.mrc", "postprocess_masked.mrc", "fsc_postprocess.csv",
                 "fsc_postprocess.png", "guinier.png", "local_resolution.mrc",
                 "local_resolution.png", "postprocess.json"):
        assert (tmp_path / "pp" / name).is_file() and name in record["files"]
    frequency, corrected = read_fsc_table(tmp_path / "pp" / "fsc_postprocess.csv", PIXEL)
    assert resolution_at(frequency, corrected, 0.143, PIXEL) == pytest.approx(
        record["resolution_angstrom"], abs=0.01)
    assert record["guinier_fit"]["shells"] >= 0 and record["randomized_from_shell"] >= 1
    assert record["inputs"]["mask"] == "m/mask.mrc"


def test_postprocess_without_a_mask_makes_one_and_records_it(tmp_path, monkeypatch):
    rng = np.random.default_rng(33)
    truth = lowpass(rng.standard_normal((32,) * 3), 0.3) * soft_sphere_mask(32, 10, 2)
    monkeypatch.chdir(tmp_path)
    for name in ("a.mrc", "b.mrc"):
        write_volume(name, truth + 0.5 * truth.std() * rng.standard_normal(truth.shape),
                     voxel_size=0.0)  # no voxel size in the header: --pixel-size gives it
    main(["postprocess", "a.mrc", "b.mrc", "--pixel-size", "8", "--bfactor", "-100",
          "--figures", "false"])
    record = json.loads((tmp_path / "postprocess" / "postprocess.json").read_text())
    assert record["automatic_mask"]["threshold_rule"] == "automatic"
    assert record["bfactor_angstrom2"] == -100 and record["bfactor_source"] == "given"
    assert "mask.mrc" in record["files"] and not any(f.endswith(".png") for f in record["files"])
    assert read_volume(tmp_path / "postprocess" / "mask.mrc").voxel_size == 8.0
