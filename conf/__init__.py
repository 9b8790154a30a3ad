"""Hydra configs of subalign, found as ``pkg://subalign.conf`` from any working directory."""
