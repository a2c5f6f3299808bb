"""Panel files above PANEL_IMPORT_JOB_ROWS rows are imported by a job: all rows or none, the same
messages, a result page listing who was added or every problem; smaller files stay at once."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Job, JobStatus, Participation, Study, User
from tests.conftest import csrf_from, login


def _post_csv(client: FlaskClient, study: Study, content: str) -> Any:
    url = f"/f/studies/{study.id}/panel/import"
    token = csrf_from(client.get(url).get_data(as_text=True))
    data = {"csrf_token": token, "file": (io.BytesIO(content.encode()), "panel.csv")}
    return client.post(url, data=data, content_type="multipart/form-data")


def _rows(count: int, *, bad: dict[int, str] | None = None) -> str:
    lines = ["name,email,group,language"]
    for index in range(count):
        lines.append(
            (bad or {}).get(index, f"Expert {index},expert{index}@example.org,G{index % 3},en")
        )
    return "\n".join(lines) + "\n"


def _members(session: Session, study: Study) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Participation)
            .where(Participation.study_id == study.id)
        )
        or 0
    )


def test_a_large_file_is_imported_by_a_job_with_a_result_page(
    app: Flask, client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    login(client)
    app.config["PANEL_IMPORT_JOB_ROWS"] = 50  # the same path as 300+, with a smaller file
    response = _post_csv(client, example_study, _rows(120))
    assert response.status_code == 303 and "/jobs/" in response.headers["Location"]
    session.rollback()
    job = session.scalars(select(Job).where(Job.kind == "panel_import")).one()
    assert job.status == JobStatus.DONE and job.progress == 100
    assert session.scalar(select(Job.payload).where(Job.id == job.id)) is None, "file cleared"
    assert _members(session, example_study) == 120
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "120 experts added" in page
    assert "expert0@example.org" in page and "expert119@example.org" in page
    assert "Email invitations to everyone never invited" in page  # the links go by email
    # the same people again: all on the panel already, skipped
    again = _post_csv(client, example_study, _rows(120))
    second = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "120 were on the panel already" in second
    assert _members(session, example_study) == 120


def test_a_large_file_with_bad_rows_imports_nobody_and_lists_every_problem(
    app: Flask, client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    login(client)
    app.config["PANEL_IMPORT_JOB_ROWS"] = 50
    content = _rows(
        80,
        bad={
            3: "Fay,not-an-email,G1,en",
            40: "Gus,gus@example.org,G1,xx",
            70: ",x@example.org,G1,en",
        },
    )
    response = _post_csv(client, example_study, content)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nothing was imported" in page
    for row in ("row 5: email", "row 42: language", "row 72: name"):  # line numbers of the file
        assert row in page
    assert _members(session, example_study) == 0
    assert "Import a corrected file" in page


def test_a_small_file_is_still_imported_at_once(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    login(client)
    response = _post_csv(client, example_study, _rows(5))
    assert response.status_code == 200 and "Copy these private links now" in response.get_data(
        as_text=True
    )
    assert session.scalar(select(func.count()).select_from(Job)) == 0
