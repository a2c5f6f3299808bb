"""The structural section of a survey file: the rules for MICMAC variables, MACTOR actors and
objectives, CIB descriptors with their variants, and the descriptor states a named scenario
stands for. `app.definitions.validate` calls these while it reads the file."""

from __future__ import annotations

from collections.abc import Mapping

from app.definitions.fields import (
    Checker,
    Loc,
    Section,
    pattern,
    quote_key,
    text,
    word,
)
from app.definitions.model import ItemKind, Objective, QuestionKind, QuestionTemplate, Variant
from app.definitions.vocabulary import IDENTIFIER, IDENTIFIER_RULE

identifier = pattern(IDENTIFIER, IDENTIFIER_RULE)

OBJECTIVE_FIELDS = ("key", "title", "description")


#: Question kinds that answer one row of a structural matrix, by the item kind of the rows.
ROW_QUESTIONS: Mapping[QuestionKind, ItemKind] = {
    QuestionKind.INFLUENCE: ItemKind.VARIABLE,
    QuestionKind.ACTOR_INFLUENCE: ItemKind.ACTOR,
    QuestionKind.POSITIONS: ItemKind.ACTOR,
    QuestionKind.CROSS_IMPACT: ItemKind.DESCRIPTOR,
}
#: What a structural row item may ask besides its row question (a reason).
ROW_ITEM_EXTRAS = frozenset({QuestionKind.TEXT})

#: the most variants a descriptor may have (CIB models rarely use more than five)
MAX_VARIANTS = 9


def variant(checker: Checker, value: object, loc: Loc) -> Variant | None:
    """One variant of a descriptor: `{ key = "...", title = { en = "..." } }`."""
    section = Section(checker, value, loc, ("key", "title"))
    if not isinstance(value, dict):
        return None
    key = section.need("key", identifier)
    title = section.need("title", text())
    if key is None or title is None:
        return None
    return Variant(key=key, title=title)


def check_matrices(
    checker: Checker, item_sections: list[Section], item_kinds: Mapping[str, ItemKind | None]
) -> None:
    """A structural matrix needs at least two rows: one variable has nothing to influence."""
    for row_kind in set(ROW_QUESTIONS.values()):
        rows = [k for k, v in item_kinds.items() if v is row_kind]
        if len(rows) == 1:
            section = next(s for s in item_sections if s.data.get("key") == rows[0])
            checker.error(
                section.loc.key("kind"),
                f"{quote_key(rows[0])} is the only {row_kind.value} item; a matrix needs at "
                f"least two {row_kind.value} items",
            )


def check_positions(
    checker: Checker,
    question_sections: Mapping[str, Section],
    questions: Mapping[str, QuestionTemplate | None],
    objectives: list[Objective],
    root: Section,
) -> None:
    """A positions question needs objectives to take positions on."""
    if objectives or root.has("objectives"):
        return
    for key, question in questions.items():
        if question is not None and question.kind is QuestionKind.POSITIONS:
            checker.error(
                question_sections[key].loc.key("kind"),
                "a positions question needs the objectives the actors take positions on: "
                "add at least one [[objectives]] table",
            )


def scenario_states(
    checker: Checker, section: Section, variants: Mapping[str, tuple[str, ...]]
) -> dict[str, str]:
    """A scenario's CIB states: `{ D_REL = "alliance" }`, descriptor keys to their variants."""
    table = section.sub("states", None, required=False)
    if table is None:
        return {}
    states: dict[str, str] = {}
    for descriptor in table.data:
        loc = table.loc.key(descriptor)
        if descriptor not in variants:
            checker.error(
                loc,
                f"no descriptor {quote_key(descriptor)}"
                f"{checker.did_you_mean(descriptor, variants)}; states name descriptor items",
            )
            continue
        variant = table.get(descriptor, word(variants[descriptor]))
        if variant is not None:
            states[descriptor] = variant
    return states
