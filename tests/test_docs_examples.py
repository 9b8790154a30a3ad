"""Every example in README.md and docs/ runs, so that none can rot.

- ```` ```python ```` blocks are executed, each file's blocks in order in one namespace, in
  a temporary working directory (outlines and output samples use ``text`` or ``console``);
- every ``subalign ...`` line of a ```` ```bash ```` block names an existing command, and
  the ``key=value`` overrides of the config-driven commands compose
  (:func:`subalign.compose_config`), so a renamed field fails here;
- README.md stays a front door: at most 200 lines, linking every page of docs/.
"""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

import pytest

import subalign
from subalign.cli.dispatch import COMMANDS
from subalign.plugin.manager import build_plugin_set
from subalign.testing import ScoreContract

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
#: Commands whose overrides compose into a config (the rest take argparse options), with
#: the primary config each composes.
COMPOSED = {"align": "align", "simulate": "simulate", "experiment": "run_experiment",
            "batch": "batch", "average": "average", "classify": "classify"}


def first_value(override: str) -> str:
    """``key=a,b`` -> ``key=a``, commas inside brackets kept (``key=[1,2],[3,4]``)."""
    key, _, value = override.partition("=")
    depth = 0
    for position, character in enumerate(value):
        depth += {"[": 1, "]": -1}.get(character, 0)
        if character == "," and depth == 0:
            return f"{key}={value[:position]}"
    return override


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(page.read_text()) if lang == language]


def subalign_lines(page: Path) -> list[str]:
    """Every ``subalign ...`` command line of the page's bash blocks (continuations joined,
    comments dropped)."""
    lines = []
    for body in blocks(page, "bash"):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("subalign "):
                lines.append(line)
    return lines


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")],
                         ids=lambda p: p.name)
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType(f"docs_{page.stem}")  # dataclasses look their module up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for number, body in enumerate(blocks(page, "python"), start=1):
        try:
            exec(compile(body, f"{page.name}, python block {number}", "exec"), namespace)
        except Exception as exc:  # report which block of which page
            pytest.fail(f"{page.name}, python block {number}: {type(exc).__name__}: {exc}")


CASES = [(page, line) for page in PAGES for line in subalign_lines(page)]


@pytest.mark.parametrize("page, line", CASES,
                         ids=[f"{p.name}:{line[:60]}" for p, line in CASES])
def test_shell_examples_name_real_commands_and_fields(page, line):
    words = shlex.split(line)[1:]
    assert words, f"{page.name}: '{line}' names no command"
    command = words[0]
    assert command in COMMANDS or command in ("-h", "--help"), (
        f"{page.name}: '{line}': no command {command!r} (expected one of {', '.join(COMMANDS)})")
    if command not in COMPOSED:
        return
    overrides = [w for w in words[1:] if "=" in w and not w.startswith("-")]
    if "-m" in words or "--multirun" in words:  # a sweep: compose its first point
        overrides = [first_value(o) for o in overrides]
    if command == "experiment" and not any(o.startswith("experiment=") for o in overrides):
        return  # experiment= selects the preset the other fields belong to
    subalign.compose_config(COMPOSED[command], overrides)


def test_there_are_examples_of_both_kinds():
    assert sum(len(blocks(p, "python")) for p in PAGES) >= 2
    assert len(CASES) >= 10


def test_readme_is_a_front_door_linking_every_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200, "README.md: at most 200 lines; move detail to docs/"
    unlinked = [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in text]
    assert not unlinked, f"README.md links no docs/ page named {unlinked}"
    assert "(CHANGELOG.md)" in text


def _readme_plugin() -> types.ModuleType:
    """The README's plugin, executed as the module a user would install."""
    module = types.ModuleType("readme_tapered_fcs")
    sys.modules[module.__name__] = module
    source = next(b for b in blocks(ROOT / "README.md", "python") if "@hookimpl" in b)
    exec(compile(source, "README.md plugin", "exec"), module.__dict__)
    return module


README_PLUGIN = _readme_plugin()


class TestReadmePluginPassesItsContract(ScoreContract):
    """The plugin the README shows passes the contract the README says it passes."""

    score = "tapered_fcs"

    @pytest.fixture
    def plugins(self):
        return build_plugin_set(extra_plugins=[README_PLUGIN])
