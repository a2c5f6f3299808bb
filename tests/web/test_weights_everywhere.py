"""The three weightings wherever pooled numbers appear, trend scores, and a translatable report
section (on the demo study: few seeds, so Cooke's caveat must show with performance weights)."""

from __future__ import annotations

import io
from typing import Any

import flask_babel
import pytest
from babel.support import NullTranslations
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from app.models import Study, User
from app.reports.render import fmt
from app.services import api_keys, calibration, resolutions, results
from tests.conftest import NOW, csrf_from, login
from tests.services.test_calibration import (  # noqa: F401 - the fixtures
    demo_study,
    few_seeds_demo_study,
)

# pages and texts, the same on any database: the PostgreSQL pass skips them
pytestmark = pytest.mark.once

API = "/api/v1"


class Marked(NullTranslations):  # type: ignore[misc]
    """A language in which every message is wrapped in ⟦ ⟧: what escapes gettext shows bare."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return f"⟦{singular if n == 1 else plural}⟧"

    def pgettext(self, context: str, message: str) -> str:
        return f"⟦{message}⟧"

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        return f"⟦{singular if n == 1 else plural}⟧"

    ugettext = gettext
    ungettext = ngettext
    upgettext = pgettext
    unpgettext = npgettext


def _weights_section(html: str) -> str:
    """The report's weights chapter, up to the next chapter."""
    return html.split('id="weights" class="chapter"', 1)[1].split('class="chapter"', 1)[0]


def test_pooled_numbers_show_three_weightings_everywhere(
    client: FlaskClient,
    session: Session,
    few_seeds_demo_study: Study,  # noqa: F811
    facilitator_user: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    last = results.closed_snapshots(session, few_seeds_demo_study)[-1][0]
    pooling = calibration.weighted_pooling(session, few_seeds_demo_study, last)
    assert pooling.calibration.few_seeds  # 11 seeds under a minimum of 12: the caveat travels
    row = next(r for r in pooling.rows if r.item == "E01" and r.question == "probability")
    performance = row.pooled["performance"]["logodds"]  # type: ignore[index]
    login(client)

    # the results overview: equal weights the headline, the two others under it, the caveat
    overview = client.get(f"/f/studies/{few_seeds_demo_study.id}/results").get_data(as_text=True)
    assert "weighted-line" in overview
    assert "The performance weights rest on 11 realised calibration items" in overview
    # the item page: the same, for each round that asked the item
    item = client.get(f"/f/studies/{few_seeds_demo_study.id}/results/items/E01").get_data(
        as_text=True
    )
    assert item.count("weighted-line") >= 2  # at least two closed rounds asked E01
    assert f"performance {fmt(performance)}" in item

    # the API's pooled table: weighted columns next to the snapshot's, and the caveat
    secret = api_keys.create_key(
        session, facilitator_user, name="t", study_ids=None, now=NOW
    ).secret
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    body = client.get(
        f"{API}/studies/{few_seeds_demo_study.id}/rounds/{last.number}/pooled", headers=headers
    ).get_json()
    api_row = next(r for r in body["rows"] if r["item"] == "E01" and r["question"] == "probability")
    assert api_row["logodds"] == row.pooled["equal"]["logodds"]  # type: ignore[index]
    assert api_row["performance"]["logodds"] == pytest.approx(performance)
    assert body["weighting"]["few_seeds"] is True and body["weighting"]["min_seeds"] == 12
    schema = client.get(f"{API}/openapi.json").get_json()["components"]["schemas"]
    assert {"self_rated", "performance"} <= set(schema["PooledRow"]["properties"])

    # the spreadsheet export: a sheet with every weighting and the seed count behind them
    form = client.get(f"/f/studies/{few_seeds_demo_study.id}/results").get_data(as_text=True)
    token = csrf_from(form)
    xlsx = client.post(
        f"/f/studies/{few_seeds_demo_study.id}/results/export",
        data={"csrf_token": token, "format": "xlsx"},
    )
    sheet = load_workbook(io.BytesIO(xlsx.data))["Weighted pooling"]
    header = [c.value for c in sheet[1]]
    cells = [
        dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(min_row=2)
    ]
    assert xlsx.status_code == 200, xlsx.status_code
    # empty parts come back as empty cells
    key = (last.number, "E01", "probability", row.part)
    mine = [c for c in cells if (c["round"], c["item"], c["question"], c["part"] or "") == key]
    assert len(mine) == 1, sorted({(c["item"], c["part"]) for c in cells})[:5]
    mine_row = mine[0]
    assert mine_row["performance_logodds"] == pytest.approx(performance)
    assert mine_row["performance_few_seeds"] is True and mine_row["performance_seeds"] == 11

    # the report's section: every label and note goes through gettext in the report's language
    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: Marked())
    report = client.get(f"/f/studies/{few_seeds_demo_study.id}/results/report.html").get_data(
        as_text=True
    )
    section = _weights_section(report)
    assert "⟦Only 11 calibration items have realisations" in section  # a service note
    assert "⟦Few seed items.⟧" in section and "⟦Self-rated expertise⟧" in section
    for note in section.split("<li>")[1:]:
        assert note.startswith("⟦"), note[:80]


def test_trend_scores_on_the_weights_page_and_in_the_api(
    client: FlaskClient,
    session: Session,
    demo_study: Study,  # noqa: F811
    facilitator_user: User,
) -> None:
    resolutions.record_trend_value(
        session,
        demo_study,
        "T01",
        year=demo_study.horizon,
        value=81.0,
        source="index",
        actor=None,
        now=NOW.replace(year=demo_study.horizon + 1),
    )
    secret = api_keys.create_key(
        session, facilitator_user, name="t", study_ids=None, now=NOW
    ).secret
    session.commit()
    last = results.closed_snapshots(session, demo_study)[-1][0]
    login(client)
    page = client.get(f"/f/studies/{demo_study.id}/weights").get_data(as_text=True)
    assert "Trend estimates scored" in page and "Pinball loss, T01" in page
    body: dict[str, Any] = client.get(
        f"{API}/studies/{demo_study.id}/rounds/{last.number}/trend-scores",
        headers={"Authorization": f"Bearer {secret}"},
    ).get_json()
    assert [t["item"] for t in body["targets"]] == ["T01"]
    assert body["per_expert_shown"] is True
    assert all(set(e) == {"pseudonym", "n", "hits", "hit_rate", "pinball"} for e in body["experts"])
    report = client.get(f"/f/studies/{demo_study.id}/results/report.html").get_data(as_text=True)
    assert "Trend scores by pseudonym" in _weights_section(report)
