"""A study world for crawling every route as every principal, and a digest of every table."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from app.models import Base, Item, Participation, Role, Round, Study, Suggestion, User
from app.services import api_keys, builder, panel, rounds
from tests.conftest import EXAMPLE_SURVEY, NOW, csrf_from, enter_link, login, make_user

ADMIN_EMAIL = "admin@example.org"
SESSION_COOKIE = "delphi_session"
PANEL = (
    ("Ann Archer", "ann@example.org", "Academia", "en"),
    ("Bahram Bagheri", "bahram@example.org", "Academia", "fa"),
    ("Cyril Chernov", "cyril@example.org", "Government", "ru"),
)
#: columns that record that a credential was used (API keys, link tokens sent as headers);
#: reading through the API may stamp them, once a minute at most, and nothing else
BOOKKEEPING = frozenset({("api_keys", "last_used_at"), ("access_links", "last_used_at")})
#: values for every URL argument of every route, by argument name (filled from the world)
ARGUMENTS = (
    "study_id",
    "participation_id",
    "member_id",
    "number",
    "item_id",
    "item_key",
    "suggestion_id",
    "key_id",
    "user_id",
    "token",
    "filename",
    "key",
    "category_key",
    "fmt",
    "job_id",
    "draft_id",
    "section",
    "entry",
    "kind",
    "language",
)


@dataclass
class SecurityWorld:
    """The objects of one study, and the secrets of its principals."""

    study: Study
    round: Round
    item: Item
    members: list[Participation]
    tokens: list[str]  #: the members' private-link tokens
    suggestion: Suggestion
    owner: User
    admin: User
    api_secret: str
    api_key_id: int
    job_id: int  #: a background panel import of the study, not yet run
    draft_id: int  #: the owner's study draft in the builder (the same survey file)

    def url_values(self) -> dict[str, Any]:
        """A real value for every URL argument a route may take."""
        return {
            "study_id": self.study.id,
            "participation_id": self.members[0].id,
            "member_id": self.members[0].id,
            "number": self.round.number,
            "item_id": self.item.id,
            "item_key": self.item.key,
            "suggestion_id": self.suggestion.id,
            "key_id": self.api_key_id,
            "user_id": self.owner.id,
            "token": self.tokens[1],
            "filename": "css/app.css",
            "key": self.item.key,
            "category_key": self.item.category.key if self.item.category else "supply",
            "fmt": "html",  # the PDF is the same report through a slow renderer
            "job_id": self.job_id,
            "draft_id": self.draft_id,
            "section": "items",
            "entry": "E01",
            "kind": "invitation",  # an email the study may word itself
            "language": "fa",
        }


def build_world(session: Session, study: Study, owner: User) -> SecurityWorld:
    """A panel of three (the first has consented), round 1 open, a suggestion, an admin and an
    API key of the study's owner."""
    added = [
        panel.add_expert(
            session, study, name=n, email=e, group=grp, language=lang, actor=owner, now=NOW
        )
        for n, e, grp, lang in PANEL
    ]
    members = [m.participation for m in added]
    panel.record_consent(session, members[0], language="en", now=NOW)
    round_ = rounds.create_round(session, study, actor=owner, now=NOW)
    rounds.open_round(session, round_, actor=owner, now=NOW)
    suggestion = Suggestion(
        study_id=study.id,
        round_id=round_.id,
        text="Rainwater harvesting is mandated",
        language="en",
    )
    session.add(suggestion)
    key = api_keys.create_key(session, owner, name="crawler", study_ids=None, now=NOW)
    item = session.scalars(select(Item).where(Item.study_id == study.id, Item.key == "E01")).one()
    # a large panel import waiting for a worker (its page shows progress); it never runs here
    job = panel.request_import(
        session, study, b"name,email\nNot Run,not-run@example.org\n", actor=owner, now=NOW
    )
    draft = builder.draft_from_file(
        session, owner, EXAMPLE_SURVEY.read_bytes(), "example.toml", NOW
    )
    session.commit()
    admin = make_user(session, ADMIN_EMAIL, role=Role.ADMIN)
    return SecurityWorld(
        study=study,
        round=round_,
        item=item,
        members=members,
        tokens=[m.token for m in added],
        suggestion=suggestion,
        owner=owner,
        admin=admin,
        api_secret=key.secret,
        api_key_id=key.key.id,
        job_id=job.id,
        draft_id=draft.id,
    )


