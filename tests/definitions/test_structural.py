"""The structural section of a survey file: MICMAC variables and their influence rows."""

from __future__ import annotations

import pytest

from app.definitions import ItemKind, QuestionKind, definition_from_dict, definition_to_dict
from app.definitions.document import definition_to_toml
from tests.definitions.helpers import MINIMAL, line_of, parse, problem_at, problems_of

INFLUENCE = """
[questions.influence]
kind = "influence"
prompt = { en = "How strongly does this variable influence the others?", fa = "این متغیر تا چه اندازه بر دیگران اثر می‌گذارد؟" }
"""

VARIABLES = """
[[items]]
key = "V1"
kind = "variable"
title = { en = "First variable", fa = "متغیر نخست" }
text = { en = "A driver.", fa = "یک پیشران." }
questions = ["influence", "reason"]

[[items]]
key = "V2"
kind = "variable"
title = { en = "Second variable", fa = "متغیر دوم" }
text = { en = "An outcome.", fa = "یک پیامد." }
questions = ["influence"]

[[items]]
key = "V3"
kind = "variable"
title = { en = "Third variable", fa = "متغیر سوم" }
text = { en = "A relay.", fa = "یک رله." }
questions = ["influence"]
"""


def with_structure(variables: str = VARIABLES, question: str = INFLUENCE) -> str:
    """The minimal file with an influence question and variables added (before its items)."""
    text = MINIMAL.replace("[[categories]]", question + "\n[[categories]]", 1)
    return text.rstrip("\n") + "\n" + variables


def test_variables_and_influence_rows_parse() -> None:
    definition = parse(with_structure())
    assert [v.key for v in definition.variables] == ["V1", "V2", "V3"]
    assert definition.questions["influence"].kind is QuestionKind.INFLUENCE
    assert definition.questions["influence"].scale is None
    assert all(v.kind is ItemKind.VARIABLE for v in definition.variables)


def test_the_canonical_writer_keeps_the_structural_section() -> None:
    definition = parse(with_structure())
    again = parse(definition_to_toml(definition))
    assert [v.key for v in again.variables] == ["V1", "V2", "V3"]
    assert again.questions["influence"] == definition.questions["influence"]


@pytest.mark.parametrize(
    ("variables", "question", "field", "message", "anchor"),
    [
        pytest.param(
            VARIABLES.replace('questions = ["influence", "reason"]', 'questions = ["reason"]'),
            INFLUENCE,
            "items[V1].questions",
            "a variable item asks exactly one influence question (its row of the matrix); "
            "this one asks 0",
            'questions = ["reason"]',
            id="variable-without-row",
        ),
        pytest.param(
            VARIABLES.replace(
                'questions = ["influence", "reason"]', 'questions = ["influence", "impact"]'
            ),
            INFLUENCE,
            "items[V1].questions[2]",
            "'impact' is a likert question; a variable item asks its row question",
            'questions = ["influence", "impact"]',
            id="variable-asks-likert",
        ),
        pytest.param(
            VARIABLES,
            INFLUENCE + 'scale = "impact"\n',
            "questions.influence.scale",
            "'scale' does not apply to influence questions",
            'scale = "impact"\n\n[[categories]]',
            id="influence-with-scale",
        ),
        pytest.param(
            VARIABLES.split('\n[[items]]\nkey = "V2"')[0],
            INFLUENCE,
            "items[V1].kind",
            "'V1' is the only variable item; a matrix needs at least two variable items",
            'kind = "variable"',
            id="one-variable",
        ),
    ],
)
def test_each_structural_mistake_names_its_line_and_field(
    variables: str, question: str, field: str, message: str, anchor: str
) -> None:
    text = with_structure(variables, question)
    problem = problem_at(problems_of(text), field)
    assert message in problem.message
    assert problem.line == line_of(text, anchor), str(problem)


def test_an_event_cannot_ask_an_influence_row() -> None:
    text = with_structure().replace(
        'questions = ["probability", "impact", "reason"]',
        'questions = ["probability", "influence"]',
    )
    problem = problem_at(problems_of(text), "items[E01].questions[2]")
    assert "'influence' is a influence question; only variable items can ask it" in (
        problem.message
    )
    assert problem.line == line_of(text, 'questions = ["probability", "influence"]')


ACTOR_QUESTIONS = """
[questions.actor_influence]
kind = "actor_influence"
prompt = { en = "Influence on the other actors?", fa = "اثر بر بازیگران دیگر؟" }

[questions.positions]
kind = "positions"
prompt = { en = "Positions on the objectives?", fa = "موضع دربارهٔ هدف‌ها؟" }
"""

ACTORS = """
[[objectives]]
key = "PEACE"
title = { en = "A peace treaty", fa = "یک پیمان صلح" }

[[items]]
key = "A1"
kind = "actor"
title = { en = "First actor", fa = "بازیگر نخست" }
text = { en = "A state.", fa = "یک دولت." }
questions = ["actor_influence", "positions"]

[[items]]
key = "A2"
kind = "actor"
title = { en = "Second actor", fa = "بازیگر دوم" }
text = { en = "Another state.", fa = "دولتی دیگر." }
questions = ["actor_influence", "positions", "reason"]
"""


def test_actors_and_objectives_parse_and_survive_the_writers() -> None:
    definition = parse(with_structure(ACTORS, ACTOR_QUESTIONS))
    assert [a.key for a in definition.actors] == ["A1", "A2"]
    assert [o.key for o in definition.objectives] == ["PEACE"]
    again = parse(definition_to_toml(definition))
    assert again.objectives == definition.objectives
    assert definition_from_dict(definition_to_dict(definition)).objectives == (
        definition.objectives
    )


