"""Cooke's model and the three weightings through the app, on the demo study and a TU Delft case."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from analysis.cooke import CookeData, read_excalibur
from app.definitions import parse_definition
from app.models import Study, User
from app.services import answers, calibration, demo, panel, rounds, studies
from tests.conftest import NOW


@pytest.fixture
def demo_study(session: Session, first_study_definition: Any, facilitator_user: User) -> Study:
    """The demo study: two closed rounds of simulated answers, round 3 open."""
    links = demo.load_demo(session, first_study_definition, admin=facilitator_user, now=NOW)
    session.commit()
    return links.study


def test_demo_scores_five_seeds_and_warns(session: Session, demo_study: Study) -> None:
    result = calibration.score_panel(session, demo_study)
    assert result.seeds == ("C01", "C02", "C03", "C04", "C05")
    assert result.few_seeds
    assert any("Only 5 calibration items" in str(n) for n in result.notes)
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


def test_a_tu_delft_case_through_the_app_matches_anduryl(
    session: Session, facilitator_user: User
) -> None:
    case = read_excalibur(HERE / "data" / "cooke" / "Arkansas.dtt", HERE / "data" / "cooke" / "Arkansas.rls")
    reference = FIXTURES["cases"]["Arkansas"]
    definition = parse_definition(_case_survey(case), "case.toml")
    study = studies.import_study(session, definition, actor=facilitator_user, now=NOW)
    members = []
    for number, expert in enumerate(case.experts):
        member = panel.add_expert(
            session, study, name=expert, email=f"e{number}@example.org", group="",
            language="en", actor=None, now=NOW,
        )
        panel.record_consent(session, member.participation, language="en", now=NOW)
        members.append(member.participation)
    round_ = rounds.create_round(session, study, actor=facilitator_user, now=NOW)
    rounds.open_round(session, round_, actor=facilitator_user, now=NOW)
    items = {i.key: i for i in study.items}
    for e, participation in enumerate(members):
        for i, key in enumerate(case.items):
            quantiles = case.assessments[e, i]
            if math.isnan(case.realizations[i]) or np.isnan(quantiles).any():
                continue
            values = {f"{round(q * 100):g}": float(v) for q, v in zip(case.levels, quantiles, strict=True)}
            answers.save_item(
                session, participation, round_, items[f"S{i + 1:02d}"], {"seed": {"values": values}},
                idempotency_key=None, now=NOW + timedelta(minutes=1),
            )
    rounds.close_round(session, round_, actor=facilitator_user, now=NOW + timedelta(hours=1))
    session.commit()

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
