"""Point-group symmetry in averaging (issue #25): the same particles averaged with C1 and with
their point group, D7 (20S proteasome, 3j9i) and O (apoferritin, 4v1w).

For each structure: the model is turned so that its symmetry axes are RELION's (D7: 7-fold on
z, a 2-fold on x; O: 4-folds on x, y, z; found from the model's C-alpha atoms, checked to map
the atoms onto themselves within ``--axis-tolerance`` Angstrom), ``subalign simulate`` makes
the particles from it, and ``subalign average start=poses rounds=0`` (the true poses, no
alignment) averages them once with ``symmetry=C1`` and once with the group. Printed: the
resolution of each run at FSC 0.143 and 0.5 (its half maps' FSC, corrected for the mask).

    nice -n 10 python benchmarks/symmetry_sets.py [--n 60] [--size 40] [--voxel-nm 0.6]
        [--snr 0.05] [--resolution-nm 1.2] [--work DIR]

Needs gemmi (``pip install subalign[structures]``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np
from scipy.optimize import minimize
from scipy.spatial import cKDTree

from subalign.numerics.geometry import rotation_vector_to_matrix
from subalign.numerics.symmetry import parse_symmetry

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "structures"
#: (name, model, group, fold of the axis put on z, fold of the axis put on x)
SETS = (("proteasome 20S", "3j9i_proteasome20S.pdb.gz", "D7", 7, 2),
        ("apoferritin", "4v1w_apoferritin.cif.gz", "O", 4, 4))


def _ca_atoms(path: Path):
    """The structure (gemmi) and its first model's C-alpha positions (k, 3), Angstrom."""
    import gemmi

    structure = gemmi.read_structure(str(path))
    structure.remove_hydrogens()
    positions = [atom.pos.tolist() for chain in structure[0] for residue in chain
                 for atom in residue if atom.name == "CA"]
    return structure, np.array(positions)


def _misfit(points: np.ndarray, tree: cKDTree, rotation: np.ndarray) -> float:
    """Mean distance (Angstrom, capped at 10) from each rotated point to the nearest point."""
    distances, _ = tree.query(points @ rotation.T)
    return float(np.minimum(distances, 10.0).mean())


def _about(axis: np.ndarray, fold: int) -> np.ndarray:
    return rotation_vector_to_matrix(axis / np.linalg.norm(axis) * 2 * np.pi / fold)


def _best_axis(points, tree, fold: int, directions: np.ndarray) -> np.ndarray:
    """The direction among ``directions`` whose ``fold``-fold rotation fits best, refined
    by small turns about the x and y axes of a frame whose z is that direction."""
    scores = [_misfit(points, tree, _about(d, fold)) for d in directions]
    frame = _frame_with_z(directions[int(np.argmin(scores))])

    def turned(step) -> np.ndarray:
        return frame.T @ rotation_vector_to_matrix(np.array([step[0], step[1], 0.0]))[:, 2]

    result = minimize(lambda step: _misfit(points, tree, _about(turned(step), fold)),
                      [0.0, 0.0], method="Nelder-Mead",
                      options={"xatol": 1e-4, "fatol": 1e-4,
                               "initial_simplex": [[0, 0], [0.02, 0], [0, 0.02]]})
    axis = turned(result.x)
    return axis / np.linalg.norm(axis)