def test_a_definition_stored_before_objectives_existed_still_reads() -> None:
    stored = definition_to_dict(parse(MINIMAL))
    assert "objectives" not in stored  # other studies' stored form is unchanged
    assert definition_from_dict(stored).objectives == ()


@pytest.mark.parametrize(
    ("actors", "field", "message", "anchor"),
    [
        pytest.param(
            ACTORS.split("[[items]]", 1)[0].replace('key = "PEACE"', 'key = "PEACE"\nkey2 = 1')
            + "[[items]]"
            + ACTORS.split("[[items]]", 1)[1],
            "objectives[PEACE].key2",
            "unknown field 'key2'",
            "key2 = 1",
            id="objective-unknown-field",
        ),
        pytest.param(
            ACTORS.replace(
                '[[objectives]]\nkey = "PEACE"\ntitle = { en = "A peace treaty", '
                'fa = "یک پیمان صلح" }\n',
                "",
            ),
            "questions.positions.kind",
            "a positions question needs the objectives the actors take positions on",
            'kind = "positions"',
            id="positions-without-objectives",
        ),
        pytest.param(
            ACTORS.replace(
                'questions = ["actor_influence", "positions"]', 'questions = ["positions"]'
            ),
            "items[A1].questions",
            "an actor item asks exactly one actor_influence question",
            'questions = ["positions"]',
            id="actor-without-influence-row",
        ),
    ],
)
def test_each_actor_mistake_names_its_line_and_field(
    actors: str, field: str, message: str, anchor: str
) -> None:
    text = with_structure(actors, ACTOR_QUESTIONS)
    problem = problem_at(problems_of(text), field)
    assert message in problem.message
    assert problem.line == line_of(text, anchor), str(problem)


CIB_QUESTION = """
[questions.cross_impact]
kind = "cross_impact"
prompt = { en = "Impacts on the other descriptors?", fa = "اثر بر توصیفگرهای دیگر؟" }
"""

DESCRIPTORS = """
[[items]]
key = "D1"
kind = "descriptor"
title = { en = "Pressure", fa = "فشار" }
text = { en = "How hard.", fa = "چقدر." }
variants = [
  { key = "high", title = { en = "high", fa = "زیاد" } },
  { key = "low", title = { en = "low", fa = "کم" } },
]
questions = ["cross_impact"]

[[items]]
key = "D2"
kind = "descriptor"
title = { en = "Ties", fa = "پیوندها" }
text = { en = "How close.", fa = "چقدر نزدیک." }
variants = [
  { key = "close", title = { en = "close", fa = "نزدیک" } },
  { key = "loose", title = { en = "loose", fa = "سست" } },
]
questions = ["cross_impact", "reason"]
"""


def test_descriptors_and_their_variants_parse_and_survive_the_writers() -> None:
    definition = parse(with_structure(DESCRIPTORS, CIB_QUESTION))
    assert [[v.key for v in d.variants] for d in definition.descriptors] == [
        ["high", "low"],
        ["close", "loose"],
    ]
    assert parse(definition_to_toml(definition)).descriptors == definition.descriptors
    stored = definition_from_dict(definition_to_dict(definition))
    assert stored.descriptors == definition.descriptors


@pytest.mark.parametrize(
    ("descriptors", "field", "message", "anchor"),
    [
        pytest.param(
            DESCRIPTORS.replace(
                'variants = [\n  { key = "high", title = { en = "high", fa = "زیاد" } },\n'
                '  { key = "low", title = { en = "low", fa = "کم" } },\n]\n',
                "",
            ),
            "items[D1].variants",
            "missing: this field is required for descriptor items",
            '[[items]]\nkey = "D1"',
            id="descriptor-without-variants",
        ),
        pytest.param(
            DESCRIPTORS.replace('{ key = "low", title', '{ key = "low low", title'),
            "items[D1].variants[2].key",
            '"low low" is not allowed here',
            '{ key = "low low"',
            id="variant-key",
        ),
        pytest.param(
            DESCRIPTORS.replace('  { key = "low", title = { en = "low", fa = "کم" } },\n', ""),
            "items[D1].variants",
            "needs at least 2 entries, got 1",
            'variants = [\n  { key = "high"',
            id="one-variant",
        ),
    ],
)
def test_each_descriptor_mistake_names_its_line_and_field(
    descriptors: str, field: str, message: str, anchor: str
) -> None:
    text = with_structure(descriptors, CIB_QUESTION)
    problem = problem_at(problems_of(text), field)
    assert message in problem.message
    assert problem.line == line_of(text, anchor), str(problem)


def test_variants_apply_to_descriptors_only() -> None:
    text = with_structure(VARIABLES.replace(
        'questions = ["influence", "reason"]',
        'questions = ["influence", "reason"]\nvariants = [{ key = "a", title = "A" }]',
    ))  # fmt: skip
    problem = problem_at(problems_of(text), "items[V1].variants")
    assert "'variants' applies only to descriptor items" in problem.message


def test_a_scenarios_states_name_descriptors_and_their_variants() -> None:
    base = with_structure(DESCRIPTORS, CIB_QUESTION)
    good = base.replace(
        'expression = "E01 and not E02"', 'expression = "E01 and not E02"\nstates = { D1 = "low" }'
    )
    assert dict(parse(good).scenarios[0].states) == {"D1": "low"}
    for states, field, message in (
        ('{ D3 = "low" }', "scenarios[S1].states.D3", "no descriptor 'D3'"),
        ('{ D1 = "lower" }', "scenarios[S1].states.D1", 'must be one of: high, low; got "lower"'),
    ):
        text = base.replace(
            'expression = "E01 and not E02"',
            f'expression = "E01 and not E02"\nstates = {states}',
        )
        problem = problem_at(problems_of(text), field)
        assert message in problem.message
        assert problem.line == line_of(text, f"states = {states}")
