"""Built-in scores plugins."""
