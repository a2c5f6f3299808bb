"""No input gets a 5xx, and nothing is half-saved (issue 12, point 5).

Every write operation of the OpenAPI document and every web form receives each class of
hostile input, on SQLite and on PostgreSQL:

- text with NUL, with other control characters, with an unpaired surrogate (JSON), and text
  far longer than any field allows;
- numbers out of range: thousands of digits, 1e400, NaN and Infinity;
- dates out of range: year 1, year 9999 at -14:00, year 99999, the 30th of February;
- JSON nested 100,000 levels deep, or one level too deep for the platform's limit, a body of
  one integer with 5,000 digits, invalid UTF-8;
- files: a CSV field over the csv module's 131,072 characters, CSV and TOML files with NUL,
  TOML nested thousands of levels deep or holding a 5,000-digit integer, binary junk;
- a path argument or query parameter holding a control character.

Nothing is listed by hand: the API's operations come from its OpenAPI document and the web
forms from crawling every page as every kind of user (in three states of a study, so that
each form shows somewhere). A POST route no crawled page offers a form for fails the test
until it is given one below, so a new route is swept automatically or not at all.

Pass: no response is a 5xx; a refused request (4xx) leaves every table as it was; and no
stored text, anywhere, ever holds a control character.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from io import BytesIO
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app.models import OutgoingEmail, Role, Round, Study
from app.models.text import FORBIDDEN_CHARACTERS
from app.services import answers, api_keys, builder, panel, rounds, studies
from tests.api.conftest import definition_with_key
from tests.conftest import EXAMPLE_SURVEY, NOW, PASSWORD, make_user
from tests.reliability.world import BOOKKEEPING
from tests.rows import restore_rows, table_rows

# --- hostile values -------------------------------------------------------------------------

LONG = "x" * 300_000
#: text for any text field (the form layer sees them as typed)
TEXT = {
    "nul": "ab\x00cd",
    "controls": "ab\x1b[2J\x0b\x7f\x85cd",
    "long": LONG,
}
#: JSON string literals (raw JSON text): the same, plus an unpaired surrogate
JSON_TEXT = {
    "nul": '"ab\\u0000cd"',
    "controls": '"ab\\u001b[2J\\u000b\\u007fcd"',
    "surrogate": '"ab\\ud800cd"',
    "long": json.dumps(LONG),
}
#: number literals (raw JSON text or form values)
NUMBERS = {
    "digits-5000": "9" * 5000,
    "digits-400": "9" * 400,
    "1e400": "1e400",
    "NaN": "NaN",
    "-Infinity": "-Infinity",
    "1e30": "1" + "0" * 30,
}
#: date and time values, as the web's datetime-local inputs and the API's ISO strings
DATES = {
    "year-1": "0001-01-01T00:00",
    "year-9999": "9999-12-31T23:59",
    "year-99999": "99999-12-31T23:59",
    "feb-30": "2030-02-30T25:61",
}
ISO_DATES = {
    "year-1": '"0001-01-01T00:00:00+14:00"',
    "year-9999-west": '"9999-12-31T23:59:59-14:00"',
    "year-99999": '"99999-12-31T23:59:59Z"',
    "feb-30": '"2030-02-30T10:00:00Z"',
    "past": '"2001-01-01T00:00:00Z"',
}
#: whole JSON bodies
BODIES = {
    "deep-arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep-objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "integer-5000-digits": b"9" * 5000,
    "invalid-utf8": b'{"name": "\xff\xfe"}',
    "utf16": '{"name": "x"}'.encode("utf-16"),
    "nan": b"NaN",
    "empty-array": b"[]",
}
#: uploaded files (CSV panels, survey files, archives): every file field gets every one
FILES = {
    "csv-long-field": b'name,email\n"' + b"x" * 200_000 + b'",long@example.org\n',
    "csv-nul": b"name,email,group\nA\x00B,nul@example.org,G\x00\n",
    "csv-controls": b"name,email,group\nA\x1bB,esc@example.org,G\x0b\n",
    "json-deep": BODIES["deep-arrays"],
    "json-integer": b'{"format": ' + b"9" * 5000 + b"}",
    "toml-nul": b'[study]\nkey = "nul"\ntitle = { en = "x\\u0000y" }\n',
    "toml-deep": b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "toml-integer": b"a = " + b"9" * 5000 + b"\n",
    "binary": bytes(range(256)) * 4,
}
#: query strings added to an address (hostile parameters, and a header-splitting redirect)
QUERIES = {
    "query-nul": "next=%2F%00x",
    "query-crlf": "next=%2F%0D%0ASet-Cookie:%20x=1",
}


@dataclass
class Tally:
    """What the sweep sent and what came back."""

    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    half_saved: list[str] = field(default_factory=list)
    stored_controls: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every failure, one line each."""
        return [*self.server_errors, *self.half_saved, *self.stored_controls]


