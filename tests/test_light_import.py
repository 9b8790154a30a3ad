"""Importing subalign is cheap and changes nothing (docs/plugins.md, "Compatibility").

Each check runs in a fresh interpreter: this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

import subalign
import subalign.api

#: Loaded only where a command or workflow needs them, never by the plugin API.
HEAVY = ("hydra", "omegaconf", "dask", "distributed", "matplotlib", "pandas", "numba",
         "subalign.cli", "subalign.workflows", "subalign.experiments", "subalign.simulation")


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("module", ["subalign", "subalign.api"])
def test_importing_loads_no_application_module(module):
    loaded = json.loads(_run(f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"))
    heavy = [name for name in loaded if any(name == h or name.startswith(h + ".") for h in HEAVY)]
    assert not heavy, f"import {module} loaded {heavy}"


def test_importing_changes_no_environment_variable():
    changed = _run("import os, json; before = dict(os.environ); import subalign, subalign.api; "
                   "print(json.dumps({k: v for k, v in os.environ.items() "
                   "if before.get(k) != v}))")
    assert json.loads(changed) == {}


def test_the_root_names_load_on_first_access():
    assert subalign.align_pair.__module__ == "subalign.align.pair"
    assert subalign.TiltRange.__name__ == "TiltRange"
    assert set(subalign.__all__) <= set(dir(subalign))
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        subalign.nonexistent  # noqa: B018


def test_the_api_states_its_version():
    major, minor = subalign.api.API_VERSION
    assert (major, minor) >= (1, 1)


@pytest.mark.parametrize("old, new", [("subalign.scoring.constrained.soft_sphere",
                                       "subalign.numerics.filters.soft_sphere"),
                                      ("subalign.align.pair.DISTINCT_BASIN_DEG",
                                       "subalign.search.race.DISTINCT_BASIN_DEG")])
def test_moved_names_still_work_with_a_warning_naming_the_replacement(old, new):
    module_name, name = old.rsplit(".", 1)
    module = __import__(module_name, fromlist=[name])
    new_module, new_name = new.rsplit(".", 1)
    with pytest.warns(DeprecationWarning, match=f"use {new.replace('.', '[.]')}"):
        value = getattr(module, name)
    assert value is getattr(__import__(new_module, fromlist=[new_name]), new_name)


def test_unknown_names_of_a_module_with_moved_names_are_still_attribute_errors():
    import subalign.scoring.constrained as constrained

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
            constrained.nothing  # noqa: B018


def test_compiled_kernel_is_built_on_first_use_not_at_import():
    loaded = _run("import sys, subalign.numerics.spectral; print('numba' in sys.modules)")
    assert loaded.strip() == "False"


def test_every_moved_module_still_imports_with_a_warning_naming_its_replacement():
    from subalign.deprecation import MOVED_MODULES

    code = ("import importlib, json, warnings\n"
            "from subalign.deprecation import MOVED_MODULES\n"
            "found = {}\n"
            "for old, new in MOVED_MODULES.items():\n"
            "    with warnings.catch_warnings(record=True) as caught:\n"
            "        warnings.simplefilter('always')\n"
            "        module = importlib.import_module(old)\n"
            "    replacement = importlib.import_module(new)\n"
            "    same = all(getattr(module, n) is getattr(replacement, n)\n"
            "               for n in getattr(replacement, '__all__', []))\n"
            "    found[old] = [str(w.message) for w in caught], same\n"
            "print(json.dumps(found))")
    found = json.loads(_run(code))
    for old, new in MOVED_MODULES.items():
        messages, same = found[old]
        assert any(f"use module {new}" in m for m in messages), f"{old}: {messages}"
        assert same, f"{old}: its names are not those of {new}"
