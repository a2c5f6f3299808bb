"""The results service: scenario probabilities and trend impact analysis over the final snapshots."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy.orm import Session

from analysis.baseline import extrapolate_baseline
from analysis.errors import InputError
from analysis.expert_coherence import Judgements, panel_coherence
from analysis.pooling import pool
from analysis.scenarios import pool_experts, run_smic, scenario_probabilities, smic, smic_inputs
from analysis.tia import ImpactProfile, TrendEvent, trend_impact
from app.models import NotFoundError, Study, User
from app.services import results, scenario_results
from app.services.expert_judgements import coherence_view
from app.services.intervals import expert_profiles
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
    outcome = results.scenario_results(session, answered, plays=PLAYS, unasked_pairs="independent")
    # E02 and E03 were asked P(. | E01) and P(. | not E01); nothing else
    assert outcome.key_events == ("E01", "E02", "E03")
    assert set(outcome.unasked_pairs) == set(outcome.independent_pairs)
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
        assert {e.method for e in named.estimates} == {
            "smic",
            "smic_experts",
            "maxent",
            "crossimpact",
        }
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
    # the baseline is a straight line fitted to the history, with its prediction interval
    line = extrapolate_baseline(
        {2015: 250.0, 2020: 235.0, 2024: 228.5}, start_year=2024, end_year=2040, level=0.8
    )
    assert [f.baseline for f in trend.forecast] == pytest.approx(list(line.mean))
    assert any("straight-line trend" in str(n) for n in trend.notes)
    e02 = trend.events[0]
    medians = {
        part: float(np.median(_final_values(session, answered, "E02", "usage_impact", part)))
        for part in ("t1", "t2", "i_max", "t3", "i_ss")
    }
    assert (e02.t1, e02.t2, e02.i_max, e02.t3, e02.i_ss) == pytest.approx(
        (medians["t1"], medians["t2"], medians["i_max"], medians["t3"], medians["i_ss"])
    )
    frame = tidy_answers(session, answered)
    frame = frame[frame["value"].notna()].assign(value=lambda f: f["value"].astype(float))
    direct = trend_impact(
        line.as_mapping(),
        [
            TrendEvent(
                key=e.key,
                probabilities=e.probabilities,
                impact=ImpactProfile(e.t1, e.t2, e.t3, e.i_max, e.i_ss, kind="absolute"),
                # every simulated future draws one expert's own profile
                profiles=expert_profiles(frame, e.key, 2, "usage_impact", "absolute"),
            )
            for e in trend.events
        ],
        start_year=2024,
        end_year=2040,
        seed=5,
        runs=2000,
        baseline_se=line.se_mapping(),
        baseline_df=line.df,
    )
    assert all(
        len(expert_profiles(frame, e.key, 2, "usage_impact", "absolute")) >= 5 for e in trend.events
    )
    assert trend.final is not None
    assert trend.final.expected == pytest.approx(float(direct.forecast["expected"].iloc[-1]))
    # the expected value's bootstrap interval (experts resampled) brackets it
    assert trend.final.expected_lower is not None and trend.final.expected_upper is not None
    assert trend.final.expected_lower <= trend.final.expected <= trend.final.expected_upper
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
    # no development is left to move the trend: the forecast is the extrapolated baseline
    # alone, its band the baseline's prediction interval, and a note says why
    assert trend.events == ()
    assert all(f.expected == pytest.approx(f.baseline) for f in trend.forecast)
    assert trend.forecast[-1].low < trend.forecast[-1].baseline < trend.forecast[-1].high
    assert any("extrapolated baseline alone" in str(n) for n in trend.notes)
    assert trend.panel_estimate is None


def test_scenario_results_carry_bootstrap_intervals(session: Session, answered: Study) -> None:
    outcome = results.scenario_results(session, answered, plays=PLAYS, resamples=200)
    assert outcome.bootstrap is not None
    assert outcome.bootstrap.info.resamples == 200
    for key, by_method in outcome.pooled_intervals.items():
        logodds = by_method["logodds"]
        # the bootstrap's whole-panel pool is the snapshot's pool of the same answers
        assert logodds.estimate == pytest.approx(
            next(e.probability for e in outcome.events if e.key == key), abs=1e-6
        )
        assert logodds.lower <= logodds.estimate <= logodds.upper
    for rank in outcome.bootstrap.top:
        assert rank.rank_lower <= rank.rank_upper
    data = json.loads(json.dumps(outcome.as_dict()))
    assert data["bootstrap"]["resamples"] == 200
    assert results.scenario_results(session, answered, plays=PLAYS, resamples=0).bootstrap is None


def test_unasked_pairs_are_unknown_by_default_and_only_the_never_asked_pair_is_free(
    session: Session, answered: Study
) -> None:
    outcome = results.scenario_results(session, answered, plays=PLAYS)
    assert outcome.settings == {"scenario_pooling": "both", "unasked_pairs": "unknown"}
    assert outcome.independent_pairs == ()
    assert len(outcome.unasked_pairs) == 4
    assert any("unknown, not independent" in str(note) for note in outcome.notes)
    filled = results.scenario_results(session, answered, plays=PLAYS, unasked_pairs="independent")
    unknown_smic, filled_smic = outcome.method("smic"), filled.method("smic")
    assert unknown_smic is not None and filled_smic is not None
    # no invented P(E01 | E02) = P(E01) pulls against the panel's P(E02 | E01) any more
    assert unknown_smic.facts["objective"] < filled_smic.facts["objective"]
    # the same inputs with only the never-asked pair (E02, E03) declared independent: the
    # unknown pair's ranges contain those
    inputs = results.event_inputs(session, answered)
    keys = ("E01", "E02", "E03")
    pooled = smic_inputs(keys, scenario_results._judgements(inputs), unasked="unknown")
    declared = pooled.asked_cells.copy()
    declared[1, 2] = declared[2, 1] = True  # given and given_not hold P(i) there
    pinned = smic(pooled.p, pooled.given, pooled.given_not, event_keys=keys, asked=declared)
    table = scenario_probabilities({"S2": "E02 and E03"}, event_keys=keys, smic=pinned)
    free = run_smic(pooled, bounds_for=0)
    low, high = free.bounds_of([bool((s >> 1) & 1 and (s >> 2) & 1) for s in range(8)])
    assert low <= float(table.loc[0, "lower"]) + 1e-9
    assert high >= float(table.loc[0, "upper"]) - 1e-9
    assert high - low > float(table.loc[0, "upper"] - table.loc[0, "lower"]) + 0.05


def test_experts_pooling_averages_each_expert_s_own_smic(session: Session, answered: Study) -> None:
    outcome = results.scenario_results(session, answered, plays=PLAYS)
    method = outcome.method("smic_experts")
    assert method is not None
    inputs = results.event_inputs(session, answered)
    keys = ("E01", "E02", "E03")
    frame = tidy_answers(session, answered)
    last = frame[(frame["round"] == frame["round"].max()) & frame["value"].notna()]
    experts: dict[str, Judgements] = {}
    for expert, rows in last.groupby("expert"):
        p = {
            str(r.item): float(r.value) / 100
            for r in rows.itertuples()
            if (r.item, r.question, r.part)
            in {("E01", "probability", ""), ("E02", "timing", "2040"), ("E03", "probability", "")}
        }
        given = {
            (str(r.item), "E01"): float(r.value) / 100
            for r in rows.itertuples()
            if r.part == "E01|given"
        }
        given_not = {
            (str(r.item), "E01"): float(r.value) / 100
            for r in rows.itertuples()
            if r.part == "E01|given_not"
        }
        experts[str(expert)] = Judgements(p, given, given_not)
    direct = pool_experts(keys, experts, fallback_p=inputs.probabilities, top=10)
    assert method.facts["experts"] == len(experts) == 8
    for ranked, (_, row) in zip(method.top, direct.scenarios.iterrows(), strict=False):
        assert ranked.probability == pytest.approx(float(row["probability"]), abs=1e-9)
        assert ranked.lower == pytest.approx(float(row["lower"]), abs=1e-9)
    by_key = {e.key: e for e in outcome.events}
    for i, key in enumerate(keys):
        assert by_key[key].coherent_experts == pytest.approx(float(direct.p_star[i]), abs=1e-9)
    # the coherence rows are the analysis' own, by pseudonym
    panel = panel_coherence(experts)
    assert outcome.coherence["experts"] == 8
    assert outcome.coherence["mean_score"] == pytest.approx(panel.mean_score)
    rows = {row["expert"]: row for row in outcome.coherence_experts}
    assert set(rows) == set(experts)
    for fit in direct.experts:
        assert rows[fit.expert]["smic_objective"] == pytest.approx(fit.objective, abs=1e-12)
    json.dumps(outcome.as_dict(), allow_nan=False)
    only = results.scenario_results(session, answered, plays=PLAYS, scenario_pooling="experts")
    assert only.method("smic") is None and only.method("smic_experts") is not None
    with pytest.raises(InputError, match="scenario_pooling"):
        results.scenario_results(session, answered, scenario_pooling="cells")  # type: ignore[arg-type]


def test_coherence_per_pseudonym_is_hidden_in_a_small_anonymous_panel() -> None:
    coherence = panel_coherence(
        {"P-1": Judgements({"A": 0.9, "B": 0.4}, {("A", "B"): 0.8}, {("A", "B"): 0.3})}
    )
    small = SimpleNamespace(is_anonymous=True, k=5)
    summary, rows = coherence_view(coherence, small)  # type: ignore[arg-type]
    assert rows == [] and summary["per_expert_shown"] is False
    assert summary["max_violation"] == pytest.approx(40.0)
    confidential = SimpleNamespace(is_anonymous=False, k=5)
    _, rows = coherence_view(coherence, confidential)  # type: ignore[arg-type]
    assert [r["expert"] for r in rows] == ["P-1"]


def test_inputs_pooling_alone_still_reports_coherence(session: Session, answered: Study) -> None:
    outcome = results.scenario_results(session, answered, plays=PLAYS, scenario_pooling="inputs")
    assert outcome.method("smic_experts") is None
    assert all(e.coherent_experts is None for e in outcome.events)
    assert outcome.coherence_experts and all(
        row["smic_objective"] is None for row in outcome.coherence_experts
    )


def test_the_study_settings_choose_the_pooling_and_the_unasked_pairs(
    session: Session, answered: Study
) -> None:
    answered.definition = {
        **answered.definition,
        "analysis": {"scenario_pooling": "experts", "unasked_pairs": "independent"},
    }
    session.flush()
    outcome = results.scenario_results(session, answered, plays=PLAYS)
    assert outcome.settings == {"scenario_pooling": "experts", "unasked_pairs": "independent"}
    assert outcome.method("smic") is None and outcome.method("smic_experts") is not None
    assert len(outcome.independent_pairs) == 4
    # the caller's choice wins over the study's
    both = results.scenario_results(session, answered, plays=PLAYS, scenario_pooling="both")
    assert both.method("smic") is not None


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
