"""The survey file's [analysis] table: read, checked key by key, stored and read back."""

from __future__ import annotations

from app.definitions.serialize import definition_from_dict, definition_to_dict
from tests.definitions.helpers import MINIMAL, parse, problem_at, problems_of

WITH_ANALYSIS = MINIMAL + "\n[analysis]\nseed = 7\ntia_runs = 2000\n"


def test_a_file_without_the_table_gets_the_defaults() -> None:
    assert parse(MINIMAL).analysis.changed() == {}


def test_the_table_sets_the_settings_it_names() -> None:
    definition = parse(WITH_ANALYSIS)
    assert definition.analysis.seed == 7
    assert definition.analysis.tia_runs == 2000
    assert definition.analysis.changed() == {"seed": 7, "tia_runs": 2000}


def test_an_unknown_setting_is_a_problem_with_a_suggestion() -> None:
    problems = problems_of(MINIMAL + "\n[analysis]\nseeds = 7\n")
    problem = problem_at(problems, "analysis.seeds")
    assert "unknown field" in problem.message
    assert "seed" in problem.message


def test_a_value_out_of_range_is_a_problem_naming_the_key() -> None:
    problems = problems_of(MINIMAL + "\n[analysis]\ntia_runs = 5\nbootstrap_resamples = -1\n")
    assert "between 100" in problem_at(problems, "analysis.tia_runs").message
    assert "got -1" in problem_at(problems, "analysis.bootstrap_resamples").message


def test_settings_survive_storage_and_old_stored_definitions_read_as_defaults() -> None:
    definition = parse(WITH_ANALYSIS)
    stored = definition_to_dict(definition)
    assert definition_from_dict(stored).analysis == definition.analysis
    del stored["analysis"]  # a study imported before the table existed
    assert definition_from_dict(stored).analysis.changed() == {}


def test_cooke_settings_are_read_and_a_bad_choice_names_the_key() -> None:
    definition = parse(MINIMAL + '\n[analysis]\ncooke_alpha = "fixed"\ncooke_fixed_alpha = 0\n')
    assert definition.analysis.cooke_alpha == "fixed"
    assert definition.analysis.cooke_fixed_alpha == 0.0
    problems = problems_of(MINIMAL + '\n[analysis]\ncooke_alpha = "sometimes"\n')
    assert "optimised, fixed" in problem_at(problems, "analysis.cooke_alpha").message
