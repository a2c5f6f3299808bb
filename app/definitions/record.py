"""The study record: what a reader needs to judge a Delphi study, beyond its items.

The `[record]` table of a survey file gives, in the study's languages, the parts of a study's
report that only its authors can write (why a Delphi, how experts were chosen, the pilot,
ethics, funding, limitations...). The fields follow the reporting items of CREDES (Jünger et
al. 2017) and DELPHISTAR (Niederberger et al. 2024); the report's checklist appendix maps each
item to the field, or the figure the platform measures, that covers it. Every field is optional:
a missing one shows as missing in that checklist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: text per language (as `app.definitions.model.Text`; not imported: the model imports this module)
Text = Mapping[str, str]

#: The record's fields, in the order the report prints them.
RECORD_FIELDS: tuple[str, ...] = (
    "rationale",  #: why a Delphi study, and which variant (classic, real-time, policy...)
    "item_development",  #: where the items came from (literature, a paper, interviews)
    "experts",  #: who counts as an expert here: selection criteria and the panel's make-up
    "recruitment",  #: how experts were found and invited
    "panel_size",  #: why this many experts (and per group)
    "pilot",  #: how the questionnaire was tested before round 1, and what changed
    "suggestions",  #: what happened to the experts' round-1 suggestions
    "feedback",  #: what panellists saw between rounds, beyond what the platform shows
    "reminders",  #: the reminder policy (the platform counts the reminders sent)
    "missing_data",  #: how item non-response and "outside my expertise" were handled
    "ethics",  #: ethics approval or exemption, and consent
    "funding",  #: who paid for the study
    "conflicts",  #: conflicts of interest of the team
    "validation",  #: how results were checked outside the panel (external validation)
    "limitations",  #: the study's limitations as its authors see them
    "dissemination",  #: where and how results are published, and the panel informed
)


def _no_texts() -> Mapping[str, Text]:
    """A fresh empty mapping of fields (dataclass defaults must not share one)."""
    return MappingProxyType({})


@dataclass(frozen=True)
class StudyRecord:
    """The record's texts: field name (one of RECORD_FIELDS) -> text per language."""

    texts: Mapping[str, Text] = field(default_factory=_no_texts)

    def get(self, name: str) -> Text:
        """The field's text per language (empty when the file does not give it)."""
        return self.texts.get(name) or MappingProxyType({})

    def as_dict(self) -> dict[str, dict[str, str]]:
        """Plain, JSON-able data in RECORD_FIELDS order, languages sorted."""
        return {
            name: {lang: self.texts[name][lang] for lang in sorted(self.texts[name])}
            for name in RECORD_FIELDS
            if self.texts.get(name)
        }
