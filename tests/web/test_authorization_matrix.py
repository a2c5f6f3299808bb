"""R4, object-level authorization: every route (web and API) x every method x every principal,
with real ids of study 1, ids of study 2's objects, study 1 mixed with study 2's objects, and
junk ids.

The table below says who may use each endpoint. The test fails on any endpoint missing from it,
so a new route cannot ship unclassified. For every request the table forbids, it checks the
refusal (401, 403, 404, or a redirect to the login / private-link page) and that no table
changed; requests the table allows are sent too when they only read, to show the table is not
stricter than the code.

The matrix runs with CSRF checks off (CSRF has its own tests), so that a refusal here can only
come from authorization.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from app.definitions import parse_definition
from app.models import ApiKey, Base, Item, Participation, Role, Study, Suggestion, User
from app.services import answers, api_keys, builder, panel, report_files, rounds, studies
from tests.conftest import EXAMPLE_SURVEY, NOW, PASSWORD, make_user

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

# --- who may use what -------------------------------------------------------------------------

PUBLIC = "public"  #: anyone, signed in or not
FACILITATOR = "facilitator"  #: any signed-in facilitator or admin (no study in the address)
ADMIN = "admin"  #: administrators only
KEY_OWNER = "key owner"  #: the facilitator who made the API key in the address
DRAFT_OWNER = "draft owner"  #: the facilitator who started the study draft in the address
STUDY = "study"  #: members of the study in the address, and admins
STUDY_OWNER = "study owner"  #: owners of the study in the address, and admins
STUDY_ADMIN = "study admin"  #: admins only, on any study (identified exports)
EXPERT = "expert"  #: an expert's browser session; acts on their own participation only
API_PUBLIC = "api public"
API_FACILITATOR = "api facilitator"  #: any facilitator's API key
API_STUDY = "api study"  #: an API key of a member of the study in the address, or an admin's
API_STUDY_OWNER = "api study owner"  #: an API key of an owner of the study, or an admin's
API_EXPERT = "api expert"  #: an expert's link token; acts on their own participation only

ACCESS: dict[str, str] = {
    # pages for anyone
    "static": PUBLIC,
    "public.index": PUBLIC,
    "public.landing": PUBLIC,
    "public.enter": PUBLIC,
    "public.link_needed": PUBLIC,
    "public.choose_language": PUBLIC,
    "public.favicon": PUBLIC,
    "account.login": PUBLIC,
    "account.login_post": PUBLIC,
    "account.logout": PUBLIC,
    # the facilitator's own account
    "account.password": FACILITATOR,
    "account.language": FACILITATOR,
    "account.api_keys_list": FACILITATOR,
    "account.api_keys_create": FACILITATOR,
    "account.api_keys_revoke": KEY_OWNER,
    # facilitator pages outside a study
    "facilitator.studies": FACILITATOR,
    "facilitator.new_study": FACILITATOR,
    "results.import_archive": FACILITATOR,
    "facilitator.accounts": ADMIN,
    # the study builder: drafts are private to the facilitator who started them
    "facilitator.builder_drafts": FACILITATOR,
    "facilitator.builder_new": FACILITATOR,
    "facilitator.builder_import": FACILITATOR,
    "facilitator.builder_draft": DRAFT_OWNER,
    "facilitator.builder_settings": DRAFT_OWNER,
    "facilitator.builder_section": DRAFT_OWNER,
    "facilitator.builder_entry": DRAFT_OWNER,
    "facilitator.builder_delete_entry": DRAFT_OWNER,
    "facilitator.builder_translations": DRAFT_OWNER,
    "facilitator.builder_rules": DRAFT_OWNER,
    "facilitator.builder_preview": DRAFT_OWNER,
    "facilitator.builder_export": DRAFT_OWNER,
    "facilitator.builder_launch": DRAFT_OWNER,
    "facilitator.builder_delete": DRAFT_OWNER,
    "facilitator.people": ADMIN,
    "facilitator.export_person": ADMIN,
    "facilitator.erase_person": ADMIN,
    # a study's pages
    "facilitator.study": STUDY,
    "facilitator.study_survey_file": STUDY,
    "facilitator.audit_log": STUDY,
    "facilitator.items": STUDY,
    "facilitator.reinstate_item": STUDY,
    "facilitator.retire_item": STUDY,
    "facilitator.reword_item": STUDY,
    "facilitator.study_record_page": STUDY,
    "facilitator.resolutions_page": STUDY,
    "facilitator.weights_page": STUDY,
    "facilitator.merge_items": STUDY,
    "facilitator.mail": STUDY,
    "facilitator.look": STUDY,
    "facilitator.save_mail_template": STUDY,
    "facilitator.save_colours": STUDY,
    "facilitator.save_logo": STUDY,
    "facilitator.send_invitations": STUDY,
    "facilitator.send_reminders": STUDY,
    "facilitator.send_again": STUDY,
    "facilitator.schedule_page": STUDY,
    "facilitator.panel": STUDY,
    "facilitator.invite_one": STUDY,
    "facilitator.reinstate": STUDY,
    "facilitator.reissue_link": STUDY,
    "facilitator.revoke_links": STUDY,
    "facilitator.withdraw": STUDY,
    "facilitator.add_expert": STUDY,
    "facilitator.import_panel": STUDY,
    "facilitator.rounds": STUDY,
    "facilitator.close_round": STUDY,
    "facilitator.finish_study": STUDY_OWNER,
    "facilitator.raise_round_limit": STUDY_OWNER,
    "facilitator.set_deadline": STUDY,
    "facilitator.open_round": STUDY,
    "facilitator.create_round": STUDY,
    "facilitator.accept_suggestion": STUDY,
    "facilitator.decline_suggestion": STUDY,
    "facilitator.team": STUDY,
    "facilitator.add_member": STUDY_OWNER,
    "facilitator.set_member_role": STUDY_OWNER,
    "facilitator.remove_member": STUDY_OWNER,
    "results.overview": STUDY,
    "results.export": STUDY,
    "results.item": STUDY,
    "results.report": STUDY,
    "results.scenarios": STUDY,
    "results.structural": STUDY,
    "results.export_identified": STUDY_ADMIN,
    "builds.job": STUDY,
    "builds.job_json": STUDY,
    "builds.build": STUDY,
    # the expert's pages
    "expert.home": EXPERT,
    "expert.consent": EXPERT,
    "expert.feedback": EXPERT,
    "expert.language": EXPERT,
    "expert.logout": EXPERT,
    "expert.report": EXPERT,
    "expert.round_overview": EXPERT,
    "expert.round_item": EXPERT,
    "expert.round_category": EXPERT,
    "expert.save_page": EXPERT,
    "expert.save_category": EXPERT,
    "expert.keep": EXPERT,
    "expert.round_review": EXPERT,
    "expert.submit": EXPERT,
    "expert.fresh_token": EXPERT,
    "expert.suggest": EXPERT,
    "expert.my_data": EXPERT,
    "expert.look_css": EXPERT,
    "expert.logo": EXPERT,
    "expert.export_my_data": EXPERT,
    "expert.erase_my_data": EXPERT,
    # the JSON API
    "api-docs.openapi_json": API_PUBLIC,
    "api.list_studies": API_FACILITATOR,
    "api.create_study": API_FACILITATOR,
    "api.get_study": API_STUDY,
    "api.list_panel": API_STUDY,
    "api.add_member": API_STUDY,
    "api.import_panel": API_STUDY,
    "api.get_member": API_STUDY,
    "api.revoke_links": API_STUDY,
    "api.reissue_link": API_STUDY,
    "api.withdraw_member": API_STUDY,
    "api.reinstate_member": API_STUDY,
    "api.list_rounds": API_STUDY,
    "api.get_round": API_STUDY,
    "api.create_round": API_STUDY,
    "api.open_round": API_STUDY,
    "api.close_round": API_STUDY,
    "api.finish_study": API_STUDY_OWNER,
    "api.round_results": API_STUDY,
    "api.round_consensus": API_STUDY,
    "api.round_stability": API_STUDY,
    "api.resolutions": API_STUDY,
    "api.record_resolution": API_STUDY,
    "api.calibration": API_STUDY,
    "api.round_weighted": API_STUDY,
    "api.round_scores": API_STUDY,
    "api.round_trend_scores": API_STUDY,
    "api.round_pooled": API_STUDY,
    "api.scenarios": API_STUDY,
    "api.trend_impacts": API_STUDY,
    "api.export_csv": API_STUDY,
    "api.export_json": API_STUDY,
    "api.export_archive": API_STUDY,
    "api.report_file": API_STUDY,
    "api.export_tables": API_STUDY,
    "api.study_job": API_STUDY,
    "api.expert_home": API_EXPERT,
    "api.expert_consent": API_EXPERT,
    "api.expert_round": API_EXPERT,
    "api.save_item": API_EXPERT,
    "api.submit_round": API_EXPERT,
}

#: allowed reads that may answer 404 or 409 in this world, and why
ALLOWED_NOT_FOUND = {
    "public.landing": "the landing page looks the same for good and bad links",
    "results.item": "an item key of the study that the closed round may not show",
    "expert.logo": "the study has no logo of its own",
}

#: URL arguments that are not ids of a study's objects: the same value in every variant
PLAIN_ARGUMENTS = {
    "filename": "css/app.css",
    "fmt": "html",
    "token": "x" * 43,
    # a builder's section, entry and language: the same in every draft made from the example
    "section": "items",
    "entry": "E01",
    "kind": "invitation",
    "language": "fa",
}

PRINCIPALS = (
    "anonymous",
    "expert_a",
    "expert_b",
    "expert_2",
    "fac_1",
    "member_1",
    "fac_2",
    "admin",
)
#: the study each principal belongs to (admins: every study)
STUDIES_OF = {
    "anonymous": set(),
    "expert_a": {1},
    "expert_b": {1},
    "expert_2": {2},
    "fac_1": {1},
    "member_1": {1},
    "fac_2": {2},
    "admin": {1, 2},
}
#: the studies each principal owns (member_1 is on study 1's team as a member only)
OWNS = {"fac_1": {1}, "fac_2": {2}, "admin": {1, 2}}
EXPERTS = {"expert_a", "expert_b", "expert_2"}
FACILITATORS = {"fac_1", "member_1", "fac_2", "admin"}
JUNK = 999_999
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: columns that record a credential's use (at most once a minute); nothing else may change
BOOKKEEPING = {("api_keys", "last_used_at"), ("access_links", "last_used_at")}


# --- the world ----------------------------------------------------------------------------------


@dataclass
class Side:
    """One study and the ids of its objects."""

    study: Study
    item: Item
    suggestion: Suggestion
    expert: Participation
    key_id: int  #: the API key of the study's facilitator
    owner_id: int  #: the account that owns the study (a team member's id)
    job_id: int = 0  #: the build of its HTML report (kept, so that reading it writes nothing)
    draft_id: int = 0  #: a study draft its owner started in the builder

    def values(self) -> dict[str, Any]:
        """A value for every id argument a route may take, from this side."""
        return {
            "study_id": self.study.id,
            "participation_id": self.expert.id,
            "member_id": self.expert.id,
            "item_id": self.item.id,
            "suggestion_id": self.suggestion.id,
            "key_id": self.key_id,
            "user_id": self.owner_id,
            "job_id": self.job_id,
            "draft_id": self.draft_id,
            "number": 1,
            "key": self.item.key,
            "item_key": self.item.key,
            "category_key": self.item.category.key if self.item.category else "none",
        }


@dataclass
class Principal:
    """A person with a browser (cookies) and API credentials (headers)."""

    name: str
    client: FlaskClient
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Matrix:
    """Both studies and every principal."""

    sides: dict[int, Side]
    principals: dict[str, Principal]


def _study(session: Session, key: str, owner: User) -> Study:
    data = EXAMPLE_SURVEY.read_text(encoding="utf-8").replace(
        'key = "water-2040"', f'key = "{key}"'
    )
    study = studies.import_study(
        session, parse_definition(data.encode(), "example.toml"), actor=owner, now=NOW
    )
    session.commit()
    return study


def _side(
    session: Session, study: Study, owner: User, experts: list[str], extra_rounds: int
) -> tuple[Side, list[str]]:
    """A panel, round 1 closed (with a suggestion), round 2 open; study 2 one more round."""
    members = [
        panel.add_expert(
            session,
            study,
            name=name,
            email=f"{name}@example.org",
            group="G",
            language="en",
            actor=None,
            now=NOW,
        )
        for name in experts
    ]
    for member in members:
        panel.record_consent(session, member.participation, language="en", now=NOW)
    for _ in range(1 + extra_rounds):
        round_ = rounds.create_round(session, study, actor=owner, now=NOW)
        rounds.open_round(session, round_, actor=owner, now=NOW)
        if round_.number == 1:
            suggestion = answers.add_suggestion(
                session, members[0].participation, round_, "Desalination at scale", now=NOW
            )
        rounds.close_round(session, round_, actor=owner, now=NOW)
    last = rounds.create_round(session, study, actor=owner, now=NOW)
    rounds.open_round(session, last, actor=owner, now=NOW)
    key = api_keys.create_key(session, owner, name="matrix", study_ids=None, now=NOW)
    session.commit()
    item = session.scalars(select(Item).where(Item.study_id == study.id, Item.key == "E01")).one()
    side = Side(study, item, suggestion, members[0].participation, key.key.id, owner.id)
    return side, [key.secret, *(m.token for m in members)]


def _clear_request_globals() -> None:
    """Forget what earlier requests cached in `g`: the tests' app context outlives requests
    (in production every request has its own), so a user, an expert or a CSRF token cached by
    one principal's request must not leak into the next principal's."""
    for name in list(vars(g)):
        delattr(g, name)


@pytest.fixture
def matrix(app: Flask, session: Session) -> Iterator[Matrix]:
    """Study 1 (fac_1; experts A and B) and study 2 (fac_2; expert C), an admin, signed in."""
    app.config["WTF_CSRF_ENABLED"] = False
    fac_1 = make_user(session, "fac1@example.org")
    fac_2 = make_user(session, "fac2@example.org")
    admin = make_user(session, "admin@example.org", role=Role.ADMIN)
    side_1, (key_1, token_a, token_b) = _side(
        session, _study(session, "study-one", fac_1), fac_1, ["ann", "bob"], 0
    )
    side_2, (key_2, token_c) = _side(
        session, _study(session, "study-two", fac_2), fac_2, ["cyd"], 1
    )
    admin_key = api_keys.create_key(session, admin, name="admin", study_ids=None, now=NOW).secret
    member_1 = make_user(session, "member1@example.org")
    studies.add_member(session, side_1.study, member_1, actor=fac_1, now=NOW)
    member_key = api_keys.create_key(session, member_1, name="m", study_ids=None, now=NOW).secret
    session.commit()
    for side in (side_1, side_2):
        # the HTML report is kept (the close would build it): reading it writes nothing
        job = report_files.request_build(
            session, side.study, side.study.default_language, "html", None, NOW
        )
        side.job_id = job.id
        owner = session.get(User, side.owner_id)
        assert owner is not None
        side.draft_id = builder.draft_from_file(
            session, owner, EXAMPLE_SURVEY.read_bytes(), "example.toml", NOW
        ).id
        session.commit()
    principals = {name: Principal(name, app.test_client()) for name in PRINCIPALS}
    for name, email, secret in (
        ("fac_1", "fac1@example.org", key_1),
        ("member_1", "member1@example.org", member_key),
        ("fac_2", "fac2@example.org", key_2),
        ("admin", "admin@example.org", admin_key),
    ):
        _clear_request_globals()
        signed_in = principals[name].client.post(
            "/account/login", data={"email": email, "password": PASSWORD}
        )
        assert signed_in.status_code == 303, name
        principals[name].headers = {"Authorization": f"Bearer {secret}"}
    for name, token in (("expert_a", token_a), ("expert_b", token_b), ("expert_2", token_c)):
        _clear_request_globals()
        entered = principals[name].client.post("/t", data={"token": token})
        assert entered.status_code == 303, name
        principals[name].headers = {"X-Expert-Token": token}
    _clear_request_globals()
    session.rollback()
    yield Matrix({1: side_1, 2: side_2}, principals)


# --- requests -----------------------------------------------------------------------------------


def _rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


@dataclass(frozen=True)
class Request:
    """One cell of the matrix."""

    endpoint: str
    method: str
    url: str
    variant: str  #: own (study 1's ids), foreign (study 2's), mixed, junk, none
    owner: int | None  #: the study whose objects the address names (ANY; None: nobody's)


#: arguments that name something inside a study (a round number, an item key) rather than an
#: object of one particular study: their meaning comes from the study in the address, or from
#: the expert's own study
RELATIVE = {"number", "key", "item_key", "category_key"}
ANY = 0  #: owner of an address that names nothing of one study (e.g. "my open round")


def _variants(
    rule: Rule, sides: dict[int, Side]
) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
    """Argument values for a rule: study 1's, study 2's, study 1 with study 2's objects, junk.

    Each comes with the study that owns the objects the address names (ANY when it names only
    things inside "my" study, None when the address mixes studies or names nothing real).
    """
    ids = [a for a in rule.arguments if a not in PLAIN_ARGUMENTS]
    plain = {a: PLAIN_ARGUMENTS[a] for a in rule.arguments if a in PLAIN_ARGUMENTS}
    if not ids:
        yield "none", ANY, plain
        return
    own, foreign = sides[1].values(), sides[2].values()
    absolute = [a for a in ids if a not in RELATIVE]
    junk = {a: JUNK if isinstance(own[a], int) else "NOPE" for a in ids}
    if not absolute:
        yield "own", ANY, {**plain, **{a: own[a] for a in ids}}
        yield "junk", None, {**plain, **junk}
        return
    yield "own", 1, {**plain, **{a: own[a] for a in ids}}
    yield "foreign", 2, {**plain, **{a: foreign[a] for a in ids}}
    nested = [a for a in absolute if a != "study_id"]
    if "study_id" in ids and nested:
        mixed = {a: foreign[a] for a in nested}
        yield "mixed", None, {**plain, **{a: own[a] for a in ids}, **mixed}
    yield "junk", None, {**plain, **junk}


def _requests(app: Flask, sides: dict[int, Side]) -> list[Request]:
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in _rules(app):
        unknown = set(rule.arguments) - set(PLAIN_ARGUMENTS) - set(sides[1].values())
        assert not unknown, f"{rule.endpoint}: give the URL arguments {unknown} values here"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for variant, owner, values in _variants(rule, sides):
                url = adapter.build(rule.endpoint, values, method=method)
                found.append(Request(rule.endpoint, method, url, variant, owner))
    return found


def _allowed(category: str, principal: str, request: Request) -> bool:
    """Whether the table lets this principal make this request."""
    studies_of = STUDIES_OF[principal]
    if category in {PUBLIC, API_PUBLIC}:
        return True
    if category in {FACILITATOR, API_FACILITATOR}:
        return principal in FACILITATORS
    if category == ADMIN:
        return principal == "admin"
    if category in {KEY_OWNER, DRAFT_OWNER}:
        return (principal, request.owner) in {("fac_1", 1), ("fac_2", 2)}
    if category in {STUDY, API_STUDY}:
        return principal in FACILITATORS and request.owner in studies_of
    if category in {STUDY_OWNER, API_STUDY_OWNER}:
        return request.owner in OWNS.get(principal, set())
    if category == STUDY_ADMIN:
        return principal == "admin" and request.owner in studies_of
    if category == EXPERT:
        return principal in EXPERTS and (request.owner == ANY or request.owner in studies_of)
    if category == API_EXPERT:
        # an item key names an item of the expert's own study (a wrong key is not found there)
        return principal in EXPERTS
    raise AssertionError(f"unknown category {category}")


def _expected_refusal(category: str, principal: str, response: Any) -> bool:
    """Whether a response is the refusal the table's category and the principal call for."""
    status = response.status_code
    location = urlsplit(response.headers.get("Location", "")).path
    web_facilitator = category in {
        FACILITATOR, ADMIN, KEY_OWNER, DRAFT_OWNER, STUDY, STUDY_OWNER, STUDY_ADMIN,
    }  # fmt: skip
    if category.startswith("api"):
        return status in {401, 403, 404} and response.mimetype == "application/problem+json"
    if web_facilitator and principal not in FACILITATORS:
        return status == 302 and location == "/account/login"
    if category == EXPERT and principal not in EXPERTS:
        return status == 302 and location == "/link-needed"
    return status in {403, 404}


