"""R10: hostile text in every field an expert or facilitator can set, including an imported
survey file and its error report, is shown as text: no markup gets through, and no template
expression is ever evaluated (`{{7*7}}` never becomes 49)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from email import policy
from email.parser import BytesParser
from io import BytesIO
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.jobs.runner import run_job
from app.models import Item, Role, Round, Study, Suggestion, User
from app.services import accounts, answers, api_keys, builder, panel, rounds
from tests.conftest import EXAMPLE_SURVEY, NOW, make_user
from tests.reliability.world import (
    ADMIN_EMAIL,
    SecurityWorld,
    autosave,
    csrf_of,
    expert_browser,
    field_of,
    fill,
    is_api,
    item_url,
    methods,
    page_token,
    routes,
    signed_in,
)

SCRIPT = "<script>alert(1)</script>"
IMAGE = '"><img src=x onerror=alert(1)>'
EXPRESSIONS = "P{{7*7}}Q R{{config}}S {% raw %}{{config}}{% endraw %} {%print(7*7)%}"
#: what must never appear in a page: live markup, or a template expression that was evaluated
FORBIDDEN = (SCRIPT, "<img src=x", "P49Q", "R<Config", "<Config", "print(7*7)%}49")


def hostile(tag: int, *, short: bool = False, braces: bool = True) -> str:
    """A hostile string whose origin shows in a page as F<tag>."""
    if short:  # for fields of 60 characters
        return f"F{tag:02d}{SCRIPT}P{{{{7*7}}}}Q"
    if not braces:  # prompts refuse any placeholder but {horizon}
        return f"F{tag:02d}{SCRIPT}{IMAGE}"
    return f"F{tag:02d}{SCRIPT}{IMAGE}{EXPRESSIONS}"


def shown(tag: int) -> str:
    """How the start of a hostile string looks once escaped in HTML."""
    return f"F{tag:02d}&lt;script&gt;alert(1)&lt;/script&gt;"


PROMPT = 5
#: fields of the survey file, by the English text they replace in the example survey
FILE_FIELDS = {
    1: "Water supply of a large city to 2040",  # study title
    2: "An example study with three developments, one trend and one calibration question.",
    3: "A desalination plant supplies the city",  # an item's title
    4: "A desalination plant supplying at least 10 % of the city's drinking water is in operation.",
    5: "How likely is this to happen by {horizon}?",  # a question's prompt
    6: "0 % means it will certainly not happen, 100 % that it certainly will.",  # its help
    7: "Water sources and infrastructure",  # a category
    8: "New sources",  # a scenario
    9: "Thank you for joining this panel. Nobody, not even the facilitators, can link your answers to you.",
    10: "I agree that my anonymous answers may be used in the study's report.",
    22: "Strongly worsens the water supply",  # a scale label
}


def _toml_text(value: str) -> str:
    """A value for inside a TOML basic string."""
    return json.dumps(value)[1:-1]


def hostile_survey(key: str = "hostile-study") -> bytes:
    """The example survey with hostile texts in every kind of text field."""
    text = EXAMPLE_SURVEY.read_text(encoding="utf-8").replace(
        'key = "water-2040"', f'key = "{key}"'
    )
    for tag, english in FILE_FIELDS.items():
        assert f'en = "{english}"' in text, english
        value = hostile(tag, braces=tag != PROMPT)
        text = text.replace(f'en = "{english}"', f'en = "{_toml_text(value)}"', 1)
    return text.encode("utf-8")


def broken_hostile_survey() -> bytes:
    """A survey file whose errors quote hostile text (an item key, a question name, a kind)."""
    text = hostile_survey("broken-hostile").decode("utf-8")
    text = text.replace('key = "E02"', f'key = "{_toml_text(hostile(30))}"', 1)
    text = text.replace('kind = "trend"', f'kind = "{_toml_text(hostile(31))}"', 1)
    text = text.replace(
        'questions = ["probability", "impact", "confidence", "reason"]',
        f'questions = ["probability", "{_toml_text(hostile(32))}"]',
        1,
    )
    return text.encode("utf-8")


def _problems(html: str) -> list[str]:
    """Forbidden strings found in a page."""
    return [bad for bad in FORBIDDEN if bad in html]


def _pages(app: Flask, world: SecurityWorld, browsers: dict[str, FlaskClient]) -> dict[str, str]:
    """Every HTML page every principal can reach, by 'principal GET url'."""
    values = world.url_values()
    urls = [
        fill(app, rule, values)
        for rule in routes(app)
        if "GET" in methods(rule) and not is_api(rule) and rule.endpoint != "static"
    ]
    pages = {}
    for principal, browser in browsers.items():
        for url in urls:
            response = browser.get(url, follow_redirects=True)
            assert response.status_code < 500, f"{principal} GET {url}: {response.status_code}"
            if response.mimetype == "text/html":
                pages[f"{principal} GET {url}"] = response.get_data(as_text=True)
    return pages


def _emails(outbox: Path) -> dict[str, str]:
    """The HTML and text parts of every email in the outbox."""
    found = {}
    for path in sorted(outbox.rglob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        for part in message.walk():
            if part.get_content_type() in ("text/html", "text/plain"):
                found[f"{path.name} {part.get_content_type()}"] = part.get_content()
    return found


def _check(pages: dict[str, str]) -> set[int]:
    """Assert no page has live hostile markup; return the tags whose text was shown."""
    seen: set[int] = set()
    for where, html in pages.items():
        assert not _problems(html), f"{where}: {_problems(html)}"
        seen |= {int(tag) for tag in re.findall(r"F(\d\d)&lt;script&gt;", html)}
    return seen


def test_R10_hostile_text_everywhere_is_shown_as_text(
    app: Flask,
    session: Session,
    facilitator_user: User,
    fresh_g: Callable[[], None],
) -> None:
    owner = facilitator_user
    admin = make_user(session, ADMIN_EMAIL, role=Role.ADMIN)
    facilitator = signed_in(app, owner.email)

    # a survey file with hostile texts, through the upload form
    created = facilitator.post(
        "/f/studies/new",
        data={
            "csrf_token": csrf_of(facilitator, "/f/studies/new"),
            "file": (BytesIO(hostile_survey()), "hostile.toml"),
        },
        content_type="multipart/form-data",
    )
    assert created.status_code == 303, created.get_data(as_text=True)[:500]
    # a broken one, with a hostile file name: its error report quotes the hostile parts
    report = facilitator.post(
        "/f/studies/new",
        data={
            "csrf_token": csrf_of(facilitator, "/f/studies/new"),
            "file": (BytesIO(broken_hostile_survey()), f"{hostile(33, short=True)}.toml"),
        },
        content_type="multipart/form-data",
    )
    assert report.status_code == 422
    report_html = report.get_data(as_text=True)
    assert not _problems(report_html), _problems(report_html)
    assert {30, 31, 32} & _check({"error report": report_html}), "the report quotes nothing"
    study = session.scalars(select(Study).where(Study.key == "hostile-study")).one()

    # the panel, a round with a message, a new wording, an account and an API key
    members = [
        panel.add_expert(
            session,
            study,
            name=hostile(11),
            email=f"expert{n}@example.org",
            group=hostile(12, short=True),
            language="en",
            actor=owner,
            now=NOW,
        )
        for n in range(6)
    ]
    for member in members:
        panel.record_consent(session, member.participation, language="en", now=NOW)
    round_ = rounds.create_round(session, study, actor=owner, now=NOW, message={"en": hostile(16)})
    rounds.open_round(session, round_, actor=owner, now=NOW)
    items = {item.key: item for item in study.items}
    rounds.reword_item(
        session,
        items["E03"],
        title={"en": hostile(13)},
        text={"en": hostile(14)},
        change_note={"en": hostile(15)},
        actor=owner,
        now=NOW,
    )
    accounts.create_user(
        session, email="named@example.org", name=hostile(20), password="x" * 12,
        role=Role.FACILITATOR, now=NOW,
    )  # fmt: skip
    key = api_keys.create_key(session, owner, name=hostile(21, short=True), study_ids=None, now=NOW)
    session.commit()

    # an expert types hostile text: a reason, a bad number, a suggestion
    e01 = items["E01"]
    probability, reason = field_of(e01, "probability"), field_of(e01, "reason")
    expert = expert_browser(app, members[0].token)
    token = page_token(expert, "E01")
    saved = autosave(expert, "E01", {probability: "30", reason: hostile(18)}, token)
    assert saved.status_code == 200
    # a hostile "number" is kept as a draft, as typed: its page shows it back (escaped), and
    # its message quotes it
    drafted = autosave(expert, "E01", {probability: hostile(19)}, token)
    assert drafted.status_code == 200 and drafted.is_json
    assert drafted.get_json()["questions"]["probability"]["state"] == "draft"
    posted = expert.post(
        item_url("E01"), data={probability: hostile(19), "action": "save", "csrf_token": token}
    )
    assert posted.status_code == 303
    page = expert.get(item_url("E01")).get_data(as_text=True)
    assert 19 in _check({"the item's page with the draft": page})
    # a plain form post with a stale token comes back with what was posted, escaped
    rerendered = expert.post(
        item_url("E01"), data={probability: hostile(19), reason: hostile(24), "csrf_token": "x"}
    )
    assert rerendered.status_code == 400
    stale_page = {"a page re-rendered after a stale token": rerendered.get_data(as_text=True)}
    assert {19, 24} <= _check(stale_page)
    expert.post("/e/suggestions", data={"suggestion": hostile(17), "csrf_token": token})
    suggestion = session.scalars(select(Suggestion).where(Suggestion.study_id == study.id)).one()

    # the others answer too, each with a hostile reason (shown to everyone after the close)
    for member in members[1:]:
        answers.save_item(
            session,
            member.participation,
            round_,
            e01,
            {"probability": {"value": 40}, "reason": {"text": hostile(23)}},
            idempotency_key=None,
            now=NOW,
        )
    session.commit()

    # invitations carry the hostile study title and name in their HTML
    mailed = facilitator.post(
        f"/f/studies/{study.id}/mail/invitations",
        data={"csrf_token": csrf_of(facilitator, f"/f/studies/{study.id}/mail"), "audience": "all"},
    )
    assert mailed.status_code in (200, 303)
    emails = _emails(Path(app.instance_path))
    assert emails, "no invitation was written to the outbox"
    html_mails = {k: v for k, v in emails.items() if k.endswith("text/html")}
    assert {1, 11} <= _check(html_mails)

    # a large panel import with a hostile name, run: its result page names who was added
    rows = io.StringIO()
    csv.writer(rows).writerows([("name", "email"), (hostile(40), "imported@example.org")])
    job = panel.request_import(session, study, rows.getvalue().encode(), actor=owner, now=NOW)
    session.commit()
    run_job(job.id)
    # the builder's pages show a draft made from the hostile file
    draft = builder.draft_from_file(
        session, owner, hostile_survey("hostile-draft"), "hostile.toml", NOW
    )
    session.commit()
    world = SecurityWorld(
        study=study,
        round=round_,
        item=e01,
        members=[m.participation for m in members],
        tokens=[m.token for m in members],
        suggestion=suggestion,
        owner=owner,
        admin=admin,
        api_secret=key.secret,
        api_key_id=key.key.id,
        job_id=job.id,
        draft_id=draft.id,
    )
    browsers = {
        "anonymous": app.test_client(),
        "expert": expert,
        "facilitator": facilitator,
        "admin": signed_in(app, ADMIN_EMAIL),
    }
    seen = _check(_pages(app, world, browsers))

    # close the round: the feedback shows the others' reasons
    closing = session.get(Round, round_.id)
    assert closing is not None
    rounds.close_round(session, closing, actor=owner, now=NOW)
    session.commit()
    fresh_g()
    seen |= _check(_pages(app, world, browsers))

    expected = set(FILE_FIELDS) | {11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 23, 40}
    assert expected <= seen, f"never shown, so never checked: {sorted(expected - seen)}"
    assert _never_rendered(study, session) == []


def _never_rendered(study: Study, session: Session) -> list[str]:
    """Stored texts are kept exactly as typed (escaping happens only when shown)."""
    session.expire_all()
    item: Item = next(i for i in study.items if i.key == "E01")
    stored: Iterable[tuple[str, str]] = [
        ("study title", study.title["en"]),
        ("item title", item.current_version.title["en"]),
    ]
    return [name for name, value in stored if not value.startswith("F") or SCRIPT not in value]
