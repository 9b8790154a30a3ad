"""``report.md`` of a refinement or classification run: readable without a map viewer.

Written into the run's directory after every round and at the end: the command, a table of
the rounds (resolution, particles moved or changing class, search, time, errors against a
truth set when one was given), the FSC curves of every round (``fsc_rounds.png``), and the
central sections of the final map (or the class averages) as PNG, linked from the rounds'
directories.
"""

from __future__ import annotations

from pathlib import Path

from subalign.io.files import atomic_path
from subalign.workflows.fsc import fsc_figure, read_fsc_table
from subalign.workflows.rounds.loop import round_dir

__all__ = ["write_report"]


def _cell(value, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}{unit}"


def _by_class(resolutions: list, key: str) -> str:
    """Per-class resolutions ``a / b / c Å`` (``–`` for a class without two half maps)."""
    return " / ".join("–" if r is None else f"{r[key]:.0f}" for r in resolutions) + " Å"


def _round_rows(records: list[dict], kind: str) -> list[str]:
    truth = any(r.get("truth") for r in records)
    header = ["round", "search", "FSC 0.143", "FSC 0.5"]
    header += ["classes", "changed class"] if kind == "classify" else ["moved", "median Δ rotation"]
    header += ["time", "per particle"]
    if truth:
        header += ["pose error", "gross"] if kind == "average" else ["ARI"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in records:
        resolution = record.get("resolution") or {}
        search = record.get("search", record.get("start", ""))
        if search == "local":
            search = f"local, cone {record['local']['cone_deg']:.0f}°"
        cells = [str(record["number"]), search]
        if record.get("class_resolution") is not None:
            cells += [_by_class(record["class_resolution"], key) for key in ("0.143", "0.5")]
        else:
            cells += [_cell(resolution.get(key), 1, " Å") for key in ("0.143", "0.5")]
        if kind == "classify":
            cells += ["/".join(str(c) for c in record.get("classes", [])) or "–",
                      str(record.get("changed", "–"))]
        else:
            moved = record.get("moved")
            cells += ["–" if moved is None else f"{moved}/{record['particles']}",
                      _cell(record.get("median_rotation_change_deg"), 1, "°")]
        cells += [_cell(record.get("seconds"), 0, " s"),
                  _cell(record.get("seconds_per_particle"), 2, " s")]
        if truth:
            errors = record.get("truth") or {}
            if kind == "average":
                cells += [_cell(errors.get("median_rotation_error_deg"), 2, "°"),
                          str(errors.get("gross_failures", "–"))]
            else:
                cells += [_cell(errors.get("adjusted_rand_index"), 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _fsc_rounds(output_dir: Path, records: list[dict], pixel_size: float) -> str | None:
    curves = {}
    for record in records:
        path = round_dir(output_dir, record["number"]) / "fsc.csv"
        if path.is_file():
            curves[f"round {record['number']}"] = read_fsc_table(path, pixel_size)
    if not curves:
        return None
    fsc_figure(curves, pixel_size, output_dir / "fsc_rounds.png", title="FSC of the half maps")
    return "fsc_rounds.png"


def write_report(output_dir: Path, records: list[dict], *, kind: str, pixel_size: float,
                 command: str | None = None, best: int | None = None, stop: str | None = None,
                 figure: str | None = None) -> Path:
    """Write ``report.md`` (module docstring).

    Parameters
    ----------
    output_dir : Path
    records : list of dict
        The ``round.json`` records, round 0 first.
    kind : {"average", "classify"}
    pixel_size : float
        Angstrom per voxel.
    command : str, optional
    best : int, optional
        Index in ``records`` of the round whose files are the result (None: the run is not
        finished).
    stop : str, optional
        Why the run stopped.
    figure : str, optional
        The figure of the result, relative to ``output_dir`` (default: the shown round's
        ``slices.png`` or ``class_averages.png``).
    """
    output_dir = Path(output_dir)
    title = "Subtomogram averaging" if kind == "average" else "Classification"
    lines = [f"# {title}: {output_dir.name}", ""]
    if command:
        lines += ["```", command, "```", ""]
    if best is None:
        lines += [f"Running: {len(records)} round(s) finished so far.", ""]
    else:
        resolution = records[best].get("resolution")
        lines += [f"Finished: {stop}. Result: round {records[best]['number']}"
                  + (f", FSC 0.143 at {resolution['0.143']:.1f} Å, 0.5 at "
                     f"{resolution['0.5']:.1f} Å." if resolution else "."), ""]
    lines += _round_rows(records, kind) + [""]
    curves = _fsc_rounds(output_dir, records, pixel_size)
    if curves:
        lines += [f"![FSC of every round]({curves})", ""]
    shown = records[best] if best is not None else records[-1]
    own = shown.get("files", {})
    own = own.get("slices") or own.get("class_averages")
    if figure is None and own:
        figure = f"{round_dir(output_dir, shown['number']).name}/{own}"
    if figure:
        lines += [f"Round {shown['number']}:", "", f"![round {shown['number']}]({figure})", ""]
    with atomic_path(output_dir / "report.md") as temporary:
        Path(temporary).write_text("\n".join(lines))
    return output_dir / "report.md"
