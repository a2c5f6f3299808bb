"""API reports: 200 with a kept file, else 202 with the build job's Location; the job resource
gives status, progress and the download link; the spreadsheet export is audited."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Job, Study, User
from app.services import api_keys
from tests.api.conftest import API, bearer
from tests.conftest import NOW
from tests.reports.helpers import scripted_study


def _key(session: Session, user: User) -> dict[str, str]:
    secret = api_keys.create_key(session, user, name="reports", study_ids=None, now=NOW).secret
    session.commit()
    return bearer(secret)


def test_report_is_202_with_a_job_then_200_from_the_kept_file(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    headers = _key(session, facilitator_user)
    base = f"{API}/studies/{example_study.id}"
    before = client.get(f"{base}/report.html", headers=headers)
    assert before.status_code == 409  # no round has closed yet
    scripted_study(session, example_study, facilitator_user, closed_rounds=1)
    asked = client.get(f"{base}/report.html?language=en", headers=headers)
    assert asked.status_code == 202
    body = asked.get_json()
    assert asked.headers["Location"] == body["links"]["self"] == f"{base}/jobs/{body['id']}"
    assert body["status"] == "queued" and body["kind"] == "report" and body["format"] == "html"
    # the build ran at commit (tests run jobs at once); a worker would take a few seconds
    job = client.get(asked.headers["Location"], headers=headers).get_json()
    assert job["status"] == "done" and job["progress"] == 100 and job["attempts"] == 1
    assert job["links"]["download"] == f"{base}/report.html?language=en"
    file = client.get(job["links"]["download"], headers=headers)
    assert file.status_code == 200 and file.mimetype == "text/html"
    assert b"<html" in file.get_data()
    assert client.get(f"{base}/report.html", headers=headers).get_data() == file.get_data()
    assert session.scalar(select(func.count()).select_from(Job)) == 1, "served, not rebuilt"
    wrong = client.get(f"{base}/report.pdf?language=xx", headers=headers)
    assert wrong.status_code == 422 and "xx" in wrong.get_json()["detail"]
    assert client.get(f"{base}/jobs/{body['id'] + 99}", headers=headers).status_code == 404


def test_spreadsheet_export_is_audited_each_time_and_kept(
    client: FlaskClient, session: Session, example_study: Study, facilitator_user: User
) -> None:
    headers = _key(session, facilitator_user)
    scripted_study(session, example_study, facilitator_user, closed_rounds=1)
    url = f"{API}/studies/{example_study.id}/exports/tables.xlsx"
    first = client.post(url, headers=headers)
    assert first.status_code == 202
    job = client.get(first.headers["Location"], headers=headers).get_json()
    assert job["status"] == "done" and job["links"]["download"] == url
    second = client.post(url, headers=headers)
    assert second.status_code == 200 and second.get_data()[:2] == b"PK"
    events = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export")
    )
    assert events == 2


def test_openapi_describes_reports_and_jobs(client: FlaskClient) -> None:
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    report = paths[f"{API}/studies/{{study_id}}/report.{{fmt}}"]["get"]["responses"]
    assert {"200", "202", "409", "422"} <= set(report)
    assert "Location" in report["202"]["headers"]
    assert f"{API}/studies/{{study_id}}/jobs/{{job_id}}" in paths
    assert f"{API}/studies/{{study_id}}/exports/tables.xlsx" in paths
