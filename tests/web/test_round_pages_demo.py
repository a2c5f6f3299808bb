"""The demo's round 3 as its experts see it, in English, Persian and Russian: every page is
light (at most 150 kB of HTML, at most 12 charts before anything is opened), prefilled with the
expert's round 2 answers, and no page shows an internal key (question, part or item codes)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions.model import SurveyDefinition
from app.models import Answer, Item, Participation, Round, User
from tests.conftest import NOW, enter_link
from tests.demo_cache import cached_demo

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

MAX_PAGE_BYTES = 150_000
MAX_VISIBLE_CHARTS = 12
#: part keys of multi-valued questions, never to be shown to an expert
PART_KEYS = ("given_not", "i_max", "i_ss", "|given")


class VisibleText(HTMLParser):
    """The text a reader sees: text nodes outside scripts, styles and closed <details>
    bodies are counted as visible too (a key must not hide there either)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """Everything a page shows as text (attributes, scripts and styles left out)."""
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def charts_before_more(html: str) -> int:
    """Charts shown before any "more" (a <details>) is opened."""
    return len(re.findall(r"<svg\b", re.sub(r"<details\b.*?</details>", "", html, flags=re.S)))


def internal_keys(text: str, question_keys: set[str], item_keys: set[str]) -> list[str]:
    """Internal keys found in a page's visible text."""
    found = [key for key in PART_KEYS if key in text]
    found += [key for key in question_keys if "_" in key and re.search(rf"\b{key}\b", text)]
    found += [key for key in item_keys if re.search(rf"(?<![\w-]){key}(?![\w-])", text)]
    return found


def test_every_expert_page_of_the_demo_is_light_prefilled_and_free_of_internal_keys(
    app: Flask,
    session: Session,
    first_study_definition: SurveyDefinition,
    facilitator_user: User,
) -> None:
    links = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    study = links.study
    items = session.scalars(select(Item).where(Item.study_id == study.id)).all()
    item_keys = {item.key for item in items}
    question_keys = {q.key for item in items for q in item.questions}
    round_2, round_3 = (
        session.scalars(select(Round).where(Round.study_id == study.id, Round.number == n)).one()
        for n in (2, 3)
    )
    for pseudonym, _group, language, token in links.expert_links:
        client = app.test_client()
        enter_link(client, token)
        me = session.scalars(
            select(Participation).where(
                Participation.study_id == study.id, Participation.pseudonym == pseudonym
            )
        ).one()
        overview = client.get("/e/round").get_data(as_text=True)
        assert f'<html lang="{language}"' in overview
        pages = {"/e/round": overview}
        for key in dict.fromkeys(re.findall(r'href="(/e/round/items/[^"#]+)"', overview)):
            pages[key] = client.get(key).get_data(as_text=True)
        assert len(pages) == 1 + len(round_3.items)
        for path in ("/e/", "/e/round/review", "/e/feedback/1", "/e/feedback/2", "/e/report"):
            response = client.get(path)
            assert response.status_code == 200, (language, path)
            pages[path] = response.get_data(as_text=True)
        for path, html in pages.items():
            if path.startswith("/e/round"):
                assert len(html.encode()) <= MAX_PAGE_BYTES, (language, path, len(html.encode()))
                assert charts_before_more(html) <= MAX_VISIBLE_CHARTS, (language, path)
            leaked = internal_keys(visible_text(html), question_keys, item_keys)
            assert leaked == [], (language, path, leaked)

        # every question the expert answered in round 2 opens with that answer, marked
        previous = {
            a.question_id: a
            for a in session.scalars(
                select(Answer).where(
                    Answer.participation_id == me.id,
                    Answer.round_id == round_2.id,
                    Answer.is_current.is_(True),
                )
            )
        }
        probability = {
            item.key: next(q for q in item.questions if q.key == "probability")
            for item in items
            if any(q.key == "probability" for q in item.questions)
        }
        checked = 0
        for key, question in probability.items():
            answer = previous.get(question.id)
            html = pages.get(f"/e/round/items/{key}")
            if answer is None or html is None or answer.no_answer:
                continue
            assert f'name="q{question.id}" value="{_typed(answer)}"' in html, (language, key)
            checked += 1
        assert checked >= 20, language


def _typed(answer: Answer) -> str:
    """A stored single value as the form shows it."""
    value = answer.value
    assert value is not None
    return str(int(value)) if float(value).is_integer() else str(value)


def test_questions_label_conditions_with_the_other_developments_title(
    app: Flask,
    session: Session,
    first_study_definition: SurveyDefinition,
    facilitator_user: User,
) -> None:
    links = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    e06 = session.scalars(
        select(Item).where(Item.study_id == links.study.id, Item.key == "E06")
    ).one()
    title = e06.current_version.title["en"]
    token = next(t for _p, _g, language, t in links.expert_links if language == "en")
    client = app.test_client()
    enter_link(client, token)
    html = client.get("/e/round/items/E01").get_data(as_text=True)
    assert f"If “{title}” happens" in html  # the feedback row
    assert f'<legend dir="auto">{title}</legend>' in html  # the pair of inputs
    assert "What it means" in html  # and its definition, on demand
