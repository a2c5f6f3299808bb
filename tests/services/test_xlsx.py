"""The XLSX writer: what a spreadsheet program reads back from it."""

from __future__ import annotations

import io
import math
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from app.services.exports.xlsx import Sheet, column_letter, sheet_names, write_xlsx, xlsx_bytes


def test_values_come_back_as_written_with_a_styled_frozen_filterable_header() -> None:
    rows = [
        [1, 2.5, True, None, "plain"],
        [-3, 1e-12, False, "", "  spaced\nlines "],
        [10**12, math.nan, None, "'=SUM(A1:A2)", 'پاسخ < & > "quoted" ✓'],
        [0, 0.1 + 0.2, True, "bell\x07 and nul\x00 removed", "E01"],
    ]
    header = ["int", "float", "bool", "text", "more"]
    content = xlsx_bytes([Sheet("Answers", header, rows, widths=[8, 9, 10, 20, 60])])
    book = load_workbook(io.BytesIO(content))
    sheet = book["Answers"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == tuple(header)
    assert values[1] == (1, 2.5, True, None, "plain")
    assert values[2] == (-3, 1e-12, False, None, "  spaced\nlines ")
    # text is never a formula; a number that is not finite is an empty cell
    assert values[3] == (10**12, None, None, "'=SUM(A1:A2)", 'پاسخ < & > "quoted" ✓')
    # numbers keep the 16 significant digits a spreadsheet holds (0.1 + 0.2 reads 0.3)
    assert values[4][1] == pytest.approx(0.1 + 0.2, rel=1e-15)
    assert values[4][:1] + values[4][2:] == (0, True, "bell and nul removed", "E01")
    assert sheet["A2"].data_type == "n" and sheet["D4"].data_type == "s"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E5"
    assert sheet["A1"].font.b and sheet["A1"].fill.fgColor.rgb == "FF1F4E79"
    assert not sheet["A2"].font.b
    # widths in characters (the file adds the cell padding spreadsheets expect)
    widths = [sheet.column_dimensions[c].width for c in "ABCDE"]
    assert [int(w) for w in widths] == [8, 9, 10, 20, 60]


def test_sheets_keep_their_order_and_get_valid_distinct_names() -> None:
    sheets = [
        Sheet("Statistics", ["a"], [[1]], widths=[8]),
        Sheet("Empty", ["a", "b"], [], widths=[8, 8]),
        Sheet("Statistics", ["a"], [[2]], widths=[8]),
        Sheet("What? [draft]: A/B", ["a"], [[3]], widths=[8]),
        Sheet("x" * 40, ["a"], [[4]], widths=[8]),
    ]
    book = load_workbook(io.BytesIO(xlsx_bytes(sheets)))
    assert book.sheetnames == ["Statistics", "Empty", "Statistics 2", "What draft AB", "x" * 31]
    assert list(book["Empty"].iter_rows(values_only=True)) == [("a", "b")]
    assert book["Statistics 2"]["A2"].value == 2


def test_names_and_letters() -> None:
    assert [column_letter(i) for i in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]
    assert sheet_names(["a", "A", "b"]) == ["a", "A 2", "b"]


class _State(StrEnum):
    OPEN = "open"


def test_rows_written_as_xml_read_back_as_xlsxwriters_own(tmp_path: Path) -> None:
    hostile: list[Any] = [
        *("=1+1", " lead", "trail ", "a\nb", "x\r\ny", "_x0041_", "<&>\"'", "فارسی"),
        *("\x01bad\x1f", float("nan"), float("inf"), 1e20, -0.0, 3, 2.5, True, False, None),
        *("", date(2020, 1, 2), _State.OPEN, "\t tab", "a_x12_b", 12345678901234567),
    ]
    header = [f"c{i}" for i in range(len(hostile))]
    read: dict[bool, Any] = {}
    for fast in (False, True):
        path = tmp_path / f"{fast}.xlsx"
        write_xlsx(path, [Sheet("A", header, [hostile] * 3, [10] * len(header))], fast=fast)
        sheet = load_workbook(path)["A"]
        cells = [[c.value for c in row] for row in sheet.iter_rows()]
        read[fast] = (cells, sheet.auto_filter.ref, sheet.dimensions, sheet.freeze_panes)
    assert read[True] == read[False]
    cells, autofilter, _dimensions, frozen = read[True]
    assert len(cells) == 4 and autofilter == "A1:X4" and frozen == "A2"
    assert cells[1][:3] == ["=1+1", " lead", "trail "]
    assert cells[1][8] == "bad" and cells[1][9] is None and cells[1][15] is True
