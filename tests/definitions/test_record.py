"""The `[record]` table and the items' resolution date and source."""

from __future__ import annotations

import datetime as dt

import pytest

from app.definitions import definition_from_dict, definition_to_dict
from app.definitions.record import RECORD_FIELDS
from tests.definitions.helpers import edited, line_of, parse, problem_at, problems_of

RECORD = (
    "\n[record]\n"
    'rationale = { en = "Forecasting needs judgement.", fa = "پیش‌بینی به داوری نیاز دارد." }\n'
    'funding = "No external funding."\n'
)
SEED = ('key = "C01"\nkind = "calibration"\ntrue_value = 42\n',)


def with_record(record: str = RECORD) -> str:
    """The minimal file with a record table appended."""
    return edited() + record


def test_the_record_is_read_in_the_study_languages() -> None:
    record = parse(with_record()).record
    assert dict(record.get("rationale")) == {
        "en": "Forecasting needs judgement.",
        "fa": "پیش‌بینی به داوری نیاز دارد.",
    }
    assert dict(record.get("funding")) == {"en": "No external funding."}
    assert dict(record.get("ethics")) == {}
    assert list(record.as_dict()) == ["rationale", "funding"]


def test_a_file_without_a_record_has_an_empty_one() -> None:
    assert parse(edited()).record.as_dict() == {}


def test_an_unknown_record_field_is_a_problem_naming_it() -> None:
    text = with_record(RECORD + 'ethic = "Approved."\n')
    problem = problem_at(problems_of(text), "record.ethic")
    assert problem.message == "unknown field 'ethic' (did you mean 'ethics'?)"
    assert problem.line == line_of(text, "ethic =")


def test_a_record_text_in_a_language_the_study_lacks_is_a_problem() -> None:
    text = with_record(RECORD + 'pilot = { en = "Three testers.", de = "Drei." }\n')
    problem = problem_at(problems_of(text), "record.pilot.de")
    assert "is not one of the study's languages" in problem.message


def test_every_record_field_is_accepted() -> None:
    lines = "".join(f'{name} = "{name} text"\n' for name in RECORD_FIELDS)
    record = parse(with_record("\n[record]\n" + lines)).record
    assert list(record.as_dict()) == list(RECORD_FIELDS)


def test_items_take_a_resolution_date_and_source() -> None:
    text = edited(
        ('key = "E01"\nkind = "event"\n', 'key = "E01"\nkind = "event"\nresolves_by = 2035-12-31\n'
         'resolution_source = "UN Treaty Series"\n'),
        (SEED[0], SEED[0] + 'resolves_by = "2024-03-11"\nresolution_source = "SIPRI"\n'),
    )  # fmt: skip
    definition = parse(text)
    event, seed = definition.item("E01"), definition.item("C01")
    assert (event.resolves_by, event.resolution_source) == (
        dt.date(2035, 12, 31),
        "UN Treaty Series",
    )
    assert (seed.resolves_by, seed.resolution_source, seed.true_value) == (
        dt.date(2024, 3, 11), "SIPRI", 42.0,
    )  # fmt: skip
    assert definition.item("E02").resolves_by is None
    assert definition.item("E02").resolution_source == ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"soon"', 'expected a date written as YYYY-MM-DD (e.g. 2035-12-31) between 1900 and 2300, got "soon"'),
        ('"2035-02-30"', '"2035-02-30" is not a date of the calendar'),
        ("2035", "expected a date written as YYYY-MM-DD (e.g. 2035-12-31) between 1900 and 2300, got 2035"),
        ("2035-12-31T12:00:00", "without a time of day"),
        ('"1066-10-14"', "between 1900 and 2300"),
        ("1066-10-14", 'between 1900 and 2300, got "1066-10-14"'),
    ],
)  # fmt: skip
def test_a_resolution_date_that_is_not_a_date_is_a_problem_naming_the_field(
    value: str, message: str
) -> None:
    text = edited(
        ('key = "E01"\nkind = "event"\n', f'key = "E01"\nkind = "event"\nresolves_by = {value}\n')
    )
    problem = problem_at(problems_of(text), "items[E01].resolves_by")
    assert message in problem.message
    assert problem.line == line_of(text, "resolves_by")


def test_record_and_resolution_survive_the_stored_form() -> None:
    text = edited(
        (
            'key = "E01"\nkind = "event"\n',
            'key = "E01"\nkind = "event"\nresolves_by = 2035-12-31\n',
        ),
    )
    definition = parse(text + RECORD)
    data = definition_to_dict(definition)
    assert data["items"][0]["resolves_by"] == "2035-12-31"
    assert data["record"]["rationale"]["en"] == "Forecasting needs judgement."
    assert definition_from_dict(data) == definition


def test_a_definition_stored_before_the_record_reads_with_an_empty_one() -> None:
    definition = parse(edited())
    data = definition_to_dict(definition)
    del data["record"]
    for item in data["items"]:
        del item["resolves_by"], item["resolution_source"]
    assert definition_from_dict(data) == definition
