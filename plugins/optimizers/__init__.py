"""Built-in optimizers plugins."""
