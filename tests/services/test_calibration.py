"""Cooke's model and the three weightings through the app, on the demo study and a TU Delft case."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from analysis.cooke import CookeData, read_excalibur
from analysis.settings import AnalysisSettings
from app.definitions import parse_definition
from app.models import Study, User
from app.services import (
    answers,
    calibration,
    forecast_scores,
    panel,
    resolutions,
    results,
    rounds,
    studies,
)
from tests.conftest import NOW
from tests.demo_cache import cached_demo


@pytest.fixture
def demo_study(session: Session, first_study_definition: Any, facilitator_user: User) -> Study:
    """The demo study: two closed rounds of simulated answers, round 3 open."""
    links = cached_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    return links.study


#: more than the demo's 11 seeds, so that Cooke's few-seeds caveat applies and can be followed
FEW_SEEDS_MINIMUM = 12


@pytest.fixture
def few_seeds_demo_study(
    session: Session, first_study_definition: Any, facilitator_user: User
) -> Study:
    """The demo study with a minimum of seeds above its 11: the weights carry the caveat."""
    definition = dataclasses.replace(
        first_study_definition,
        analysis=AnalysisSettings.from_mapping({"cooke_min_seeds": FEW_SEEDS_MINIMUM}),
    )
    links = cached_demo(session, definition, admin=facilitator_user, now=NOW)
    session.commit()
    return links.study


def test_demo_scores_eleven_seeds_without_the_few_seeds_warning(
    session: Session, demo_study: Study
) -> None:
    result = calibration.score_panel(session, demo_study)
    # C02 from the paper and ten published quantities (C06-C15) since the study's revision
    assert result.seeds == ("C02", *(f"C{n:02d}" for n in range(6, 16)))
    assert len(result.seeds) >= result.min_seeds and not result.few_seeds
    assert not any("calibration items" in str(n) and "Only" in str(n) for n in result.notes)
    assert result.n_scored >= demo_study.k and result.per_expert_shown
    assert sum(e.weight for e in result.experts) == pytest.approx(1.0)
    assert result.alpha is not None and 0 <= result.alpha <= 1


# --- a TU Delft case through the app ---------------------------------------------------------

HERE = Path(__file__).resolve().parent.parent / "analysis"
FIXTURES = json.loads((HERE / "fixtures" / "cooke_anduryl.json").read_text())


def _case_survey(case: CookeData) -> bytes:
    """A survey file whose calibration items are the case's seeds, asked at its quantiles."""
    levels = ", ".join(f"{round(q * 100):g}" for q in case.levels)
    lines = [
        "format = 1",
        "[study]",
        'key = "tu-delft-case"',
        'title = { en = "A TU Delft case" }',
        'description = { en = "Seed items of a published expert judgement study." }',
        'source = "TU Delft expert judgement data (Excalibur files)"',
        "horizon = 2040",
        'languages = ["en"]',
        'default_language = "en"',
        'anonymity = "anonymous"',
        "k = 3",
        "k_comments = 3",
        "[scales.estimate]",
        'kind = "continuous"',
        "[questions.seed]",
        'kind = "quantiles"',
        'scale = "estimate"',
        f"quantiles = [{levels}]",
        'prompt = { en = "Your estimates" }',
    ]
    for i, (key, value) in enumerate(zip(case.items, case.realizations, strict=True)):
        if math.isnan(value):
            continue
        lines += [
            "[[items]]",
            f'key = "S{i + 1:02d}"',
            'kind = "calibration"',
            f'title = {{ en = "{key}" }}',
            f'text = {{ en = "{key}" }}',
            f"true_value = {float(value)!r}",
            'source = "TU Delft"',
            'questions = ["seed"]',
        ]
    return "\n".join(lines).encode()


def _answer_case(session: Session, study: Study, case: CookeData, user: User) -> list[Any]:
    """The case's experts answer its seeds in round 1, which then closes."""
    members = []
    for number, expert in enumerate(case.experts):
        member = panel.add_expert(
            session,
            study,
            name=expert,
            email=f"e{number}@example.org",
            group="",
            language="en",
            actor=None,
            now=NOW,
        )
        panel.record_consent(session, member.participation, language="en", now=NOW)
        members.append(member.participation)
    round_ = rounds.create_round(session, study, actor=user, now=NOW)
    rounds.open_round(session, round_, actor=user, now=NOW)
    items = {i.key: i for i in study.items}
    for e, participation in enumerate(members):
        for i in range(len(case.items)):
            quantiles = case.assessments[e, i]
            if math.isnan(case.realizations[i]) or np.isnan(quantiles).any():
                continue
            values = {
                f"{round(q * 100):g}": float(v) for q, v in zip(case.levels, quantiles, strict=True)
            }
            answers.save_item(
                session,
                participation,
                round_,
                items[f"S{i + 1:02d}"],
                {"seed": {"values": values}},
                idempotency_key=None,
                now=NOW + timedelta(minutes=1),
            )
    rounds.close_round(session, round_, actor=user, now=NOW + timedelta(hours=1))
    session.commit()

    return members


