"""A study's analysis settings: the survey file's `[analysis]` table over the defaults."""

from __future__ import annotations

from analysis.settings import AnalysisSettings
from app.models import Study


def settings_of(study: Study) -> AnalysisSettings:
    """The settings the study's analyses use (defaults for what its survey file leaves out)."""
    stored = study.definition.get("analysis") if study.definition else None
    known = {name for name, _, _ in AnalysisSettings.documentation()}
    # the stored definition was checked on import; names since retired are skipped
    return AnalysisSettings.from_mapping({k: v for k, v in (stored or {}).items() if k in known})
