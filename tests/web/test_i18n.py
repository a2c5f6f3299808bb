"""Languages: complete Persian and Russian catalogs for everything an expert reads, matching
placeholders, the expert's language on every page and in emails, Persian digits and dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.i18n import localise_digits, render_message, select_locale
from app.messages import N_
from app.models import Item, Participation, Study
from app.services import panel, rounds
from app.templating import histogram_chart, measure, number, number_range, when
from tests.conftest import NOW, ROOT, csrf_from, enter_link

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

TRANSLATIONS = ROOT / "app" / "translations"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "N_": None,
}
#: what experts (and people without an account) read: these must be complete in fa and ru
EXPERT_SIDE = [
    *sorted((ROOT / "app" / "templates" / "expert").glob("*.html")),
    *sorted((ROOT / "app" / "templates" / "public").glob("*.html")),
    *sorted((ROOT / "app" / "templates" / "errors").glob("*.html")),
    *sorted((ROOT / "app" / "templates" / "macros").glob("*.html")),
    *sorted((ROOT / "app" / "templates" / "email").glob("*.*")),
    ROOT / "app" / "templates" / "base.html",
    *sorted((ROOT / "app" / "expert").glob("*.py")),
    *sorted((ROOT / "app" / "public").glob("*.py")),
    ROOT / "app" / "errors.py",
    ROOT / "app" / "templating.py",
    ROOT / "app" / "i18n.py",
    ROOT / "app" / "facilitator" / "emails.py",
    ROOT / "app" / "services" / "answers.py",
    ROOT / "app" / "services" / "answer_values.py",  # validation messages experts read
    ROOT / "app" / "services" / "round_progress.py",
    ROOT / "app" / "auth.py",  # "your session has ended"
    ROOT / "app" / "api" / "routes_expert.py",
]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
ARABIC_YEH_KAF = re.compile("[\u064a\u0643]")  # ي ك: Arabic letters, not the Persian ی ک


def _extract(path: Path, keywords: dict | None = None) -> set[str | tuple[str, ...]]:
    """The message ids a file uses (a tuple for plural forms)."""
    method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
    found: set[str | tuple[str, ...]] = set()
    for _lineno, message, _comments, _context in extract_from_file(
        method, str(path), keywords=keywords or KEYWORDS
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


@pytest.fixture(scope="module")
def expert_messages() -> set[str | tuple[str, ...]]:
    """Every message id the expert side uses, extracted from the sources as pybabel does."""
    messages: set[str | tuple[str, ...]] = set()
    for path in EXPERT_SIDE:
        if path.exists():
            messages |= _extract(path)
    # the validation messages the answer service raises with N_() (other services' N_
    # messages are read by facilitators, in reports)
    messages |= _extract(ROOT / "app" / "services" / "answers.py", {"N_": None})
    return messages


@pytest.fixture(scope="module", params=["fa", "ru"])
def catalog(request: pytest.FixtureRequest) -> object:
    """A language's catalog, parsed from its .po file."""
    path = TRANSLATIONS / request.param / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=request.param)


def _key(message: object) -> str | tuple[str, ...]:
    identifier = message.id  # type: ignore[attr-defined]
    return identifier if isinstance(identifier, str) else tuple(identifier)


def test_expert_side_is_extracted_and_found(expert_messages: set) -> None:
    assert len(expert_messages) > 120
    assert "Submit round %(n)s" in expert_messages
    assert "Enter a number between %(low)s and %(high)s." not in expert_messages  # has a label
    assert any("Enter a number between" in str(m) for m in expert_messages)  # the N_ one


def test_every_expert_message_is_translated(expert_messages: set, catalog: object) -> None:
    entries = {_key(m): m for m in catalog}  # type: ignore[attr-defined]
    missing, fuzzy = [], []
    for message_id in sorted(expert_messages, key=str):
        entry = entries.get(message_id)
        strings = (
            [] if entry is None else (list(entry.string) if entry.pluralizable else [entry.string])
        )
        if entry is None or not all(s and s.strip() for s in strings):
            missing.append(message_id)
        elif entry.fuzzy:
            fuzzy.append(message_id)
    locale = catalog.locale  # type: ignore[attr-defined]
    assert not missing, f"untranslated in {locale} (run `make translations UPDATE=1`): {missing}"
    assert not fuzzy, f"fuzzy in {locale}: {fuzzy}"


def test_placeholders_match_between_msgid_and_translation(catalog: object) -> None:
    problems = []
    for entry in catalog:  # type: ignore[attr-defined]
        if not entry.id:
            continue
        ids = [entry.id] if isinstance(entry.id, str) else list(entry.id)
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        expected = set(PLACEHOLDER.findall(ids[0])) | set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            if text and set(PLACEHOLDER.findall(text)) != expected:
                problems.append((entry.id, text))
            if text and ids[0].count("%%") and "%" in text.replace("%%", "").replace("%(", ""):
                problems.append((entry.id, "a lone % must be written %%: " + text))
    assert not problems


