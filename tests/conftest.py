"""Shared test setup: pytester runs generated test modules (the contract suites on broken
plugins, in tests/test_contracts_reject.py)."""

pytest_plugins = ["pytester"]
