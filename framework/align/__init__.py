"""The pair orchestrator: :func:`align_pair` and the ``align`` schema that owns its defaults."""

from subalign.align.config import AlignConfig, align_settings
from subalign.align.pair import AlignmentResult, align_pair

__all__ = ["AlignConfig", "AlignmentResult", "align_pair", "align_settings"]
