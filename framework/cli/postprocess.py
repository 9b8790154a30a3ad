"""Half maps on the command line: ``subalign postprocess`` and ``subalign mask``.

``subalign postprocess HALF1 HALF2 [--mask MASK] [--pixel-size A] [--bfactor B] ...``
    FSC unmasked, masked and corrected by phase randomization, B-factor, sharpened map and
    local resolution, as RELION's ``relion_postprocess`` (:mod:`subalign.workflows.postprocess`).
    Works on any two half maps (RELION's ``run_half1_class001_unfil.mrc`` too). Without
    ``--mask`` the mask is made from the average of the halves by the rule of
    ``subalign mask`` with every default (:mod:`subalign.workflows.masks`: low-passed to
    ``max(15 A, 3 voxels)``, threshold ``median + 0.2 (max - median)``, extended by 2 voxels,
    a 4-voxel raised-cosine edge) and written as ``mask.mrc`` in the output directory.
``subalign mask MAP --output MASK.mrc [--threshold T] [--extend-angstrom E] ...``
    A soft mask from a map as ``relion_mask_create`` makes it, and ``MASK.png`` beside it.

The voxel size is the header's or ``--pixel-size``; where both are given they must agree
(so must the two halves' and the mask's headers). Every check is made before anything is
written; each bad input is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from subalign.errors import ConfigError, raise_parser_errors
from subalign.io.figures import figures_available, slices_figure
from subalign.io.files import check_output_dir
from subalign.io.mrc import read_map, write_volume
from subalign.numerics.volumes import check_volume

__all__ = ["mask_main", "postprocess_main"]

#: Relative difference up to which two voxel sizes agree (headers store float32).
VOXEL_TOLERANCE = 1e-3


def _agree(a: float, b: float) -> bool:
    return abs(a - b) <= VOXEL_TOLERANCE * max(a, b)


def _positive(value: float | None, option: str, unit: str = "Angstrom") -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{option}: expected a positive number of {unit}, found {value:g}")


def _read(path: Path, pixel_size: float | None, *, constant_ok: bool = False):
    """A map as ``(data, voxel size or 0)``, checked: 3-D, cubic, finite, cubic voxels, and
    a header voxel size that agrees with ``--pixel-size``."""
    read = read_map(path)
    data = check_volume(read.data, read.source, constant_ok=constant_ok)
    sizes = [float(v) for v in read.voxel_size if v > 0]
    if sizes and (len(sizes) < 3 or not all(_agree(v, sizes[0]) for v in sizes)):
        found = ", ".join(f"{v:g}" for v in read.voxel_size)
        raise ConfigError(f"{path}: expected cubic voxels, found voxel sizes (z, y, x) = "
                          f"({found}) Angstrom in the header")
    voxel = sizes[0] if sizes else 0.0
    if voxel and pixel_size is not None and not _agree(voxel, pixel_size):
        raise ConfigError(f"{path}: voxel size {voxel:g} Angstrom in the header; expected the "
                          f"--pixel-size given, {pixel_size:g} Angstrom")
    return data, voxel


def _same_voxel(voxels: dict[Path, float], pixel_size: float | None) -> float:
    """The one voxel size of the maps (``path -> header voxel size or 0``), or
    ``--pixel-size``; refuses maps that differ, or no voxel size at all."""
    known = {path: voxel for path, voxel in voxels.items() if voxel}
    first = next(iter(voxels))
    for path, voxel in known.items():
        reference = next(iter(known))
        if not _agree(voxel, known[reference]):
            raise ConfigError(f"{path}: voxel size {voxel:g} Angstrom in the header; expected "
                              f"that of {reference}, {known[reference]:g} Angstrom")
    if pixel_size is not None:
        return pixel_size
    if not known:
        raise ConfigError(f"{first}: no voxel size in the header (0); expected one, or give "
                          "--pixel-size A")
    return next(iter(known.values()))


def _read_mask(path: Path, shape: tuple, pixel_size: float | None) -> tuple[np.ndarray, float]:
    mask, voxel = _read(path, pixel_size, constant_ok=True)
    if mask.shape != shape:
        raise ConfigError(f"{path}: expected a mask of the half maps' box {shape}, found "
                          f"{mask.shape}")
    low, high = float(mask.min()), float(mask.max())
    if low < -1e-4 or high > 1 + 1e-4:
        raise ConfigError(f"{path}: expected mask values in [0, 1], found values from "
                          f"{low:.4g} to {high:.4g}")
    if high <= 0:
        raise ConfigError(f"{path}: expected a mask with voxels above 0, found only zeros")
    return np.clip(mask, 0.0, 1.0), voxel


def _figures_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--figures", choices=("true", "false"), default="true",
                        help="write the PNG figures (default true; they need matplotlib)")


def _postprocess_parser(window_voxels: float) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="subalign postprocess",
        description="FSC unmasked, masked and corrected by phase randomization, B-factor, "
                    "sharpened map and local resolution of two half maps, as RELION's "
                    "relion_postprocess.")
    parser.add_argument("half1", type=Path, help="first half map (MRC)")
    parser.add_argument("half2", type=Path, help="second half map, the same box and voxel size")
    parser.add_argument("--mask", type=Path,
                        help="soft mask, values in [0, 1], the same box (default: made from the "
                             "average as subalign mask makes it with every default)")
    parser.add_argument("--pixel-size", type=float,
                        help="Angstrom per voxel (default: the maps' header; both must agree)")
    parser.add_argument("--bfactor", type=float,
                        help="B-factor to apply, Angstrom^2, negative sharpens (default: fitted "
                             "to the Guinier plot from 10 Angstrom to the resolution; 0 where "
                             "under 3 shells, as for a map coarser than 10 Angstrom)")
    parser.add_argument("--fit-from-angstrom", type=float,
                        help="low-resolution end of the Guinier fit, Angstrom (default: 10, "
                             "RELION's)")
    parser.add_argument("--local-window-angstrom", type=float,
                        help=f"diameter of the local-resolution windows (default "
                             f"{window_voxels:g} voxels)")
    parser.add_argument("--output-dir", type=Path, default=Path("postprocess"),
                        help="where the results go (default ./postprocess)")
    _figures_option(parser)
    return parser


def postprocess_main(argv: list[str]) -> None:
    """``subalign postprocess HALF1 HALF2 [options]`` (module docstring)."""
    from subalign.workflows.local_resolution import DEFAULT_WINDOW_VOXELS, check_window
    from subalign.workflows.masks import mask_from_map
    from subalign.workflows.postprocess import run_postprocess

    parser = _postprocess_parser(DEFAULT_WINDOW_VOXELS)
    raise_parser_errors(parser, "postprocess")
    args = parser.parse_args(argv)
    _positive(args.pixel_size, "--pixel-size")
    _positive(args.fit_from_angstrom, "--fit-from-angstrom")
    _positive(args.local_window_angstrom, "--local-window-angstrom")
    if args.bfactor is not None and not math.isfinite(args.bfactor):
        raise ConfigError(f"--bfactor: expected a number of Angstrom^2, found {args.bfactor:g}")
    first, voxel1 = _read(args.half1, args.pixel_size)
    second, voxel2 = _read(args.half2, args.pixel_size)
    if second.shape != first.shape:
        raise ConfigError(f"{args.half2}: expected the box of {args.half1}, {first.shape}, "
                          f"found {second.shape}")
    voxels = {args.half1: voxel1, args.half2: voxel2}
    if args.mask is not None:
        mask, voxels[args.mask] = _read_mask(args.mask, first.shape, args.pixel_size)
    pixel = _same_voxel(voxels, args.pixel_size)
    if args.local_window_angstrom is not None:
        check_window(args.local_window_angstrom, pixel, "--local-window-angstrom")
    check_output_dir(args.output_dir, "--output-dir")
    figures = args.figures == "true" and figures_available("--figures")
    extra = {"inputs": {"half1": str(args.half1), "half2": str(args.half2),
                        "mask": None if args.mask is None else str(args.mask)}}
    if args.mask is None:
        mask, recipe = mask_from_map((first + second) / 2, pixel)
        extra["automatic_mask"] = dict(recipe)
    found = run_postprocess(first, second, pixel, mask, args.output_dir, bfactor=args.bfactor,
                            fit_from=args.fit_from_angstrom,
                            window_angstrom=args.local_window_angstrom, figures=figures,
                            extra=extra, write_mask=args.mask is None)
    _print_postprocess(found, args.output_dir)


def _print_postprocess(found: dict, output_dir: Path) -> None:
    def angstrom(value) -> str:
        return "below 0.143 from the first shell" if value is None else f"{value:.1f} A"

    curves = found["resolutions_angstrom"]
    print("FSC 0.143: " + ", ".join(f"{name.replace('_', ' ')} {angstrom(curves[name]['0.143'])}"
                                    for name in ("corrected", "unmasked", "masked")))
    start = found["randomized_from_angstrom"]
    print("phases randomized " + ("nowhere (the unmasked FSC stays above 0.8)" if start is None
                                  else f"from {start:.1f} A (shell {found['randomized_from_shell']})"))
    fit = found["guinier_fit"]
    print(f"B-factor {found['bfactor_angstrom2']:.0f} A^2 ({found['bfactor_source']}; Guinier "
          f"fit {fit['from_angstrom']:.3g}-{fit['to_angstrom']:.3g} A over {fit['shells']} "
          f"shells{': ' + fit['note'] if fit['note'] else ''})")
    local = found["local_resolution"]
    print(f"local resolution: median {local['median']:.1f} A ({local['min']:.1f}-"
          f"{local['max']:.1f} A, {local['windows']} windows of {local['window_angstrom']:.0f} A)")
    print(f"wrote {output_dir}/postprocess.json and {len(found['files']) - 1} more files")


def mask_main(argv: list[str]) -> None:
    """``subalign mask MAP --output MASK.mrc [options]`` (module docstring)."""
    from subalign.workflows.masks import (DEFAULT_EXTEND_VOXELS, DEFAULT_SOFT_EDGE_VOXELS,
                                          mask_from_map)

    parser = argparse.ArgumentParser(
        prog="subalign mask",
        description="A soft mask from a map, as RELION's relion_mask_create: low-pass, "
                    "binarize at a threshold, extend, raised-cosine soft edge.")
    parser.add_argument("map", type=Path, help="the map (MRC)")
    parser.add_argument("--output", type=Path, required=True,
                        help="the mask to write (MRC); its central sections over the map's "
                             "go beside it as .png")
    parser.add_argument("--threshold", type=float,
                        help="map value (after the low-pass) from which a voxel is inside "
                             "(default: median + 0.2 x (max - median) of the low-passed map)")
    parser.add_argument("--extend-angstrom", type=float,
                        help=f"grow the binary region by this much; negative shrinks it "
                             f"(default {DEFAULT_EXTEND_VOXELS:g} voxels)")
    parser.add_argument("--soft-edge-angstrom", type=float,
                        help=f"width of the raised-cosine edge (default "
                             f"{DEFAULT_SOFT_EDGE_VOXELS:g} voxels)")
    parser.add_argument("--lowpass-angstrom", type=float,
                        help="low-pass the map first; 0: not at all (default max(15, 3 voxels))")
    parser.add_argument("--pixel-size", type=float,
                        help="Angstrom per voxel (default: the map's header; both must agree)")
    _figures_option(parser)
    raise_parser_errors(parser, "mask")
    args = parser.parse_args(argv)
    _positive(args.pixel_size, "--pixel-size")
    for option, value in (("--threshold", args.threshold), ("--extend-angstrom",
                          args.extend_angstrom), ("--soft-edge-angstrom", args.soft_edge_angstrom),
                          ("--lowpass-angstrom", args.lowpass_angstrom)):
        if value is not None and not math.isfinite(value):
            raise ConfigError(f"{option}: expected a finite number, found {value:g}")
    volume, voxel = _read(args.map, args.pixel_size)
    pixel = _same_voxel({args.map: voxel}, args.pixel_size)
    if args.output.exists() and args.output.resolve() == args.map.resolve():
        raise ConfigError(f"--output: {args.output} is the map; expected another file (the "
                          "map is never overwritten)")
    check_output_dir(args.output.parent, "--output")
    mask, recipe = mask_from_map(volume, pixel, threshold=args.threshold,
                                 extend_angstrom=args.extend_angstrom,
                                 soft_edge_angstrom=args.soft_edge_angstrom,
                                 lowpass_angstrom=args.lowpass_angstrom)
    write_volume(args.output, mask, voxel_size=pixel)
    if args.figures == "true" and figures_available("--figures"):
        slices_figure({"map": volume, "mask": mask, "map x mask": volume * mask},
                      args.output.with_suffix(".png"), title=f"mask of {args.map.name}")
    print(f"wrote {args.output}: threshold {recipe['threshold']:.4g} ({recipe['threshold_rule']}), "
          f"low-pass {recipe['lowpass_angstrom']:g} A, extended {recipe['extend_angstrom']:g} A, "
          f"soft edge {recipe['soft_edge_angstrom']:g} A; {100 * recipe['inside_fraction']:.1f}% "
          "of the box inside")
