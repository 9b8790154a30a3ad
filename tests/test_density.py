"""Density maps (subalign.simulation.density): the phantom, atomic models and EM maps, against analytic truth.

Volumes are ``[z, y, x]``; points are ``(x, y, z)`` in voxels from index ``N // 2``.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from subalign.simulation.density import (
    PAPER_PHANTOM,
    RESOLUTION_TO_SIGMA,
    GaussianBlob,
    density_from_map,
    density_from_structure,
    phantom,
)
from subalign.errors import ConfigError, MissingExtraError, VolumeError

from environment import SHARED_DATA, needs_shared_data, require

N = 32
STRUCTURES = SHARED_DATA / "structures"

# Conventional atomic weights (IUPAC), independent of gemmi's table.
CARBON, SULFUR = 12.011, 32.06


def gaussian(centre_xyz, sigma: float, size: int = N) -> np.ndarray:
    """Analytic Gaussian of peak 1, centre in (x, y, z) voxels from ``size // 2``."""
    z, y, x = np.indices((size,) * 3, dtype=float) - size // 2
    cx, cy, cz = centre_xyz
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2.0 * sigma**2))


def offsets_xyz(size: int = N) -> np.ndarray:
    """(x, y, z) of every voxel from the box centre, shape (3, size, size, size)."""
    z, y, x = np.indices((size,) * 3, dtype=float) - size // 2
    return np.stack([x, y, z])


def centroid_xyz(volume: np.ndarray) -> np.ndarray:
    """Intensity centroid in (x, y, z) voxels from the box centre."""
    return np.tensordot(offsets_xyz(volume.shape[0]), volume, axes=3) / volume.sum()


