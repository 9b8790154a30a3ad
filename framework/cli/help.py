"""``subalign COMMAND --help``: the command's usage, working examples, its groups and fields.

Only the config groups a command accepts are listed, each with the options it can take
(plugins from the registries, presets from ``subalign.conf``); a test runs every example
through the command's checks.
"""

from __future__ import annotations

from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from subalign.align.config import DEFAULT_PLUGINS
from subalign.cli.checks import CONFIG_NAMES
from subalign.cli.compose import CONFIG_MODULE, compose_config

__all__ = ["EXAMPLES", "GROUPS", "command_groups", "command_help"]

SUMMARIES = {
    "align": "align moving onto fixed; no files: the built-in demo pair with its known truth",
    "simulate": "simulate subtomograms with ground-truth poses, a STAR table and pair lists",
    "experiment": "run one cell of one of the paper's experiments; -m runs its sweep",
}

#: Examples of each command; ``-m`` comes before the overrides.
EXAMPLES = {
    "align": [
        "subalign align",
        "subalign align fixed=a.mrc moving=b.mrc wedge.tilt_range_deg=[-60,60]",
        "subalign align fixed=a.mrc moving=b.mrc fixed_wedge.tilt_range_deg=[-50,65] "
        "moving_wedge.tilt_range_deg=[-60,60]",
        "subalign align -m score=rcs,fcs demo.snr=inf,0.5",
        "subalign align output_dir=results/pair_001 demo.snr=inf",
    ],
    "simulate": [
        "subalign simulate",
        "subalign simulate n=10 imaging.snr=0.5 imaging.tilt_range_deg=[-60,60] figure=true",
        "subalign simulate output_dir=sim n=100",
        "subalign simulate -m imaging.snr=inf,1,0.5,0.1 output_dir=sweep",
    ],
    "experiment": [
        "subalign experiment experiment=table1_2 n_pairs=5 output_dir=runs/t12",
        "subalign experiment -m experiment=table1_2 n_pairs=10 snr=0.5 tilt=60,40",
        "subalign experiment -m experiment=baseline method=stochastic60,scan10",
    ],
}

#: Config groups each command accepts.
GROUPS = {"align": list(DEFAULT_PLUGINS), "simulate": [],
          "experiment": [*DEFAULT_PLUGINS, "experiment", "method"]}


def command_groups(command: str) -> dict[str, list[str]]:
    """The options of every group ``command`` accepts, as Hydra finds them."""
    compose_config(CONFIG_NAMES[command])  # fills the ConfigStore
    with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        return {group: sorted(loader.get_group_options(group)) for group in GROUPS[command]}


def command_help(command: str) -> str:
    """The text of ``subalign <command> --help``."""
    lines = [f"usage: subalign {command} [-m] [key=value ...]", "",
             SUMMARIES[command], "", "examples:"]
    lines += [f"  {example}" for example in EXAMPLES[command]]
    groups = command_groups(command)
    if groups:
        lines += ["", "config groups (group=option):"]
        lines += [f"  {group}: {', '.join(options)}" for group, options in groups.items()]
    lines += ["", "flags: -m/--multirun sweeps comma-separated values (put it first); "
              "-v or SUBALIGN_DEBUG=1 prints the full trace of an error; --cfg job prints "
              "the composed config; --hydra-help: Hydra's own flags",
              "", fields_and_defaults(CONFIG_NAMES[command])]
    return "\n".join(lines)


def fields_and_defaults(config_name: str) -> str:
    """Every field of a command's schema with its default, as YAML under a heading."""
    return ("fields and defaults (set any with key=value):\n\n"
            + OmegaConf.to_yaml(compose_config(config_name)).rstrip())
