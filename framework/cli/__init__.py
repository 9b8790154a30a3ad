"""The command line and config composition: the top layer (``subalign`` console script)."""

from subalign.cli.main import main

__all__ = ["main"]
