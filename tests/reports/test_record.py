"""The study record in the report: what the authors wrote, what the platform measured, and the
CREDES / DELPHISTAR checklist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Round, RoundState, Study, User, ValidationError, utcnow
from app.reports import render
from app.reports.checklist import COVERED, MISSING
from app.reports.data import Report, build_report
from app.services import study_record, tidy
from app.services.results import probability_question
from app.services.tidy import TIDY_COLUMNS, tidy_answers
from tests.conftest import NOW
from tests.demo_cache import cached_demo
from tests.reports.helpers import ScriptedStudy, scripted_study


@pytest.fixture
def scripted(session: Session, example_study: Study, facilitator_user: User) -> ScriptedStudy:
    """The example study with two closed rounds answered by 8 scripted experts."""
    return scripted_study(session, example_study, facilitator_user)


@pytest.fixture
def report(app: Flask, session: Session, scripted: ScriptedStudy) -> Iterator[Report]:
    """The report data inside a request context."""
    with app.test_request_context():
        yield build_report(session, scripted.study, now=utcnow())


def _checklist(report: Report) -> dict[str, tuple[str, str]]:
    context = render.template_context(report, render.ReportCharts(), standalone=True)
    return {row.topic: (row.status, row.where) for row in context["checklist"]}


def test_attrition_tests_match_scipy_on_the_raw_answers(
    session: Session, scripted: ScriptedStudy, report: Report
) -> None:
    assert report.measured is not None and report.measured.attrition == ()  # nobody left
    full = tidy_answers(session, scripted.study)
    # three experts, the ones with the highest round-1 probabilities of E01, do not come back
    e01_question = probability_question(
        next(i for i in scripted.study.items if i.key == "E01"), scripted.study.horizon
    )
    assert e01_question is not None
    first = full[
        (full["round"] == 1)
        & (full["item"] == "E01")
        & (full["question"] == e01_question[0].key)
        & (full["part"] == e01_question[1])
    ]
    leavers = set(first.sort_values("value").tail(3)["expert"])
    frame = full[~((full["round"] == 2) & full["expert"].isin(leavers))]
    tests = study_record.attrition_tests(scripted.study, frame, [1, 2])
    assert tests and {t.round for t in tests} == {2}
    items = {item.key: item for item in scripted.study.items}
    for test in tests:
        found = probability_question(items[test.item], scripted.study.horizon)
        assert found is not None
        question, part = found
        rows = frame[
            (frame["round"] == 1)
            & (frame["item"] == test.item)
            & (frame["question"] == question.key)
            & (frame["part"] == part)
            & frame["value"].notna()
        ]
        left = rows.loc[rows["expert"].isin(leavers), "value"].astype(float)
        kept = rows.loc[~rows["expert"].isin(leavers), "value"].astype(float)
        assert (test.n_left, test.n_stayed) == (len(left), len(kept))
        if len(set(left) | set(kept)) > 1:
            expected = stats.mannwhitneyu(left, kept, alternative="two-sided").pvalue
            assert test.p == pytest.approx(expected)
    e01 = next(t for t in tests if t.item == "E01")
    assert e01.median_left is not None and e01.median_stayed is not None
    assert e01.median_left > e01.median_stayed  # the leavers were the most optimistic


def test_non_response_counts_add_up_to_the_respondents(
    session: Session, scripted: ScriptedStudy, report: Report
) -> None:
    measured = report.measured
    assert measured is not None and measured.non_response
    frame = tidy_answers(session, scripted.study)
    for row in measured.non_response:
        in_round = frame[frame["round"] == row.round]
        assert row.respondents == in_round["expert"].nunique()
        answered = in_round[(in_round["item"] == row.item) & in_round["value"].notna()]
        assert row.answered == answered["expert"].nunique()
        assert row.answered + row.outside_expertise + row.missing == row.respondents


def test_without_a_record_the_checklist_lists_what_is_missing(report: Report) -> None:
    rows = _checklist(report)
    assert rows["Why a Delphi study, and which variant"][0] == MISSING
    assert rows["Funding"] == (MISSING, "give 'Funding' in the study record")
    # what the platform knows itself is covered without the authors writing anything
    assert rows["Response rate of every round"][0] == COVERED
    assert rows["Attrition between rounds and its possible bias"][0] == COVERED
    assert rows["Reminders sent"][0] == COVERED


def test_a_written_record_is_printed_and_covers_its_topics(
    app: Flask, session: Session, scripted: ScriptedStudy, facilitator_user: User
) -> None:
    study_record.save_record(
        session,
        scripted.study,
        {"rationale": {"en": "A classic Delphi: the question has no data yet."},
         "funding": {"en": "  ", "fa": "بدون بودجه"}},
        actor=facilitator_user,
        now=NOW,
    )  # fmt: skip
    assert study_record.record_texts(scripted.study) == {
        "rationale": {"en": "A classic Delphi: the question has no data yet."},
        "funding": {"fa": "بدون بودجه"},
    }
    with app.test_request_context():
        report = build_report(session, scripted.study, now=utcnow())
        rows = _checklist(report)
        html = render.render_html(report)
    assert rows["Why a Delphi study, and which variant"][0] == COVERED
    assert "A classic Delphi: the question has no data yet." in html
    assert re.search(r"\d+ of \d+ topics covered", html)
    assert 'id="checklist"' in html


def test_saving_refuses_unknown_fields_and_foreign_languages(
    session: Session, example_study: Study, facilitator_user: User
) -> None:
    with pytest.raises(ValidationError) as caught:
        study_record.save_record(
            session,
            example_study,
            {"ethic": {"en": "x"}, "pilot": {"de": "x"}},
            actor=facilitator_user,
            now=NOW,
        )
    assert set(caught.value.errors) == {"ethic", "pilot.de"}
    assert example_study.record == {}  # nothing saved


def test_non_response_of_the_matrices_counted_per_answer_equals_the_count_per_cell(
    session: Session, first_study_definition: Any, facilitator_user: User
) -> None:
    """The record reads a structural row answer as one row, not a row per cell: who answered
    and who said outside their expertise come out as the full tidy table gives them."""
    study = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW).study
    session.commit()
    matrices = {i.key for i in study.items if i.kind in ("variable", "actor", "descriptor")}
    measured = study_record.measured_record(session, study)
    full = tidy_answers(session, study, _closed(session, study))
    expected = {
        (row.round, row.item): row
        for row in study_record._non_response(full, {i.key: str(i.kind) for i in study.items})
    }
    found = {(row.round, row.item): row for row in measured.non_response}
    assert {item for _round, item in found} >= matrices
    assert found == expected
    # the tidy table the analyses share leaves the cells out, and only them
    lean = tidy_answers(session, study, _closed(session, study), matrices=False)
    assert set(lean["item"]) == set(full["item"]) - matrices


def _closed(session: Session, study: Study) -> list[Round]:
    return list(
        session.scalars(
            select(Round).where(Round.study_id == study.id, Round.state == RoundState.CLOSED)
        )
    )


def test_the_tidy_table_built_by_columns_is_the_one_built_by_rows(
    session: Session, first_study_definition: Any, facilitator_user: User
) -> None:
    """Column lists give the frame (values, NaN and types) that a tuple per row gave."""
    study = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW).study
    session.commit()
    for matrices in (True, False):
        columns = tidy._tidy_columns(session, study, None, matrices)
        by_rows = pd.DataFrame.from_records(
            list(zip(*columns, strict=True)), columns=list(TIDY_COLUMNS)
        )
        assert len(by_rows) > 1000 and by_rows["value"].isna().any()
        pd.testing.assert_frame_equal(tidy._frame(columns), by_rows)
    empty = tuple([] for _ in TIDY_COLUMNS)
    pd.testing.assert_frame_equal(
        tidy._frame(empty), pd.DataFrame.from_records([], columns=list(TIDY_COLUMNS))
    )
