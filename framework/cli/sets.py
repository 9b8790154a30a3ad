"""Particle-set tools on the command line: ``subalign select``, ``merge``, ``split``.

``subalign select IN OUT [filters]``
    The rows passing every filter given (class, half set, tomogram, score, confidence, a
    pandas query, a range of rows), every column and block kept.
``subalign merge A B [C ...] --output OUT``
    Sets of one format one after another (:mod:`subalign.io.merging`).
``subalign split IN --by half|class|tomogram`` or ``--random N [--seed S]``
    One table per value, or N random parts of equal size.

Each writes in the input's format (or ``--to``), file names rewritten to resolve from the
output's folder, atomically; an output that exists is refused unless ``--force`` (the
input never), and everything is checked before the first file is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from subalign.cli.particles import _read, _reading_options
from subalign.errors import ConfigError, raise_parser_errors
from subalign.io.files import check_output_dir
from subalign.io.formats import FORMATS, output_table, read_particles, write_particles
from subalign.io.merging import merge_sets
from subalign.io.particles import ParticleTableError
from subalign.io.selection import (Filters, random_parts, read_alignments, rebased, select_rows,
                                   split_groups)

__all__ = ["merge_main", "select_main", "split_main"]


def _parser(command: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"subalign {command}", description=description,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def _writing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", choices=list(FORMATS),
                        help="output format (None: by OUT's suffix, else the input's format)")
    parser.add_argument("--write-subtomograms", type=Path,
                        help="for Dynamo, AV3 and STOPGAP: particle folder or prefix to link "
                             "each subtomogram file into")
    parser.add_argument("--force", action="store_true",
                        help="replace outputs that exist (never an input)")


def _outputs(path: Path, fmt: str) -> list[Path]:
    """The files writing ``path`` in ``fmt`` makes (Dynamo: its ``.doc`` tomogram map too)."""
    return [path, path.with_suffix(".doc")] if fmt == "dynamo" else [path]


def _check_targets(targets: list[tuple[Path, str]], inputs: list[Path], force: bool,
                   write_subtomograms: Path | None) -> None:
    """Before any write: no target is an input, none exists (unless ``force``), every
    folder can be written."""
    given = {p.resolve() for p in inputs if p.exists()}
    for path, fmt in targets:
        for file in _outputs(path, fmt):
            if file.exists() and file.resolve() in given:
                raise ConfigError(f"{file}: is an input; expected another file (an input is "
                                  "never overwritten)")
            if file.exists() and not force:
                raise ConfigError(f"{file}: exists; expected a new file (give --force to "
                                  "replace it)")
        check_output_dir(path.parent, "output")
    if write_subtomograms is not None:
        fmt = targets[0][1]
        if not FORMATS[fmt].numbered:
            raise ConfigError(f"--write-subtomograms: applies to Dynamo, AV3 and STOPGAP "
                              f"outputs; a {fmt} table names each particle's file itself")
        check_output_dir(write_subtomograms if fmt == "dynamo" else write_subtomograms.parent,
                         "--write-subtomograms")


def _write(particles, path: Path, fmt: str, subtomograms: Path | None) -> Path:
    return write_particles(rebased(particles, path.parent), path, fmt, subtomograms=subtomograms)


def select_main(argv: list[str]) -> None:
    """``subalign select IN OUT [filters] [reading and writing options]``."""
    parser = _parser("select", "Keep the particles that pass every filter given; every "
                     "column and block of the table is kept. Scores come from the table's "
                     "score column (Dynamo cc, AV3 row 1, STOPGAP score; RELION has none) or, "
                     "with --alignments, from subalign batch's alignments.csv, which also "
                     "holds the confidence.")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--class", dest="classes", type=int, nargs="+", default=[],
                        metavar="K", help="class numbers to keep")
    parser.add_argument("--half", type=int, choices=(1, 2), help="half set to keep")
    parser.add_argument("--tomogram", dest="tomogram_names", nargs="+", default=[], metavar="NAME",
                        help="tomogram names to keep (as subalign show lists them)")
    parser.add_argument("--min-score", type=float, help="lowest score kept")
    parser.add_argument("--max-score", type=float, help="highest score kept")
    parser.add_argument("--min-confidence", type=float,
                        help="lowest confidence kept (needs --alignments)")
    parser.add_argument("--alignments", type=Path,
                        help="subalign batch's alignments.csv: score and confidence per row")
    parser.add_argument("--query", help='pandas query on the table\'s columns, e.g. '
                                        '"rlnDefocusU < 30000 and rlnClassNumber != 3"')
    parser.add_argument("--rows", metavar="A:B",
                        help="rows A to B counted from 1, both included (A or B may be left out)")
    _writing_options(parser)
    _reading_options(parser)
    raise_parser_errors(parser, "select")
    args = parser.parse_args(argv)
    particles = _read(args, args.input)
    path, fmt = output_table(str(args.output), args.to, particles, "selected")
    _check_targets([(path, fmt)], [args.input], args.force, args.write_subtomograms)
    alignments = read_alignments(args.alignments, particles) if args.alignments else None
    filters = Filters(tuple(args.classes), args.half, tuple(args.tomogram_names), args.min_score,
                      args.max_score, args.min_confidence, args.query, args.rows)
    mask, counts = select_rows(particles, filters, alignments)
    print(f"{len(particles)} particles in {args.input} ({particles.source.format})")
    for name, count in counts:
        print(f"  {count} pass {name}")
    if not mask.any():
        raise ParticleTableError(f"select: no particle of {args.input} passes every filter; "
                                 "expected at least one (nothing written)")
    written = _write(particles.take(mask), path, fmt, args.write_subtomograms)
    print(f"wrote {int(mask.sum())} of {len(particles)} particles: {written} ({fmt})")


def merge_main(argv: list[str]) -> None:
    """``subalign merge A B [C ...] --output OUT [--allow-duplicates]``."""
    parser = _parser("merge", "Merge particle sets of one format and pixel size into one "
                     "table, every column kept (a column some sets lack: 0 or \"\" in their "
                     "rows); RELION optics groups of equal settings merged, others renumbered.")
    parser.add_argument("inputs", type=Path, nargs="+", metavar="SET")
    parser.add_argument("--output", type=Path, required=True, help="the merged table")
    parser.add_argument("--allow-duplicates", action="store_true",
                        help="keep particles listed twice (same file, or same tomogram and "
                             "coordinate)")
    parser.add_argument("--from", dest="source_format", choices=list(FORMATS),
                        help="input format (None: from each file's suffix and columns)")
    parser.add_argument("--pixel-size", type=float,
                        help="Angstrom per voxel, for formats without one")
    _writing_options(parser)
    raise_parser_errors(parser, "merge")
    args = parser.parse_args(argv)
    if len(args.inputs) < 2:
        raise ConfigError(f"merge: expected at least 2 sets, found {len(args.inputs)}")
    sets = [read_particles(path, args.source_format, pixel_size=args.pixel_size)
            for path in args.inputs]
    path, fmt = output_table(str(args.output), args.to, sets[0], "merged")
    _check_targets([(path, fmt)], args.inputs, args.force, args.write_subtomograms)
    merged = merge_sets(sets, path.parent, allow_duplicates=args.allow_duplicates)
    for name, particles in zip(args.inputs, sets):
        print(f"  {name}: {len(particles)} particles")
    written = _write(merged, path, fmt, args.write_subtomograms)
    print(f"wrote {len(merged)} particles from {len(sets)} sets: {written} ({fmt})")


def split_main(argv: list[str]) -> None:
    """``subalign split IN (--by half|class|tomogram | --random N [--seed S])``."""
    parser = _parser("split", "Split a particle set into one table per half set, class or "
                     "tomogram (IN_half1.star, IN_class3.star, IN_tomogram_TS_01.star), or into "
                     "N random parts of equal size (IN_part1.star, ...), every column kept.")
    parser.add_argument("input", type=Path)
    parser.add_argument("--by", choices=("half", "class", "tomogram"), help="field to split by")
    parser.add_argument("--random", type=int, metavar="N", help="number of random parts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random parts")
    parser.add_argument("--output-dir", type=Path,
                        help="folder of the tables (None: the input's folder)")
    _writing_options(parser)
    _reading_options(parser)
    raise_parser_errors(parser, "split")
    args = parser.parse_args(argv)
    if (args.by is None) == (args.random is None):
        raise ConfigError("split: expected either --by half|class|tomogram or --random N")
    particles = _read(args, args.input)
    if args.by is not None:
        groups = split_groups(particles, args.by)
    else:
        groups = {f"part{k + 1}": rows
                  for k, rows in enumerate(random_parts(len(particles), args.random, args.seed))}
    fmt = args.to or particles.source.format
    folder = args.output_dir if args.output_dir is not None else args.input.parent
    targets = [(folder / f"{args.input.stem}_{suffix}{FORMATS[fmt].suffix}", fmt)
               for suffix in groups]
    _check_targets(targets, [args.input], args.force, args.write_subtomograms)
    print(f"{len(particles)} particles in {args.input} ({particles.source.format})")
    for (path, _), rows in zip(targets, groups.values()):  # tags differ: one folder for all
        written = _write(particles.take(rows), path, fmt, args.write_subtomograms)
        print(f"  wrote {len(rows)} particles: {written}")
