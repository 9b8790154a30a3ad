"""The search stage: global search on binned volumes with a search score, then a polish.

See :mod:`subalign.search.stage`.
"""

from subalign.search.stage import SearchSettings, SearchStage, polish, resume_polish, search_factor

__all__ = ["SearchSettings", "SearchStage", "polish", "resume_polish", "search_factor"]
