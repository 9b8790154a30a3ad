"""``subalign report``: collect experiment jobs into one Markdown report with PNG figures.

Every ``result.json`` under the given directories is read with its ``rows.jsonl``. Jobs of
one experiment and one cell are pooled (pairs deduplicated by index), so a cell can be run
in pieces, e.g. 50 pairs in one job and the rest of the grid with 5 in another. Numbers
are computed from the rows, never typed in; the paper's values come from
:mod:`subalign.experiments.paper`.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from subalign.errors import ConfigError, raise_parser_errors
from subalign.io.figures import pyplot, save_figure, slices_figure
from subalign.io.files import atomic_path, check_output_dir
from subalign.io.mrc import read_volume
from subalign.experiments.paper import SPEEDUP, paper_value
from subalign.experiments.pairs import speedup
from subalign.execution.store import RowLog
from subalign.experiments.records import median_mad

__all__ = ["load_jobs", "main", "write_report"]

SNR_ORDER = (math.inf, 1.0, 0.5, 0.1)
SECTION_ORDER = ("table1_2", "table3_4", "convergence", "speedup", "averaging",
                 "classification", "baseline")
CELL_KEYS = ("score", "sampler", "sampling_deg", "refiner", "constraint", "snr", "tilt")


def load_jobs(directories: list[Path]) -> list[dict]:
    """Every complete job under ``directories``: its ``result.json`` plus ``dir`` and rows."""
    jobs = []
    for directory in directories:
        if not Path(directory).is_dir():
            raise ConfigError(f"{directory}: expected a directory of experiment jobs, found none")
        for path in sorted(Path(directory).rglob("result.json")):
            try:
                record = json.loads(path.read_text())
            except ValueError as exc:
                raise ConfigError(f"{path}: expected a result record (JSON), found {exc}") from None
            if record.get("status") != "complete":
                continue
            rows_path = path.parent / "rows.jsonl"
            rows = RowLog(rows_path).ordered() if rows_path.exists() else []
            jobs.append({**record, "dir": path.parent, "rows": rows})
    return jobs


def _snr_text(snr: float) -> str:
    return "∞" if math.isinf(snr) else f"{snr:g}"


def _pm(pair, digits: int = 2) -> str:
    median, mad = pair
    return f"{median:.{digits}g} ± {mad:.{digits}g}" if median < 10 else f"{median:.0f} ± {mad:.0f}"


def _pooled_cells(jobs: list[dict]) -> dict[tuple, list[dict]]:
    """Rows of each cell, pooled over jobs and deduplicated by pair index."""
    cells: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for job in jobs:
        key = tuple(job["cell"].get(k) for k in CELL_KEYS)
        for row in job["rows"]:
            cells[key].setdefault(int(row["index"]), row)
    return {key: [rows[i] for i in sorted(rows)] for key, rows in cells.items()}


def _cell_table(cells: dict, *, constraint: str, sampling, score: str, metric: str,
                paper_table: str, digits: int) -> list[str]:
    """Markdown table: tilt rows, SNR columns, ``ours (n) | paper``; ours bold when lower."""
    chosen = {(k[5], k[6]): rows for k, rows in cells.items()
              if k[4] == constraint and k[2] == sampling and k[0] == score}
    snrs = [s for s in SNR_ORDER if any(math.isclose(s, c[0]) if math.isfinite(s)
                                        else math.isinf(c[0]) for c in chosen)]
    tilts = sorted({t for _, t in chosen}, reverse=True)
    lines = ["| tilt | " + " | ".join(f"SNR {_snr_text(s)}" for s in snrs) + " |",
             "|---|" + "---|" * len(snrs)]
    for tilt in tilts:
        cells_text = []
        for snr in snrs:
            rows = chosen.get((snr, tilt))
            if not rows:
                cells_text.append("–")
                continue
            ours = median_mad([r[metric] for r in rows])
            paper = paper_value(paper_table, sampling, score, snr, tilt)
            text = _pm(ours, digits)
            if paper is not None and ours[0] < paper[0]:
                text = f"**{text}**"
            paper_text = _pm(paper, digits) if paper is not None else "–"
            cells_text.append(f"{text} ({len(rows)}) / {paper_text}")
        lines.append(f"| ±{tilt:g}° | " + " | ".join(cells_text) + " |")
    return lines


def _pairs_section(jobs: list[dict]) -> list[str]:
    cells = _pooled_cells(jobs)
    lines = ["Each cell: **ours** median ± MAD (pairs) / paper median ± MAD (100 pairs); ours in "
             "bold where its median is lower than the paper's.", ""]
    blocks = sorted({(k[4], k[2], k[0]) for k in cells}, key=lambda b: (b[0], -(b[1] or 0), b[2]))
    for constraint, sampling, score in blocks:
        prefix = "axis_" if constraint == "axis" else ""
        for metric, table, unit, digits in (
                ("rotation_error_deg", f"{prefix}rotation_deg", "rotation error (°)", 2),
                ("translation_error_voxels", f"{prefix}translation_voxels",
                 "translation error (voxels)", 2)):
            lines += [f"**{score.upper()}, {sampling}° sampling, {constraint} search: {unit}**",
                      ""]
            lines += _cell_table(cells, constraint=constraint, sampling=sampling, score=score,
                                 metric=metric, paper_table=table, digits=digits)
            lines.append("")
    return lines


def _baseline_section(jobs: list[dict]) -> list[str]:
    cells = _pooled_cells(jobs)
    lines = ["| method | pairs | rotation error (°) | translation error (voxels) | within 5° | "
             "seconds per pair |", "|---|---|---|---|---|---|"]
    for key, rows in sorted(cells.items(), key=lambda item: -np.median(
            [r["seconds"] for r in item[1]])):
        rotation = [r["rotation_error_deg"] for r in rows]
        lines.append(
            f"| {key[3]} @ {key[2]}° ({key[0]}) | {len(rows)} | {_pm(median_mad(rotation))} | "
            f"{_pm(median_mad([r['translation_error_voxels'] for r in rows]))} | "
            f"{int(np.sum(np.asarray(rotation) < 5))}/{len(rows)} | "
            f"{np.median([r['seconds'] for r in rows]):.1f} |")
    return lines


def _convergence_section(jobs: list[dict], figures: Path) -> list[str]:
    plt = pyplot()
    cells = _pooled_cells(jobs)
    figure, axes = plt.subplots(2, len(cells), figsize=(5 * len(cells), 7), squeeze=False)
    lines = ["| score | pairs | final rotation error (°) | search steps | steps to the optimum |",
             "|---|---|---|---|---|"]
    for column, (key, rows) in enumerate(sorted(cells.items())):
        for row in rows:
            trace, search = row["trace"], row["search_steps"]
            steps = np.arange(1, search + 1)
            axes[0, column].plot(steps, trace["record"][:search], lw=0.6, alpha=0.6)
            axes[1, column].plot(steps, trace["rotation_error_deg"][:search], lw=0.6, alpha=0.6)
        axes[0, column].set_title(f"{key[0].upper()}, SNR {_snr_text(key[5])}, ±{key[6]:g}°")
        axes[0, column].set_ylabel("record minimum (search score)")
        axes[1, column].set_ylabel("rotation error of record holder (°)")
        axes[1, column].set_yscale("log")
        axes[1, column].set_xlabel("LM step (all candidates)")
        lines.append(
            f"| {key[0]} | {len(rows)} | "
            f"{_pm(median_mad([r['rotation_error_deg'] for r in rows]))} | "
            f"{_pm(median_mad([r['search_steps'] for r in rows]), 3)} | "
            f"{_pm(median_mad([r['search_steps_to_optimum'] for r in rows]), 3)} |")
    save_figure(figure, figures / "convergence.png")
    return lines + ["", "![convergence](figures/convergence.png)",
                    "", "Each line is one pair, search stage only (binned volumes, search "
                    "score); the polish that follows is not drawn."]


def _speedup_section(jobs: list[dict], figures: Path) -> list[str]:
    plt = pyplot()
    cells = _pooled_cells(jobs)
    figure, axes = plt.subplots(1, len(cells), figsize=(4 * len(cells), 3.2), squeeze=False)
    lines = ["| score | sampling | pairs | speed-up, median ± MAD (range) | steps: stochastic "
             "to its optimum / independent in all | ratio of all steps | same optimum | paper |",
             "|---|---|---|---|---|---|---|---|"]
    for column, (key, rows) in enumerate(sorted(cells.items())):
        ratios = np.array([speedup(r) for r in rows])
        totals = [r["baseline"]["search_steps"] / r["search_steps"] for r in rows]
        same = sum(abs(r["baseline"]["score"] - r["score"]) <= 1e-3 * abs(r["score"]) for r in rows)
        paper = SPEEDUP.get(int(key[2]), {})
        paper_text = (f"{paper['fold_range'][0]}–{paper['fold_range'][1]}×" if "fold_range" in paper
                      else f"{paper['fold']}×" if "fold" in paper else "–")
        lines.append(
            f"| {key[0]} | {key[2]}° | {len(rows)} | {_pm(median_mad(ratios))}× "
            f"({ratios.min():.1f}–{ratios.max():.1f}) | "
            f"{np.median([r['search_steps_to_optimum'] for r in rows]):.0f} / "
            f"{np.median([r['baseline']['search_steps'] for r in rows]):.0f} | "
            f"{np.median(totals):.1f}× | {same}/{len(rows)} | {paper_text} |")
        axes[0, column].hist(ratios, bins=10)
        axes[0, column].set_title(f"{key[0].upper()}, {key[2]}° sampling")
        axes[0, column].set_xlabel("independent / stochastic steps")
    save_figure(figure, figures / "speedup.png")
    return lines + ["", "Speed-up: the steps the independent refinement takes to refine every "
                    "candidate (the cost of knowing the optimum) over the steps the stochastic "
                    "refinement takes until its record minimum has made 99% of its total "
                    "improvement. Ratio of all steps: both refiners' full search stages, "
                    "including the stochastic refinement's regression window.",
                    "", "![speed-up](figures/speedup.png)"]


def _averaging_section(jobs: list[dict], figures: Path) -> list[str]:
    plt = pyplot()
    lines = []
    for number, job in enumerate(jobs):
        summary, cell = job["summary"], job["cell"]
        lines += [f"{cell['n']} subtomograms, SNR {_snr_text(cell['snr'])}, ±{cell['tilt']:g}°, "
                  f"{cell['score']}, {cell['sampling_deg']}° sampling, template: "
                  f"{cell['template']}.", "",
                  "| average | median rotation error (°) | translation (voxels) | FSC 0.5 | "
                  "FSC 0.143 |", "|---|---|---|---|---|"]
        figure, axis = plt.subplots(figsize=(5, 3.5))
        for index, result in enumerate(summary["rounds"], 1):
            lines.append(f"| round {index} | {_pm(result['rotation_error_deg'])} | "
                         f"{_pm(result['translation_error_voxels'])} | "
                         f"{result['resolution_nm_fsc_0.5']:.2f} nm | "
                         f"{result['resolution_nm_fsc_0.143']:.2f} nm |")
            axis.plot(result["frequency"], result["fsc"], label=f"round {index}")
        perfect = summary["perfect_alignment"]
        lines.append(f"| true transforms | 0 | 0 | {perfect['resolution_nm_fsc_0.5']:.2f} nm | "
                     f"{perfect['resolution_nm_fsc_0.143']:.2f} nm |")
        axis.plot(perfect["frequency"], perfect["fsc"], "k--", label="true transforms")
        for threshold in (0.5, 0.143):
            axis.axhline(threshold, color="grey", lw=0.5)
        axis.set_xlabel("spatial frequency (1/voxel)")
        axis.set_ylabel("FSC with the true map")
        axis.legend(fontsize=8)
        save_figure(figure, figures / f"averaging_fsc_{number}.png")
        last = len(summary["rounds"])
        slices_figure({
            "average": read_volume(job["dir"] / f"average_round{last}.mrc").data,
            "true transforms": read_volume(job["dir"] / "perfect_alignment_average.mrc").data,
            "true map": read_volume(job["dir"] / "truth.mrc").data,
        }, figures / f"averaging_slices_{number}.png")
        lines += ["", f"![FSC](figures/averaging_fsc_{number}.png) "
                  f"![central slices](figures/averaging_slices_{number}.png)", ""]
    return lines


def _classification_section(jobs: list[dict], figures: Path) -> list[str]:
    plt = pyplot()
    lines = []
    for number, job in enumerate(jobs):
        summary, cell = job["summary"], job["cell"]
        ari = summary["adjusted_rand_index"]
        lines += [f"{len(cell['structures'])} complexes × {cell['per_class']} subtomograms "
                  f"({', '.join(Path(s).name for s in cell['structures'])}), SNR "
                  f"{_snr_text(cell['snr'])}, ±{cell['tilt']:g}°, {cell['score']}, "
                  f"{cell['sampling_deg']}° sampling; {job['n_pairs']} pairwise alignments.",
                  "", "| dissimilarities | adjusted Rand index of 4-class average linkage |",
                  "|---|---|", f"| before alignment | {ari['before']:.3f} |",
                  f"| after alignment | {ari['after']:.3f} |", ""]
        figure, axes = plt.subplots(1, 2, figsize=(9, 4))
        for axis, key in zip(axes, ("before", "after")):
            image = axis.imshow(np.asarray(summary["matrices"][key]), cmap="viridis")
            axis.set_title(f"{key} alignment (ARI {ari[key]:.2f})")
            figure.colorbar(image, ax=axis, fraction=0.046)
        save_figure(figure, figures / f"classification_matrices_{number}.png")
        slices_figure({name.removesuffix(".mrc"): read_volume(job["dir"] / name).data
                        for name in summary["class_averages"]},
                       figures / f"classification_averages_{number}.png")
        lines += [f"![dissimilarity matrices](figures/classification_matrices_{number}.png)", "",
                  f"![class averages](figures/classification_averages_{number}.png)", ""]
    return lines


def _header(jobs: list[dict], directories: list[Path], title: str) -> list[str]:
    machine = jobs[0]["machine"] if jobs else {}
    lines = [f"# {title}", "",
             f"Generated by `subalign report` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
             f"from {len(jobs)} jobs. Machine: {machine.get('platform', '?')}, "
             f"{machine.get('cpus', '?')} CPUs, Python {machine.get('python', '?')}, numpy "
             f"{machine.get('numpy', '?')}, scipy {machine.get('scipy', '?')}.", ""]
    for directory in directories:
        commands = Path(directory) / "commands.txt"
        if commands.exists():
            lines += ["Commands (from `commands.txt`):", "", "```", commands.read_text().strip(),
                      "```", ""]
    return lines


def write_report(directories: list[Path], output: Path, *, title: str,
                 notes: Path | None = None) -> Path:
    """Write the Markdown report for every job under ``directories`` to ``output``.

    Figures go to ``figures/`` next to ``output``; ``notes`` (Markdown) is inserted after
    the header as written.
    """
    jobs = load_jobs(directories)
    if not jobs:
        raise ConfigError(f"{', '.join(map(str, directories))}: expected finished experiment "
                          "jobs (result.json), found none")
    figures = Path(output).parent / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    by_name: dict[str, list[dict]] = defaultdict(list)
    for job in jobs:
        by_name[job["experiment"]].append(job)
    names = [n for n in SECTION_ORDER if n in by_name] + sorted(set(by_name) - set(SECTION_ORDER))
    lines = _header(jobs, directories, title)
    if notes is not None:
        if not Path(notes).is_file():
            raise ConfigError(f"--notes {notes}: expected a Markdown file, found none")
        lines += [Path(notes).read_text().strip(), ""]
    for name in names:
        group = by_name[name]
        kind = group[0]["kind"]
        seconds = sum(job["seconds"] for job in group)
        lines += [f"## {name}", "", f"{group[0].get('description', '')}. {len(group)} jobs, "
                  f"{seconds / 60:.1f} min of job time ({group[0].get('workers', 1)} worker "
                  "processes per job).", ""]
        if name == "baseline":
            lines += _baseline_section(group)
        elif kind == "pairs":
            lines += _pairs_section(group)
        elif kind == "convergence":
            lines += _convergence_section(group, figures)
        elif kind == "speedup":
            lines += _speedup_section(group, figures)
        elif kind == "averaging":
            lines += _averaging_section(group, figures)
        elif kind == "classification":
            lines += _classification_section(group, figures)
        lines.append("")
    with atomic_path(output) as temporary:
        temporary.write_text("\n".join(lines) + "\n")
    return Path(output)


def main(argv: list[str]) -> None:
    """``subalign report DIR [DIR ...] [--output FILE] [--title TEXT]``."""
    parser = argparse.ArgumentParser(prog="subalign report", description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="+", type=Path,
                        help="sweep or run directories (searched recursively for result.json)")
    parser.add_argument("--output", type=Path, default=Path("report.md"))
    parser.add_argument("--title", default="subalign experiment results")
    parser.add_argument("--notes", type=Path, help="Markdown inserted after the header")
    raise_parser_errors(parser, "report")
    args = parser.parse_args(argv)
    if args.output.is_dir():
        raise ConfigError(f"--output: expected a Markdown file name, found the directory "
                          f"{args.output}")
    check_output_dir(args.output.parent, "--output")
    path = write_report(args.directories, args.output, title=args.title, notes=args.notes)
    print(f"wrote {path} and its figures in {path.parent / 'figures'}")
