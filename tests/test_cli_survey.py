"""`flask survey validate`: what it says about a file, including the pairs cap."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from tests.conftest import FIRST_STUDY


def _capped_copy(tmp_path: Path, cap: int) -> Path:
    """The first study with `conditional_pairs_per_expert = cap`."""
    text = FIRST_STUDY.read_text(encoding="utf-8").replace(
        "round_limit = 3\n", f"round_limit = 3\nconditional_pairs_per_expert = {cap}\n", 1
    )
    path = tmp_path / "capped.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_prints_the_pairs_and_the_smallest_panel(app: Flask, tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(
        args=["survey", "validate", str(_capped_copy(tmp_path, 7))]
    )
    assert result.exit_code == 0, result.output
    # 6 key events x 5 others = 30 pairs; ceil(30 x 5 / 7) = 22
    assert (
        "conditional pairs: 30, each expert is asked 7; every pair gets k = 5 answers from a "
        "panel of at least 22 experts." in result.output
    )
    assert "warning: study.conditional_pairs_per_expert" not in result.output


def test_validate_warns_when_the_cap_has_no_effect(app: Flask, tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(
        args=["survey", "validate", str(_capped_copy(tmp_path, 40))]
    )
    assert result.exit_code == 0, result.output
    assert "conditional pairs: 30, each expert is asked 30;" in result.output
    assert "panel of at least 5 experts" in result.output
    assert (
        "warning: study.conditional_pairs_per_expert: the file asks 30 conditional pairs and the "
        "cap is 40" in result.output
    )


def test_validate_without_a_cap_says_nothing_about_pairs(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["survey", "validate", str(FIRST_STUDY)])
    assert result.exit_code == 0, result.output
    assert "conditional pairs" not in result.output


def test_validate_reports_a_bad_cap_with_file_line_and_field(app: Flask, tmp_path: Path) -> None:
    path = _capped_copy(tmp_path, 0)
    result = app.test_cli_runner().invoke(args=["survey", "validate", str(path)])
    assert result.exit_code == 1
    line = path.read_text(encoding="utf-8").splitlines().index("conditional_pairs_per_expert = 0")
    assert (
        f"capped.toml:{line + 1}: study.conditional_pairs_per_expert: must be between 1 and "
        "10000, got 0" in result.output
    )
