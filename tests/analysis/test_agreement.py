"""Kendall's W and Krippendorff's alpha against pyirr, scipy, pingouin and krippendorff."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pingouin
import pyirr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.agreement import kendall_w, krippendorff_alpha
from analysis.errors import InputError


def _irr_data(name: str) -> pd.DataFrame:
    """A data set shipped with pyirr (R's irr), read directly (pyirr's reader warns)."""
    spec = importlib.util.find_spec("pyirr")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return pd.read_csv(folder / f"{name}.csv", index_col=0)


def test_kendall_w_on_irr_anxiety_matches_irr_and_friedman() -> None:
    anxiety = _irr_data("anxiety")  # 20 subjects x 3 raters
    result = kendall_w(anxiety.to_numpy().T)
    corrected = pyirr.kendall(anxiety, correct=True)
    plain = pyirr.kendall(anxiety, correct=False)
    assert result.w == pytest.approx(plain.value, rel=1e-12)
    assert result.w_corrected == pytest.approx(corrected.value, rel=1e-12)
    assert result.chi2 == pytest.approx(corrected.statistic, rel=1e-12)
    friedman = stats.friedmanchisquare(*anxiety.to_numpy().tolist())  # one sample per item
    assert result.chi2 == pytest.approx(friedman.statistic, rel=1e-12)
    assert result.p == pytest.approx(friedman.pvalue, rel=1e-9)
    assert (result.m, result.n, result.df) == (3, 20, 19)


def test_kendall_w_matches_pingouin_friedman() -> None:
    rng = np.random.default_rng(2)
    ratings = rng.integers(1, 6, size=(6, 8)).astype(float)
    long = pd.DataFrame(
        [(r, i, ratings[r, i]) for r in range(6) for i in range(8)],
        columns=["rater", "item", "score"],
    )
    reference = pingouin.friedman(long, dv="score", within="item", subject="rater")
    assert kendall_w(ratings).w_corrected == pytest.approx(float(reference["W"].iloc[0]), rel=1e-9)


def test_kendall_w_perfect_agreement_and_tie_term() -> None:
    ranks = np.tile(np.arange(1.0, 6.0), (4, 1))
    assert kendall_w(ranks).w == pytest.approx(1.0)
    tied = kendall_w([[1, 1, 2], [1, 1, 2]])
    assert tied.tie_term == 2 * (2**3 - 2)
    assert tied.w_corrected == pytest.approx(1.0)


def test_kendall_w_drops_incomplete_raters_and_unrated_items() -> None:
    ratings = np.array(
        [[1, 2, 3, np.nan], [1, 3, 2, np.nan], [np.nan, 1, 2, np.nan], [3, 2, 1, np.nan]]
    )
    result = kendall_w(ratings)
    assert result.raters_dropped == 1 and result.items_dropped == 1
    assert result.w == pytest.approx(kendall_w(ratings[[0, 1, 3], :3]).w)
    with pytest.raises(InputError, match="at least 2 raters"):
        kendall_w([[1, 2, np.nan], [np.nan, 1, 2]])


@pytest.mark.parametrize(
    ("level", "expected"),
    # Krippendorff's canonical example (irr's nmm data): published values
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_alpha_on_irr_nmm(level: str, expected: float) -> None:
    nmm = _irr_data("nmm").to_numpy().T  # 4 observers x 12 units, with missing values
    result = krippendorff_alpha(nmm, level)  # type: ignore[arg-type]
    assert result.alpha == pytest.approx(expected, abs=5e-4)
    oracle = krippendorff.alpha(reliability_data=nmm, level_of_measurement=level)
    assert result.alpha == pytest.approx(oracle, rel=1e-12)


def test_krippendorff_alpha_on_irr_diagnoses_nominal() -> None:
    diagnoses = _irr_data("diagnoses")
    codes = diagnoses.apply(lambda column: column.str.slice(0, 1).astype(float)).to_numpy().T
    oracle = krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal")
    assert krippendorff_alpha(codes, "nominal").alpha == pytest.approx(oracle, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 6),
    st.integers(2, 12),
    st.sampled_from(["nominal", "ordinal", "interval", "ratio"]),
    st.integers(0, 10_000),
)
def test_krippendorff_alpha_matches_package_on_random_data(
    raters: int, units: int, level: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 6, size=(raters, units)).astype(float)
    data[rng.random(size=data.shape) < 0.2] = np.nan
    if len(np.unique(data[~np.isnan(data)])) < 2 or ((~np.isnan(data)).sum(axis=0) >= 2).sum() == 0:
        return
    ours = krippendorff_alpha(data, level).alpha  # type: ignore[arg-type]
    if np.isnan(ours):
        # undefined only when the pairable units use a single value (the oracle divides 0 by 0)
        pairable = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
        assert len(np.unique(pairable[~np.isnan(pairable)])) == 1
        return
    theirs = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_agreement_invariant_to_rater_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 6, size=(5, 7)).astype(float)
    order = rng.permutation(5)
    assert kendall_w(data[order]).w == pytest.approx(kendall_w(data).w)
    assert krippendorff_alpha(data[order]).alpha == pytest.approx(krippendorff_alpha(data).alpha)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="level must be"):
        krippendorff_alpha([[1, 2], [1, 2]], "cardinal")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="raters x items"):
        kendall_w([1, 2, 3])