def test_persian_uses_persian_letters() -> None:
    with (TRANSLATIONS / "fa" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        persian = read_po(handle, locale="fa")
    arabic = [
        entry.id
        for entry in persian
        if entry.id
        and any(
            ARABIC_YEH_KAF.search(s or "")
            for s in ([entry.string] if isinstance(entry.string, str) else entry.string)
        )
    ]
    assert not arabic, f"Arabic ي/ك instead of Persian ی/ک in: {arabic}"


# ---------------------------------------------------------------- numbers, dates, messages


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["-3", "+3", "1,234.6", "40%", "20% to 40%"]),
        ("ru", ["-3", "+3", "1\xa0234,6", "40\xa0%", "от 20\xa0% до 40\xa0%"]),
        (
            "fa",
            [
                "\u200e−۳",
                "\u200e+۳",
                "۱٬۲۳۴٫۶",
                "\u061c۴۰٪",
                "\u061c۲۰٪ تا \u061c۴۰٪",
            ],
        ),
    ],
)
def test_numbers_in_the_locales_form(app: Flask, language: str, expected: list[str]) -> None:
    with app.test_request_context(), force_locale(language):
        got = [
            number(-3, 0),
            number(3, 0, signed=True),
            number(1234.56),
            measure(40, "%"),
            number_range(20, 40, "%"),
        ]
    assert got == expected


def test_dates_persian_calendar_and_digits(app: Flask) -> None:
    moment = datetime(2026, 3, 14, 17, 5, tzinfo=UTC)
    with app.test_request_context():
        with force_locale("fa"):
            persian = when(moment)
        with force_locale("ru"):
            russian = when(moment)
        with force_locale("en"):
            english = when(moment, "date")
    assert persian == "۲۳ اسفند ۱۴۰۴ (۱۴ مارس ۲۰۲۶)، ساعت ۱۷:۰۵"
    assert russian == "14 марта 2026\u202fг., 17:05"
    assert english == "March 14, 2026"


def test_language_dependent_filters_are_not_frozen_at_compile_time(app: Flask) -> None:
    source = "{{ '2035'|digits }} {{ 12|num(0) }}"
    with app.test_request_context():
        with force_locale("en"):
            first = render_template_string(source)
        with force_locale("fa"):
            second = render_template_string(source)
    assert (first, second) == ("2035 12", "۲۰۳۵ ۱۲")


def test_service_messages_translated_with_local_digits(app: Flask) -> None:
    message = N_(
        "%(label)sEnter a number between %(low)s and %(high)s.", label="", low="0", high="100"
    )
    typed = N_("%(label)s'%(typed)s' is not a number.", label="", typed="12abc")
    ordered = N_("Each estimate must be larger than the one before (5 %% < 50 %% < 95 %%).")
    with app.test_request_context():
        with force_locale("fa"):
            assert render_message(message) == "عددی بین ۰ و ۱۰۰ وارد کنید."
            assert render_message(typed) == "«12abc» عدد نیست."  # what was typed, unchanged
        with force_locale("en"):
            assert render_message(ordered).endswith("(5 % < 50 % < 95 %).")
    assert localise_digits("E01 2035", "ru") == "E01 2035"


def test_chart_runs_right_to_left_in_persian(app: Flask) -> None:
    part = SimpleNamespace(
        histogram=[{"low": 10.0 * i, "high": 10.0 * (i + 1), "count": i % 3} for i in range(10)],
        q1=20.0,
        q3=60.0,
        median=45.0,
        own=72.0,
    )
    with app.test_request_context():
        with force_locale("en"):
            ltr = histogram_chart(part, None, "%")
        with force_locale("fa"):
            rtl = histogram_chart(part, None, "%")
    assert ltr is not None and rtl is not None
    assert ltr.bars[0].x < ltr.bars[-1].x and rtl.bars[0].x > rtl.bars[-1].x
    assert [b.own for b in rtl.bars].index(True) == 7  # 70-80 holds the own answer
    assert rtl.own_x == pytest.approx(ltr.width - ltr.own_x)  # mirrored position
    assert [t.text.strip("\u061c") for t in rtl.ticks] == ["۰٪", "۵۰٪", "۱۰۰٪"]
    assert rtl.rtl and not ltr.rtl


# ---------------------------------------------------------------- the expert's language


@pytest.fixture
def persian_expert(
    client: FlaskClient, session: Session, example_study: Study
) -> tuple[FlaskClient, Participation]:
    """A signed-in expert invited in Persian, with round 1 open and consent given."""
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    member = panel.add_expert(
        session,
        example_study,
        name="Sara",
        email="sara@example.org",
        group="G1",
        language="fa",
        actor=None,
        now=NOW,
    )
    panel.record_consent(session, member.participation, language="fa", now=NOW)
    session.commit()
    enter_link(client, member.token)
    return client, member.participation