def blob_centroids(volume: np.ndarray, first_xyz, second_xyz) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of two separated blobs, split by the plane halfway between their sites."""
    first_xyz, second_xyz = np.asarray(first_xyz), np.asarray(second_xyz)
    axis = second_xyz - first_xyz
    midpoint = (first_xyz + second_xyz) / 2
    side = np.tensordot(axis, offsets_xyz(volume.shape[0]) - midpoint[:, None, None, None], axes=1)
    return centroid_xyz(volume * (side < 0)), centroid_xyz(volume * (side > 0))


# --- the phantom ----------------------------------------------------------------------------

# The table of the former subalign.simulation.synthetic.four_gaussian_phantom: centre (x, y, z) and sigma
# as fractions of the box edge, amplitude.
FORMER_TABLE = (
    ((-0.12, -0.09, -0.06), 0.0625, 1.0),
    ((0.16, -0.06, 0.03), 0.041, 0.8),
    ((-0.03, 0.16, 0.09), 0.05, 0.9),
    ((0.06, 0.06, -0.19), 0.031, 0.7),
)


def test_paper_phantom_is_the_former_table():
    assert [(b.centre, b.sigma, b.amplitude) for b in PAPER_PHANTOM] == list(FORMER_TABLE)


@pytest.mark.parametrize("size", [32, 64])
def test_phantom_centre_of_mass_is_that_of_its_gaussians(size):
    """A Gaussian's mass is amplitude * (sqrt(2 pi) sigma)^3; the box cuts the tails at > 4.5
    sigma, which moves the centroid by < 1e-4 voxel."""
    weights = np.array([a * s**3 for _, s, a in FORMER_TABLE])
    centres = np.array([c for c, _, _ in FORMER_TABLE]) * size
    expected = weights @ centres / weights.sum()
    np.testing.assert_allclose(centroid_xyz(phantom(size)), expected, atol=1e-3)


def test_phantom_keeps_the_former_values():
    """Peak at the largest Gaussian, (x, y, z) = (-3.84, -2.88, -1.92) from the centre; the
    maximum and sum are those the former function gave at N = 32."""
    volume = phantom(N)
    assert np.unravel_index(np.argmax(volume), volume.shape) == (16 - 2, 16 - 3, 16 - 4)
    assert volume.max() == pytest.approx(0.994216791140358, rel=1e-12)
    assert volume.sum() == pytest.approx(223.27366369573224, rel=1e-12)


@pytest.mark.parametrize(
    "axes", [a for k in (1, 2, 3) for a in itertools.combinations(range(3), k)]
)
def test_phantom_is_not_symmetric_about_the_box_centre(axes):
    """Mirrors through index N // 2 (and the 180-degree turns and inversion they compose)
    all change the volume: voxel i goes to N - i, i.e. flip then roll by one."""
    volume = phantom(N)
    mirrored = np.roll(np.flip(volume, axes), 1, axes)
    assert np.abs(mirrored - volume).max() > 0.5


@pytest.mark.parametrize("size", [32, 48])
def test_phantom_blob_is_placed_and_sized_in_units_of_the_box(size):
    blob = GaussianBlob((0.25, 0.0, -0.125), 0.0625, 2.0)
    expected = 2.0 * gaussian((0.25 * size, 0.0, -0.125 * size), 0.0625 * size, size)
    np.testing.assert_allclose(phantom(size, (blob,)), expected, atol=1e-12)


# --- atomic models --------------------------------------------------------------------------


def atom_line(serial: int, element: str, xyz_angstrom, *, residue: str = "LIG",
              occupancy: float = 1.0) -> str:
    """One HETATM record in the fixed PDB columns, one residue per atom."""
    x, y, z = xyz_angstrom
    return (
        f"HETATM{serial:5d}  {element:<3} {residue:>3} A{serial:4d}    "
        f"{x:8.3f}{y:8.3f}{z:8.3f}{occupancy:6.2f}{0.0:6.2f}          {element:>2}"
    )


def write_pdb(path: Path, atoms) -> Path:
    """Write ``atoms`` (element, xyz in Angstrom[, keyword arguments]) as PDB, gzipped for .gz."""
    lines = [atom_line(i + 1, *atom[:2], **(atom[2] if len(atom) > 2 else {}))
             for i, atom in enumerate(atoms)]
    text = "\n".join(lines + ["END", ""])
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as handle:
        handle.write(text)
    return path


@pytest.mark.parametrize(
    "name, voxel_size_nm, resolution_nm",
    [("atom.pdb", 1.0, 4.0), ("atom.pdb.gz", 0.5, 3.0), ("atom.pdb", 0.8, 2.0)],
)
def test_single_atom_is_a_gaussian_of_the_resolution_sigma_at_the_box_centre(
    tmp_path, name, voxel_size_nm, resolution_nm
):
    """The atom (its own centre of mass) lands on a voxel, so the map is the sampled Gaussian.
    scipy cuts its kernel at 4 sigma and renormalises it: measured 1e-5 to 8e-5 of the peak."""
    require("gemmi")
    path = write_pdb(tmp_path / name, [("C", (12.345, -67.89, 3.21))])
    volume = density_from_structure(
        path, voxel_size_nm=voxel_size_nm, resolution_nm=resolution_nm, size=N
    )
    expected = gaussian((0.0, 0.0, 0.0), resolution_nm * RESOLUTION_TO_SIGMA / voxel_size_nm)
    assert volume.shape == (N, N, N)
    assert np.abs(volume - expected).max() < 2e-4


@pytest.mark.parametrize(
    "second_element, second_occupancy, second_mass",
    [("S", 1.0, SULFUR), ("C", 0.25, 0.25 * CARBON)],
)
def test_centre_of_mass_not_the_midpoint_lands_on_the_box_centre(
    tmp_path, second_element, second_occupancy, second_mass
):
    """Two atoms of different mass (element weight times occupancy) 8.1 nm apart: each blob
    sits where the mass-weighted centre puts it, 1.8-2.4 voxels from where the midpoint
    would; trilinear splatting and the Gaussian keep first moments, so to < 1e-3 voxel."""
    require("gemmi")
    first, second = np.array([10.0, 20.0, -5.0]), np.array([70.0, -10.0, 40.0])
    path = write_pdb(tmp_path / "pair.pdb", [
        ("C", first), (second_element, second, {"occupancy": second_occupancy}),
    ])
    volume = density_from_structure(path, voxel_size_nm=1.0, resolution_nm=2.0, size=N)
    centre = (CARBON * first + second_mass * second) / (CARBON + second_mass)
    expected = (first - centre) / 10.0, (second - centre) / 10.0
    np.testing.assert_allclose(blob_centroids(volume, *expected), expected, atol=1e-3)
    assert np.linalg.norm((first + second) / 2 - centre) / 10.0 > 1.5


@pytest.mark.parametrize("voxel_size_nm, resolution_nm", [(0.5, 1.0), (0.8, 0.8), (1.0, 1.0)])
def test_blob_distance_in_voxels_is_atom_distance_over_voxel_size(
    tmp_path, voxel_size_nm, resolution_nm
):
    """Two carbons 5.997 nm apart along an oblique line; each blob (sigma 0.225 or 0.11 voxel) is
    at least 6 sigma from the plane dividing them."""
    require("gemmi")
    first = np.array([5.5, -2.0, 7.25])
    second = first + [42.0, -26.0, 34.0]
    path = write_pdb(tmp_path / "two.pdb", [("C", first), ("C", second)])
    volume = density_from_structure(
        path, voxel_size_nm=voxel_size_nm, resolution_nm=resolution_nm, size=N
    )
    half = (second - first) / 2 / 10.0 / voxel_size_nm
    found = blob_centroids(volume, -half, half)
    assert np.linalg.norm(found[1] - found[0]) == pytest.approx(
        np.linalg.norm(second - first) / 10.0 / voxel_size_nm, abs=1e-3
    )
    np.testing.assert_allclose(found, [-half, half], atol=1e-3)


def test_hydrogens_and_waters_are_ignored(tmp_path):
    """A model with hydrogens and a water gives the same map as its heavy atoms alone."""
    require("gemmi")
    heavy = [("C", (1.0, 2.0, 3.0)), ("N", (14.0, -3.0, 8.0)), ("S", (-6.0, 9.0, -2.0))]
    extra = [("H", (2.0, 2.5, 3.5)), ("H", (-20.0, 1.0, 0.0)),
             ("O", (30.0, 10.0, -10.0), {"residue": "HOH"})]
    with_extra = density_from_structure(write_pdb(tmp_path / "all.pdb", heavy + extra))
    without = density_from_structure(write_pdb(tmp_path / "heavy.pdb", heavy))
    np.testing.assert_allclose(with_extra, without, atol=1e-12)


def cluster_with_a_far_atom(path: Path, cluster_atoms: int) -> Path:
    """``cluster_atoms`` carbons on one site and one carbon 30 nm away."""
    atoms = [("C", (0.0, 0.0, 0.0))] * cluster_atoms + [("C", (300.0, 0.0, 0.0))]
    return write_pdb(path, atoms)


def test_a_little_mass_outside_the_box_is_logged(tmp_path, caplog):
    """1 carbon of 200 (0.5 % of the mass) falls outside: a warning with the count."""
    require("gemmi")
    path = cluster_with_a_far_atom(tmp_path / "far.pdb", 199)
    with caplog.at_level(logging.WARNING, logger="subalign.simulation.density"):
        volume = density_from_structure(path, size=N)
    assert "0.50% of the mass (1 of 200 atoms) falls outside the 32 nm box" in caplog.text
    assert str(path) in caplog.text
    assert volume.max() == 1.0


def test_more_than_one_percent_of_the_mass_outside_the_box_is_an_error(tmp_path):
    """1 carbon of 20 (5 %) outside: the box is too small, and the message says so."""
    require("gemmi")
    path = cluster_with_a_far_atom(tmp_path / "far.pdb", 19)
    with pytest.raises(VolumeError) as error:
        density_from_structure(path, size=N)
    assert str(error.value) == (
        f"{path}: 5.00% of the mass (1 of 20 atoms) falls outside the 32 nm box; "
        "expected at most 1%: increase size or voxel_size_nm"
    )


@needs_shared_data
def test_apoferritin_is_a_hollow_12_nm_shell_in_a_32_nm_box(caplog):
    """The 24-mer shell spans radii ~4-6 nm: at 2 nm resolution the radial profile peaks at
    5 nm, the cavity is nearly empty, and nothing reaches past 10 nm."""
    require("gemmi")
    with caplog.at_level(logging.WARNING, logger="subalign.simulation.density"):
        volume = density_from_structure(
            STRUCTURES / "4v1w_apoferritin.cif.gz", voxel_size_nm=1.0, resolution_nm=2.0, size=N
        )
    assert caplog.text == ""
    radius = np.linalg.norm(offsets_xyz(), axis=0)
    profile = np.array([volume[np.abs(radius - r) < 0.5].mean() for r in range(N // 2)])
    assert 4 <= np.argmax(profile) <= 6
    assert profile[0] < 0.05 * profile.max()
    assert volume[radius > 10].max() < 1e-3
    np.testing.assert_allclose(centroid_xyz(volume), 0.0, atol=1e-6)


def test_structure_errors_name_the_file(tmp_path):
    require("gemmi")
    missing = tmp_path / "missing.pdb"
    with pytest.raises(VolumeError, match=f"^{missing}: no such file"):
        density_from_structure(missing)
    text = tmp_path / "notes.pdb"
    text.write_text("not a model\n")
    with pytest.raises(VolumeError) as error:
        density_from_structure(text)
    assert str(error.value) == (
        f"{text}: expected atoms with mass (hydrogens and waters ignored), found 0 atom(s) "
        "of total mass 0 Da in the first model"
    )


def test_structure_without_gemmi_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gemmi", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'subalign\[structures\]'"):
        density_from_structure(tmp_path / "any.pdb")


@pytest.mark.parametrize("reader", [density_from_structure, density_from_map])
@pytest.mark.parametrize("field, value", [("voxel_size_nm", 0.0), ("resolution_nm", -1.0),
                                          ("size", 0)])
def test_grid_parameters_must_be_positive(tmp_path, reader, field, value):
    with pytest.raises(ConfigError, match=f"^{field}: expected a positive number, found"):
        reader(tmp_path / "any", **{field: value})


# --- EM maps --------------------------------------------------------------------------------

SOURCE_SIZE = 64
SOURCE_VOXEL_NM = 0.5
SOURCE_SIGMA_NM = 1.2
# Blob centre in source voxels (x, y, z) from index 32: well off the box centre.
SOURCE_CENTRE = (8.3, -6.4, 3.1)


def write_mrc(path: Path, data: np.ndarray, voxel_size_angstrom, **header) -> Path:
    """An MRC file, gzipped for .gz; ``header`` sets fields such as ``mapc``."""
    compression = "gzip" if path.suffix == ".gz" else None
    with mrcfile.new(path, compression=compression) as mrc:
        mrc.set_data(data.astype(np.float32))
        mrc.voxel_size = voxel_size_angstrom
        for field, value in header.items():
            setattr(mrc.header, field, value)
    return path


def source_blob() -> np.ndarray:
    return gaussian(SOURCE_CENTRE, SOURCE_SIGMA_NM / SOURCE_VOXEL_NM, SOURCE_SIZE)


@pytest.mark.parametrize(
    "name, resolution_nm, filter_sigma_nm",
    [("map.mrc", 2.0, 2.0 * RESOLUTION_TO_SIGMA), ("map.mrc.gz", 2.0, 2.0 * RESOLUTION_TO_SIGMA),
     ("map.mrc", None, 0.5)],
)
def test_map_blob_is_centred_with_the_combined_sigma(tmp_path, name, resolution_nm,
                                                     filter_sigma_nm):
    """A Gaussian of sigma 1.2 nm in 0.5 nm voxels, low-passed with sigma 0.225 resolution (or
    half an output voxel), is a Gaussian of sigma sqrt(1.2^2 + filter^2) nm; resampled to
    1 nm voxels by cubic splines it matches the analytic one to 1e-4 to 3e-4 of the peak
    (linear interpolation would be off by ~1e-2)."""
    path = write_mrc(tmp_path / name, source_blob(), SOURCE_VOXEL_NM * 10)
    volume = density_from_map(path, voxel_size_nm=1.0, resolution_nm=resolution_nm, size=N)
    sigma = np.hypot(SOURCE_SIGMA_NM, filter_sigma_nm)
    assert volume.shape == (N, N, N)
    assert np.abs(volume - gaussian((0.0, 0.0, 0.0), sigma)).max() < 1e-3


def test_map_voxel_size_is_read_per_axis(tmp_path):
    """Voxels of 0.5, 0.4 and 0.6 nm along x, y, z sampling a round Gaussian give a round
    Gaussian on the 1 nm grid."""
    voxel_nm = np.array([0.5, 0.4, 0.6])
    z, y, x = (np.indices((SOURCE_SIZE,) * 3, dtype=float) - SOURCE_SIZE // 2)
    x, y, z = x * voxel_nm[0] - 3.0, y * voxel_nm[1] + 1.0, z * voxel_nm[2] - 2.0
    data = np.exp(-(x**2 + y**2 + z**2) / (2 * SOURCE_SIGMA_NM**2))
    path = write_mrc(tmp_path / "anisotropic.mrc", data, tuple(voxel_nm * 10))
    volume = density_from_map(path, voxel_size_nm=1.0, resolution_nm=2.0, size=N)
    sigma = np.hypot(SOURCE_SIGMA_NM, 2.0 * RESOLUTION_TO_SIGMA)
    assert np.abs(volume - gaussian((0.0, 0.0, 0.0), sigma)).max() < 1e-3


def test_map_axis_order_from_the_header_is_honoured(tmp_path):
    """Stored as [x, y, z] with (mapc, mapr, maps) = (3, 2, 1): the same map as [z, y, x]."""
    blob = source_blob() * (1 + 0.1 * np.arange(SOURCE_SIZE))  # no mirror symmetry along x
    standard = write_mrc(tmp_path / "zyx.mrc", blob, SOURCE_VOXEL_NM * 10)
    swapped = write_mrc(tmp_path / "xyz.mrc", blob.transpose(2, 1, 0), SOURCE_VOXEL_NM * 10,
                        mapc=3, mapr=2, maps=1)
    np.testing.assert_allclose(density_from_map(swapped), density_from_map(standard),
                               atol=1e-12)


def test_map_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.mrc"
    with pytest.raises(VolumeError, match=f"^{missing}: no such file"):
        density_from_map(missing)
    unsized = write_mrc(tmp_path / "unsized.mrc", source_blob(), 0.0)
    with pytest.raises(VolumeError) as error:
        density_from_map(unsized)
    assert str(error.value) == (
        f"{unsized}: expected a positive voxel size in the header, found (x, y, z) = "
        "(0.0, 0.0, 0.0) Angstrom"
    )
