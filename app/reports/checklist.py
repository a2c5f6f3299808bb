"""The study record in the report, and the reporting checklist (CREDES / DELPHISTAR).

CREDES (Jünger et al. 2017, Palliative Medicine 31(8)) gives 16 recommendations: conducting
(1 justification, 2 planning and design incl. piloting, 3 definition of consensus, 4 informational
input, 5 prevention of bias, 6 interpretation and processing of results, 7 external validation)
and reporting (8 purpose and rationale, 9 expert panel, 10 description of the methods,
11 procedure, 12 definition and attainment of consensus, 13 results, 14 discussion of
limitations, 15 adequacy of conclusions, 16 publication and dissemination). DELPHISTAR
(Niederberger et al. 2024, PLOS ONE 19(8): e0304651) has 38 items in five parts (title and
abstract, context, method, results, discussion); the checklist names the part, not the item
number. Each topic is covered by a field of the study record, by what the platform measures, or
lies outside the report (the publication's own title, abstract and discussion).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext

from app.definitions.record import RECORD_FIELDS
from app.services.study_record import MeasuredRecord

COVERED = "covered"
MISSING = "missing"
OUTSIDE = "outside"  #: belongs to the publication, not to the platform's report


def record_labels() -> dict[str, str]:
    """Readers' names of the study record's fields, in RECORD_FIELDS order."""
    labels = {
        "rationale": lazy_gettext("Why a Delphi study, and which variant"),
        "item_development": lazy_gettext("How the items were developed"),
        "experts": lazy_gettext("Expert selection and the panel's characteristics"),
        "recruitment": lazy_gettext("Recruitment"),
        "panel_size": lazy_gettext("Why this panel size"),
        "pilot": lazy_gettext("Pilot test"),
        "suggestions": lazy_gettext("How round-1 suggestions were handled"),
        "feedback": lazy_gettext("Feedback between rounds (the authors' notes)"),
        "reminders": lazy_gettext("Reminder policy"),
        "missing_data": lazy_gettext("Handling of missing answers"),
        "ethics": lazy_gettext("Ethics approval and consent"),
        "funding": lazy_gettext("Funding"),
        "conflicts": lazy_gettext("Conflicts of interest"),
        "validation": lazy_gettext("External validation"),
        "limitations": lazy_gettext("Limitations"),
        "dissemination": lazy_gettext("Publication and dissemination"),
    }
    return {name: str(labels[name]) for name in RECORD_FIELDS}


@dataclass(frozen=True)
class ChecklistRow:
    """One reporting topic: the guideline items it answers and where the report covers it."""

    topic: str
    credes: str  #: CREDES recommendation numbers, "" if none
    delphistar: str  #: the DELPHISTAR part, "" if none
    status: str  #: COVERED, MISSING or OUTSIDE
    where: str  #: where the report covers it (or what to write)


@dataclass(frozen=True)
class ChecklistFacts:
    """What the checklist needs to know of the report besides the record."""

    record: Mapping[str, Mapping[str, str]]
    measured: MeasuredRecord | None
    closed_rounds: int
    headings: Mapping[str, str]  #: report anchor -> chapter title


def reporting_checklist(facts: ChecklistFacts) -> list[ChecklistRow]:
    """Every CREDES / DELPHISTAR topic, marked covered (with where), missing or outside."""
    labels = record_labels()
    record_heading = _("Appendix A, study record")
    h = facts.headings

    def field(name: str) -> tuple[str, str]:
        if facts.record.get(name):
            return COVERED, f"{record_heading}: {labels[name]}"
        return MISSING, _("give '%(field)s' in the study record", field=labels[name])

    def either(name: str, platform: str) -> tuple[str, str]:
        status, where = field(name)
        return COVERED, platform if status == MISSING else f"{platform}; {where}"

    measured = facts.measured
    attrition = (
        (COVERED, _("Appendix A, measured by the platform: attrition"))
        if facts.closed_rounds >= 2
        else (COVERED, _("only one round closed: no attrition between rounds yet"))
    )
    rows: list[tuple[str, str, str, tuple[str, str]]] = [
        (_("Title and abstract name the Delphi technique"), "", _("Title and abstract"),
         (OUTSIDE, _("the publication's title and abstract"))),
        (_("Purpose and research question"), "8", _("Context"),
         (COVERED, _("title page and %(s)s", s=h.get("summary", "")))),
        (_("Why a Delphi study, and which variant"), "1, 8", _("Context; Method"),
         field("rationale")),
        (_("Informational input: how the items were developed"), "4", _("Method"),
         field("item_development")),
        (_("Expert selection criteria and the panel's characteristics"), "9",
         _("Method; Results"), field("experts")),
        (_("Recruitment of experts"), "9", _("Method"), field("recruitment")),
        (_("Panel size and its rationale"), "9", _("Method"), field("panel_size")),
        (_("Pilot test of the questionnaire"), "2", _("Method"), field("pilot")),
        (_("Rounds, questions and scales"), "10", _("Method"),
         (COVERED, f"{h.get('panel', '')}; {h.get('wording', '')}")),
        (_("Procedure (flow chart of the rounds)"), "11", _("Method; Results"),
         (COVERED, h.get("panel", ""))),
        (_("Definition of consensus and stopping criteria, set in advance"), "3, 12",
         _("Method"), (COVERED, h.get("criteria", ""))),
        (_("Feedback given to the panel between rounds"), "5, 10", _("Method"),
         either("feedback", _("Appendix A, measured by the platform: feedback"))),
        (_("Handling of the experts' suggestions (item changes between rounds)"), "10",
         _("Method"), field("suggestions")),
        (_("Anonymity and prevention of bias"), "5", _("Method"),
         (COVERED, _("Appendix A, measured by the platform: anonymity"))),
        (_("Analysis of the answers"), "6", _("Method"), (COVERED, h.get("methods", ""))),
        (_("Response rate of every round"), "13", _("Results"), (COVERED, h.get("panel", ""))),
        (_("Attrition between rounds and its possible bias"), "13", _("Results"), attrition),
        (_("Reminders sent"), "", _("Method"),
         either("reminders", _("Appendix A, measured by the platform: reminders"))),
        (_("Item non-response and missing data"), "", _("Method; Results"),
         either("missing_data", _("Appendix A, measured by the platform: non-response"))
         if measured is not None else field("missing_data")),
        (_("Results of each round, including dissent"), "13", _("Results"),
         (COVERED, f"{h.get('events', '')}; {h.get('dissent', '')}")),
        (_("External validation of the results"), "7", _("Discussion"), field("validation")),
        (_("Methodological limitations"), "14", _("Discussion"), field("limitations")),
        (_("Adequacy of the conclusions"), "15", _("Discussion"),
         (OUTSIDE, _("the publication's discussion"))),
        (_("Ethics approval and consent"), "", _("Method"), field("ethics")),
        (_("Funding"), "", _("Context"), field("funding")),
        (_("Conflicts of interest"), "", _("Context"), field("conflicts")),
        (_("Publication and dissemination"), "16", _("Discussion"), field("dissemination")),
    ]  # fmt: skip
    return [
        ChecklistRow(topic=topic, credes=credes, delphistar=part, status=status, where=where)
        for topic, credes, part, (status, where) in rows
    ]
