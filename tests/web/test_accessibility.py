"""WCAG 2.1 AA checks that need no browser: every control labelled, every scale a fieldset
with a legend, error summaries linked to their fields, charts with text alternatives, the
language marked, and a palette whose contrast is measured, not guessed.

(The browser tests in tests/e2e run axe-core on the same pages, in every language.)"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.definitions import SurveyDefinition
from app.models import Item, Participation, Study, User
from app.services import demo, panel, rounds
from tests.conftest import NOW, ROOT, csrf_from, enter_link

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

CSS = ROOT / "app" / "static" / "css" / "app.css"


@dataclass
class Element:
    """A start tag with its attributes, its ancestors and its text."""

    tag: str
    attrs: dict[str, str]
    ancestors: list[Element]
    text: str = ""
    children: list[Element] = field(default_factory=list)


class Page(HTMLParser):
    """A parsed page: every element, in document order."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "source", "wbr"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, list(self._open))
        if self._open:
            self._open[-1].children.append(element)
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID and self._open and self._open[-1].tag == tag:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def find(self, tag: str, **attrs: str) -> list[Element]:
        """Elements with this tag and these attribute values."""
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def by_id(self) -> dict[str, Element]:
        """Elements by id."""
        return {e.attrs["id"]: e for e in self.elements if "id" in e.attrs}


