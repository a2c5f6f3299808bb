"""The study builder: drafts of survey definitions edited in the browser, then launched.

A draft holds the survey file's content (the TOML document, as JSON), so a study that is not
complete yet can be kept. Every save runs the survey-file validator on the whole document and is
refused when the validator finds a problem inside the part being saved (the setting, scale,
question, item or language edited): nothing half-saved. Problems elsewhere (an item that names a
question not written yet) are listed on the draft's page and stop only the launch.

A launch writes the draft as a canonical survey file and imports that file exactly as an
uploaded one is imported; after the launch, the study changes only through the versioned
reword, retire and merge of items.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis.errors import InputError
from analysis.expressions import And, Compare, Node, Not, Or, parse_expression
from app.definitions import SurveyDefinition, definition_from_dict, parse_definition
from app.definitions.document import Document, definition_to_document, definition_to_toml
from app.definitions.fields import Checker, Loc
from app.definitions.validate import build_definition
from app.definitions.vocabulary import CONSENSUS_NAMES, FORMAT_VERSION, IDENTIFIER, STABILITY_NAMES
from app.models import NotFoundError, StateError, Study, StudyDraft, User
from app.services.studies import import_study

#: the builder's sections holding several entries, and whether they are named tables
#: (`[scales.key]`) or arrays of tables with a `key` field (`[[items]]`)
SECTIONS: dict[str, bool] = {
    "scales": True,
    "questions": True,
    "categories": False,
    "items": False,
    "scenarios": False,
}
#: text fields of each part of the document, in the order the translations page lists them
_STUDY_TEXTS = ("title", "description", "welcome", "consent")
_ENTRY_TEXTS: dict[str, tuple[str, ...]] = {
    "scales": ("unit",),
    "questions": ("prompt", "help"),
    "categories": ("label",),
    "items": ("title", "text", "unit", "translation_note"),
    "scenarios": ("title", "description"),
}


@dataclass(frozen=True)
class Finding:
    """One problem the validator found: where (the field, as the validator names it) and what."""

    field: str
    message: str


@dataclass(frozen=True)
class Check:
    """What the validator says of a whole draft."""

    problems: tuple[Finding, ...]
    warnings: tuple[str, ...]
    definition: SurveyDefinition | None  #: the valid definition, when there are no problems


class DraftRejectedError(StateError):
    """A save was refused: the validator found problems in the part being saved."""

    status = 422

    def __init__(self, problems: Sequence[Finding]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class TextSlot:
    """One translatable text of a draft: where it is, and its text per language."""

    path: tuple[str | int, ...]
    label: str  #: the validator's name for it, e.g. items[E01].title
    texts: dict[str, str]


# --- checking ---------------------------------------------------------------------------------


def check(document: Document) -> Check:
    """Run the survey-file validator on a draft's document."""
    checker = Checker()
    definition = build_definition(checker, document)
    problems = tuple(Finding(loc.label, message) for loc, message in checker.problems)
    return Check(problems, tuple(dict.fromkeys(checker.warnings)), definition)


def within(label: str, scope: str) -> bool:
    """Whether a validator label lies inside a scope (a table, an entry or a field)."""
    return label == scope or label.startswith((scope + ".", scope + "["))


def entry_scopes(section: str, key: str, index: int) -> tuple[str, ...]:
    """How the validator names an entry: by key, and for arrays also by position."""
    loc = Loc().key(section)
    if SECTIONS[section]:
        return (loc.key(key).label,)
    shown = key if IDENTIFIER.fullmatch(key) else None
    return (loc.at(index, shown).label, loc.at(index).label)


def _save(
    session: Session,
    draft: StudyDraft,
    document: Document,
    blocks: Callable[[str], bool],
    now: datetime,
) -> Check:
    """Keep the new document unless the validator finds a problem that `blocks` says is ours."""
    _editable(draft)
    result = check(document)
    mine = [problem for problem in result.problems if blocks(problem.field)]
    if mine:
        raise DraftRejectedError(mine)
    draft.document = document
    draft.updated_at = now
    session.flush()
    return result


def _editable(draft: StudyDraft) -> None:
    if draft.study_id is not None:
        raise StateError(
            "This draft was launched; change the study through its items page (reword, "
            "retire, merge)."
        )


# --- drafts -----------------------------------------------------------------------------------


def drafts_for(session: Session, user: User) -> list[StudyDraft]:
    """The user's drafts, newest change first."""
    query = select(StudyDraft).where(StudyDraft.owner_id == user.id)
    return list(session.scalars(query.order_by(StudyDraft.updated_at.desc(), StudyDraft.id)))


