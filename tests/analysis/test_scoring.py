"""Brier and log scores against values computed by hand, and their properties."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.cli import main
from analysis.errors import InputError
from analysis.scoring import brier, inside_interval, log_score, pinball, score_forecasts


def test_brier_by_hand() -> None:
    # (0.8 - 1)^2 = 0.04, (0.3 - 0)^2 = 0.09, (0.5 - 1)^2 = 0.25
    np.testing.assert_allclose(brier([0.8, 0.3, 0.5], [1, 0, 1]), [0.04, 0.09, 0.25])


def test_log_score_by_hand() -> None:
    scores = log_score([0.8, 0.3, 0.5], [1, 0, 1])
    np.testing.assert_allclose(scores, [-math.log(0.8), -math.log(0.7), math.log(2)], rtol=1e-12)


def test_log_score_clips_certain_forecasts() -> None:
    # a wrong 0 % costs -ln(eps), a right 100 % costs -ln(1 - eps)
    scores = log_score([0.0, 1.0], [1, 1], eps=1e-3)
    np.testing.assert_allclose(scores, [-math.log(1e-3), -math.log(1 - 1e-3)], rtol=1e-12)


def test_mean_scores() -> None:
    result = score_forecasts([0.8, 0.3, 0.5], [1, 0, 1])
    assert result.n == 3
    assert result.brier == pytest.approx((0.04 + 0.09 + 0.25) / 3)
    assert result.log == pytest.approx((-math.log(0.8) - math.log(0.7) + math.log(2)) / 3)
    empty = score_forecasts([], [])
    assert empty.n == 0 and empty.brier is None and empty.log is None


@pytest.mark.parametrize(
    ("p", "o", "message"),
    [
        ([1.2], [1], "forecast 0 is 1.2"),
        ([0.5], [2], "outcome 0 is 2"),
        ([0.5, 0.1], [1], "2 forecasts"),
    ],
)
def test_bad_input_is_named(p: list[float], o: list[float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        brier(p, o)


@given(st.floats(0, 1), st.integers(0, 1))
def test_scores_are_proper_losses(p: float, o: int) -> None:
    # both are losses in their ranges, and the truth itself scores best
    assert 0 <= brier([p], [o])[0] <= 1
    assert log_score([p], [o])[0] >= log_score([float(o)], [o])[0] - 1e-12


def test_pinball_by_hand() -> None:
    # realised 10, quantiles 5/50/95 % at 4, 8, 20: losses 0.05*6, 0.5*2, 0.05*10
    assert pinball([4, 8, 20], [0.05, 0.5, 0.95], 10) == pytest.approx((0.3 + 1.0 + 0.5) / 3)
    assert inside_interval([4, 8, 20], 10) and not inside_interval([4, 8, 20], 21)


def test_the_command_line_scores_experts_and_the_pooled_panel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forecasts = tmp_path / "forecasts.csv"
    forecasts.write_text(
        "expert,item,p\nA,E1,80\nA,E2,30\nB,E1,60\nB,E2,10\nA,E3,50\n", encoding="utf-8"
    )
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("item,outcome\nE1,1\nE2,0\n", encoding="utf-8")  # E3 is unresolved
    assert main(["score", str(forecasts), str(outcomes), "--percent", "--pooling", "linear"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["items"] == ["E1", "E2"]
    # by hand: A (0.2^2 + 0.3^2) / 2 = 0.065; B (0.4^2 + 0.1^2) / 2 = 0.085
    assert result["experts"]["A"]["brier"] == pytest.approx(0.065)
    assert result["experts"]["B"]["brier"] == pytest.approx(0.085)
    assert result["experts"]["A"]["log"] == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    # the linear pool forecasts 0.7 and 0.2: ((0.3)^2 + (0.2)^2) / 2 = 0.065
    assert result["panel_forecasts"] == {"E1": pytest.approx(0.7), "E2": pytest.approx(0.2)}
    assert result["panel"]["brier"] == pytest.approx(0.065)
    assert result["panel"]["n"] == 2


def test_the_command_line_names_a_missing_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forecasts = tmp_path / "f.csv"
    forecasts.write_text("expert,item,prob\nA,E1,0.8\n", encoding="utf-8")
    outcomes = tmp_path / "o.csv"
    outcomes.write_text("item,outcome\nE1,1\n", encoding="utf-8")
    assert main(["score", str(forecasts), str(outcomes)]) == 2
    assert "lacks the column(s) p" in capsys.readouterr().err
