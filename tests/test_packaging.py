"""Every Python package in the source tree is listed in pyproject.toml, so a
non-editable install (what CI does) ships it."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"framework": "subalign", "plugins": "subalign.plugins", "conf": "subalign.conf"}


def test_every_package_directory_is_listed_in_pyproject():
    pyproject = (REPO / "pyproject.toml").read_text()
    for folder, package in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            name = ".".join((package, *relative))
            assert f'"{name}"' in pyproject, f"{name} ({init.parent}) missing from packages"