def check_page(html: str) -> list[str]:
    """The accessibility problems of a rendered page (empty when it is fine)."""
    page = Page(html)
    problems: list[str] = []
    ids = [e.attrs["id"] for e in page.elements if "id" in e.attrs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        problems.append(f"duplicate ids: {duplicates}")
    by_id = page.by_id()
    root = page.find("html")[0]
    if not root.attrs.get("lang") or root.attrs.get("dir") not in ("ltr", "rtl"):
        problems.append("<html> needs lang and dir")
    if len(page.find("h1")) != 1:
        problems.append(f"{len(page.find('h1'))} h1 elements")
    if not page.find("a", class_="skip-link", href="#main") or "main" not in by_id:
        problems.append("no skip link to #main")
    labelled_for = {e.attrs.get("for") for e in page.find("label")}
    for element in page.elements:
        if element.tag in ("input", "select", "textarea"):
            kind = element.attrs.get("type", "text")
            if kind in ("hidden", "submit", "button"):
                continue
            inside_label = any(a.tag == "label" for a in element.ancestors)
            named = element.attrs.get("aria-label") or element.attrs.get("aria-labelledby")
            if not (element.attrs.get("id") in labelled_for or inside_label or named):
                problems.append(f"unlabelled {element.tag} {element.attrs.get('name')}")
            if kind == "radio":
                fieldsets = [a for a in element.ancestors if a.tag == "fieldset"]
                if not fieldsets or not any(c.tag == "legend" for c in fieldsets[-1].children):
                    problems.append(f"radio {element.attrs.get('name')} outside a fieldset/legend")
        for attribute in ("aria-describedby", "aria-labelledby"):
            for target in element.attrs.get(attribute, "").split():
                if target not in by_id:
                    problems.append(f"{attribute} points to a missing #{target}")
        if element.tag == "a" and element.attrs.get("href", "").startswith("#"):
            target = element.attrs["href"][1:]
            if target and target not in by_id:
                problems.append(f"link to a missing #{target}")
        if "style" in element.attrs:
            problems.append(f"inline style on {element.tag}")
        if element.tag == "script" and not element.attrs.get("src"):
            problems.append("inline script")
        if (
            element.tag == "button"
            and not element.text.strip()
            and "aria-label" not in element.attrs
        ):
            problems.append("a button without a name")
    for svg in page.find("svg"):
        if svg.attrs.get("role") != "img" or svg.attrs.get("aria-labelledby") not in by_id:
            problems.append("a chart without role=img and a title")
    return problems


# ---------------------------------------------------------------- pages


@pytest.fixture
def open_round(session: Session, example_study: Study) -> None:
    """Round 1 of the example study, open."""
    round_ = rounds.create_round(session, example_study, actor=None, now=NOW)
    rounds.open_round(session, round_, actor=None, now=NOW)
    session.commit()


def _expert(client: FlaskClient, session: Session, study: Study, language: str) -> Participation:
    member = panel.add_expert(
        session,
        study,
        name=f"Expert {language}",
        email=f"expert-{language}@example.org",
        group="G1",
        language=language,
        actor=None,
        now=NOW,
    )
    session.commit()
    enter_link(client, member.token)
    return member.participation


@pytest.mark.parametrize("language", ["en", "fa", "ru"])
def test_expert_pages_are_accessible(
    client: FlaskClient, session: Session, example_study: Study, open_round: None, language: str
) -> None:
    _expert(client, session, example_study, language)
    consent = client.get("/e/consent").get_data(as_text=True)
    assert check_page(consent) == []
    client.post("/e/consent", data={"agree": "y", "csrf_token": csrf_from(consent)})
    for path in ("/e/", "/e/round"):
        response = client.get(path)
        assert response.status_code == 200
        assert check_page(response.get_data(as_text=True)) == [], path
    for path in ("/", "/link-needed", "/t/not-a-real-token"):
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        assert check_page(page) == [], path


def test_language_names_are_marked_with_their_language(
    client: FlaskClient, session: Session, example_study: Study, open_round: None
) -> None:
    _expert(client, session, example_study, "en")
    page = Page(client.get("/e/consent").get_data(as_text=True))
    buttons = {b.attrs.get("lang"): b for b in page.find("button", name="language")}
    assert set(buttons) == {"en", "fa", "ru"}
    assert buttons["fa"].text.strip() == "فارسی"
    assert buttons["en"].attrs.get("aria-current") == "true"


def test_error_summary_links_each_problem_to_its_field(
    client: FlaskClient, session: Session, example_study: Study, open_round: None
) -> None:
    _expert(client, session, example_study, "fa")
    form = client.get("/e/consent").get_data(as_text=True)
    client.post("/e/consent", data={"agree": "y", "csrf_token": csrf_from(form)})
    item = session.scalars(
        select(Item).where(Item.study_id == example_study.id, Item.key == "E01")
    ).one()
    probability = next(q for q in item.questions if q.key == "probability")
    # a plain form post (no JavaScript) with a value off the scale, then the review
    response = client.post(
        "/e/round/items/E01",
        data={
            "csrf_token": csrf_from(client.get("/e/round/items/E01").get_data(as_text=True)),
            f"q{probability.id}": "۱۵۰",
            "action": "review",
        },
    )
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert check_page(html) == []
    page = Page(html)
    summary = page.by_id()["error-summary"]
    assert summary.attrs.get("role") == "alert" and summary.attrs.get("tabindex") == "-1"
    links = [e for e in page.elements if e.tag == "a" and summary in e.ancestors]
    first = next(e for e in links if e.attrs["href"].endswith(f"#question-{probability.id}"))
    assert "عددی بین ۰ و ۱۰۰ وارد کنید." in first.ancestors[-1].text  # the problem's line
    # the link leads to the question, where what was typed stays, marked and explained
    item_html = client.get(first.attrs["href"].split("#")[0]).get_data(as_text=True)
    assert check_page(item_html) == []
    item_page = Page(item_html)
    question = item_page.by_id()[f"question-{probability.id}"]
    assert question.attrs.get("aria-describedby") in item_page.by_id()
    field_ = item_page.by_id()[f"q{probability.id}"]
    assert field_.attrs.get("aria-invalid") == "true"
    assert field_.attrs.get("value") == "۱۵۰"


def test_feedback_charts_have_text_alternatives_and_tables(
    client: FlaskClient,
    session: Session,
    example_definition: SurveyDefinition,
    facilitator_user: User,
) -> None:
    definition = dataclasses.replace(
        example_definition,
        study=dataclasses.replace(example_definition.study, key="water-2040-a11y"),
    )
    links = demo.load_demo(
        session,
        definition,
        admin=facilitator_user,
        now=NOW,
        groups=(("Iran", "fa", 3), ("Russia", "ru", 2), ("International", "en", 2)),
        answered_rounds=1,
    )
    session.commit()
    token = next(t for _p, group, _language, t in links.expert_links if group == "Iran")
    enter_link(client, token)
    for path in ("/e/round/items/E01", "/e/round/items/E02", "/e/feedback/1"):
        html = client.get(path).get_data(as_text=True)
        assert check_page(html) == [], path
        page = Page(html)
        # several parts in one strip: an image named by what it shows, the numbers beside it
        strips = page.find("svg", class_="strip-svg")
        titled = [page.by_id().get(s.attrs.get("aria-labelledby", "")) for s in strips]
        assert all(t is not None and t.tag == "title" and t.text.strip() for t in titled), path
        charts = page.find("svg", class_="chart")
        tables = [
            e
            for e in page.find("table")
            if any(
                a.tag == "details" and "data-table" in a.attrs.get("class", "") for a in e.ancestors
            )
        ]
        assert charts and len(charts) == len(tables), path
        titles = [page.by_id()[svg.attrs["aria-labelledby"]] for svg in charts]
        assert all(t.tag == "title" and "توزیع پاسخ‌های پنل" in t.text for t in titles)
        # the expert's own answer is marked by more than colour: a triangle and words
        assert any(e.tag == "polygon" for svg in charts for e in svg.children)
        assert "(پاسخ شما)" in html


# ---------------------------------------------------------------- colours


def _palette() -> dict[str, str]:
    """The custom properties of :root in app.css."""
    root = re.search(r":root\s*{([^}]*)}", CSS.read_text())
    assert root is not None
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", root.group(1)))


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two colours."""
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


FEEDBACK_BACKGROUND = "#f7f9fc"
TEXT_PAIRS = [
    ("ink", "paper"),
    ("ink", "canvas"),
    ("ink-soft", "paper"),
    ("muted", "paper"),
    ("muted", "canvas"),
    ("brand", "paper"),
    ("brand", "brand-soft"),
    ("brand-strong", "paper"),
    ("accent", "paper"),
    ("ok", "ok-soft"),
    ("warn", "warn-soft"),
    ("bad", "bad-soft"),
    ("bad", "paper"),
    ("paper", "brand"),
    ("paper", "ink"),
]


@pytest.mark.parametrize(("foreground", "background"), TEXT_PAIRS)
def test_text_colours_reach_4_5_to_1(foreground: str, background: str) -> None:
    palette = _palette()
    ratio = contrast(palette[foreground], palette[background])
    assert ratio >= 4.5, f"{foreground} on {background}: {ratio:.2f}"


def test_text_on_the_feedback_panel_and_graphics_reach_their_ratios() -> None:
    palette = _palette()
    for name in ("muted", "accent", "ink-soft", "brand"):
        assert contrast(palette[name], FEEDBACK_BACKGROUND) >= 4.5, name
    # non-text contrast (1.4.11): bars, focus rings and input borders at least 3:1
    assert contrast(palette["chart-bar"], FEEDBACK_BACKGROUND) >= 3
    assert contrast(palette["focus-ring"], palette["paper"]) >= 3
    assert contrast(palette["focus"], palette["brand"]) >= 3
    assert contrast("#8a96a6", palette["paper"]) >= 3  # input borders
    assert "#8a96a6" in CSS.read_text()


def test_stylesheet_keeps_focus_visible_and_mirrors_with_logical_properties() -> None:
    css = CSS.read_text()
    assert re.search(r":focus-visible\s*{[^}]*outline:\s*3px solid", css)
    assert "outline: none" not in css.replace("main:focus { outline: none; }", "")
    # physical left/right would not mirror in Persian
    physical = re.findall(
        r"(?:margin|padding|border)-(?:left|right)\b|text-align:\s*(?:left|right)", css
    )
    assert physical == []
    assert "scaleX(-1)" not in css  # charts are laid out per direction, never mirrored as images
