"""The files of a refinement round: maps, FSC curve and table, central slices, log line.

A round's directory (``round_NNN``) gets, each written atomically:

``half1.mrc``, ``half2.mrc``, ``map.mrc``
    The half maps and the merged map (wedge-compensated averages, C_n-symmetrized), float32
    with the pixel size in the header; neither filtered nor masked.
``fsc.csv``, ``fsc.png``
    The FSC between the masked half maps, corrected for the mask by phase randomization
    (:func:`subalign.workflows.postprocess.fsc_curves`); the figure shows the masked curve
    beside it.
``slices.png``
    Central sections of the merged map and the half maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subalign.io.figures import slices_figure
from subalign.io.files import atomic_path
from subalign.io.mrc import write_volume
from subalign.workflows.fsc import fsc_figure, resolutions, write_fsc_table
from subalign.workflows.postprocess import fsc_curves

__all__ = ["round_line", "write_fsc", "write_maps", "write_round_log"]


def write_maps(directory: Path, maps: dict[str, np.ndarray], pixel_size: float,
               *, figures: bool, title: str) -> dict[str, str]:
    """Write each map as ``<name>.mrc`` and, with ``figures``, their central sections as
    ``slices.png``; returns the file names by role."""
    files = {}
    for name, volume in maps.items():
        write_volume(directory / f"{name}.mrc", volume, voxel_size=pixel_size)
        files[name] = f"{name}.mrc"
    if figures:
        slices_figure(maps, directory / "slices.png", title=title)
        files["slices"] = "slices.png"
    return files


def write_fsc(directory: Path, first: np.ndarray, second: np.ndarray, mask: np.ndarray,
              pixel_size: float, *, figures: bool, title: str) -> tuple[dict, dict, dict]:
    """FSC of the masked maps, corrected for the mask: ``fsc.csv`` (and ``fsc.png``).

    Returns
    -------
    dict
        The corrected curve's resolutions in Angstrom by threshold (``"0.143"``, ``"0.5"``).
    dict
        The masked (uncorrected) curve's.
    dict
        The file names by role.
    """
    curves = fsc_curves(first, second, mask)
    found = resolutions(curves.frequency, curves.corrected, pixel_size)
    masked = resolutions(curves.frequency, curves.masked, pixel_size)
    write_fsc_table(directory / "fsc.csv", curves.frequency, curves.corrected, pixel_size)
    files = {"fsc_table": "fsc.csv"}
    if figures:
        fsc_figure({f"corrected, FSC 0.143: {found['0.143']:.1f} Å": (curves.frequency,
                                                                     curves.corrected),
                    f"masked: {masked['0.143']:.1f} Å": (curves.frequency, curves.masked)},
                   pixel_size, directory / "fsc.png", title=title)
        files["fsc_figure"] = "fsc.png"
    return found, masked, files


def round_line(record: dict) -> str:
    """The one-line log of a round: resolution, particles moved, search, time, errors."""
    parts = [f"round {record['number']:>2}"]
    resolution = record.get("resolution")
    if resolution is not None:
        note = "" if record.get("independent", True) else " (halves not independent)"
        parts.append(f"FSC 0.143 {resolution['0.143']:.1f} Å, 0.5 {resolution['0.5']:.1f} Å"
                     f"{note}")
    if record.get("class_resolution") is not None:
        parts.append("FSC 0.143 by class " + "/".join(
            "-" if r is None else f"{r['0.143']:.1f}" for r in record["class_resolution"]) + " Å")
    if "classes" in record:
        parts.append("classes " + "/".join(str(c) for c in record["classes"]))
    if record.get("changed") is not None:
        parts.append(f"{record['changed']} changed class")
    if record.get("moved") is not None:
        parts.append(f"{record['moved']}/{record['particles']} moved (median "
                     f"{record['median_rotation_change_deg']:.1f}°, "
                     f"{record['median_shift_change_voxels']:.2f} vox)")
    search = record.get("search")
    if search == "local":
        local = record["local"]
        parts.append(f"local cone {local['cone_deg']:.1f}° step {local['spacing_deg']:.1f}° "
                     f"shift {local['max_shift_voxels']:.1f} vox")
    elif search:
        parts.append(search)
    if record.get("seconds") is not None:
        parts.append(f"{record['seconds']:.0f} s ({record['seconds_per_particle']:.2f} "
                     "s/particle)")
    truth = record.get("truth")
    if truth:
        extra = [f"pose error {truth['median_rotation_error_deg']:.1f}°, "
                 f"{truth['median_shift_error_voxels']:.2f} vox"] if "median_rotation_error_deg" in truth else []
        if "adjusted_rand_index" in truth:
            extra.append(f"ARI {truth['adjusted_rand_index']:.3f}")
        parts.append("truth: " + ", ".join(extra))
    return "; ".join(parts)


def write_round_log(output_dir: Path, records: list[dict]) -> Path:
    """``rounds.log``: :func:`round_line` of every finished round, rewritten atomically."""
    path = Path(output_dir) / "rounds.log"
    with atomic_path(path) as temporary:
        Path(temporary).write_text("".join(round_line(r) + "\n" for r in records))
    return path