def draft_for(session: Session, user: User, draft_id: int) -> StudyDraft:
    """The draft if this user owns it (NotFoundError otherwise, for others' drafts too)."""
    draft = session.get(StudyDraft, draft_id)
    if draft is None or draft.owner_id != user.id:
        raise NotFoundError("No such draft.")
    return draft


def create_draft(session: Session, owner: User, study: dict[str, Any], now: datetime) -> StudyDraft:
    """A new draft from its study settings; refused when the settings themselves have problems."""
    document: Document = {"format": FORMAT_VERSION, "study": study}
    result = check(document)
    mine = [p for p in result.problems if within(p.field, "study")]
    if mine:
        raise DraftRejectedError(mine)
    draft = StudyDraft(owner_id=owner.id, document=document, created_at=now, updated_at=now)
    session.add(draft)
    session.flush()
    return draft


def draft_from_file(
    session: Session, owner: User, data: bytes, filename: str, now: datetime
) -> StudyDraft:
    """A draft holding a valid survey file (DefinitionError, with every problem, if invalid)."""
    definition = parse_definition(data, filename)
    document = definition_to_document(definition)
    draft = StudyDraft(owner_id=owner.id, document=document, created_at=now, updated_at=now)
    session.add(draft)
    session.flush()
    return draft


def delete_draft(session: Session, draft: StudyDraft) -> None:
    """Forget a draft (a launched study stays)."""
    session.delete(draft)
    session.flush()


def save_study(session: Session, draft: StudyDraft, study: dict[str, Any], now: datetime) -> Check:
    """Replace the study settings (the `[study]` table)."""
    document = copy.deepcopy(draft.document)
    document["study"] = study
    return _save(session, draft, document, lambda label: within(label, "study"), now)


def save_rules(session: Session, draft: StudyDraft, rules: dict[str, Any], now: datetime) -> Check:
    """Replace the consensus and stopping rules (the `[rules]` table)."""
    document = copy.deepcopy(draft.document)
    document["rules"] = rules
    return _save(session, draft, document, lambda label: within(label, "rules"), now)


# --- entries: scales, questions, categories, items, scenarios ----------------------------------


def entries(document: Document, section: str) -> list[tuple[str, dict[str, Any]]]:
    """The entries of a section as (key, table), in the document's order."""
    value = document.get(section)
    if SECTIONS[section]:
        return [(str(k), v) for k, v in value.items()] if isinstance(value, dict) else []
    if not isinstance(value, list):
        return []
    return [(str(entry.get("key", "")), entry) for entry in value if isinstance(entry, dict)]


def entry(document: Document, section: str, key: str) -> dict[str, Any]:
    """One entry's table (NotFoundError when the section has no such key)."""
    for found, table in entries(document, section):
        if found == key:
            return table
    raise NotFoundError("No such entry in this draft.")


def save_entry(
    session: Session,
    draft: StudyDraft,
    section: str,
    old_key: str | None,
    key: str,
    table: dict[str, Any],
    now: datetime,
) -> Check:
    """Add an entry (old_key None) or replace one, possibly under a new key."""
    document = copy.deepcopy(draft.document)
    current = entries(document, section)
    keys = [k for k, _ in current]
    if old_key is not None and old_key not in keys:
        raise NotFoundError("No such entry in this draft.")
    index = keys.index(old_key) if old_key is not None else len(current)
    if SECTIONS[section]:
        if key in keys and keys.index(key) != index:  # a table cannot hold the name twice
            scope = entry_scopes(section, key, index)[0]
            raise DraftRejectedError([Finding(scope + ".key", f"the key {key!r} is used twice")])
        pairs = list(current)
        if old_key is None:
            pairs.append((key, table))
        else:
            pairs[index] = (key, table)
        document[section] = dict(pairs)
    else:
        tables = [t for _, t in current]
        table = {"key": key, **{k: v for k, v in table.items() if k != "key"}}
        if old_key is None:
            tables.append(table)
        else:
            tables[index] = table
        document[section] = tables
    scopes = entry_scopes(section, key, index)
    return _save(session, draft, document, lambda label: any(within(label, s) for s in scopes), now)


def delete_entry(
    session: Session, draft: StudyDraft, section: str, key: str, now: datetime
) -> Check:
    """Remove an entry (what referred to it is reported on the draft's page)."""
    document = copy.deepcopy(draft.document)
    entry(document, section, key)  # NotFoundError when missing
    if SECTIONS[section]:
        document[section] = {k: v for k, v in entries(document, section) if k != key}
    else:
        document[section] = [t for k, t in entries(document, section) if k != key]
    if not document[section]:
        del document[section]
    return _save(session, draft, document, lambda label: False, now)


