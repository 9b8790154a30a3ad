"""subalign's built-in plugins.

Each module is one plugin, registered through an entry point in the ``subalign`` group of
subalign's own ``pyproject.toml``, exactly as a third-party distribution registers.
"""
