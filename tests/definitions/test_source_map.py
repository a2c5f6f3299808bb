"""The line scanner: where tables, keys and list elements of a TOML text start."""

from __future__ import annotations

from app.definitions.source_map import scan

TEXT = """\
format = 1
[study]
title = { en = "a", fa = "b" }
languages = ["en",
  "fa"]
note = \"\"\"several
lines = not a key
\"\"\"
[scales.impact]
kind = "likert"
[scales.impact.labels]
"-3" = { en = "x" }
[[items]]
key = "E01"
questions = ["a", "b"]
site.name = 'x'
[[items]]
key = "E02"
"""


def test_tables_keys_and_elements_map_to_their_lines() -> None:
    lines = scan(TEXT).lines
    assert lines[("format",)] == 1
    assert lines[("study",)] == 2
    assert lines[("study", "title", "fa")] == 3
    assert lines[("study", "languages", 0)] == 4
    assert lines[("study", "languages", 1)] == 5
    assert lines[("scales", "impact")] == 9
    assert lines[("scales", "impact", "labels", "-3")] == 12
    assert lines[("items", 0, "questions", 1)] == 15
    assert lines[("items", 0, "site", "name")] == 16
    assert lines[("items", 0, "site")] == 16
    assert lines[("items", 1, "key")] == 18


def test_multi_line_strings_do_not_hide_or_invent_keys() -> None:
    source_map = scan(TEXT)
    assert ("study", "lines") not in source_map.lines
    assert source_map.lines[("scales", "impact", "kind")] == 10


def test_lookup_falls_back_to_the_enclosing_table_then_the_first_line() -> None:
    source_map = scan(TEXT)
    assert source_map.line_of(("items", 1, "title")) == 17
    assert source_map.line_of(("scenarios", 0)) == 1


def test_labels_use_item_keys_and_count_positions_from_one() -> None:
    source_map = scan(TEXT)
    assert source_map.label(("items", 1, "questions", 0)) == "items[E02].questions[1]"
    assert source_map.label(("items", 7)) == "items[8]"


def test_path_at_names_the_field_on_a_line() -> None:
    source_map = scan(TEXT)
    assert source_map.path_at(15) == ("items", 0, "questions", 1)
    assert source_map.path_at(7) == ("study", "note")


def test_duplicates_are_noted_with_the_first_line() -> None:
    source_map = scan("[a]\nb = 1\nc = 2\nb = 3\n")
    assert source_map.duplicates == {4: (("a", "b"), 2)}


def test_deep_nesting_stops_the_scan_at_the_first_too_deep_point() -> None:
    source_map = scan("x = 1\ny = " + "[" * 50_000, max_depth=20)
    assert source_map.too_deep is not None
    line, path = source_map.too_deep
    assert line == 2
    assert path == ("y",) + (0,) * 20


def test_an_unclosed_list_is_remembered() -> None:
    assert scan('a = ["x",\n"y"\nb = 2\n').unclosed == ("a",)