def test_pages_speak_the_invitations_language(
    persian_expert: tuple[FlaskClient, Participation],
) -> None:
    client, _member = persian_expert
    for path in ("/e/", "/e/round", "/e/round/items/E01", "/e/round/review", "/e/consent"):
        html = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert '<html lang="fa" dir="rtl">' in html, path
    round_page = client.get("/e/round").get_data(as_text=True)
    assert "دور ۱" in round_page and "Round 1" not in round_page
    review = client.get("/e/round/review").get_data(as_text=True)
    assert "ارسال پاسخ‌های دور ۱" in review
    item = client.get("/e/round/items/E01").get_data(as_text=True)
    assert "۲۰۴۰" in item  # the horizon in Persian digits
    assert not re.search(r"[0-9]+ از", item)  # counts in Persian digits too


def test_the_landing_page_speaks_the_language_of_the_link(client: FlaskClient) -> None:
    """A private link carries the panel language; a choice made on the device wins over it."""
    for language, words in (("fa", "ادامه"), ("ru", "Продолжить")):
        html = client.get(f"/t/any-token?lang={language}").get_data(as_text=True)
        assert f'<html lang="{language}"' in html and words in html
    english = client.get("/t/any-token?lang=xx", headers={"Accept-Language": "en"})
    assert '<html lang="en"' in english.get_data(as_text=True)
    page = client.get("/t/any-token?lang=fa").get_data(as_text=True)
    client.post(
        "/language", data={"language": "ru", "next": "/t/any-token", "csrf_token": csrf_from(page)}
    )
    again = client.get("/t/any-token?lang=fa").get_data(as_text=True)
    assert '<html lang="ru"' in again  # remembered


def test_language_switch_is_kept_for_the_expert(
    persian_expert: tuple[FlaskClient, Participation], session: Session
) -> None:
    client, member = persian_expert
    page = client.get("/e/round").get_data(as_text=True)
    assert 'lang="ru"' in page and "Русский" in page
    response = client.post(
        "/e/language", data={"language": "ru", "next": "/e/round", "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/e/round")
    session.refresh(member)
    assert member.language == "ru"
    html = client.get("/e/round").get_data(as_text=True)
    assert '<html lang="ru" dir="ltr">' in html and "Тур 1" in html


def test_autosave_errors_come_in_persian_with_persian_digits(
    persian_expert: tuple[FlaskClient, Participation], session: Session, example_study: Study
) -> None:
    client, _member = persian_expert
    item = session.scalars(
        select(Item).where(Item.study_id == example_study.id, Item.key == "E01")
    ).one()
    probability = next(q for q in item.questions if q.key == "probability")
    impact = next(q for q in item.questions if q.key == "impact")
    token = csrf_from(client.get("/e/round").get_data(as_text=True))
    data = {"csrf_token": token, f"q{probability.id}": "۱۴۰", f"q{impact.id}": "1"}
    headers = {"Accept": "application/json", "Idempotency-Key": "persian-draft-1"}
    response = client.post("/e/round/items/E01", data=data, headers=headers)
    assert response.status_code == 200  # kept as a draft, with why it is not an answer yet
    outcome = response.get_json()["questions"]["probability"]
    assert outcome == {"state": "draft", "message": "عددی بین ۰ و ۱۰۰ وارد کنید."}
    # a replay of the same save answers in the page's language too
    replay = client.post("/e/round/items/E01", data=data, headers=headers).get_json()
    assert replay["replay"] is True
    assert replay["questions"]["probability"] == outcome
    data[f"q{probability.id}"] = "۴۵"
    saved = client.post("/e/round/items/E01", data=data, headers={"Accept": "application/json"})
    assert saved.get_json()["questions"]["probability"] == {"state": "saved"}


def test_locale_prefers_the_participation_over_the_browser(
    app: Flask, session: Session, example_study: Study
) -> None:
    member = panel.add_expert(
        session,
        example_study,
        name="Ivan",
        email="ivan@example.org",
        group="G1",
        language="ru",
        actor=None,
        now=NOW,
    )
    session.commit()
    with app.test_request_context(headers={"Accept-Language": "fa"}):
        from flask import g

        assert select_locale() == "fa"
        g.participation = member.participation
        assert select_locale() == "ru"


def test_emails_are_written_in_the_experts_language(app: Flask) -> None:
    emails = pytest.importorskip("app.facilitator.emails")
    from app.services.invitations import MailContext, MailKind

    context = MailContext(
        kind=MailKind.INVITATION,
        name="Sara",
        study_title="آینده",
        link="http://localhost/t/abc",
        round_number=1,
        deadline=datetime(2026, 3, 14, 17, 0, tzinfo=UTC),
        message="",
    )
    with app.test_request_context():
        persian = emails.render_in("fa", context)
        russian = emails.render_in("ru", context)
    assert persian.subject == "دعوت به مشارکت در مطالعهٔ دلفی: آینده"
    assert "Sara گرامی،" in persian.text
    assert "پیوند شخصی شما:" in persian.text
    assert "۲۳ اسفند ۱۴۰۴" in persian.text
    assert russian.subject.startswith("Приглашение к участию в исследовании")
    assert "Уважаемый(-ая) Sara!" in russian.text