# --- the database: digest, forbidden text, restore ------------------------------------------


def _state(session: Session) -> tuple[dict[str, str], list[str]]:
    """A digest of each table, and the columns that hold a forbidden character anywhere."""
    rows = table_rows(session)
    digest = {
        name: json.dumps(
            sorted(
                json.dumps(
                    {k: v for k, v in r.items() if (name, k) not in BOOKKEEPING},
                    sort_keys=True,
                    default=str,
                )
                for r in table
            )
        )
        for name, table in rows.items()
    }
    bad = sorted(
        {
            f"{name}.{column}"
            for name, table in rows.items()
            for row in table
            for column, value in row.items()
            if FORBIDDEN_CHARACTERS.search(json.dumps(value, default=str, ensure_ascii=False))
        }
    )
    return digest, bad


class Checker:
    """Sends one request at a time and checks it against the database."""

    def __init__(self, session: Session, tally: Tally) -> None:
        self.session = session
        self.tally = tally
        self.saved: dict[str, list[dict[str, Any]]] = {}
        self.digest: dict[str, str] = {}

    def baseline(self, saved: dict[str, list[dict[str, Any]]]) -> None:
        """Start from these rows (restoring them if the database differs)."""
        self.saved = saved
        restore_rows(self.session, saved)
        self.digest, bad = _state(self.session)
        assert not bad, f"the world itself stores control characters: {bad}"

    def send(
        self, what: str, request: Callable[[], Any], may_change: frozenset[str] = frozenset()
    ) -> None:
        """Send a request, check its status, the database after it, and restore the world.

        A refused request (4xx) may change only the tables in `may_change`."""
        for name in list(vars(g)):
            delattr(g, name)
        response = request()
        response.get_data()
        response.close()
        self.tally.requests += 1
        status = response.status_code
        if status >= 500:
            self.tally.server_errors.append(f"{what}: {status}")
        digest, bad = _state(self.session)
        if bad:
            self.tally.stored_controls.append(f"{what}: stored in {bad}")
        if digest != self.digest:
            changed = {name for name in digest if digest[name] != self.digest.get(name)}
            if status >= 400 and changed - may_change:
                self.tally.half_saved.append(
                    f"{what}: refused with {status}, yet changed {sorted(changed)}"
                )
            restore_rows(self.session, self.saved)


# --- the study world in three states ----------------------------------------------------------


@dataclass
class World:
    """A confidential study (so the identified export shows too), its people and credentials."""

    study_id: int
    owner_email: str
    admin_email: str
    member_ids: list[int]
    tokens: list[str]
    api_secret: str
    item_id: int
    suggestion_id: int
    job_id: int  #: a large panel import, not yet run
    draft_id: int  #: the owner's study draft in the builder


def _future() -> datetime:
    return (datetime.now(UTC) + timedelta(days=30)).replace(second=0, microsecond=0)


