"""Built-in refiners plugins."""