def routes(app: Flask) -> list[Rule]:
    """Every URL rule of the app, in a stable order."""
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def is_api(rule: Rule) -> bool:
    """Whether a rule belongs to the JSON API (authenticated by headers, not cookies)."""
    return rule.rule.startswith("/api/")


def fill(app: Flask, rule: Rule, values: dict[str, Any]) -> str:
    """The rule's URL with the world's values; fails on an argument nobody classified."""
    unknown = set(rule.arguments) - set(values)
    assert not unknown, f"{rule.endpoint}: add a value for {sorted(unknown)} to ARGUMENTS"
    with app.test_request_context():
        return app.url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})


def methods(rule: Rule) -> list[str]:
    """The rule's methods that a client sends (HEAD and OPTIONS follow GET)."""
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def signed_in(app: Flask, email: str) -> FlaskClient:
    """A browser logged in as a facilitator or admin."""
    client = app.test_client()
    response = login(client, email)
    assert response.status_code == 303, f"login as {email} failed: {response.status_code}"
    return client


def expert_browser(app: Flask, token: str) -> FlaskClient:
    """A browser that entered through a private link."""
    client = app.test_client()
    assert enter_link(client, token).status_code == 303
    return client


def csrf_of(client: FlaskClient, url: str) -> str:
    """A CSRF token of this browser's session, from a page that has a form."""
    return csrf_from(client.get(url).get_data(as_text=True))


def item_url(key: str) -> str:
    """The page of one item of the open round (GET shows it, POST saves it)."""
    return f"/e/round/items/{key}"


def field_of(item: Item, question_key: str) -> str:
    """The form field of a single-valued question of an item (`q<question id>`)."""
    return f"q{next(q.id for q in item.questions if q.key == question_key)}"


def page_token(client: FlaskClient, item_key: str) -> str:
    """The CSRF token on an item's page (every item page has its form)."""
    return csrf_of(client, item_url(item_key))


def autosave(
    client: FlaskClient,
    item_key: str,
    fields: dict[str, str],
    token: str,
    key: str | None = None,
) -> TestResponse:
    """Save an item the way the page's script does: JSON, CSRF header, Idempotency-Key."""
    headers = {"Accept": "application/json", "X-CSRFToken": token}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(item_url(item_key), data=fields, headers=headers)


def digest(session: Session, *, ignore: frozenset[tuple[str, str]] = frozenset()) -> str:
    """A sha256 over every row of every table (minus ignored columns): equal means unchanged."""
    session.expire_all()
    hasher = hashlib.sha256()
    for table in Base.metadata.sorted_tables:
        names = [c.name for c in table.columns if (table.name, c.name) not in ignore]
        columns = ", ".join(f'"{n}"' for n in names)
        rows = session.execute(text(f'select {columns} from "{table.name}"')).all()  # noqa: S608
        hasher.update(table.name.encode())
        for row in sorted(tuple(str(v) for v in r) for r in rows):
            hasher.update(repr(row).encode())
    session.rollback()
    return hasher.hexdigest()


def api_headers(world: SecurityWorld) -> dict[str, dict[str, str]]:
    """The API's principals: the owner's key, an expert's link token, nobody."""
    return {
        "key": {"Authorization": f"Bearer {world.api_secret}"},
        "expert": {"X-Expert-Token": world.tokens[0]},
        "anonymous": {},
    }


def session_cookie(client: FlaskClient) -> str:
    """The value of the browser's session cookie."""
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None, "the browser has no session cookie"
    return cookie.value


def browser_with_cookie(app: Flask, value: str) -> FlaskClient:
    """A new browser holding exactly this session cookie (a stolen or replayed cookie)."""
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, value)
    return client


__all__ = [
    "ADMIN_EMAIL",
    "ARGUMENTS",
    "BOOKKEEPING",
    "NOW",
    "SESSION_COOKIE",
    "SecurityWorld",
    "api_headers",
    "autosave",
    "browser_with_cookie",
    "build_world",
    "csrf_of",
    "digest",
    "expert_browser",
    "field_of",
    "fill",
    "is_api",
    "item_url",
    "methods",
    "page_token",
    "routes",
    "session_cookie",
    "signed_in",
]
