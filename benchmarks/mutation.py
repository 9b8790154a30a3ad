"""Mutation score of the modules that hold conventions and numerics (issue #24).

Each module is mutated one change at a time, and the tests chosen for it (``MODULES``: the
default set's test files that exercise it, ``-m 'not slow'``) run against each mutant; a
mutant is *killed* when they fail, *survives* when they pass, *timed out* past
``--timeout-factor`` times the unmutated run (plus 20 s). Score = killed / (killed + survived).
Each surviving mutant is printed with its line, ``original -> mutated``.

The mutants are mutmut's (``pip install "mutmut<3"``: ``mutmut.list_mutations`` and
``mutmut.mutate`` of mutmut 2.5, its classic operators: arithmetic and comparison swaps,
``and``/``or``, ``not`` removed, ``True``/``False``, numbers +1, assignments to ``None``,
calls and subscripts to ``None``, decorators removed); strings and f-strings are left out
(``--types`` to add them): in these modules they are error messages and column labels. This
script, not mutmut's runner, runs the tests, because the package is the directory
``framework/`` installed as ``subalign`` (editable): mutmut 3 copies the tree into
``mutants/`` and runs it there, where ``import subalign`` still finds the unmutated editable
install, and mutmut 2's runner mutates the checkout in place, which other test runs on the
same checkout would import. Here the mutants live in a private copy of the repository
(``git archive`` of ``--ref``, optionally with the checkout's ``tests/`` laid over it):
every process the tests start imports ``subalign`` from that copy (a ``sitecustomize`` put
first on ``PYTHONPATH`` maps the ``package-dir`` of pyproject.toml onto it), the mutated
file is restored after each mutant and checked byte for byte, and the checkout is never
written. Byte code is not written while a mutant is in place (a mutant of equal size within
the same second would otherwise be read from a stale ``.pyc``). Each test run is a fork of
this process, which has imported numpy, scipy, pandas, pytest and the rest once (seconds per
run on a loaded machine); so POSIX and Python 3.11+ only.

``--sample N`` draws N mutants per module with ``--seed`` (all with ``--sample 0``). Run it
at low priority on a shared machine:

    nice -n 10 python benchmarks/mutation.py [--module geometry ...] [--sample 60] [--seed 24]
        [--ref HEAD] [--overlay-tests] [--json results.json] [--recheck results.json] [--keep DIR]

``--recheck`` runs only the survivors of an earlier ``--json`` (with ``--overlay-tests``: do
the tests being written kill them?).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import json
import os
import random
import runpy
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import types
from pathlib import Path

import _common  # noqa: F401  (one thread; imported before numpy)

ROOT = Path(__file__).resolve().parents[1]

CONVENTIONS = "tests/test_format_conventions.py"  # since issue #24; left out where absent
#: Module (path in the repository) -> the default-set test files that exercise it.
MODULES = {
    "geometry": ("framework/numerics/geometry.py",
                 ["tests/test_geometry.py", "tests/test_transform.py"]),
    "wedge": ("framework/numerics/wedge.py",
              ["tests/test_wedge.py", "tests/test_measurement.py"]),
    "relion": ("framework/io/relion.py",
               ["tests/test_formats.py", "tests/test_tables_agree.py", CONVENTIONS]),
    "dynamo": ("framework/io/dynamo.py",
               ["tests/test_formats.py", "tests/test_tables_agree.py", CONVENTIONS]),
    "em_motivelist": ("framework/io/em_motivelist.py",
                      ["tests/test_formats.py", "tests/test_tables_agree.py", CONVENTIONS]),
    "constrained": ("framework/scoring/constrained.py",
                    ["tests/test_scores.py", "tests/test_contracts.py"]),
}

#: mutmut 2's node types, less ``string`` and ``fstring`` (module docstring).
TYPES = ("operator", "keyword", "number", "name", "argument", "or_test", "and_test", "lambdef",
         "expr_stmt", "decorator", "annassign")

#: Put first on the tests' PYTHONPATH: imports ``subalign`` from the copy in every process.
SITECUSTOMIZE = '''\
import importlib.util, os, sys
_ROOTS = {roots!r}

class _MutationCopy:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        root = _ROOTS.get(name)
        if root is None:
            return None
        return importlib.util.spec_from_file_location(
            name, os.path.join(root, "__init__.py"), submodule_search_locations=[root])

sys.meta_path.insert(0, _MutationCopy)
'''


def make_copy(ref: str, destination: Path, overlay_tests: bool) -> None:
    """The repository at ``ref`` (``git archive``), with the checkout's tests/ if asked."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    if overlay_tests:
        shutil.rmtree(destination / "tests")
        shutil.copytree(ROOT / "tests", destination / "tests",
                        ignore=shutil.ignore_patterns("__pycache__"))