def _world(session: Session) -> World:
    """Round 1 open, a panel of four who consented, answers, a suggestion, a retired item."""
    owner = make_user(session, "owner@example.org")
    admin = make_user(session, "admin@example.org", role=Role.ADMIN)
    teammate = make_user(session, "mate@example.org")
    study = studies.import_study(session, definition_with_key("sweep"), actor=owner, now=NOW)
    study.anonymity = "confidential"
    studies.add_member(session, study, teammate, actor=owner, now=NOW)
    added = [
        panel.add_expert(
            session,
            study,
            name=f"Expert {n}",
            email=f"e{n}@example.org",
            group="G",
            language="en",
            actor=owner,
            now=NOW,
        )
        for n in range(4)
    ]
    for member in added:
        panel.record_consent(session, member.participation, language="en", now=NOW)
    items = {i.key: i for i in study.items}
    rounds.retire_item(session, items["C01"], reason="not asked", actor=owner, now=NOW)
    round_ = rounds.create_round(session, study, actor=owner, now=NOW)
    rounds.open_round(session, round_, actor=owner, now=NOW, deadline=_future())
    for member in added[:3]:
        answers.save_item(
            session,
            member.participation,
            round_,
            items["E01"],
            {"probability": {"value": 40}, "reason": {"text": "because"}},
            idempotency_key=None,
            now=NOW,
        )
    # a withdrawn member, so that the panel page offers to reinstate someone
    panel.set_withdrawn(session, added[3].participation, True, actor=owner, now=NOW)
    # an invitation that failed, so that the mail page offers to send it again
    session.add(
        OutgoingEmail(
            study_id=study.id,
            participation_id=added[0].participation.id,
            kind="invitation",
            status="failed",
            attempts=1,
            reason="the mail server answered 550",
        )
    )
    suggestion = answers.add_suggestion(
        session, added[0].participation, round_, "Desalination at scale", now=NOW
    )
    key = api_keys.create_key(session, owner, name="sweep", study_ids=None, now=NOW)
    job = panel.request_import(
        session, study, b"name,email\nNot Run,not-run@example.org\n", actor=owner, now=NOW
    )
    draft = builder.draft_from_file(
        session, owner, EXAMPLE_SURVEY.read_bytes(), "example.toml", NOW
    )
    session.commit()
    return World(
        study_id=study.id,
        owner_email=owner.email,
        admin_email=admin.email,
        member_ids=[m.participation.id for m in added],
        tokens=[m.token for m in added],
        api_secret=key.secret,
        item_id=items["E01"].id,
        suggestion_id=suggestion.id,
        job_id=job.id,
        draft_id=draft.id,
    )


def _close_first_round(session: Session, world: World) -> None:
    """State 2: round 1 closed, no round after it (new round, finish, results, exports)."""
    round_ = session.scalars(select(Round).where(Round.number == 1)).one()
    rounds.close_round(session, round_, actor=None, now=NOW)
    session.commit()


def _draft_second_round(session: Session, world: World) -> None:
    """State 3: round 1 closed, round 2 a draft (open it, with a deadline)."""
    rounds.create_round(session, session.get_one(Study, world.study_id), actor=None, now=NOW)
    session.commit()


# --- web forms ----------------------------------------------------------------------------------


@dataclass
class FormField:
    """A control of a form: its name, kind (text, number, date, file, choice) and value."""

    name: str
    kind: str
    value: str = ""


@dataclass
class Form:
    """A form found on a page."""

    principal: str
    page: str
    action: str
    fields: list[FormField] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def data(self, **override: Any) -> dict[str, Any]:
        """The form as a browser submits it, with some values replaced."""
        values: dict[str, Any] = {}
        for control in self.fields:
            if control.kind == "file":
                values[control.name] = (BytesIO(b"name,email\nA,a@example.org\n"), "f.csv")
            elif control.name not in values:
                values[control.name] = control.value
        values.update(override)
        return values