def test_a_tu_delft_case_through_the_app_matches_anduryl(
    session: Session, facilitator_user: User
) -> None:
    case = read_excalibur(
        HERE / "data" / "cooke" / "Arkansas.dtt", HERE / "data" / "cooke" / "Arkansas.rls"
    )
    reference = FIXTURES["cases"]["Arkansas"]
    definition = parse_definition(_case_survey(case), "case.toml")
    study = studies.import_study(session, definition, actor=facilitator_user, now=NOW)
    members = _answer_case(session, study, case, facilitator_user)

    result = calibration.score_panel(session, study)
    assert result.n_scored == 4 and result.per_expert_shown
    assert not result.few_seeds  # ten seeds: no warning
    by_pseudonym = {e.pseudonym: e for e in result.experts}
    expected_weights = reference["decision_makers"]["global_optimised"]["expert_global_weights"]
    for e, participation in enumerate(members):
        scored = by_pseudonym[participation.pseudonym]
        assert scored.calibration == pytest.approx(reference["calibration"][e], abs=1e-6)
        assert scored.information == pytest.approx(reference["information_seed"][e], abs=1e-6)
        assert scored.weight == pytest.approx(expected_weights[e], abs=1e-6)
    assert result.alpha == pytest.approx(
        reference["decision_makers"]["global_optimised"]["alpha"], abs=1e-6
    )


def test_three_weightings_side_by_side_and_scores(
    session: Session, few_seeds_demo_study: Study
) -> None:
    closed = [r for r, _d in results.closed_snapshots(session, few_seeds_demo_study)]
    last = closed[-1]
    pooling = calibration.weighted_pooling(session, few_seeds_demo_study, last)
    assert pooling.rows
    snapshot = last.snapshot.data  # type: ignore[union-attr]
    for row in pooling.rows:
        frozen = snapshot["items"][row.item]["questions"][row.question]["parts"][row.part]
        # equal weights reproduce the frozen pooled numbers exactly (same answers, same order)
        assert row.pooled["equal"] == {
            m: frozen["pooled"][m] for m in ("logodds", "linear", "median")
        }
        assert row.pooled["performance"] is not None
    # the demo asks a confidence question per item: it is the self-rating
    assert pooling.self_rating_source == "confidence"
    assert any(row.pooled["self_rated"] is not None for row in pooling.rows)
    assert any(
        row.pooled["performance"]["logodds"] != row.pooled["equal"]["logodds"]  # type: ignore[index]
        for row in pooling.rows
    )
    # no outcome yet: nothing scored
    assert calibration_scores_empty(session, few_seeds_demo_study, last)
    # E01 occurred in 2030, before the study's horizon: resolved 1 for "by 2035"
    resolutions.record_outcome(
        session,
        few_seeds_demo_study,
        "E01",
        occurred=True,
        on=date(2026, 3, 1),
        source="news",
        actor=None,
        now=NOW,
    )
    resolutions.record_outcome(
        session,
        few_seeds_demo_study,
        "E02",
        occurred=False,
        on=date(2026, 3, 1),
        source="news",
        actor=None,
        now=NOW,
    )
    scores = forecast_scores.score_round(session, few_seeds_demo_study, last)
    assert {(r.item, r.outcome) for r in scores.resolved} == {("E01", 1)}  # E02 is still open
    row = next(r for r in pooling.rows if r.item == "E01" and r.question == "probability")
    p = row.pooled["equal"]["logodds"] / 100  # type: ignore[index]
    assert scores.panel["equal"].brier == pytest.approx((1 - p) ** 2)
    assert scores.panel["equal"].log == pytest.approx(-math.log(p))
    assert scores.per_expert_shown and len(scores.experts) >= few_seeds_demo_study.k
    # 11 seeds under a minimum of 12: the caveat travels
    assert scores.as_dict()["performance_few_seeds"] is True


def calibration_scores_empty(session: Session, study: Study, round_: Any) -> bool:
    """Whether a round's forecasts have nothing resolved."""
    return not forecast_scores.score_round(session, study, round_).resolved


def test_a_small_panel_shows_panel_level_figures_only(
    session: Session, facilitator_user: User
) -> None:
    case = read_excalibur(
        HERE / "data" / "cooke" / "Arkansas.dtt", HERE / "data" / "cooke" / "Arkansas.rls"
    )
    study = studies.import_study(
        session, parse_definition(_case_survey(case), "case.toml"), actor=facilitator_user, now=NOW
    )
    study.k = 5  # four experts: fewer than k
    _answer_case(session, study, case, facilitator_user)
    result = calibration.score_panel(session, study)
    assert result.n_scored == 4
    assert not result.per_expert_shown and result.experts == ()
    assert "pseudonym" not in str(result.as_dict()["experts"])
    assert result.alpha is not None  # the panel-level figures remain