def test_environment(tree: Path, shim: Path) -> dict:
    """Environment of the test runs: ``subalign`` from ``tree`` (module docstring)."""
    mapping = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE.format(
        roots={name: str(tree / folder) for name, folder in mapping.items()}))
    env = dict(os.environ, PYTHONPATH=str(shim), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.setdefault("SUBALIGN_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    return env


def preload() -> None:
    """Import the test runs' third-party packages once, here; each run is a fork of this
    process and so starts without their import time (seconds on a loaded machine)."""
    import importlib

    for name in ("numpy", "scipy.fft", "scipy.ndimage", "scipy.spatial.transform",
                 "scipy.optimize", "scipy.special", "pandas", "pytest", "_pytest.pytester",
                 "pluggy", "hydra", "omegaconf", "numba", "mrcfile", "starfile", "emfile",
                 "dynamotable", "eulerangles", "threadpoolctl", "tqdm"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    assert not any(m == "subalign" or m.startswith("subalign.") for m in sys.modules)


def run_tests(tree: Path, tests: list[str], env: dict, timeout: float | None, *,
              write_bytecode: bool = True) -> tuple[str, float]:
    """``pass``, ``fail`` or ``timeout`` of ``pytest -x`` over ``tests`` in ``tree``, and
    seconds: in a fork of this process, which imports ``subalign`` from ``tree``."""
    import pytest

    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: its own process group, output discarded
        code = 99
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for stream in (0, 1, 2):
                os.dup2(null, stream)
            os.environ.clear()
            os.environ.update(env)
            os.chdir(tree)
            sys.dont_write_bytecode = not write_bytecode
            runpy.run_path(os.path.join(env["PYTHONPATH"], "sitecustomize.py"))  # the copy's subalign
            code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests]))
        finally:
            os._exit(code)
    deadline = None if timeout is None else started + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return ("pass" if code == 0 else "fail"), time.perf_counter() - started
        if deadline is not None and time.perf_counter() > deadline:
            os.killpg(pid, signal.SIGKILL)  # the run and whatever it started
            os.waitpid(pid, 0)
            return "timeout", time.perf_counter() - started
        time.sleep(0.05)


def mutants(path: Path, types_: tuple[str, ...]) -> list:
    """mutmut's mutation ids of ``path`` (node types ``types_``)."""
    from mutmut import Context, list_mutations

    config = types.SimpleNamespace(mutation_types_to_apply=set(types_), covered_lines_by_filename=None)
    return list_mutations(Context(filename=str(path), config=config))


def mutated_source(path: Path, mutation_id, types_: tuple[str, ...]) -> str:
    from mutmut import Context, mutate

    config = types.SimpleNamespace(mutation_types_to_apply=set(types_), covered_lines_by_filename=None)
    source, count = mutate(Context(filename=str(path), mutation_id=mutation_id, config=config))
    assert count == 1, f"{path}: mutation {mutation_id} applied {count} times"
    return source


