"""Analysis settings: defaults, checks that name the bad key, and documentation that stays true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analysis.errors import InputError
from analysis.settings import AnalysisSettings

README = Path(__file__).resolve().parents[2] / "surveys" / "README.md"


def test_defaults_are_the_documented_values() -> None:
    settings = AnalysisSettings.from_mapping({})
    assert settings == AnalysisSettings()
    assert settings.seed == 20240101
    assert settings.pooling_eps == pytest.approx(1e-3)
    assert settings.changed() == {}


def test_given_values_replace_defaults_and_are_reported_as_changed() -> None:
    settings = AnalysisSettings.from_mapping({"seed": 7, "independence_blend": 0})
    assert settings.seed == 7
    # a whole number is accepted where a decimal is expected, and stored as a decimal
    assert isinstance(settings.independence_blend, float)
    assert settings.changed() == {"seed": 7, "independence_blend": 0.0}
    assert settings.as_dict()["tia_runs"] == AnalysisSettings().tia_runs


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"seeds": 1}, "'seeds' is not known"),
        ({"tia_runs": 10}, "'tia_runs': must be between 100 and 1e+06; got 10"),
        ({"tia_runs": 1000.5}, "'tia_runs': must be a whole number"),
        ({"pooling_eps": "small"}, "'pooling_eps': must be a number"),
        ({"bootstrap_resamples": True}, "'bootstrap_resamples': must be a number"),
        ({"independence_blend": float("nan")}, "must be a finite number"),
        ({"cooke_alpha": "optimized"}, "'cooke_alpha': must be one of optimised, fixed"),
        ({"cooke_min_seeds": 0}, "'cooke_min_seeds': must be between 1 and 100; got 0"),
        ({"log_score_eps": 0.5}, "'log_score_eps': must be between 1e-09 and 0.1; got 0.5"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(data: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        AnalysisSettings.from_mapping(data)


def test_every_setting_is_documented_in_the_survey_format_with_its_default() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## `[analysis]`", 1)[1].split("\n## ", 1)[0]
    for name, default, _meaning in AnalysisSettings.documentation():
        row = next(
            (line for line in section.splitlines() if line.startswith(f"| `{name}` |")), None
        )
        assert row is not None, f"{name} is missing from surveys/README.md"
        shown = row.split("|")[2].strip().strip("`")
        if isinstance(default, str):
            assert shown == f'"{default}"', name
        else:
            assert float(shown) == pytest.approx(float(default)), name