# --- what the database holds ----------------------------------------------------------------------


def _digest(session: Session) -> str:
    """A sha256 over every row of every table (credential bookkeeping left out)."""
    session.rollback()  # a fresh snapshot: see what the requests committed
    digest = hashlib.sha256()
    for table in Base.metadata.sorted_tables:
        columns = [c.name for c in table.columns if (table.name, c.name) not in BOOKKEEPING]
        names = ", ".join(f'"{c}"' for c in columns)
        rows = session.execute(text(f'select {names} from "{table.name}"')).all()  # noqa: S608
        digest.update(table.name.encode())
        for row in sorted(repr(tuple(row)) for row in rows):
            digest.update(row.encode())
    session.rollback()
    return digest.hexdigest()


def _send(principal: Principal, request: Request) -> Any:
    _clear_request_globals()
    response = principal.client.open(
        request.url, method=request.method, headers=principal.headers, follow_redirects=False
    )
    response.get_data()
    response.close()  # static files are streamed
    return response


# --- the tests ----------------------------------------------------------------------------------


def test_every_endpoint_is_classified(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert sorted(endpoints - set(ACCESS)) == [], "classify these endpoints in ACCESS"
    assert sorted(set(ACCESS) - endpoints) == [], "these endpoints no longer exist"


def test_authorization_matrix(app: Flask, session: Session, matrix: Matrix) -> None:
    requests = _requests(app, matrix.sides)
    before = _digest(session)
    problems: list[str] = []
    counts = {"refused": 0, "allowed reads": 0, "allowed writes skipped": 0}
    for request in requests:
        category = ACCESS[request.endpoint]
        for name, principal in matrix.principals.items():
            allowed = _allowed(category, name, request)
            where = f"{name} {request.method} {request.url} ({request.endpoint}, {request.variant})"
            if allowed and request.method in WRITE_METHODS:
                counts["allowed writes skipped"] += 1  # they would change the world under test
                continue
            response = _send(principal, request)
            if response.status_code >= 500:
                problems.append(f"{where}: server error {response.status_code}")
                continue
            if allowed:
                counts["allowed reads"] += 1
                refused = _expected_refusal(category, name, response) and not (
                    response.status_code == 404 and request.endpoint in ALLOWED_NOT_FOUND
                )
                if refused:
                    problems.append(
                        f"{where}: allowed by the table, refused ({response.status_code})"
                    )
                continue
            counts["refused"] += 1
            if not _expected_refusal(category, name, response):
                problems.append(
                    f"{where}: must be refused, got {response.status_code} "
                    f"{response.headers.get('Location', '')}"
                )
            if request.method in WRITE_METHODS:
                after = _digest(session)
                if after != before:
                    problems.append(f"{where}: changed the database")
                    before = after
    assert problems == [], "\n".join(problems)
    assert _digest(session) == before  # and no read wrote anything
    assert counts["refused"] > 1000 and counts["allowed reads"] > 50, counts


def test_refusals_look_alike_across_studies(app: Flask, session: Session, matrix: Matrix) -> None:
    """A foreign study and a study that does not exist get the same answer (no hint of ids)."""
    fac_1 = matrix.principals["fac_1"]
    foreign, missing = matrix.sides[2].study.id, JUNK
    for template in ("/api/v1/studies/{}", "/api/v1/studies/{}/panel", "/f/studies/{}"):
        bodies = []
        for study_id in (foreign, missing):
            _clear_request_globals()
            response = fac_1.client.get(template.format(study_id), headers=fac_1.headers)
            assert response.status_code == 404
            bodies.append(response.get_data(as_text=True).replace(str(study_id), "#"))
        assert bodies[0] == bodies[1], template


def test_experts_reach_only_their_own_answers(app: Flask, session: Session, matrix: Matrix) -> None:
    """Expert B never sees what expert A saved, through the pages or the API."""
    a, b = matrix.principals["expert_a"], matrix.principals["expert_b"]
    canary = "canary reason 5d1e"
    body = {"answers": {"probability": {"value": 35}, "reason": {"text": canary}}}
    _clear_request_globals()
    saved = a.client.put("/api/v1/expert/round/items/E01", json=body, headers=a.headers)
    assert saved.status_code == 200
    for url in ("/api/v1/expert/round", "/api/v1/expert"):
        _clear_request_globals()
        assert canary not in b.client.get(url, headers=b.headers).get_data(as_text=True)
    for url in ("/e/", "/e/round", "/e/feedback/1"):
        _clear_request_globals()
        page = b.client.get(url)
        assert page.status_code == 200 and canary not in page.get_data(as_text=True)
    _clear_request_globals()
    assert canary in a.client.get("/api/v1/expert/round", headers=a.headers).get_data(as_text=True)


def test_keys_are_limited_to_their_scope_in_the_matrix_world(
    app: Flask, session: Session, matrix: Matrix
) -> None:
    """An admin's key limited to study 2 gets 404 on study 1, although its owner may see both."""
    admin = session.scalars(select(User).where(User.role == Role.ADMIN)).one()
    side_1, side_2 = matrix.sides[1], matrix.sides[2]
    scoped = api_keys.create_key(
        session, admin, name="only two", study_ids=[side_2.study.id], now=NOW
    ).secret
    session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {scoped}"}
    for path in ("", "/panel", "/rounds", "/rounds/1/results", "/rounds/1/consensus"):
        _clear_request_globals()
        assert (
            client.get(f"/api/v1/studies/{side_1.study.id}{path}", headers=headers).status_code
            == 404
        )
        _clear_request_globals()
        assert (
            client.get(f"/api/v1/studies/{side_2.study.id}{path}", headers=headers).status_code
            == 200
        )
    key = session.scalars(select(ApiKey).where(ApiKey.name == "only two")).one()
    assert key.study_ids == [side_2.study.id]