def describe(original: str, mutated: str) -> tuple[int, str]:
    """First changed line (from 1) and ``original -> mutated`` of the changed lines."""
    old, new = original.splitlines(), mutated.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            before = " / ".join(line.strip() for line in old[i1:i2]) or "(nothing)"
            after = " / ".join(line.strip() for line in new[j1:j2]) or "(removed)"
            return i1 + 1, f"{before}  ->  {after}"
    raise AssertionError("mutant equal to the original")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mutate_module(tree: Path, name: str, args: argparse.Namespace, env: dict) -> dict:
    """Every sampled mutant of one module against its tests; restores the file each time."""
    relative, tests = MODULES[name]
    tests = [t for t in tests if (tree / t).is_file()]  # a test file added later: not at --ref
    target = tree / relative
    original_bytes = target.read_bytes()
    original = original_bytes.decode()
    status, baseline = run_tests(tree, tests, env, None)
    if status != "pass":
        raise SystemExit(f"{name}: the tests {' '.join(tests)} fail on the unmutated copy")
    ids = mutants(target, args.types)
    chosen = ids if args.sample == 0 or args.sample >= len(ids) else \
        random.Random(f"{args.seed}:{name}").sample(ids, args.sample)
    if args.recheck is not None:  # only the survivors of an earlier run
        earlier = json.loads(args.recheck.read_text())["results"]
        wanted = {(s["line"], s["change"]) for r in earlier if r["module"] == relative
                  for s in r["survivors"]}
        chosen = [m for m in ids if describe(original, mutated_source(target, m, args.types)) in wanted]
    chosen = sorted(chosen, key=lambda m: (m.line_number, m.index))
    timeout = args.timeout_factor * baseline + 20.0
    quiet = dict(env, PYTHONDONTWRITEBYTECODE="1")
    for cached in (target.parent / "__pycache__").glob(f"{target.stem}.*.pyc"):
        cached.unlink()  # no stale byte code of the original for a mutant of equal size
    print(f"{name}: {len(ids)} mutants, {len(chosen)} run; tests {' '.join(tests)}: "
          f"{baseline:.1f} s unmutated, timeout {timeout:.0f} s", flush=True)
    outcomes = {"killed": 0, "survived": 0, "timeout": 0}
    survivors = []
    started = time.perf_counter()
    for number, mutation_id in enumerate(chosen, 1):
        source = mutated_source(target, mutation_id, args.types)
        line, change = describe(original, source)
        try:
            target.write_text(source)
            status, seconds = run_tests(tree, tests, quiet, timeout, write_bytecode=False)
        finally:
            target.write_bytes(original_bytes)
        assert target.read_bytes() == original_bytes, f"{target} not restored"
        outcome = {"fail": "killed", "pass": "survived", "timeout": "timeout"}[status]
        outcomes[outcome] += 1
        if outcome != "killed":
            survivors.append({"line": line, "change": change, "outcome": outcome})
        if args.verbose or outcome != "killed":
            print(f"  [{number}/{len(chosen)}] {outcome:8s} {seconds:5.1f} s  line {line}: {change}",
                  flush=True)
    decided = outcomes["killed"] + outcomes["survived"]
    result = {"module": relative, "tests": tests, "mutants": len(ids), "run": len(chosen),
              **outcomes, "score": outcomes["killed"] / decided if decided else float("nan"),
              "baseline_seconds": round(baseline, 1),
              "seconds": round(time.perf_counter() - started, 1), "survivors": survivors}
    print(f"{name}: killed {outcomes['killed']}, survived {outcomes['survived']}, timed out "
          f"{outcomes['timeout']}: score {result['score']:.1%} ({result['seconds']:.0f} s)",
          flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=list(MODULES),
                        help="module(s) to mutate (default: all)")
    parser.add_argument("--sample", type=int, default=60, help="mutants per module; 0: all")
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--ref", default="HEAD", help="the commit to copy and mutate")
    parser.add_argument("--overlay-tests", action="store_true",
                        help="use the checkout's tests/ as they are now, not the commit's")
    parser.add_argument("--types", type=lambda s: tuple(s.split(",")), default=TYPES,
                        help="mutmut node types, comma-separated")
    parser.add_argument("--timeout-factor", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--recheck", type=Path,
                        help="run only the survivors in this --json of an earlier run")
    parser.add_argument("--keep", type=Path, help="make the copy here and keep it")
    parser.add_argument("--verbose", action="store_true", help="print killed mutants too")
    args = parser.parse_args()
    try:
        import mutmut  # noqa: F401
        from mutmut import list_mutations  # noqa: F401  (mutmut 2's API)
    except ImportError:
        raise SystemExit('needs mutmut 2: pip install "mutmut<3"') from None

    preload()
    names = args.module or list(MODULES)
    checkout = {name: digest(ROOT / MODULES[name][0]) for name in names}
    work = Path(tempfile.mkdtemp(prefix="subalign-mutation-")) if args.keep is None else args.keep
    tree = work / "tree"
    try:
        make_copy(args.ref, tree, args.overlay_tests)
        env = test_environment(tree, work / "shim")
        results = [mutate_module(tree, name, args, env) for name in names]
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    changed = [n for n in names if digest(ROOT / MODULES[n][0]) != checkout[n]]
    if changed:  # this script never writes the checkout; someone else changed these meanwhile
        print(f"note: changed in the checkout during the run (not by this script): {changed}")

    print(f"\n{'module':32s} {'mutants':>7s} {'run':>4s} {'killed':>6s} {'survived':>8s} "
          f"{'timeout':>7s} {'score':>6s}")
    for r in results:
        print(f"{r['module']:32s} {r['mutants']:7d} {r['run']:4d} {r['killed']:6d} "
              f"{r['survived']:8d} {r['timeout']:7d} {r['score']:6.1%}")
    for r in results:
        for s in r["survivors"]:
            print(f"{r['module']}:{s['line']} {s['outcome']}: {s['change']}")
    if args.json:
        args.json.write_text(json.dumps({"ref": args.ref, "seed": args.seed, "sample": args.sample,
                                         "overlay_tests": args.overlay_tests, "results": results},
                                        indent=1))


if __name__ == "__main__":
    main()