class FormParser(HTMLParser):
    """Collects the POST forms of a page with their controls, valued as a browser submits
    them when the user fills in nothing: checkboxes ticked (so the valid case goes deepest),
    the checked radio button or the first, the selected option or the first."""

    def __init__(self, principal: str, page: str) -> None:
        super().__init__()
        self.principal = principal
        self.page = page
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.textarea: FormField | None = None
        self.select: FormField | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open a form, or add a control (or an option) to the open one."""
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self.current = Form(
                    self.principal, self.page, urljoin(self.page, a.get("action") or self.page)
                )
            return
        if tag == "option" and self.select is not None:
            if not self.select.value or "selected" in a:
                self.select.value = a.get("value", "")
            return
        if self.current is None or not a.get("name"):
            return
        name, kind = a["name"], a.get("type", "text").lower()
        if tag == "input" and kind in ("submit", "button", "image", "reset"):
            return
        if tag == "input" and kind == "radio":
            existing = self._find(name)
            if existing is None:
                self.current.fields.append(FormField(name, "choice", a.get("value", "")))
            elif "checked" in a:
                existing.value = a.get("value", "")
        elif tag == "input":
            mapped = {
                "file": "file",
                "number": "number",
                "datetime-local": "date",
                "date": "date",
                "checkbox": "choice",
            }.get(kind, "number" if a.get("inputmode") == "decimal" else "text")
            value = a.get("value") or ("on" if kind == "checkbox" else "")
            self._add(FormField(name, mapped, value))
        elif tag == "textarea":
            self.textarea = self._add(FormField(name, "text"))
        elif tag == "select":
            self.select = self._add(FormField(name, "choice"))
        elif tag == "button" and a.get("value"):
            self._add(FormField(name, "choice", a["value"]))

    def handle_data(self, data: str) -> None:
        """Text inside a textarea is its value."""
        if self.textarea is not None:
            self.textarea.value += data

    def handle_endtag(self, tag: str) -> None:
        """Close a form, a textarea or a select."""
        if tag == "form" and self.current is not None:
            self.forms.append(self.current)
            self.current = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None

    def _find(self, name: str) -> FormField | None:
        assert self.current is not None
        return next((f for f in self.current.fields if f.name == name), None)

    def _add(self, control: FormField) -> FormField:
        """Add a control; a second control of the same name keeps the first (one value)."""
        assert self.current is not None
        existing = self._find(control.name)
        if existing is not None:
            return existing
        self.current.fields.append(control)
        return control


def _forms_of(principal: str, page: str, html: str) -> list[Form]:
    """The POST forms of a page."""
    parser = FormParser(principal, page)
    parser.feed(html)
    return parser.forms


#: forms that save part of what they were sent by design, and the tables they may change when
#: they answer 4xx: the expert's whole-round form saves every valid item and lists the invalid
#: ones (each item is saved whole or not at all: tests/reliability/test_save_path.py)
#: a page of the expert's round saves each question as an answer or, when it is incomplete,
#: a draft, and reports only a payload of the wrong shape: what it saved stays
_ROUND_TABLES = frozenset({"answers", "answer_drafts", "save_requests", "round_progress"})
PARTIAL = {"expert.save_page": _ROUND_TABLES, "expert.save_category": _ROUND_TABLES}
#: POST routes whose form shows only in states the sweep does not build (a study paged by
#: category, a round after one the expert answered): (principal, page whose fields they send,
#: action, extra fields)
SYNTHETIC = {
    "expert.save_category": ("expert", "/e/round/items/E01", "/e/round/categories/supply", {}),
    "expert.keep": (
        "expert",
        "/e/round/items/E01",
        "/e/round/keep",
        {"scope": "all", "key": "", "next": "/e/round"},
    ),
}
#: pages reached with a query the crawl adds (a person found by email)
EXTRA_PAGES = {"admin": ["/f/admin/people?email=e0@example.org"]}
#: the values a valid submission needs where the page leaves a field empty
VALID = {
    "name": "Valid Name",
    "email": "valid@example.org",
    "key": "N01",
    "reason": "a reason",
    "current_password": PASSWORD,
    "new_password": "another long passphrase",
    "confirm": "another long passphrase",
    "password": "another long passphrase",
}


def _client(app: Flask, cookie: str | None) -> FlaskClient:
    """A browser holding exactly this session cookie (restored for every request)."""
    client = app.test_client()
    if cookie:
        client.set_cookie("delphi_session", cookie)
    return client


def _sign_in(app: Flask, world: World, principal: str) -> str | None:
    """The session cookie of a principal (None: anonymous)."""
    client = app.test_client()
    if principal in ("owner", "admin"):
        email = world.owner_email if principal == "owner" else world.admin_email
        response = client.post("/account/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 303, principal
    elif principal == "expert":
        assert client.post("/t", data={"token": world.tokens[1]}).status_code == 303
    else:
        return None
    cookie = client.get_cookie("delphi_session")
    assert cookie is not None
    return cookie.value


def _get_urls(app: Flask, world: World) -> list[str]:
    """Every GET page of the web, filled with the world's ids."""
    values = {
        "study_id": world.study_id,
        "participation_id": world.member_ids[0],
        "number": 1,
        "item_id": world.item_id,
        "suggestion_id": world.suggestion_id,
        "key": "E01",
        "category_key": "supply",
        "fmt": "html",
        "token": world.tokens[2],
        "job_id": world.job_id,
        "draft_id": world.draft_id,
        "section": "items",
        "entry": "E01",
        "language": "fa",
    }
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.rule.startswith("/api/") or rule.endpoint == "static":
                continue
            if "GET" not in (rule.methods or set()):
                continue
            unknown = set(rule.arguments) - set(values)
            assert not unknown, f"{rule.endpoint}: give the URL arguments {unknown} values here"
            urls.append(app.url_for(rule.endpoint, **{k: values[k] for k in rule.arguments}))
    return sorted(urls)


