"""Meta-tests: every hook is documented in docs/plugins.md and exercised by a test."""

import inspect
import re
from pathlib import Path

import pytest

from subalign.plugin import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
               if name.startswith("subalign_"))
DOC = (ROOT / "docs" / "plugins.md").read_text()


def test_there_are_hooks():
    assert len(HOOKS) >= 8


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_section_that_says_when_arguments_return_and_firstresult(hook):
    sections = re.split(r"^##+ ", DOC, flags=re.M)
    own = [s for s in sections if s.startswith(hook + "\n")]
    assert own, f"docs/plugins.md has no section '### {hook}'"
    parameters = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    text = own[0]
    group = next(s for s in sections if ("Registration hooks" in s.split("\n")[0]
                                          if "register" in hook else
                                          "Observer hooks" in s.split("\n")[0]))
    for parameter in parameters:
        assert parameter in text or parameter in group, (
            f"docs/plugins.md, {hook}: parameter {parameter!r} is not described")
    for word in ("Return", "firstresult"):
        assert word.lower() in (text + group).lower(), f"{hook}: no word on {word}"
    assert "```" in text or "Example" in text, f"{hook}: no example"
    is_first = getattr(getattr(hookspecs, hook), "subalign_spec", {}).get("firstresult")
    assert not is_first, f"{hook} is firstresult: say so in docs/plugins.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    users = [path.name for path in (ROOT / "tests").glob("test_*.py")
             if path.name != Path(__file__).name and hook in path.read_text()]
    assert users, f"no test implements or calls {hook}"
