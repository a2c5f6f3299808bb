"""Fleiss' kappa against statsmodels and R's irr (through pyirr), on Fleiss' own 1971 data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyirr
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

from analysis.agreement import category_counts, fleiss_kappa
from analysis.errors import InputError


def diagnoses() -> np.ndarray:
    """Fleiss (1971): 30 patients, 6 psychiatrists, 5 diagnoses (irr's `diagnoses`)."""
    frame = pyirr.read_data("diagnoses")
    codes = frame.apply(lambda column: column.map(lambda v: int(str(v).split(".")[0])))
    counts, _ = category_counts(codes.to_numpy(dtype=float).T)
    return counts


def test_kappa_matches_statsmodels_and_its_z_matches_irr() -> None:
    counts = diagnoses()
    result = fleiss_kappa(counts)
    assert result.kappa == pytest.approx(statsmodels_fleiss(counts, method="fleiss"), abs=1e-12)
    assert result.kappa == pytest.approx(0.4302, abs=1e-4)  # Fleiss (1971)
    irr = pyirr.kappam_fleiss(pyirr.read_data("diagnoses"))
    assert result.z == pytest.approx(irr.statistic, rel=1e-9)
    assert result.se == pytest.approx(irr.value / irr.statistic, rel=1e-9)
    assert (result.subjects, result.raters, result.categories) == (30, 6, 5)


def test_the_textbook_table_of_ten_subjects_and_fourteen_raters() -> None:
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    result = fleiss_kappa(table)
    assert result.kappa == pytest.approx(0.210, abs=5e-4)
    assert result.kappa == pytest.approx(statsmodels_fleiss(table), abs=1e-12)


def test_the_standard_error_is_the_spread_of_kappa_when_raters_guess() -> None:
    rng = np.random.default_rng(11)
    shares = np.array([0.5, 0.3, 0.2])
    kappas = [fleiss_kappa(rng.multinomial(5, shares, size=40)).kappa for _ in range(2000)]
    se = fleiss_kappa(rng.multinomial(5, shares, size=40)).se
    assert np.std(kappas) == pytest.approx(se, rel=0.1)
    assert abs(np.mean(kappas)) < 0.01


def test_counts_from_ratings_with_gaps() -> None:
    ratings = np.array([[1, 2, np.nan], [1, 2, 3], [2, 2, 3]])  # raters x subjects
    counts, categories = category_counts(ratings)
    assert categories.tolist() == [1, 2, 3]
    assert counts.tolist() == [[2, 1, 0], [0, 3, 0], [0, 0, 2]]


def test_unequal_raters_and_one_category_are_refused_or_undefined() -> None:
    with pytest.raises(InputError, match="subject 2 has 3 ratings, subject 1 has 2"):
        fleiss_kappa([[1, 1], [2, 1]])
    assert np.isnan(fleiss_kappa([[3, 0], [3, 0]]).kappa)
    with pytest.raises(InputError, match="whole numbers"):
        fleiss_kappa(pd.DataFrame([[1.5, 0.5], [1, 1]]))
