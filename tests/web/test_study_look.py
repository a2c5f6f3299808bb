"""The study's own look and mail: email texts per language (checked, previewed, sent through a
real SMTP server on loopback), colours on the experts' pages and a logo that must be an image."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from app.models import Study
from app.services import panel, report_files, rounds
from tests.conftest import NOW, csrf_from, enter_link
from tests.facilitator_world import World, build_world, enter_fresh, sign_in
from tests.mailbox import Mailbox, running_smtp_server

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

INVITATION = (
    "Dear {name},\n\nplease join our panel on {study}. Round {round} closes on {deadline}.\n\n"
    "Your own link: {link}\n\n{message}"
)


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[Mailbox]:
    """A real SMTP server on loopback, and the app configured to send through it."""
    with running_smtp_server() as mailbox:
        app.config.update(
            MAIL_BACKEND="smtp",
            SMTP_HOST=mailbox.host,
            SMTP_PORT=mailbox.port,
            MAIL_FROM="Delphi Study <delphi@example.org>",
        )
        yield mailbox


@pytest.fixture
def world(session: Session, example_study: Study) -> World:
    """The example study: Ann (en), Bahram (fa), Cyril (ru); round 1 open with a deadline."""
    built = build_world(session, example_study)
    rounds.set_deadline(session, built.round, NOW + timedelta(days=400), actor=None, now=NOW)
    built.round.message = {"en": "Round one: all items.", "fa": "دور نخست: همهٔ گویه‌ها."}
    session.commit()
    return built


def _post(client: FlaskClient, url: str, data: dict[str, object]) -> TestResponse:
    token = csrf_from(client.get("/f/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)


def _template(
    client: FlaskClient,
    world: World,
    subject: str,
    body: str,
    action: str = "save",
    kind: str = "invitation",
    language: str = "en",
) -> TestResponse:
    return _post(
        client,
        f"/f/studies/{world.study.id}/look/mail/{kind}/{language}",
        {f"{kind}-{language}-subject": subject, f"{kind}-{language}-body": body, "action": action},
    )


def _png(size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (31, 78, 121)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_unknown_placeholder_or_a_body_without_the_link_is_refused_next_to_its_field(
    client: FlaskClient, session: Session, world: World
) -> None:
    sign_in(client)
    response = _template(client, world, "Hello {nmae}", "Dear {name}, welcome.")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="invitation-en-subject-error"' in page and "Unknown placeholder {nmae}" in page
    assert 'id="invitation-en-body-error"' in page
    assert "The body must contain {link}" in page
    assert 'aria-invalid="true"' in page
    session.refresh(world.study)
    assert world.study.mail_templates == {}


def test_the_preview_fills_in_the_placeholders_without_saving(
    client: FlaskClient, session: Session, world: World
) -> None:
    sign_in(client)
    response = _template(client, world, "Join {study}", INVITATION, action="preview")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Preview (not saved)" in page
    assert "Join Water supply of a large city to 2040" in page
    assert "Dear (expert&#39;s name)," in page
    assert "/t/(personal-link)" in page and "Round one: all items." in page
    assert "{link}" not in page.split('id="preview"')[1]
    session.refresh(world.study)
    assert world.study.mail_templates == {}


def test_invitations_use_the_studys_text_in_its_language_and_the_default_elsewhere(
    app: Flask, client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    sign_in(client)
    saved = _template(client, world, "Join {study}, {name}", INVITATION)
    assert "The email text is saved." in saved.get_data(as_text=True)
    _post(client, f"/f/studies/{world.study.id}/mail/invitations", {"audience": "new"})

    ann = smtp_server.to("ann@example.org")[0]
    assert ann.message["Subject"] == "Join Water supply of a large city to 2040, Ann Archer"
    text = ann.body()
    assert text.startswith("Dear Ann Archer,")
    assert f"Your own link: http://localhost/t/{ann.token}?lang=en" in text
    assert "Round 1 closes on" in text and "(UTC)" in text
    assert "Round one: all items." in text
    assert "{" not in text
    html = ann.body("html")
    assert f'<a href="http://localhost/t/{ann.token}?lang=en">' in html
    assert "<script" not in html
    assert enter_fresh(app, ann.token).status_code == 303
    # Bahram reads Persian, which has no text of the study's own: the platform's email
    bahram = smtp_server.to("bahram@example.org")[0]
    assert "تأمین آب یک کلان‌شهر تا سال ۲۰۴۰" in bahram.message["Subject"]
    assert "please join our panel" not in bahram.body()


def test_a_name_with_markup_is_escaped_in_the_html_part(
    client: FlaskClient, session: Session, world: World, smtp_server: Mailbox
) -> None:
    world.members[0].name = "Ann <b>Archer</b>"
    session.commit()
    sign_in(client)
    _template(client, world, "Join {study}", INVITATION)
    _post(client, f"/f/studies/{world.study.id}/mail/invitations", {"audience": "new"})
    html = smtp_server.to("ann@example.org")[0].body("html")
    assert "Ann &lt;b&gt;Archer&lt;/b&gt;" in html and "<b>Archer" not in html


def test_a_logo_must_be_an_image_and_colours_must_be_hex(
    client: FlaskClient, session: Session, world: World
) -> None:
    sign_in(client)
    url = f"/f/studies/{world.study.id}/look/logo"
    fake = (io.BytesIO(b"<svg onload='alert(1)'></svg>"), "logo.png", "image/png")
    refused = _post(client, url, {"logo": fake, "action": "upload"})
    assert refused.status_code == 422
    assert "The logo must be a PNG or JPEG image." in refused.get_data(as_text=True)
    huge = (io.BytesIO(b"\x89PNG" + b"0" * 300_000), "big.png", "image/png")
    assert "at most 200 KB" in _post(client, url, {"logo": huge}).get_data(as_text=True)
    session.refresh(world.study)
    assert world.study.logo_hash is None

    before = report_files.fingerprint(session, world.study)
    accepted = _post(client, url, {"logo": (io.BytesIO(_png()), "logo.png"), "action": "upload"})
    assert "The logo is saved." in accepted.get_data(as_text=True)
    assert 'src="data:image/png;base64,' in accepted.get_data(as_text=True)
    bad = _post(
        client, f"/f/studies/{world.study.id}/look/colours", {"brand": "red;}", "accent": ""}
    )
    assert bad.status_code == 422 and "six hexadecimal digits" in bad.get_data(as_text=True)
    _post(client, f"/f/studies/{world.study.id}/look/colours", {"brand": "#0A5C36"})
    session.refresh(world.study)
    assert world.study.colours == {"brand": "#0a5c36"}
    # a report kept before the change is stale now
    assert report_files.fingerprint(session, world.study) != before


def test_experts_see_their_studys_colours_and_logo(
    app: Flask, client: FlaskClient, session: Session, world: World
) -> None:
    world.study.colours = {"brand": "#0a5c36", "accent": "#aa3300"}
    world.study.logo, world.study.logo_type, world.study.logo_hash = _png(), "image/png", "ab" * 32
    token = panel.issue_link(session, world.members[0], purpose="invitation", now=NOW)
    session.commit()
    browser = app.test_client()
    assert enter_link(browser, token).status_code == 303
    home = browser.get("/e/", follow_redirects=True).get_data(as_text=True)
    assert "/e/look.css" in home and "/e/logo" in home
    css = browser.get("/e/look.css")
    assert css.mimetype == "text/css" and "--brand: #0a5c36;" in css.get_data(as_text=True)
    logo = browser.get("/e/logo")
    assert logo.mimetype == "image/png" and logo.headers["X-Content-Type-Options"] == "nosniff"
    # without an expert session: nothing
    assert app.test_client().get("/e/look.css").status_code in (302, 303, 401, 403)