def _endpoint(app: Flask, url: str) -> str:
    """The endpoint a POST to this address reaches."""
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(urlsplit(url).path, method="POST")
    except HTTPException:
        return ""
    return str(endpoint)


def _crawl(app: Flask, world: World, cookies: dict[str, str | None]) -> dict[str, Form]:
    """One form per POST endpoint, found by loading every page as every principal."""
    found: dict[str, Form] = {}
    for principal, cookie in cookies.items():
        for url in [*_get_urls(app, world), *EXTRA_PAGES.get(principal, [])]:
            for name in list(vars(g)):
                delattr(g, name)
            response = _client(app, cookie).get(url)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            for form in _forms_of(principal, url, response.get_data(as_text=True)):
                endpoint = _endpoint(app, form.action)
                if endpoint and endpoint not in found:
                    found[endpoint] = form
    for endpoint, (principal, page, action, extra) in SYNTHETIC.items():
        if endpoint in found:
            continue
        response = _client(app, cookies[principal]).get(page)
        base = next(
            (
                f
                for f in _forms_of(principal, page, response.get_data(as_text=True))
                if urlsplit(f.action).path == page
            ),
            None,
        )
        if base is not None:
            fields = [f for f in base.fields if f.name.startswith("q") or f.name == "csrf_token"]
            found[endpoint] = Form(
                principal,
                page,
                action,
                [*fields, *(FormField(name, "text", value) for name, value in extra.items())],
            )
    return found


