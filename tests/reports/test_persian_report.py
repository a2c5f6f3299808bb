"""The report in Persian writes its figures in Persian digits with ٪ (issue 19)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app.models import Study, User, utcnow
from app.reports import render
from app.reports.data import build_report
from tests.persian_text import latin_in_persian, visible_text
from tests.reports.helpers import scripted_study


@pytest.fixture
def persian_report(
    app: Flask, session: Session, example_study: Study, facilitator_user: User
) -> str:
    """The example study's report, two closed rounds, rendered in Persian."""
    scripted = scripted_study(session, example_study, facilitator_user)
    with app.test_request_context():
        report = build_report(session, scripted.study, now=utcnow(), language="fa")
        return render.render_html(report)


def test_numbers_and_percentages_by_language() -> None:
    assert render.fmt(1234.56, 1, "fa") == "۱٬۲۳۴٫۶"
    assert render.fmt(-2, 0, "fa") == "\u200e−۲"
    assert render.pct(0.4, 0, "fa") == "\u061c۴۰٪"
    assert render.pct(0.0004, 0, "fa") == "\u061c۰٫۰۴٪"  # two significant digits, not 0
    assert render.fmt(1234.56, 1, "ru") == "1\xa0234,6"
    assert render.pct(0.4, 0, "ru") == "40\xa0%"
    assert render.fmt(1234.56) == "1,234.6"
    assert render.pct(0.4) == "40%"
    assert render.fmt(None) == render.pct(float("nan")) == "–"


def test_report_tables_in_persian_have_no_latin_digits(persian_report: str) -> None:
    cells = re.findall(r'(?s)<td class="num">(.*?)</td>', persian_report)
    assert len(cells) > 50
    latin = [c for c in (visible_text(cell).strip() for cell in cells) if re.search(r"[0-9%]", c)]
    assert latin == []


def test_report_in_persian_has_no_latin_percent_sign(persian_report: str) -> None:
    text = visible_text(persian_report)
    assert "٪" in text
    assert [hit for hit in latin_in_persian(text) if "%" in hit] == []


def test_report_prose_in_persian_has_no_latin_numbers(persian_report: str) -> None:
    # section numbers, counts in the figure boxes, services' notes, year and quantile labels
    assert latin_in_persian(visible_text(persian_report)) == []


def test_report_notes_keep_item_keys_as_written() -> None:
    from app.messages import N_

    note = N_(
        "%(n)s of %(total)s conditional probabilities in SMIC were not asked.", n=26, total=56
    )
    assert render.report_message(note, "fa").startswith("۲۶")
    keyed = N_("%(event)s happens", event="E06")
    assert render.report_message(keyed, "fa") == "E06 happens"


def test_chart_labels_in_persian_use_persian_digits(persian_report: str) -> None:
    import base64

    labels = []
    for encoded in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", persian_report):
        svg = base64.b64decode(encoded).decode("utf-8")
        labels += re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert any(re.search("[۰-۹]", label) for label in labels)
    # item keys (E01) keep their Latin digits; no other number on a chart is Latin
    assert [x for x in labels if re.search(r"(?<![A-Za-z0-9])[0-9]", x)] == []


def test_raster_chart_texts_in_persian_use_persian_digits(app: Flask) -> None:
    from flask_babel import force_locale
    from matplotlib.figure import Figure

    from app.reports import charts

    figure = Figure()
    axes = figure.add_subplot()
    label = axes.text(0.5, 0.5, "دور 2 · E06 · 48 مورد")
    with app.test_request_context(), force_locale("fa"):
        charts._localise_texts(figure)
    assert label.get_text() == "دور ۲ · E06 · ۴۸ مورد"


def test_the_micmac_map_ticks_use_persian_digits_in_persian(app: Flask) -> None:
    from flask_babel import force_locale

    from app.reports.structural_charts import MapPoint, micmac_map_svg

    points = [
        MapPoint(key=key, influence=influence, dependence=dependence, quadrant="driving")
        for key, influence, dependence in (("GEO", 70.0, 20.0), ("ALLY", 84.0, 155.0))
    ]
    with app.test_request_context(), force_locale("fa"):
        svg = micmac_map_svg(
            points, title="map", x_label="x", y_label="y", quadrant_labels={}, raster=False
        )
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    if not texts:  # matplotlib draws its text as paths: read the tick labels it was given
        texts = re.findall(r"<!-- ([^>]*) -->", svg)
    numbers = [t for t in texts if re.search("[0-9۰-۹]", t) and t not in ("GEO", "ALLY")]
    assert numbers and all(not re.search("[0-9]", t) for t in numbers), numbers
