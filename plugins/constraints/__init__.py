"""Built-in constraints plugins."""