def _variants(form: Form) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(what, data, query) for every hostile value in every control of a form, the other
    controls filled as a valid submission would be (so the hostile value goes deepest)."""
    valid = {c.name: VALID[c.name] for c in form.fields if c.name in VALID and not c.value}
    for control in form.fields:
        if control.name == "csrf_token":
            continue
        classes: dict[str, Any] = {}
        if control.kind == "file":
            classes = {k: (BytesIO(v), f"{k}.dat") for k, v in FILES.items()}
        else:
            classes = dict(TEXT)
            if control.kind == "number":
                classes.update(NUMBERS)
            if control.kind == "date":
                classes.update(DATES)
        for name, value in classes.items():
            yield f"{control.name}={name}", form.data(**{**valid, control.name: value}), ""
    for name, query in QUERIES.items():
        yield name, form.data(**valid), query


# --- the API ------------------------------------------------------------------------------------

#: a valid body per JSON operation (every leaf of it then gets every hostile value)
SAVE = "PUT /api/v1/expert/round/items/{item_key}"
API_BODIES: dict[str, Any] = {
    "POST /api/v1/studies/{study_id}/panel": {
        "name": "Valid Name",
        "email": "valid@example.org",
        "group": "G",
        "language": "en",
    },
    SAVE: {"answers": {"probability": {"value": 30}, "reason": {"text": "ok"}}},
    "POST /api/v1/expert/consent": {"agree": True, "language": "en"},
    "POST /api/v1/studies/{study_id}/rounds": {
        "message": {"en": "hello"},
        "deadline": "2099-01-01T00:00:00Z",
    },
    "POST /api/v1/studies/{study_id}/rounds/{number}/open": {"deadline": "2099-01-01T00:00:00Z"},
    "POST /api/v1/studies/{study_id}/resolutions": {
        "kind": "outcome",
        "item": "E01",
        "occurred": True,
        "resolved_on": "2025-01-01",
        "source": "a public record",
    },
}


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every string, number and boolean inside a JSON value."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, (*path, index))
    else:
        yield path, value


def _with_raw(body: Any, path: tuple[Any, ...], raw: str) -> bytes:
    """The body as JSON text, with the value at `path` replaced by a raw JSON literal."""
    marker = "\u2063HOSTILE\u2063"
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    return json.dumps(copy).replace(json.dumps(marker), raw).encode()


def _json_variants(body: Any) -> Iterator[tuple[str, bytes]]:
    """Hostile versions of a valid JSON body: whole bodies, then every leaf."""
    yield from BODIES.items()
    for path, value in _leaves(body):
        where = ".".join(str(p) for p in path)
        classes = dict(JSON_TEXT)
        classes.update(NUMBERS)
        if isinstance(value, str) and "T" in value and value[:4].isdigit():
            classes.update(ISO_DATES)
        classes["too-deep"] = "[" * 40 + "1" + "]" * 40
        for name, raw in classes.items():
            yield f"{where}={name}", _with_raw(body, path, raw)


def _api_operations(app: Flask) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of every write operation in the OpenAPI document."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return [
        (method.upper(), path, operation)
        for path, item in sorted(spec["paths"].items())
        for method, operation in sorted(item.items())
        if method in ("post", "put", "patch", "delete")
    ]


def _api_requests(
    app: Flask, world: World
) -> Iterator[tuple[str, str, str, bytes | dict[str, Any] | None, dict[str, str]]]:
    """(what, method, url, body, headers) of every hostile request to every write operation."""
    values = {
        "study_id": str(world.study_id),
        "member_id": str(world.member_ids[0]),
        "number": "1",
        "item_key": "E01",
    }
    hostile_paths = {"item_key": ["E01%00", "E%1B01"], "number": ["9" * 40]}
    base_headers = {
        "Authorization": f"Bearer {world.api_secret}",
        "X-Expert-Token": world.tokens[1],
    }
    for method, template, operation in _api_operations(app):
        name = f"{method} {template}"
        url = template
        for key, value in values.items():
            url = url.replace("{" + key + "}", value)
        assert "{" not in url, f"{template}: give its path arguments values here"
        content = (operation.get("requestBody") or {}).get("content", {})
        if "application/json" in content:
            assert name in API_BODIES, f"{name}: give it a valid JSON body in API_BODIES"
            body = API_BODIES[name]
            for what, raw in _json_variants(body):
                headers = {**base_headers, "Content-Type": "application/json"}
                yield f"{name} {what}", method, url, raw, headers
        for mimetype in ("text/csv", "application/toml"):
            if mimetype in content:
                for what, data in FILES.items():
                    headers = {**base_headers, "Content-Type": mimetype}
                    yield f"{name} {mimetype} {what}", method, url, data, headers
        if "multipart/form-data" in content:
            for what, data in FILES.items():
                yield (
                    f"{name} multipart {what}",
                    method,
                    url,
                    {"file": (BytesIO(data), "f")},
                    base_headers,
                )
        for query_name, query in QUERIES.items():
            yield f"{name} {query_name}", method, f"{url}?{query}", None, base_headers
        for argument, hostile in hostile_paths.items():
            if "{" + argument + "}" in template:
                for value in hostile:
                    bad = template
                    for key, good in values.items():
                        bad = bad.replace("{" + key + "}", value if key == argument else good)
                    yield f"{name} path {argument}={value[:12]}", method, bad, None, base_headers
        if name == SAVE:
            for what, key in (
                ("idempotency-nul", "key\x00key\x00"),
                ("idempotency-esc", "key\x1bkey\x1b"),
            ):
                headers = {**base_headers, "Idempotency-Key": key}
                yield f"{name} {what}", method, url, json.dumps(API_BODIES[name]).encode(), headers


# --- the test -----------------------------------------------------------------------------------


@pytest.fixture
def sweep_app(app: Flask) -> Flask:
    """The app with CSRF checks off: a refusal here must come from the input, not the token
    (CSRF has its own tests)."""
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.mark.slow
def test_no_hostile_input_gets_a_server_error_or_half_saves(
    sweep_app: Flask, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    app = sweep_app
    world = _world(session)
    tally = Tally()
    checker = Checker(session, tally)
    states: list[tuple[str, dict[str, list[dict[str, Any]]]]] = [
        ("round open", table_rows(session))
    ]
    _close_first_round(session, world)
    states.append(("round closed", table_rows(session)))
    _draft_second_round(session, world)
    states.append(("next round drafted", table_rows(session)))

    # the API, in the first state (an open round for the expert's saves)
    checker.baseline(states[0][1])
    api_before = tally.requests
    for what, method, url, body, headers in _api_requests(app, world):

        def call(
            method: str = method,
            url: str = url,
            body: Any = body,
            headers: dict[str, str] = headers,
        ) -> Any:
            client = app.test_client()
            if isinstance(body, dict):
                return client.open(
                    url,
                    method=method,
                    data=body,
                    headers=headers,
                    content_type="multipart/form-data",
                )
            return client.open(url, method=method, data=body, headers=headers)

        checker.send(f"API {method} {what}", call)
    api_requests = tally.requests - api_before

    # the web forms, in each state
    swept: set[str] = set()
    post_endpoints = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or set()) and not rule.rule.startswith("/api/")
    }
    for state, rows in states:
        checker.baseline(rows)
        cookies = {p: _sign_in(app, world, p) for p in ("anonymous", "owner", "admin", "expert")}
        checker.baseline(table_rows(session))  # with the sessions signing in opened
        forms = _crawl(app, world, cookies)
        # reading a report of a closed round builds it and keeps it with its analyses (caches
        # per snapshot); nothing else
        crawled, _bad = _state(session)
        written = {name for name in crawled if crawled[name] != checker.digest.get(name)}
        caches = {"jobs", "report_files", "stored_analyses"}
        assert written <= caches, f"{state}: the crawl's GETs wrote {written}"
        checker.baseline(table_rows(session))
        for endpoint, form in sorted(forms.items()):
            if endpoint in swept:
                continue
            swept.add(endpoint)
            for what, data, query in _variants(form):
                url = form.action + (("&" if "?" in form.action else "?") + query if query else "")

                def post(
                    form: Form = form,
                    data: dict[str, Any] = data,
                    url: str = url,
                    cookie: str | None = cookies[form.principal],
                ) -> Any:
                    return _client(app, cookie).post(
                        url, data=data, headers=form.headers, content_type="multipart/form-data"
                    )

                checker.send(
                    f"{state}: {form.principal} POST {endpoint} {what}",
                    post,
                    PARTIAL.get(endpoint, frozenset()),
                )
    web_requests = tally.requests - api_requests
    missing = sorted(post_endpoints - swept)
    with capsys.disabled():
        print(
            f"\nhostile sweep: {tally.requests} requests ({api_requests} API, {web_requests} "
            f"web forms on {len(swept)} endpoints), {len(tally.server_errors)} responses >= 500, "
            f"{len(tally.half_saved)} half-saved, {len(tally.stored_controls)} storing controls"
        )
    assert missing == [], f"POST routes with no form found on any page: {missing}"
    assert tally.problems() == [], "\n".join(tally.problems()[:80])
    # every POST route was swept (above); these only guard against a crawl that found little
    assert api_requests > 200 and web_requests > 400 and len(swept) >= 45
