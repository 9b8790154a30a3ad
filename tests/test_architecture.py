"""The layering of docs/architecture.md, checked by parsing every import of the package.

Each module of ``subalign`` belongs to one layer; a module may import modules of its own
layer or of lower ones, never of a higher one; no import cycle exists (lazy imports inside
functions count too); built-in plugins import only the public plugin API
(:mod:`subalign.api`) and nothing in the core imports that facade.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "framework"
PLUGINS = ROOT / "plugins"

#: Layer of each part of the package, lowest first (docs/architecture.md).
LAYERS = {
    "subalign.errors": 0,
    "subalign.deprecation": 0,
    "subalign.lazy": 0,
    "subalign.numerics": 1,
    "subalign.io": 2,
    "subalign.execution": 3,
    "subalign.plugin": 4,
    "subalign.scoring": 5,
    "subalign.search": 6,
    "subalign.align": 7,
    "subalign.simulation": 8,
    "subalign.workflows": 9,
    "subalign.experiments": 10,
    "subalign.testing": 11,
    "subalign.cli": 12,
}
#: Facades re-export from the layers; only the outside world (and plugins) import them.
FACADES = ("subalign", "subalign.api")


def module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def imported_modules(path: Path, name: str) -> set[str]:
    """Every ``subalign...`` module ``path`` imports, at any depth of the file."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            # "from package import module" imports the module
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "subalign" or m.startswith("subalign.")}


def package_modules() -> dict[str, set[str]]:
    modules = {module_name(p, PACKAGE, "subalign"): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imported_modules(path, name) if m in modules}
            for name, path in modules.items()}


def layer_of(module: str) -> int | None:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


GRAPH = package_modules()


def test_every_module_has_a_layer_or_is_a_facade():
    unplaced = [m for m in GRAPH if m not in FACADES and layer_of(m) is None]
    assert not unplaced, f"modules in no layer of docs/architecture.md: {unplaced}"


def test_architecture_doc_names_every_layer():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = [prefix for prefix in (*LAYERS, *FACADES) if f"`{prefix}`" not in text]
    assert not missing, f"docs/architecture.md does not name {missing}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m not in FACADES))
def test_imports_point_down_only(module):
    own = layer_of(module)
    upward = [target for target in GRAPH[module]
              if target in FACADES or layer_of(target) > own]
    assert not upward, f"{module} (layer {own}) imports higher layers or facades: {upward}"


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if target == module or (module.startswith(target + ".")):
                continue  # a module importing its own package's __init__ is not a cycle
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("path", sorted(PLUGINS.rglob("*.py")), ids=lambda p: p.stem)
def test_builtin_plugins_import_only_the_public_plugin_api(path):
    name = module_name(path, PLUGINS, "subalign.plugins")
    used = {m for m in imported_modules(path, name) - {"subalign.plugins"}
            if m != "subalign.api" and not m.startswith("subalign.api.")}
    assert not used, f"{path.relative_to(ROOT)} imports {sorted(used)}, not subalign.api"


def test_the_checker_sees_a_violation(tmp_path):
    """The parser finds relative, absolute and lazy imports (the checks above can fail)."""
    source = tmp_path / "mod.py"
    source.write_text("from .geometry import x\nimport subalign.cli.main\n"
                      "def f():\n    from subalign.experiments import paper\n")
    found = imported_modules(source, "subalign.numerics.mod")
    assert {"subalign.numerics.geometry", "subalign.cli.main",
            "subalign.experiments.paper"} <= found
    assert layer_of("subalign.cli.main") > layer_of("subalign.numerics.mod")


#: Modules allowed over MAX_MODULE_LINES: data, not code (the paper's tables, transcribed).
DATA_MODULES = {"subalign.experiments.paper"}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _sources() -> dict[str, Path]:
    return {**{module_name(p, PACKAGE, "subalign"): p for p in PACKAGE.rglob("*.py")},
            **{module_name(p, PLUGINS, "subalign.plugins"): p for p in PLUGINS.rglob("*.py")}}


@pytest.mark.parametrize("module", sorted(set(_sources()) - DATA_MODULES))
def test_modules_are_small(module):
    lines = len(_sources()[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines; split it by concern"


def _compiled(function: ast.FunctionDef) -> bool:
    """A numba kernel: its loops are the point, splitting them costs speed."""
    return any("njit" in ast.unparse(decorator) for decorator in function.decorator_list)


@pytest.mark.parametrize("module", sorted(_sources()))
def test_functions_read_at_a_glance(module):
    tree = ast.parse(_sources()[module].read_text())
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES and not _compiled(node)]
    assert not long, f"{module}: functions over {MAX_FUNCTION_LINES} lines: {long}"
