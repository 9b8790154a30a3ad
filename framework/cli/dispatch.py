"""The ``subalign`` console script: one command table, one dispatch.

Each command is a module and a function, imported only when the command runs, so that
``subalign plugins`` or ``subalign show`` do not load Hydra, Dask or the simulator. The
Hydra apps (``align``, ``simulate``, ``experiment``) are in :mod:`subalign.cli.apps`; the
argparse commands take their arguments as a list. Every user error is one line on stderr
with exit code 2 (:func:`subalign.cli.commandline.fail`).
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import NamedTuple

from subalign.cli.commandline import debug_requested, fail
from subalign.errors import ConfigError, SubalignError

__all__ = ["COMMANDS", "USAGE", "main"]


class Command(NamedTuple):
    """Where a command lives: ``module.function``; ``hydra`` commands are called as
    ``function(name, arguments, debug)``, the others as ``function(arguments)``."""

    module: str
    function: str
    summary: str
    hydra: bool = False


#: Every command of the console script, in the order ``subalign --help`` lists them.
COMMANDS = {
    "align": Command("subalign.cli.apps", "run_hydra_command",
                     "align moving onto fixed (no files: built-in demo pair); -m for multirun",
                     hydra=True),
    "simulate": Command("subalign.cli.apps", "run_hydra_command",
                        "simulate subtomograms with ground-truth poses and pair lists",
                        hydra=True),
    "experiment": Command("subalign.cli.apps", "run_hydra_command",
                          "run one of the paper's experiments (experiment=<name>; -m for its "
                          "sweep)", hydra=True),
    "report": Command("subalign.experiments.report", "main",
                      "collect experiment jobs into Markdown tables and PNG figures"),
    "plugins": Command("subalign.cli.dispatch", "list_plugins",
                       "list registered plugins by kind with their origin"),
    "convert": Command("subalign.cli.particles", "convert_main",
                       "convert a particle set: RELION 5 / 3-4 STAR, Dynamo .tbl, TOM/AV3 .em, "
                       "STOPGAP"),
    "show": Command("subalign.cli.particles", "show_main",
                    "summarize a particle set (tomograms, wedges, poses)"),
    "aligned": Command("subalign.cli.particles", "aligned_main",
                       "write a particle or an alignment result as an aligned MRC (for ChimeraX)"),
    "select": Command("subalign.cli.sets", "select_main",
                      "keep particles by class, half, tomogram, score, confidence or a query"),
    "merge": Command("subalign.cli.sets", "merge_main",
                     "merge particle sets of one format, every column kept"),
    "split": Command("subalign.cli.sets", "split_main",
                     "split a particle set by half, class or tomogram, or into random parts"),
    "batch": Command("subalign.cli.batch", "batch_main",
                     "align a particle set on Dask: to a reference, all-vs-all or a pair list"),
    "average": Command("subalign.cli.average", "average_main",
                       "refine a particle set in rounds: gold-standard half maps, FSC, report"),
    "classify": Command("subalign.cli.average", "classify_main",
                        "sort a particle set into classes: multi-reference refinement or "
                        "all-vs-all"),
    "postprocess": Command("subalign.cli.postprocess", "postprocess_main",
                           "half maps as RELION post-processes them: corrected FSC, B-factor, "
                           "sharpened map, local resolution"),
    "mask": Command("subalign.cli.postprocess", "mask_main",
                    "a soft mask from a map (low-pass, threshold, extend, soft edge), as "
                    "relion_mask_create"),
}

USAGE = "\n".join([
    "usage: subalign COMMAND [hydra overrides]",
    "",
    "commands:",
    *(f"  {name:<10} {command.summary}" for name, command in COMMANDS.items()),
    "",
    "examples:",
    "  subalign align",
    "  subalign align fixed=a.mrc moving=b.mrc wedge.tilt_range_deg=[-60,60]",
    "  subalign align -m score=rcs,fcs",
    "  subalign simulate n=10 imaging.snr=0.5 imaging.tilt_range_deg=[-60,60] figure=true",
    "  subalign experiment -m experiment=table1_2 n_pairs=10 snr=0.5 tilt=60,40",
    "  subalign report multirun/table1_2 --output report.md",
    "",
    "Each command's own help: subalign COMMAND --help. Results go to output_dir= when given,",
    "else to a new directory under outputs/ (multirun/ with -m). An interrupted simulate or",
    "experiment resumes when the same command is run again (with output_dir= too).",
    "Errors are one line (exit code 2); -v or SUBALIGN_DEBUG=1 adds the full trace.",
])


def list_plugins(argv: list[str]) -> None:
    """``subalign plugins``: every registered plugin by kind, with its origin."""
    if argv:
        raise ConfigError(f"plugins: expected no arguments, found {' '.join(argv)}")
    from subalign.plugin.manager import default_plugin_set

    rows = default_plugin_set().rows()
    widths = [max(len(row[i]) for row in rows + [("kind", "name", "origin", "")]) for i in range(3)]
    print(f"{'kind':<{widths[0]}}  {'name':<{widths[1]}}  {'origin':<{widths[2]}}  summary")
    for kind, name, origin, summary in rows:
        print(f"{kind:<{widths[0]}}  {name:<{widths[1]}}  {origin:<{widths[2]}}  {summary}")


def main(argv: list[str] | None = None) -> None:
    """Run one command of the ``subalign`` console script (``argv`` without the program)."""
    debug, argv = debug_requested(list(sys.argv[1:] if argv is None else argv))
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    name, rest = argv[0], argv[1:]
    try:
        if name not in COMMANDS:
            raise ConfigError(f"command {name!r}: expected one of {', '.join(COMMANDS)}")
        command = COMMANDS[name]
        run = getattr(import_module(command.module), command.function)
        if not command.hydra:
            run(rest)
            return
    except SubalignError as exc:
        fail(exc, debug)
    run(name, rest, debug)
