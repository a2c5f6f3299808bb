"""Workbooks of plain tables through XlsxWriter: one sheet per table, a styled header row.

XlsxWriter writes each row as it comes (`constant_memory`), without an object per cell, so a
study's workbook of a few hundred thousand cells takes a fraction of what openpyxl needs
(openpyxl builds and serialises an object per cell, about 30 µs each). Text is written as
text, never read as a formula, a number or a link.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import xlsxwriter

#: characters XML 1.0 cannot hold (spreadsheets refuse them); removed from text cells
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: sheet names are at most 31 characters, without : \\ / ? * [ ]
_SHEET_NAME_FORBIDDEN = re.compile(r"[:\\/?*\[\]]")
MAX_SHEET_NAME = 31
#: the header row: white bold text on dark blue, top-aligned
_HEADER_FORMAT = {"bold": True, "font_color": "#FFFFFF", "bg_color": "#1F4E79", "valign": "top"}


@dataclass(frozen=True)
class Sheet:
    """One worksheet: a header row, then rows of plain values in the header's order."""

    name: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    #: column widths in characters, one per header column
    widths: Sequence[float]


def column_letter(index: int) -> str:
    """Spreadsheet column name of a 1-based index (1 -> A, 27 -> AA)."""
    letters = ""
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def sheet_names(names: Iterable[str]) -> list[str]:
    """Valid, distinct sheet names: forbidden characters dropped, cut to 31 characters."""
    found: list[str] = []
    for raw in names:
        name = _SHEET_NAME_FORBIDDEN.sub("", raw)[:MAX_SHEET_NAME] or "Sheet"
        candidate, counter = name, 1
        while candidate.lower() in {f.lower() for f in found}:
            counter += 1
            suffix = f" {counter}"
            candidate = name[: MAX_SHEET_NAME - len(suffix)] + suffix
        found.append(candidate)
    return found


def _write_cell(worksheet: Any, row: int, column: int, value: Any) -> None:
    """One cell by its type; empty and non-finite values leave the cell empty."""
    if value is None or value == "":
        return
    if isinstance(value, bool):
        worksheet.write_boolean(row, column, value)
    elif isinstance(value, int | float):
        if math.isfinite(value):
            worksheet.write_number(row, column, value)
    else:
        if isinstance(value, datetime | date):
            value = value.isoformat()
        worksheet.write_string(row, column, _ILLEGAL.sub("", str(value)))


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """A workbook (.xlsx) holding these sheets, in order."""
    buffer = io.BytesIO()
    options = {
        "in_memory": True,
        "constant_memory": True,
        # text stays text: no formulas, numbers or links guessed from what an expert wrote
        "strings_to_formulas": False,
        "strings_to_numbers": False,
        "strings_to_urls": False,
    }
    workbook = xlsxwriter.Workbook(buffer, options)
    header_format = workbook.add_format(_HEADER_FORMAT)
    for name, sheet in zip(sheet_names(s.name for s in sheets), sheets, strict=True):
        worksheet = workbook.add_worksheet(name)
        for column, width in enumerate(sheet.widths):
            worksheet.set_column(column, column, width)
        for column, title in enumerate(sheet.header):
            worksheet.write_string(0, column, _ILLEGAL.sub("", str(title)), header_format)
        worksheet.freeze_panes(1, 0)
        if sheet.rows and sheet.header:
            worksheet.autofilter(0, 0, len(sheet.rows), len(sheet.header) - 1)
        for number, row in enumerate(sheet.rows, start=1):
            for column, value in enumerate(row):
                _write_cell(worksheet, number, column, value)
    workbook.close()
    return buffer.getvalue()
