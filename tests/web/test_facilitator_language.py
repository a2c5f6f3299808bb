"""Facilitator and results pages speak the facilitator's chosen language: no internal keys, no
rule syntax, and Persian digits on Persian pages (issue 15)."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Item, Participation, Study, User
from app.services import rounds
from app.wording import key_title, question_title, rule_in_words
from tests.conftest import NOW, csrf_from
from tests.facilitator_world import sign_in
from tests.persian_text import latin_in_persian
from tests.reports.helpers import ScriptedStudy, scripted_study

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

#: what must never be read on a facilitator page: statistics' and questions' internal names,
#: and the syntax of the rules
FORBIDDEN = ("pct_agree", "pct_disagree", "changed_share", "wilcoxon_p", "iqr <=", ">=", "<=",
             "cross_", "convergence_impact", "trend_level")  # fmt: skip

#: question keys that are English words: on Persian and Russian pages they must be translated
ENGLISH_KEYS = re.compile(r"\b(probability|impact|confidence)\b", re.IGNORECASE)

#: the facilitator pages every study has (their URL arguments filled from the study below)
BLUEPRINTS = ("facilitator.", "results.", "account.")

#: pages that need something the study below does not have, or are not pages
SKIPPED = frozenset({"account.login", "results.report", "results.import_archive"})


@pytest.fixture
def study_with_results(session: Session, example_study: Study, facilitator_user: User) -> Study:
    """Two closed rounds (results for every page) and round 3 open."""
    scripted: ScriptedStudy = scripted_study(session, example_study, facilitator_user)
    round_ = rounds.create_round(session, example_study, actor=facilitator_user, now=NOW)
    rounds.open_round(session, round_, actor=facilitator_user, now=NOW)
    session.commit()
    return scripted.study


def page_text(page: str) -> str:
    """What a reader sees, code included: no styles, scripts, charts or titles."""
    page = re.sub(r"(?is)<(style|script|svg|title|textarea)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(page)


def choose_language(client: FlaskClient, language: str) -> None:
    """Press the language switcher of a facilitator page."""
    token = csrf_from(client.get("/f/").get_data(as_text=True))
    response = client.post(
        "/account/language", data={"language": language, "next": "/f/", "csrf_token": token}
    )
    assert response.status_code == 303
    g.pop("csrf_token", None)


def facilitator_pages(app: Flask, session: Session, study: Study) -> list[str]:
    """Every GET page of the facilitator, results and account blueprints for this study."""
    item = session.scalars(select(Item).where(Item.study_id == study.id, Item.key == "E01")).one()
    values = {
        "study_id": study.id,
        "number": 2,
        "item_id": item.id,
        "key": "E01",
        "user_id": study.created_by_id,
        "participation_id": session.scalars(
            select(Participation.id).where(Participation.study_id == study.id)
        ).first(),
    }
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith(BLUEPRINTS) or "GET" not in (rule.methods or ()):
                continue
            if rule.endpoint in SKIPPED or not set(rule.arguments) <= set(values):
                continue
            urls.append(url_for(rule.endpoint, **{a: values[a] for a in rule.arguments}))
    return sorted(set(urls))


def test_the_switcher_is_remembered_on_the_account(
    client: FlaskClient, session: Session, facilitator_user: User, example_study: Study
) -> None:
    sign_in(client)
    assert '<html lang="en"' in client.get("/f/").get_data(as_text=True)
    choose_language(client, "fa")
    assert '<html lang="fa" dir="rtl"' in client.get("/f/").get_data(as_text=True)
    session.refresh(facilitator_user)
    assert facilitator_user.language == "fa"
    # a new browser of the same account speaks it too, whatever the browser asks for
    fresh = client.application.test_client()
    sign_in(fresh)
    page = fresh.get("/f/", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert '<html lang="fa"' in page


def test_the_switcher_refuses_unknown_languages_and_foreign_targets(
    client: FlaskClient, facilitator_user: User
) -> None:
    sign_in(client)
    token = csrf_from(client.get("/f/").get_data(as_text=True))
    refused = client.post("/account/language", data={"language": "xx", "csrf_token": token})
    assert refused.status_code == 400
    g.pop("csrf_token", None)
    token = csrf_from(client.get("/f/").get_data(as_text=True))
    moved = client.post(
        "/account/language",
        data={"language": "ru", "next": "//evil.example/", "csrf_token": token},
    )
    assert moved.status_code == 303
    assert moved.headers["Location"].endswith("/f/")


def test_the_switcher_needs_a_facilitator(client: FlaskClient) -> None:
    response = client.post("/account/language", data={"language": "fa"})
    assert response.status_code in (302, 303, 400, 401, 403)
    assert '<html lang="fa"' not in client.get("/account/login").get_data(as_text=True)


@pytest.mark.parametrize("language", ["en", "fa", "ru"])
def test_facilitator_pages_show_no_internal_keys_or_rule_syntax(
    app: Flask,
    client: FlaskClient,
    session: Session,
    facilitator_user: User,
    study_with_results: Study,
    language: str,
) -> None:
    sign_in(client)
    choose_language(client, language)
    pages = facilitator_pages(app, session, study_with_results)
    # the main pages are among them
    for needed in ("/panel", "/items", "/rounds", "/results", "/results/items/E01"):
        assert any(url.endswith(needed) for url in pages), needed
    problems = []
    for url in pages:
        response = client.get(url)
        if response.status_code != 200:
            continue
        html_text = response.get_data(as_text=True)
        if response.mimetype != "text/html":
            continue
        assert f'<html lang="{language}"' in html_text, url
        text = page_text(html_text)
        problems += [f"{url}: {token!r}" for token in FORBIDDEN if token in text]
        if language != "en":
            problems += [
                f"{url}: {text[max(0, m.start() - 30) : m.end() + 30]!r}"
                for m in ENGLISH_KEYS.finditer(text)
            ]
        if language == "fa":
            problems += [f"{url}: Latin digits in {m!r}" for m in latin_in_persian(text)]
    assert problems == [], "\n".join(problems)


def test_rules_read_in_words_with_each_kinds_thresholds(app: Flask) -> None:
    with app.test_request_context():
        assert rule_in_words("pct_agree >= 0.75 and iqr <= 1") == (
            "at least 75% agree and the middle half of the answers spans at most 1 point"
        )
        assert rule_in_words("iqr <= 20", "probability") == (
            "the middle half of the answers spans at most 20 percentage points"
        )
        assert rule_in_words("changed_share < 0.15 or wilcoxon_p > 0.05") == (
            "fewer than 15% of the experts changed their answer or no significant shift "
            "between the rounds (Wilcoxon p above 0.05)"
        )
        assert rule_in_words("0.7 <= pct_agree and not rand_disagreement") == (
            "at least 70% agree and no disagreement by the RAND/UCLA measure"
        )
        assert rule_in_words("sd < 2 and (cv <= 0.5 or n > 10)") == (
            "the standard deviation is below 2 points and (the coefficient of variation is at "
            "most 0.5 or the number of answers is above 10)"
        )


def test_rules_read_in_persian_digits(app: Flask) -> None:
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("fa"):
        words = rule_in_words("pct_agree >= 0.75 and iqr <= 1")
    assert "۷۵" in words and "0.75" not in words and "pct_agree" not in words


def test_question_titles_never_show_keys(
    app: Flask, session: Session, example_study: Study
) -> None:
    from flask_babel import force_locale

    item = session.scalars(
        select(Item).where(Item.study_id == example_study.id, Item.key == "E01")
    ).one()
    cross = SimpleNamespace(key="cross_E01", kind="conditional")
    with app.test_request_context():
        titles = {q.key: question_title(q) for q in item.questions}
        assert question_title(cross) == key_title("cross_E01") == "Cross-impact"
        with force_locale("ru"):
            russian = {q.key: question_title(q) for q in item.questions}
            assert question_title(cross) != "Cross-impact"  # translated
    assert titles["probability"] == "Probability"
    assert all("_" not in title for title in titles.values())
    assert all("_" not in title for title in russian.values())
