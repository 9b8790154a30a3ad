"""Multi-reference classification of two similar shapes (issue #25): the 30S ribosomal subunit
(4v4r) with and without a few of its proteins, no all-vs-all matrix.

The trimmed model is the full one without the chains ``--remove`` (gemmi). ``subalign simulate``
makes one mixture of both (``--n`` particles, half of each, random poses, ``--size``^3 boxes of
``--voxel-nm`` nm, +-60 deg, SNR ``--snr``, the simulator's CTF and MTF), and ``subalign
classify`` sorts it starting from the two true maps low-passed to 60 A (its
``initial_lowpass_angstrom``), with ``executor.workers=2``, the file's poses and classes unused
(``start=references``). Each structure is centred on its own centre of mass (the simulator's
rule), so the trimmed one also sits a little off the full one; the printed shift says how much.

Printed: the mass removed, each round's search, alignments, wall seconds, particles that changed
class, class sizes and the adjusted Rand index against the simulator's classes, and the whole
run's CPU seconds (``getrusage`` of the children: client and Dask workers) and peak memory of
the largest process.

    nice -n 5 python benchmarks/classify_mixture.py [--n 1000] [--work DIR] [--remove E,F,G]

Needs gemmi (``pip install subalign[structures]``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "structures"
MODEL = DATA / "4v4r_30S.pdb.gz"


def trim(model: Path, chains: list[str], output: Path) -> tuple[float, float]:
    """Write ``model`` without ``chains`` to ``output``; return the fraction of the mass
    removed and how far the centre of mass moves (nm)."""
    import gemmi

    structure = gemmi.read_structure(str(model))

    def masses_and_centre(s):
        atoms = [(a.element.weight, a.pos) for chain in s[0] for r in chain for a in r]
        weights = np.array([w for w, _ in atoms])
        positions = np.array([[p.x, p.y, p.z] for _, p in atoms])
        return weights.sum(), weights @ positions / weights.sum()

    total, centre = masses_and_centre(structure)
    missing = [c for c in chains if structure[0].find_chain(c) is None]
    if missing:
        raise SystemExit(f"{model.name}: no chain {', '.join(missing)}")
    for chain in chains:
        structure[0].remove_chain(chain)
    kept, kept_centre = masses_and_centre(structure)
    structure.write_pdb(str(output))
    return 1.0 - kept / total, float(np.linalg.norm(kept_centre - centre)) / 10.0


def run(command: list[str], log: Path) -> dict:
    """Run ``command`` (output to ``log``); CPU seconds of it and its descendants, wall seconds
    and the peak resident memory of the largest descendant (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "wall": time.perf_counter() - started, "peak_mb": after.ru_maxrss / 1024}


def report(directory: Path, timing: dict) -> None:
    """Print one line per round of the classification in ``directory``."""
    print("round  search  alignments  seconds  s/alignment  changed  classes    ARI")
    rounds = sorted(directory.glob("round_*/round.json"))
    for path in rounds:
        record = json.loads(path.read_text())
        if record["number"] == 0:
            continue
        alignments = record["particles"] * len(record["classes"])
        seconds = record.get("seconds") or float("nan")
        index = record.get("truth", {}).get("adjusted_rand_index", float("nan"))
        print(f"{record['number']:5d}  {record['search']:6s}  {alignments:10d}  {seconds:7.0f}"
              f"  {seconds / alignments:11.2f}  {record['changed']:7d}  "
              f"{'/'.join(map(str, record['classes'])):9s}  {index:.3f}")
    summary = json.loads((directory / "summary.json").read_text())
    print(f"stopped: {summary.get('stop')}; whole run {timing['wall']:.0f} s wall, "
          f"{timing['cpu']:.0f} CPU s (client and workers), peak {timing['peak_mb']:.0f} MB "
          "(largest process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--voxel-nm", type=float, default=1.0)
    parser.add_argument("--snr", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=2525)
    parser.add_argument("--remove", default="E,F,G",
                        help="chains of 4v4r removed from the second shape (E, F, G: S2-S4)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/classify_mixture"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    trimmed = args.work / "30S_trimmed.pdb"
    removed, moved = trim(MODEL, args.remove.split(","), trimmed)
    print(f"second shape: 4v4r without chains {args.remove}: {100 * removed:.1f}% of the mass "
          f"removed, centre of mass moved {moved:.2f} nm")
    simulation = args.work / "simulation"
    if not (simulation / "particles.star").exists():
        shapes = f"[{{source:structure,path:{MODEL}}},{{source:structure,path:{trimmed}}}]"
        timing = run(["subalign", "simulate", f"n={args.n}", f"size={args.size}",
                      f"voxel_size_nm={args.voxel_nm:g}", f"seed={args.seed}",
                      f"imaging.snr={args.snr:g}", "imaging.tilt_range_deg=[-60,60]",
                      f"structures={shapes}", "proportions=[0.5,0.5]",
                      f"output_dir={simulation}"], args.work / "simulate.log")
        print(f"simulated {args.n} particles in {timing['wall']:.0f} s")
    output = args.work / "classify"
    references = ",".join(str(simulation / f"density_{k}.mrc") for k in (1, 2))
    timing = run(["subalign", "classify", f"particles={simulation / 'particles.star'}",
                  f"tomograms={simulation / 'wedges.csv'}", f"references=[{references}]",
                  "start=references", f"truth={simulation / 'particles.star'}",
                  "executor.workers=2", f"output_dir={output}"], args.work / "classify.log")
    report(output, timing)


if __name__ == "__main__":
    main()
