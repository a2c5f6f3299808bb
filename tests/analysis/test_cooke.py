"""Cooke's classical model against anduryl 1.2.2's numbers on the TU Delft cases, and by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from analysis import cooke
from analysis.cooke import (
    decision_maker,
    make_data,
    parse_excalibur,
    read_excalibur,
    score_experts,
)
from analysis.errors import InputError

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "cooke"
FIXTURES = json.loads((HERE / "fixtures" / "cooke_anduryl.json").read_text())
CASES = sorted(FIXTURES["cases"])
TOLERANCE = 1e-6


def _case(name: str) -> Any:
    return read_excalibur(DATA / f"{name}.dtt", DATA / f"{name}.rls")


@pytest.mark.parametrize("case", CASES)
def test_reader_matches_anduryl_reader(case: str) -> None:
    data = _case(case)
    reference = FIXTURES["cases"][case]
    assert list(data.experts) == reference["experts"]
    assert list(data.items) == reference["items"]
    assert data.levels.tolist() == reference["quantiles"]
    expected = np.array([np.nan if r is None else r for r in reference["realizations"]])
    np.testing.assert_array_equal(data.realizations, expected)
    assert data.assessments.shape == (len(data.experts), len(data.items), len(data.levels))


@pytest.mark.parametrize("case", CASES)
def test_expert_scores_match_anduryl(case: str) -> None:
    reference = FIXTURES["cases"][case]
    scores = score_experts(_case(case), overshoot=FIXTURES["overshoot"])
    for name in ("calibration", "information_total", "information_seed", "combined_score"):
        np.testing.assert_allclose(getattr(scores, name), reference[name], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(
        np.nan_to_num(scores.information_per_item),
        np.array(reference["information_per_item"]),
        rtol=0,
        atol=TOLERANCE,
    )


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    "dm_name", ["global_optimised", "item_optimised", "global_alpha0", "item_alpha0", "equal"]
)
def test_decision_makers_match_anduryl(case: str, dm_name: str) -> None:
    reference = FIXTURES["cases"][case]["decision_makers"][dm_name]
    dm = decision_maker(
        _case(case),
        weights=reference["weight_type"],
        alpha=reference["alpha_given"],
        overshoot=FIXTURES["overshoot"],
    )
    assert dm.alpha == pytest.approx(reference["alpha"], abs=TOLERANCE)
    for name in ("calibration", "information_total", "information_seed", "combined_score"):
        assert getattr(dm, name) == pytest.approx(reference[name], abs=TOLERANCE), name
    expected_quantiles = np.array(reference["quantiles"], dtype=float)
    np.testing.assert_allclose(dm.quantiles, expected_quantiles, rtol=1e-9, atol=TOLERANCE)
    if reference["weight_type"] in ("global", "equal"):
        np.testing.assert_allclose(
            dm.weights[:, 0], reference["expert_global_weights"], rtol=0, atol=TOLERANCE
        )


def test_optimised_alpha_beats_every_candidate() -> None:
    dm = decision_maker(_case("CoveringKids"))
    assert dm.optimised
    assert dm.combined_score == max(score for _, score in dm.candidates)
    scores = dm.experts
    assert {a for a, _ in dm.candidates} == set(scores.calibration.tolist())


# --- hand-derived cases ---------------------------------------------------------------------


def _two_experts() -> Any:
    # three seed items with realisation 5, one target; 5/50/95 quantiles
    good = [[1.0, 5.5, 9.0], [4.0, 4.9, 6.0], [0.0, 6.0, 12.0], [1.0, 2.0, 3.0]]
    poor = [[6.0, 7.0, 8.0], [6.0, 7.0, 8.0], [6.0, 7.0, 8.0], [1.0, 2.0, 3.0]]
    return make_data(
        [good, poor], [5.0, 5.0, 5.0, math.nan], [0.05, 0.5, 0.95], experts=["good", "poor"]
    )


def test_calibration_by_hand() -> None:
    scores = score_experts(_two_experts())
    # good: bins (r <= q5, q5 < r <= q50, q50 < r <= q95, > q95) = (0, 2, 1, 0)
    assert scores.bin_counts.tolist() == [[0, 2, 1, 0], [3, 0, 0, 0]]
    p = np.array([0.05, 0.45, 0.45, 0.05])
    s = np.array([0, 2, 1, 0]) / 3
    information = sum(si * math.log(si / pi) for si, pi in zip(s, p, strict=True) if si > 0)
    expected = stats.chi2.sf(2 * 3 * information, df=3)
    assert scores.calibration[0] == pytest.approx(expected, rel=1e-12)
    assert scores.n_effective == 3
    assert scores.calibration[0] > scores.calibration[1]


def test_information_by_hand_with_overshoot() -> None:
    scores = score_experts(_two_experts(), overshoot=0.1)
    # item 1: answers 1..9 and realisation 5 -> [1, 9] widened by 0.8 each side
    low, high = 1 - 0.8, 9 + 0.8
    p = [0.05, 0.45, 0.45, 0.05]
    edges = [low, 1.0, 5.5, 9.0, high]
    widths = np.diff(edges)
    expected = math.log(high - low) + sum(
        pi * math.log(pi / w) for pi, w in zip(p, widths, strict=True)
    )
    assert scores.information_per_item[0, 0] == pytest.approx(expected, rel=1e-12)


def test_log_items_are_scored_on_the_log_scale() -> None:
    linear = make_data([[[1.0, 10.0, 100.0]]], [10.0], [0.05, 0.5, 0.95])
    logged = make_data([[[1.0, 10.0, 100.0]]], [10.0], [0.05, 0.5, 0.95], log_scale=[True])
    information_linear = score_experts(linear).information_per_item[0, 0]
    information_log = score_experts(logged).information_per_item[0, 0]
    # on the log scale the quantiles are evenly spaced: bins of width ln 10
    low, high = -0.1 * math.log(100), math.log(100) * 1.1
    widths = np.diff([low, 0.0, math.log(10), math.log(100), high])
    p = [0.05, 0.45, 0.45, 0.05]
    expected = math.log(high - low) + sum(
        pi * math.log(pi / w) for pi, w in zip(p, widths, strict=True)
    )
    assert information_log == pytest.approx(expected, rel=1e-12)
    assert information_log != pytest.approx(information_linear)


def test_single_expert_decision_maker_is_that_expert() -> None:
    data = make_data([[[1.0, 2.0, 4.0], [10.0, 20.0, 30.0]]], [2.5, math.nan], [0.05, 0.5, 0.95])
    dm = decision_maker(data, weights="equal")
    np.testing.assert_allclose(dm.quantiles, data.assessments[0], atol=1e-12)


def test_equal_weight_mixture_quantile_by_hand() -> None:
    # two experts, uniform pieces; with the same range the median of the mixture is the average
    data = make_data(
        [[[0.0, 1.0, 2.0]], [[2.0, 3.0, 4.0]]], [2.0], [0.05, 0.5, 0.95], experts=["a", "b"]
    )
    dm = decision_maker(data, weights="equal")
    assert dm.quantiles[0, 1] == pytest.approx(2.0)
    assert np.all(np.diff(dm.quantiles[0]) > 0)


def test_user_weights_are_normalised_and_checked() -> None:
    data = _two_experts()
    dm = decision_maker(data, weights="user", user_weights=[3, 1])
    np.testing.assert_allclose(dm.weights[:, 0], [0.75, 0.25])
    with pytest.raises(InputError, match="user_weights"):
        decision_maker(data, weights="user", user_weights=[1])


def test_alpha_above_every_calibration_is_refused() -> None:
    with pytest.raises(InputError, match="above every expert's calibration"):
        decision_maker(_two_experts(), alpha=0.999999)


def test_missing_answers_get_no_weight_on_that_item() -> None:
    data = _two_experts()
    values = data.assessments.copy()
    values[1, 3, :] = np.nan
    partial = make_data(values, data.realizations, data.levels.tolist(), experts=data.experts)
    dm = decision_maker(partial, weights="equal")
    assert dm.weights[:, 3].tolist() == [1.0, 0.0]
    assert math.isnan(score_experts(partial).information_per_item[1, 3])


@pytest.mark.parametrize(
    ("assessments", "message"),
    [
        ([[[1.0, 3.0, 2.0]]], "expert E1, item Q1: gives quantiles that do not rise strictly"),
        ([[[1.0, np.nan, 2.0]]], "gives some quantiles but not all"),
    ],
)
def test_bad_assessments_are_named(assessments: list[Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_data(assessments, [1.0], [0.05, 0.5, 0.95])


def test_reader_reports_the_bad_line() -> None:
    dtt = (DATA / "Arkansas.dtt").read_text()
    rls = (DATA / "Arkansas.rls").read_text()
    lines = dtt.splitlines()
    lines[3] = lines[3].replace("UNI", "XYZ")
    with pytest.raises(InputError, match=r"\.dtt, line 4: expected expert number"):
        parse_excalibur("\n".join(lines), rls)
    with pytest.raises(InputError, match="Excalibur header"):
        parse_excalibur("hello\n", rls)
    with pytest.raises(InputError, match="cannot read"):
        read_excalibur(DATA / "nope.dtt", DATA / "Arkansas.rls")


def test_missing_value_code_marks_no_answer_and_target_items() -> None:
    dtt = "* CLASS ASCII OUTPUT FILE. NQ=   3   QU=   5  50  95\n"
    dtt += "    1       A1    1   seed one UNI  1.0E+0000  2.0E+0000  3.0E+0000\n"
    dtt += "    1       A1    2  target UNI -9.99500E+0002 -9.99500E+0002 -9.99500E+0002\n"
    dtt += "    2       B2    1   seed one UNI  1.5E+0000  2.5E+0000  3.5E+0000\n"
    dtt += "    2       B2    2  target UNI  4.0E+0000  5.0E+0000  6.0E+0000\n"
    rls = "    1   seed one  2.2E+0000 UNI\n    2  target -9.99500E+0002 UNI\n"
    data = parse_excalibur(dtt, rls)
    assert data.items == ("seed one", "target")
    assert data.is_seed.tolist() == [True, False]
    assert np.isnan(data.assessments[0, 1]).all()


@pytest.mark.parametrize("weights", ["global", "item"])
def test_decision_maker_ignores_expert_order(weights: str) -> None:
    data = _case("Arkansas")
    order = [2, 0, 3, 1]
    shuffled = make_data(
        data.assessments[order],
        data.realizations,
        data.levels.tolist(),
        experts=[data.experts[i] for i in order],
        items=data.items,
    )
    one = decision_maker(data, weights=weights)  # type: ignore[arg-type]
    other = decision_maker(shuffled, weights=weights)  # type: ignore[arg-type]
    np.testing.assert_allclose(one.quantiles, other.quantiles, rtol=1e-12)
    assert one.combined_score == pytest.approx(other.combined_score, rel=1e-12)
    np.testing.assert_allclose(one.experts.calibration[order], other.experts.calibration)


@pytest.mark.parametrize("case", CASES[:3])
def test_a_panel_tabulated_a_few_experts_at_a_time_gives_the_same_decision_maker(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mixture's CDF summed over slices of experts (bounded memory for thousands) is the
    one tabulated for the whole panel at once."""
    whole = decision_maker(_case(case), weights="item", overshoot=FIXTURES["overshoot"])
    monkeypatch.setattr(cooke, "_CDF_ROWS", 2)
    sliced = decision_maker(_case(case), weights="item", overshoot=FIXTURES["overshoot"])
    assert sliced.alpha == whole.alpha
    np.testing.assert_allclose(sliced.quantiles, whole.quantiles, rtol=1e-12, atol=1e-12)
