"""A small, fast XLSX writer for plain tables: one sheet per table, a styled header row.

openpyxl builds an object per cell and serialises it through an XML tree, about 30 µs a cell;
a study's workbook has a few hundred thousand cells. The tables here need only numbers,
booleans, text and empty cells, a bold header on a fill, frozen first row, a filter and
column widths, so the sheets are written as text directly (Office Open XML, ECMA-376, the
subset every spreadsheet reads). Text is stored inline, never as a formula.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

#: characters XML 1.0 cannot hold (spreadsheets refuse them); removed from text cells
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: sheet names are at most 31 characters, without : \\ / ? * [ ]
_SHEET_NAME_FORBIDDEN = re.compile(r"[:\\/?*\[\]]")
MAX_SHEET_NAME = 31

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


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


def _text(value: str) -> str:
    """Escaped text for a <t> element."""
    return escape(_ILLEGAL.sub("", value))


def _cell(ref: str, value: Any, style: int = 0) -> str:
    """One <c> element, or '' for an empty cell."""
    s = f' s="{style}"' if style else ""
    if value is None or value == "":
        return f'<c r="{ref}"{s}/>' if style else ""
    if isinstance(value, bool):
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int):
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if isinstance(value, float):
        if not math.isfinite(value):
            return f'<c r="{ref}"{s}/>' if style else ""
        return f'<c r="{ref}"{s}><v>{value!r}</v></c>'
    if isinstance(value, datetime | date):
        value = value.isoformat()
    text = str(value)
    space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{_text(text)}</t></is></c>'


def _sheet_xml(sheet: Sheet) -> str:
    """The worksheet part of one sheet."""
    count = len(sheet.header)
    letters = [column_letter(i) for i in range(1, count + 1)]
    last = letters[-1] if letters else "A"
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
        f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">',
        f'<dimension ref="A1:{last}{len(sheet.rows) + 1}"/>',
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        "</sheetView></sheetViews>",
        '<sheetFormatPr defaultRowHeight="15"/>',
    ]
    if count:
        parts.append("<cols>")
        parts.extend(
            f'<col min="{i}" max="{i}" width="{width:g}" customWidth="1"/>'
            for i, width in enumerate(sheet.widths, start=1)
        )
        parts.append("</cols>")
    parts.append('<sheetData><row r="1">')
    parts.extend(
        _cell(f"{letter}1", name, style=1)
        for letter, name in zip(letters, sheet.header, strict=True)
    )
    parts.append("</row>")
    for number, row in enumerate(sheet.rows, start=2):
        parts.append(f'<row r="{number}">')
        parts.extend(
            _cell(f"{letter}{number}", value)
            for letter, value in zip(letters, row, strict=True)
            if value is not None and value != ""
        )
        parts.append("</row>")
    parts.append("</sheetData>")
    if sheet.rows and count:
        parts.append(f'<autoFilter ref="A1:{last}{len(sheet.rows) + 1}"/>')
    parts.append("</worksheet>")
    return "".join(parts)


_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{_MAIN}">'
    '<fonts count="2">'
    '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><color rgb="FFFFFFFF"/><name val="Calibri"/><family val="2"/></font>'
    "</fonts>"
    '<fills count="3">'
    '<fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FF1F4E79"/><bgColor indexed="64"/>'
    "</patternFill></fill>"
    "</fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"'
    ' applyAlignment="1"><alignment vertical="top"/></xf>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


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


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """A workbook (.xlsx) holding these sheets, in order."""
    names = sheet_names(s.name for s in sheets)
    count = len(sheets)
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.styles+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, count + 1)
        )
        + "</Types>"
    )
    package_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
        f"{escape(_quoted_sheet(name))}!$A$1:${column_letter(len(sheet.header))}"
        f"${len(sheet.rows) + 1}</definedName>"
        for i, (name, sheet) in enumerate(zip(names, sheets, strict=True))
        if sheet.rows and sheet.header
    )
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
        '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
        + "".join(
            f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(names, start=1)
        )
        + "</sheets>"
        + (f"<definedNames>{filters}</definedNames>" if filters else "")
        + "</workbook>"
    )
    workbook_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<Relationships xmlns="{_PKG_REL}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, count + 1)
        )
        + f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    buffer = io.BytesIO()
    # level 1: the sheets are repetitive XML, so it still shrinks them about tenfold, at a
    # fraction of the default level's time
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", package_rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        archive.writestr("xl/styles.xml", _STYLES)
        for i, sheet in enumerate(sheets, start=1):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", _sheet_xml(sheet))
    return buffer.getvalue()


def _quoted_sheet(name: str) -> str:
    """A sheet name as a formula reference writes it ('It''s' for It's)."""
    return "'" + name.replace("'", "''") + "'"