# --- translations -----------------------------------------------------------------------------


def _text_slot(path: tuple[str | int, ...], label: str, value: object) -> Iterator[TextSlot]:
    if isinstance(value, dict):
        yield TextSlot(path, label, {str(k): str(v) for k, v in value.items()})


def text_slots(document: Document) -> list[TextSlot]:
    """Every translatable text of the draft, in the order the survey file has them."""
    slots: list[TextSlot] = []
    study = document.get("study")
    if isinstance(study, dict):
        for name in _STUDY_TEXTS:
            slots += _text_slot(("study", name), f"study.{name}", study.get(name))
    for section, named in SECTIONS.items():
        for index, (key, table) in enumerate(entries(document, section)):
            where: tuple[str | int, ...] = (section, key) if named else (section, index)
            label = entry_scopes(section, key, index)[0]
            for name in _ENTRY_TEXTS[section]:
                slots += _text_slot((*where, name), f"{label}.{name}", table.get(name))
            labels = table.get("labels") if section == "scales" else None
            if isinstance(labels, dict):
                for point, text in labels.items():
                    slots += _text_slot((*where, "labels", point), f"{label}.labels.{point}", text)
    return slots


def save_translations(
    session: Session, draft: StudyDraft, language: str, values: dict[int, str], now: datetime
) -> Check:
    """Set one language's text of each slot (by its index in `text_slots`); empty removes it."""
    document = copy.deepcopy(draft.document)
    study = document.get("study")
    if isinstance(study, dict) and language == study.get("default_language"):
        raise StateError("The default language's texts are edited in their own sections.")
    slots = text_slots(document)
    for index, value in values.items():
        if not 0 <= index < len(slots):
            continue
        target: Any = document
        for step in slots[index].path:
            target = target[step]
        if value.strip():
            target[language] = value
        else:
            target.pop(language, None)
    suffix = "." + language
    return _save(session, draft, document, lambda label: label.endswith(suffix), now)


# --- rules, launch, export -------------------------------------------------------------------


@dataclass(frozen=True)
class RuleReading:
    """A rule parsed for showing in words: its outline, or why it does not parse."""

    text: str
    outline: dict[str, Any] | None
    error: str | None


def _outline(node: Node) -> dict[str, Any]:
    """A rule's syntax tree as plain data a template can put in words."""
    if isinstance(node, Compare):
        return {"kind": "compare", "left": str(node.left), "op": node.op, "right": str(node.right)}
    if isinstance(node, Not):
        return {"kind": "not", "parts": [_outline(node.operand)]}
    if isinstance(node, And | Or):
        kind = "all" if isinstance(node, And) else "any"
        return {"kind": kind, "parts": [_outline(part) for part in node.operands]}
    return {"kind": "name", "left": str(node), "op": "", "right": ""}


def read_rule(text: str, kind: str) -> RuleReading:
    """Parse a consensus or stability rule with the names that kind of rule may use."""
    names = CONSENSUS_NAMES if kind == "consensus" else STABILITY_NAMES
    try:
        root = parse_expression(text, allowed_names=names).root
    except InputError as error:
        return RuleReading(text, None, str(error))
    return RuleReading(text, _outline(root), None)


def valid_definition(draft: StudyDraft) -> SurveyDefinition:
    """The draft's definition; DraftRejectedError with every problem when it is not complete."""
    result = check(draft.document)
    if result.definition is None:
        raise DraftRejectedError(result.problems)
    return result.definition


def draft_toml(draft: StudyDraft) -> str:
    """The draft as a canonical survey file (only when it is valid)."""
    return definition_to_toml(valid_definition(draft))


def study_toml(study: Study) -> str:
    """A study's definition, as it was imported, as a canonical survey file."""
    return definition_to_toml(definition_from_dict(study.definition))


def launch(session: Session, draft: StudyDraft, *, actor: User, now: datetime) -> Study:
    """Create the study: the draft's canonical file is imported as an uploaded file would be."""
    _editable(draft)
    text = definition_to_toml(valid_definition(draft))
    definition = parse_definition(text.encode("utf-8"), f"{definition_key(draft)}.toml")
    study = import_study(session, definition, actor=actor, now=now)
    draft.study_id = study.id
    draft.updated_at = now
    session.flush()
    return study


def definition_key(draft: StudyDraft) -> str:
    """The study key the draft gives (a safe fallback for file names when it has none yet)."""
    study = draft.document.get("study")
    key = study.get("key") if isinstance(study, dict) else None
    return key if isinstance(key, str) and re.fullmatch(r"[a-z0-9-]{1,64}", key) else "study"
