"""Built-in measurement-model plugins."""
