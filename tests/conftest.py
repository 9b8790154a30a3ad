"""Shared test setup.

- pytester runs generated test modules (the contract suites on broken plugins, in
  tests/test_contracts_reject.py);
- a test that takes ``builtin_score`` runs once per score subalign registers itself, read
  from the registry, so a new built-in score is tested without editing a list of names.
"""

from subalign.plugin.manager import build_plugin_set

pytest_plugins = ["pytester"]


def pytest_generate_tests(metafunc):
    if "builtin_score" in metafunc.fixturenames:
        scores = sorted(build_plugin_set(autoload=False).registries["score"].names)
        metafunc.parametrize("builtin_score", scores)
