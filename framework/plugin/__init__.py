"""The plugin system: hook specifications, registries, the plugin manager and the protocols
each plugin kind satisfies. Plugins themselves import :mod:`subalign.api`.
"""
