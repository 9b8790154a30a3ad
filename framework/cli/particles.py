"""Particle sets on the command line: ``subalign convert``, ``subalign show``, ``subalign aligned``.

``subalign convert IN OUT [--to FORMAT]``
    Read a particle set in any format of :mod:`subalign.io.formats` and write it in another
    (by ``--to`` or OUT's suffix: ``.star`` RELION 5, ``.tbl`` Dynamo, ``.em`` TOM/AV3).
``subalign show PARTICLES``
    Count, tomograms, wedges, half sets, classes and the distribution of poses and shifts.
``subalign aligned OUT.mrc --particles SET --index I`` or ``--alignment alignment.json --moving B.mrc``
    A particle brought into the reference frame (the inverse of its pose), or a moving
    volume with an alignment result ``tau_a Lambda_R`` applied, as an MRC that overlays the
    reference (or fixed volume) in ChimeraX.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from subalign.errors import ConfigError, raise_parser_errors
from subalign.io.files import check_output_dir
from subalign.io.formats import FORMATS, output_format, read_particles, summarize, write_particles
from subalign.io.mrc import read_volume, write_volume
from subalign.io.stacks import OFF_AXIS_LIMIT_DEG as OFF_AXIS_FLAG_DEG, tilt_geometry
from subalign.io.subtomograms import EDGE_MODES, SubtomogramReader
from subalign.numerics.geometry import RigidTransform
from subalign.numerics.volumes import transform_volume
from subalign.numerics.wedge import TILT_AXES

__all__ = ["PARTICLE_COMMANDS", "aligned_main", "convert_main", "show_main"]


def _reading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source_format", choices=list(FORMATS),
                        help="input format (default: from the suffix and, for .star, the columns)")
    parser.add_argument("--pixel-size", type=float, help="Angstrom per voxel, for formats without one")
    parser.add_argument("--subtomograms", type=Path,
                        help="Dynamo particle folder, or AV3/STOPGAP particle file prefix")
    parser.add_argument("--tomograms", type=Path,
                        help="tomogram table: CSV (tomogram,tilt_min,tilt_max,...), RELION 5 "
                             "tomograms.star or an AV3 wedge list .em")
    parser.add_argument("--wedge", type=float, nargs=2, metavar=("MIN", "MAX"),
                        help="tilt range of particles that get none from the file or table")
    parser.add_argument("--tilt-axis", choices=TILT_AXES, help="tilt axis of the wedges given here")
    parser.add_argument("--project-dir", type=Path,
                        help="RELION project directory, where an optimisation set's and the "
                             "tilt-series files' relative names start")


def _read(args: argparse.Namespace, path: Path):
    return read_particles(path, args.source_format, pixel_size=args.pixel_size,
                          subtomograms=args.subtomograms, tomograms=args.tomograms,
                          wedge=args.wedge, tilt_axis=args.tilt_axis, project_dir=args.project_dir)


def _print_tilt_geometry(particles, most: int) -> None:
    """Per particle: tilt axis, tilt range, visible tilts, distance from single-axis."""
    geometry = tilt_geometry(particles)
    if geometry.empty:
        return
    flagged = geometry["off_axis_deg"] > OFF_AXIS_FLAG_DEG
    print(f"tilt geometry ({len(geometry)} particles with per-tilt tables; axis: the least-squares "
          "tilt axis' angle to y; off-axis: the largest angle of a visible beam to the "
          f"single-axis plane, flagged (!) beyond {OFF_AXIS_FLAG_DEG:g} deg):")
    print("   row  tomogram              axis   tilt range        visible  off-axis")
    for _, row in geometry.head(most).iterrows():
        mark = " !" if row.off_axis_deg > OFF_AXIS_FLAG_DEG else ""
        print(f"  {row.row + 1:4d}  {str(row.tomogram)[:20]:20s} {row.axis_deg:5.1f}  "
              f"{row.tilt_min:6.1f}..{row.tilt_max:5.1f} deg  {row.visible:3d}/{row.tilts:<3d} "
              f"{row.off_axis_deg:6.1f} deg{mark}")
    if len(geometry) > most:
        print(f"  ... {len(geometry) - most} more (--rows N to list more)")
    print(f"far from single-axis (> {OFF_AXIS_FLAG_DEG:g} deg): {int(flagged.sum())} of {len(geometry)}")


def convert_main(argv: list[str]) -> None:
    """``subalign convert IN OUT [--to FORMAT] [reading options] [--write-subtomograms P]``."""
    parser = argparse.ArgumentParser(prog="subalign convert",
                                     description="Convert a particle set between formats.")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--to", choices=list(FORMATS), help="output format (default: from OUT's suffix)")
    _reading_options(parser)
    parser.add_argument("--write-subtomograms", type=Path,
                        help="for Dynamo, AV3 and STOPGAP: particle folder or prefix to link "
                             "each subtomogram file into")
    raise_parser_errors(parser, "convert")
    args = parser.parse_args(argv)
    if args.input.exists() and args.output.exists() and args.input.resolve() == args.output.resolve():
        raise ConfigError(f"{args.output}: is the input; expected another file for the converted "
                          "set (the input is never overwritten)")
    check_output_dir(args.output.parent, "output")
    particles = _read(args, args.input)
    source = particles.source.format
    target = args.to or output_format(args.output, source)
    if args.write_subtomograms is not None:
        folder = args.write_subtomograms if target == "dynamo" else args.write_subtomograms.parent
        check_output_dir(folder, "--write-subtomograms")
    path = write_particles(particles, args.output, target, subtomograms=args.write_subtomograms)
    print(f"wrote {len(particles)} particles: {args.input} ({source}) -> {path} ({target})")


def show_main(argv: list[str]) -> None:
    """``subalign show PARTICLES [reading options]``."""
    parser = argparse.ArgumentParser(prog="subalign show", description="Summarize a particle set.")
    parser.add_argument("particles", type=Path)
    parser.add_argument("--rows", type=int, default=50,
                        help="particles listed in the tilt geometry (default 50)")
    _reading_options(parser)
    raise_parser_errors(parser, "show")
    args = parser.parse_args(argv)
    if args.rows < 0:
        raise ConfigError(f"--rows: expected a number of particles >= 0, found {args.rows}")
    particles = _read(args, args.particles)
    summary = summarize(particles)
    pixel = summary["pixel_size"]

    def listed(counts: dict, most: int = 8) -> str:
        items = list(counts.items())
        text = ", ".join(f"{k}: {v}" for k, v in items[:most])
        return text + (f", ... ({len(items) - most} more)" if len(items) > most else "")

    print(f"{summary['count']} particles in {summary['source']}")
    pixel_text = ("unknown" if pixel is None else f"{pixel:g} A") if particles.pixel_sizes is None \
        else particles.pixel_size_groups()
    print(f"pixel size: {pixel_text}; box: "
          f"{summary['box_size'] or 'unknown'}")
    print(f"tomograms ({len(summary['tomograms'])}): {listed(summary['tomograms'])}")
    print(f"wedges: {listed(summary['wedges'])}")
    print(f"half sets: {listed(summary['half_sets'])}; classes: {listed(summary['classes'])}")
    if summary["count"] and not particles.poses_given:
        print("poses: none in the table (no rotation columns: a global search needs none)")
    elif summary["count"]:
        q1, q2, q3 = summary["tilt_quartiles_deg"]
        median, largest = summary["shift_voxels"]
        print(f"poses: ZYZ theta quartiles {q1:.0f}, {q2:.0f}, {q3:.0f} deg (uniform: 60, 90, 120); "
              f"mean direction of the rotated z axis {summary['mean_direction']:.2f} "
              "(uniform 0, all alike 1)")
        angstrom = "" if pixel is None else f" ({median * pixel:.3g} A, {largest * pixel:.3g} A)"
        print(f"shifts: median {median:.3g} voxels, largest {largest:.3g} voxels{angstrom}")
    _print_tilt_geometry(particles, args.rows)


def aligned_main(argv: list[str]) -> None:
    """``subalign aligned OUT.mrc (--particles SET --index I | --alignment J --moving M)``."""
    parser = argparse.ArgumentParser(
        prog="subalign aligned",
        description="Write a particle in the reference frame, or a moving volume with an "
                    "alignment applied, as an MRC for ChimeraX.")
    parser.add_argument("output", type=Path)
    parser.add_argument("--particles", type=Path, help="particle set")
    parser.add_argument("--index", type=int, help="particle row, counted from 1")
    parser.add_argument("--box-size", type=int, help="box edge for cropping from tomograms")
    parser.add_argument("--edge", choices=EDGE_MODES, default="error",
                        help="boxes past a tomogram's face: error, or pad with zero or the mean")
    parser.add_argument("--alignment", type=Path, help="alignment.json of subalign align")
    parser.add_argument("--moving", type=Path, help="the moving volume of that alignment")
    _reading_options(parser)
    raise_parser_errors(parser, "aligned")
    args = parser.parse_args(argv)
    if (args.particles is None) == (args.alignment is None):
        raise ConfigError("aligned: expected either --particles SET --index I or --alignment "
                          "alignment.json --moving volume.mrc")
    check_output_dir(args.output.parent, "output")
    if args.particles is not None:
        particles = _read(args, args.particles)
        if args.index is None or not 1 <= args.index <= len(particles):
            raise ConfigError(f"--index: expected a particle row from 1 to {len(particles)}, "
                              f"found {args.index}")
        with SubtomogramReader(particles, box_size=args.box_size, edge=args.edge) as reader:
            box = reader(args.index - 1)
        volume, transform = box.volume, box.pose.inverse()
        voxel = particles.pixel_size or 1.0
    else:
        if args.moving is None:
            raise ConfigError("--moving: expected the moving volume of the alignment, found none")
        try:
            record = json.loads(args.alignment.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{args.alignment}: expected an alignment.json, found {exc}") from None
        try:
            transform = RigidTransform.from_record(record, source=str(args.alignment))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        moving = read_volume(args.moving)
        volume, voxel = moving.data, moving.voxel_size
    path = write_volume(args.output, transform_volume(volume, transform), voxel_size=voxel)
    print(f"wrote {path}: rotation ZYZ {[round(float(a), 2) for a in transform.euler_zyz_deg]} deg, "
          f"translation {[round(float(t), 3) for t in transform.translation]} voxels applied")


#: Command name -> entry point taking the arguments after it.
PARTICLE_COMMANDS = {"convert": convert_main, "show": show_main, "aligned": aligned_main}
