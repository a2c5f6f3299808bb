"""The results service: scenario probabilities and trend impact analysis over the final snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy.orm import Session

from analysis.pooling import pool
from analysis.scenarios import smic
from analysis.tia import ImpactProfile, TrendEvent, trend_impact
from app.models import NotFoundError, Study, User
from app.services import results
from app.services.snapshots import POOLING_EPS
from app.services.tidy import tidy_answers
from tests.reports.helpers import scripted_study

#: few plays keep the tests fast; the numbers they check do not depend on the count
PLAYS = 20_000


@pytest.fixture
def answered(session: Session, example_study: Study, facilitator_user: User) -> Study:
    """The example study with two closed rounds."""
    scripted_study(session, example_study, facilitator_user)
    return example_study


def _final_values(
    session: Session, study: Study, item: str, question: str, part: str
) -> list[float]:
    """The raw answers of the last round to one part (to recompute figures independently)."""
    frame = tidy_answers(session, study)
    last = frame["round"].max()
    rows = frame[
        (frame["round"] == last)
        & (frame["item"] == item)
        & (frame["question"] == question)
        & (frame["part"] == part)
        & frame["value"].notna()
    ]
    return rows["value"].astype(float).tolist()


def test_event_probabilities_are_the_log_odds_pool_of_the_last_round(
    session: Session, answered: Study
) -> None:
    outcome = results.scenario_results(session, answered, plays=PLAYS)
    by_key = {e.key: e for e in outcome.events}
    assert set(by_key) == {"E01", "E02", "E03"}
    e01 = _final_values(session, answered, "E01", "probability", "")
    assert by_key["E01"].probability == pytest.approx(
        pool(np.array(e01) / 100, method="logodds", eps=POOLING_EPS).p, abs=1e-12
    )
    # E02 asks by 2030, 2035 and 2040: the study's horizon (2040) is the event's probability
    e02 = _final_values(session, answered, "E02", "timing", "2040")
    assert by_key["E02"].probability == pytest.approx(
        pool(np.array(e02) / 100, method="logodds", eps=POOLING_EPS).p, abs=1e-12
    )
    assert {e.round_number for e in outcome.events} == {2}
    assert outcome.round_number == 2


def test_smic_runs_on_the_conditionals_and_says_which_pairs_were_filled_in(
    session: Session, answered: Study
) -> None:
    outcome = results.scenario_results(session, answered, plays=PLAYS)
    # E02 and E03 were asked P(. | E01) and P(. | not E01); nothing else
    assert outcome.key_events == ("E01", "E02", "E03")
    assert set(outcome.independent_pairs) == {
        ("E01", "E02"),
        ("E01", "E03"),
        ("E02", "E03"),
        ("E03", "E02"),
    }
    assert any("independent" in str(note) for note in outcome.notes)
    method = outcome.method("smic")
    assert method is not None
    inputs = results.event_inputs(session, answered)
    keys = ["E01", "E02", "E03"]
    p = np.array([inputs.probabilities[k] for k in keys])
    given = np.tile(p[:, None], (1, 3))
    given_not = given.copy()
    for (i, j), value in inputs.given.items():
        given[keys.index(i), keys.index(j)] = value
        given_not[keys.index(i), keys.index(j)] = inputs.given_not[(i, j)]
    direct = smic(p, given, given_not, event_keys=keys)
    coherent = {e.key: e.coherent for e in outcome.events}
    for index, key in enumerate(keys):
        assert coherent[key] == pytest.approx(float(direct.p_star[index]), abs=1e-9)
    assert method.facts["objective"] == pytest.approx(direct.objective, abs=1e-12)


def test_named_scenarios_have_an_estimate_per_method_inside_its_bounds(
    session: Session, answered: Study
) -> None:
    outcome = results.scenario_results(session, answered, plays=PLAYS)
    assert [n.key for n in outcome.named] == ["S1", "S2"]
    for named in outcome.named:
        assert {e.method for e in named.estimates} == {"smic", "maxent", "crossimpact"}
        for estimate in named.estimates:
            assert estimate.lower - 1e-9 <= estimate.probability <= estimate.upper + 1e-9
    # the cross-impact plays reproduce the panel's probabilities (calibrated)
    for event in outcome.events:
        assert event.simulated == pytest.approx(event.probability, abs=0.02)
    # S1 = E01 and not E03; the maximum-entropy value agrees with SMIC's coherent moments
    s1 = outcome.named[0]
    maxent = s1.estimate("maxent")
    smic_value = s1.estimate("smic")
    assert maxent is not None and smic_value is not None
    assert maxent.probability == pytest.approx(smic_value.probability, abs=0.01)


def test_results_are_reproducible_with_the_seed_and_serialisable(
    session: Session, answered: Study
) -> None:
    first = results.scenario_results(session, answered, plays=PLAYS, seed=11).as_dict()
    again = results.scenario_results(session, answered, plays=PLAYS, seed=11).as_dict()
    other = results.scenario_results(session, answered, plays=PLAYS, seed=12).as_dict()
    assert first == again
    assert first["seed"] == 11
    assert first != other
    json.dumps(first, allow_nan=False)
    json.dumps([t.as_dict() for t in results.tia_results(session, answered)], allow_nan=False)


def test_trend_impact_matches_the_analysis_function_on_the_panel_medians(
    session: Session, answered: Study
) -> None:
    (trend,) = results.tia_results(session, answered, runs=2000, seed=5)
    assert trend.key == "T01"
    assert [e.key for e in trend.events] == ["E02", "E03"]
    assert trend.start_year == 2024 and trend.end_year == 2040
    assert trend.relative is False
    # the baseline is held at its last value up to the horizon, and says so
    assert all(f.baseline == pytest.approx(228.5) for f in trend.forecast)
    assert any("held at its last value" in str(n) for n in trend.notes)
    e02 = trend.events[0]
    medians = {
        part: float(np.median(_final_values(session, answered, "E02", "usage_impact", part)))
        for part in ("t1", "t2", "i_max", "t3", "i_ss")
    }
    assert (e02.t1, e02.t2, e02.i_max, e02.t3, e02.i_ss) == pytest.approx(
        (medians["t1"], medians["t2"], medians["i_max"], medians["t3"], medians["i_ss"])
    )
    direct = trend_impact(
        {2015: 250.0, 2020: 235.0, 2024: 228.5, 2040: 228.5},
        [
            TrendEvent(
                key=e.key,
                probabilities=e.probabilities,
                impact=ImpactProfile(e.t1, e.t2, e.t3, e.i_max, e.i_ss, kind="absolute"),
            )
            for e in trend.events
        ],
        start_year=2024,
        end_year=2040,
        seed=5,
        runs=2000,
    )
    assert trend.final is not None
    assert trend.final.expected == pytest.approx(float(direct.forecast["expected"].iloc[-1]))
    assert trend.final.high == pytest.approx(float(direct.forecast["p90"].iloc[-1]))
    # absolute impacts add: the expected change is the sum of the events' contributions
    assert trend.final.expected - trend.final.baseline == pytest.approx(
        sum(e.contribution for e in trend.events)
    )
    # the panel's own median estimate of the trend (its 50 % quantile) is kept for comparison
    assert trend.panel_estimate == pytest.approx(
        float(np.median(_final_values(session, answered, "T01", "usage_level", "50")))
    )


def test_a_study_without_closed_rounds_has_no_results(
    session: Session, example_study: Study
) -> None:
    with pytest.raises(NotFoundError):
        results.scenario_results(session, example_study)
    with pytest.raises(NotFoundError):
        results.tia_results(session, example_study)


def test_estimates_under_k_are_left_out_and_said_so(
    session: Session, example_study: Study, facilitator_user: User
) -> None:
    scripted_study(session, example_study, facilitator_user, groups=(("Utility", 4),))
    outcome = results.scenario_results(session, example_study, plays=PLAYS)
    assert outcome.events == ()
    assert outcome.methods == ()
    assert all(not n.estimates for n in outcome.named)
    assert any("fewer than k" in str(n) for n in outcome.notes)
    (trend,) = results.tia_results(session, example_study)
    assert trend.forecast == ()
    assert trend.panel_estimate is None


def test_the_study_settings_drive_seeds_and_sizes_unless_the_caller_overrides(
    session: Session, answered: Study
) -> None:
    answered.definition = {
        **answered.definition,
        "analysis": {"seed": 99, "cross_impact_plays": 3000, "tia_runs": 500},
    }
    session.flush()
    scenarios = results.scenario_results(session, answered)
    assert scenarios.seed == 99
    crossimpact = scenarios.method("crossimpact")
    assert crossimpact is not None and crossimpact.facts["plays"] == 3000
    assert {t.runs for t in results.tia_results(session, answered)} <= {500}
    assert results.scenario_results(session, answered, seed=5, plays=PLAYS).seed == 5
