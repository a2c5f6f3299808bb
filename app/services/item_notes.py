"""Notes the survey file keeps for facilitators about its items (not shown to experts)."""

from __future__ import annotations

from app.models import Study


def translation_notes(study: Study) -> dict[str, dict[str, str]]:
    """Item key -> translated note, for items whose language versions deliberately differ in
    meaning (the survey file's `translation_note`)."""
    notes: dict[str, dict[str, str]] = {}
    for entry in (study.definition or {}).get("items", []) or []:
        if not isinstance(entry, dict):
            continue
        note = entry.get("translation_note")
        if isinstance(note, dict) and note and "key" in entry:
            notes[str(entry["key"])] = {str(k): str(v) for k, v in note.items()}
    return notes