def _frame_with_z(axis: np.ndarray) -> np.ndarray:
    """Rows x, y, z of a right-handed frame whose z is ``axis``."""
    z = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(z[0]) < 0.9 else np.array([0, 1.0, 0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def _orientation(points: np.ndarray, z_fold: int, x_fold: int) -> np.ndarray:
    """Rotation ``M`` (rows: the new x, y, z axes) that puts the model's ``z_fold`` axis on z
    and a perpendicular ``x_fold`` axis on x; ``points`` centred."""
    tree = cKDTree(points)
    k = np.arange(3000) + 0.5  # a Fibonacci hemisphere, ~2 degrees apart
    polar, azimuth = np.arccos(1 - k / 3000), np.pi * (1 + 5 ** 0.5) * k
    sphere = np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth),
                       np.cos(polar)], axis=1)
    z = _best_axis(points, tree, z_fold, sphere)
    frame = _frame_with_z(z)
    circle = np.array([np.cos(a) * frame[0] + np.sin(a) * frame[1]
                       for a in np.radians(np.arange(0, 180, 0.5))])
    x = _best_axis(points, tree, x_fold, circle)
    x = x - (x @ z) * z
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def oriented_model(path: Path, group: str, z_fold: int, x_fold: int, out: Path,
                   tolerance: float) -> float:
    """Write ``path`` turned into RELION's axes of ``group`` to ``out`` (mmCIF); returns the
    largest misfit (Angstrom) of the group's rotations on the turned C-alpha atoms."""
    structure, points = _ca_atoms(path)
    centre = points.mean(axis=0)
    turn = _orientation(points - centre, z_fold, x_fold)
    for chain in structure[0]:
        for residue in chain:
            for atom in residue:
                atom.pos = type(atom.pos)(*(turn @ (np.array(atom.pos.tolist()) - centre)))
    turned = (points - centre) @ turn.T
    tree = cKDTree(turned)
    misfit = max(_misfit(turned, tree, s) for s in parse_symmetry(group).rotations)
    if misfit > tolerance:
        raise SystemExit(f"{path.name}: the {group} axes found leave a misfit of {misfit:.2f} A "
                         f"(> {tolerance} A); not a {group} model in one piece?")
    structure.make_mmcif_document().write_file(str(out))
    return misfit


def _run(*args: str) -> None:
    subprocess.run(["subalign", *args], check=True, stdout=subprocess.DEVNULL)


def resolution(run: Path) -> dict:
    """The run's FSC 0.143 and 0.5 resolutions (Angstrom) from its ``summary.json``: the half
    maps' FSC, corrected for the mask by phase randomization."""
    return json.loads((run / "summary.json").read_text())["resolution"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--voxel-nm", type=float, default=0.6)
    parser.add_argument("--snr", type=float, default=0.05)
    parser.add_argument("--resolution-nm", type=float, default=1.2)
    parser.add_argument("--axis-tolerance", type=float, default=1.5)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="symmetry_sets_"))
    work.mkdir(parents=True, exist_ok=True)
    pixel = 10 * args.voxel_nm
    print(f"{args.n} particles, {args.size}^3 at {pixel:g} A, +-60 deg, SNR {args.snr:g}, "
          f"no CTF, density to {10 * args.resolution_nm:g} A; true poses (start=poses "
          f"rounds=0); work in {work}")
    for name, model, group, z_fold, x_fold in SETS:
        started = time.perf_counter()
        turned = work / f"{group}_model.cif"
        misfit = oriented_model(DATA / model, group, z_fold, x_fold, turned, args.axis_tolerance)
        sim = work / f"{group}_sim"
        _run("simulate", f"n={args.n}", f"size={args.size}", f"voxel_size_nm={args.voxel_nm}",
             "density.source=structure", f"density.path={turned}",
             f"density.resolution_nm={args.resolution_nm}", f"imaging.snr={args.snr}",
             "imaging.ctf=null", "max_translation_voxels=1", f"output_dir={sim}")
        found = {}
        for symmetry in ("C1", group):
            run = work / f"{group}_avg_{symmetry}"
            _run("average", f"particles={sim / 'particles.star'}",
                 f"tomograms={sim / 'wedges.csv'}", "start=poses", "rounds=0",
                 f"symmetry={symmetry}", "figures=false", f"output_dir={run}")
            found[symmetry] = resolution(run)
        print(f"{name} ({model}, {group}, axes misfit {misfit:.2f} A): FSC 0.143 / 0.5 "
              + ", ".join(f"{g} {found[g]['0.143']:.1f} / {found[g]['0.5']:.1f} A" for g in found)
              + f" ({time.perf_counter() - started:.0f} s)")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
