"""Survey-tool exports (one row per respondent) into the long format, driven by a mapping.

Reads the wide exports of LimeSurvey, Qualtrics (whose CSV has two more header rows: the
question texts and the import ids), REDCap (raw export; longitudinal projects have one row per
record and event) and any wide CSV or XLSX. A mapping (JSON, written by hand or proposed by
`propose_mapping` from the headers) says which column holds the respondent id, the group, and
which answer columns are which item, question and round:

    {"format": "limesurvey", "id": "token", "group": "attribute_1",
     "columns": {"impact[E01]": {"item": "E01", "question": "impact"}, ...},
     "codes": {"impact": {"A1": 1, "A2": 2}},
     "scales": {"impact": "likert:1:9", "likely": "probability"}}

Rounds come from a column's own "round", else from a round column in the rows
("round_column" with "round_values", e.g. REDCap's redcap_event_name), else from the file (one
file per round, matched across files by the respondent id). Errors name the file, the row (the
header is row 1) and the column.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.errors import InputError

FORMATS = ("limesurvey", "qualtrics", "redcap", "wide")
LONG_HEADER = ("round", "expert", "item", "question", "value")

#: columns each tool adds that are not answers (REDCap's *_complete and *_timestamp too)
META_COLUMNS: dict[str, frozenset[str]] = {
    "limesurvey": frozenset(
        [
            "id",
            "submitdate",
            "lastpage",
            "startlanguage",
            "seed",
            "token",
            "startdate",
            "datestamp",
            "ipaddr",
            "refurl",
            "interviewtime",
            "firstname",
            "lastname",
            "email",
        ]
    ),
    "qualtrics": frozenset(
        [
            "StartDate",
            "EndDate",
            "Status",
            "IPAddress",
            "Progress",
            "Duration (in seconds)",
            "Finished",
            "RecordedDate",
            "ResponseId",
            "RecipientLastName",
            "RecipientFirstName",
            "RecipientEmail",
            "ExternalReference",
            "LocationLatitude",
            "LocationLongitude",
            "DistributionChannel",
            "UserLanguage",
        ]
    ),
    "redcap": frozenset(
        [
            "record_id",
            "redcap_event_name",
            "redcap_repeat_instrument",
            "redcap_repeat_instance",
            "redcap_data_access_group",
            "redcap_survey_identifier",
        ]
    ),
    "wide": frozenset(),
}
_ID_NAMES = ("expert", "pseudonym", "respondent", "participant", "id", "token", "record_id")
_BRACKETS = re.compile(r"^(?P<a>[^\[\]]+)\[(?P<b>[^\[\]]+)\]$")
_ROUND_PREFIX = re.compile(r"^r(?:ound)?_?(?P<round>\d+)[_.](?P<rest>.+)$", re.I)
_ROUND_SUFFIX = re.compile(r"^(?P<rest>.+)[_.]r(?:ound)?_?(?P<round>\d+)$", re.I)
_LAST_SEPARATOR = re.compile(r"^(?P<a>.+)[_.](?P<b>[^_.]+)$")
_CODE_NUMBER = re.compile(r"^[A-Za-z]*(\d+)$")


@dataclass(frozen=True)
class ColumnMap:
    """What one answer column holds."""

    item: str
    question: str
    round: int | None = None


@dataclass(frozen=True)
class ImportMapping:
    """A parsed mapping file (see the module docstring)."""

    format: str
    id: str
    columns: dict[str, ColumnMap]
    group: str | None = None
    round_column: str | None = None
    round_values: dict[str, int] = field(default_factory=dict)
    codes: dict[str, dict[str, float | None]] = field(default_factory=dict)
    scales: dict[str, str] = field(default_factory=dict)
    sheet: str | int = 0
    delimiter: str = ","


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: expected a column name, not {value!r}")
    return value


def parse_mapping(document: Mapping[str, Any], source: str = "mapping") -> ImportMapping:
    """Check a mapping document (parsed JSON) and return it typed; errors name the key."""
    fmt = str(document.get("format", "wide")).lower()
    if fmt not in FORMATS:
        raise InputError(f"{source}: format {fmt!r} is not one of {', '.join(FORMATS)}")
    if "id" not in document:
        raise InputError(f"{source}: 'id' (the respondent id column) is missing")
    raw_columns = document.get("columns")
    if not isinstance(raw_columns, dict) or not raw_columns:
        raise InputError(f"{source}: 'columns' must map answer columns to item and question")
    columns: dict[str, ColumnMap] = {}
    for name, spec in raw_columns.items():
        if not isinstance(spec, dict) or not spec.get("item") or not spec.get("question"):
            raise InputError(f"{source}: column {name!r} needs an 'item' and a 'question'")
        round_ = spec.get("round")
        if round_ is not None and not isinstance(round_, int):
            raise InputError(f"{source}: column {name!r}: 'round' must be a whole number")
        columns[str(name)] = ColumnMap(str(spec["item"]), str(spec["question"]), round_)
    round_values = document.get("round_values", {})
    if not isinstance(round_values, dict) or not all(
        isinstance(v, int) for v in round_values.values()
    ):
        raise InputError(f"{source}: 'round_values' must map values to round numbers")
    if document.get("round_column") and not round_values:
        raise InputError(f"{source}: 'round_column' needs 'round_values'")
    codes: dict[str, dict[str, float | None]] = {}
    for question, table in (document.get("codes") or {}).items():
        if not isinstance(table, dict):
            raise InputError(f"{source}: codes for {question!r} must map codes to numbers")
        for code, number in table.items():
            if number is not None and not isinstance(number, int | float):
                raise InputError(
                    f"{source}: code {code!r} of {question!r} must be a number or null"
                )
        codes[str(question)] = {str(k): v for k, v in table.items()}
    return ImportMapping(
        format=fmt,
        id=_text(document["id"], f"{source}: 'id'"),
        columns=columns,
        group=_text(document["group"], f"{source}: 'group'") if document.get("group") else None,
        round_column=document.get("round_column") or None,
        round_values={str(k): int(v) for k, v in round_values.items()},
        codes=codes,
        scales={str(k): str(v) for k, v in (document.get("scales") or {}).items()},
        sheet=document.get("sheet", 0),
        delimiter=str(document.get("delimiter", ",")),
    )


def read_mapping(path: str) -> ImportMapping:
    """A mapping from its JSON file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object")
    return parse_mapping(document, path)


@dataclass(frozen=True)
class Export:
    """One export file as text cells, with each data row's number in the file (header = 1)."""

    path: str
    frame: pd.DataFrame
    rows: list[int]


def read_export(path: str, fmt: str, *, sheet: str | int = 0, delimiter: str = ",") -> Export:
    """Read a CSV or XLSX export as text; Qualtrics' two extra header rows are checked and dropped."""
    if path.lower().endswith((".xlsx", ".xlsm")):
        try:
            import openpyxl  # noqa: F401 - pandas needs it for .xlsx; say so plainly if missing
        except ImportError:
            raise InputError(
                f"{path}: reading .xlsx needs openpyxl (pip install 'delphi-analysis[xlsx]')"
            ) from None
        try:
            frame = pd.read_excel(path, sheet_name=sheet, dtype=str, header=0)
        except (ValueError, IndexError) as error:  # no such sheet, or not a workbook
            raise InputError(f"{path}: cannot read the workbook: {error}") from None
    else:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",  # LimeSurvey and Qualtrics start their CSV with a BOM
            sep=delimiter,
        )
    frame = frame.fillna("")
    frame.columns = [str(c).strip() for c in frame.columns]
    duplicated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicated:
        raise InputError(f"{path}: column {duplicated[0]!r} appears twice in the header")
    rows = list(range(2, len(frame) + 2))
    if fmt == "qualtrics":
        if len(frame) < 2 or not any("ImportId" in str(v) for v in frame.iloc[1]):
            raise InputError(
                f"{path}: not a Qualtrics CSV export: rows 2 and 3 should hold the question "
                'texts and the import ids ({"ImportId": ...})'
            )
        frame, rows = frame.iloc[2:].reset_index(drop=True), rows[2:]
    return Export(path, frame, rows)


def _number(text: str, codes: Mapping[str, float | None], where: str) -> float | None:
    value = text.strip()
    if value in codes:
        return codes[value]
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise InputError(
            f'{where}: {value!r} is not a number (give it a number under "codes" in the mapping)'
        ) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InputError(f"{where}: {value!r} is not a finite number")
    return number


def _scale_ends(spec: str) -> tuple[float, float] | None:
    parts = spec.split(":")
    kind = parts[0].strip().lower()
    if kind == "probability":
        return (0.0, 100.0)
    try:
        return (float(parts[1]), float(parts[2]))
    except (IndexError, ValueError):
        return None


def to_long(
    files: Sequence[str], mapping: ImportMapping, rounds: Sequence[int] | None = None
) -> pd.DataFrame:
    """The long table (round, expert, item, question, value[, group]) from the export files.

    File i is round rounds[i] (default i + 1) unless the mapping gives rounds per column or per
    row. The respondent id is the expert: the same id in two files is the same expert.
    """
    if rounds is not None and len(rounds) != len(files):
        raise InputError(f"{len(files)} file(s) but {len(rounds)} round(s) given")
    file_rounds = list(rounds) if rounds is not None else list(range(1, len(files) + 1))
    ends = {q: _scale_ends(s) for q, s in mapping.scales.items()}
    records: list[tuple[Any, ...]] = []
    seen: dict[tuple[int, str, str, str], str] = {}
    for path, file_round in zip(files, file_rounds, strict=True):
        export = read_export(path, mapping.format, sheet=mapping.sheet, delimiter=mapping.delimiter)
        needed = [mapping.id, *mapping.columns]
        needed += [c for c in (mapping.group, mapping.round_column) if c]
        missing = [c for c in needed if c not in export.frame.columns]
        if missing:
            raise InputError(
                f"{path}: no column {missing[0]!r} in the header"
                + (f" ({len(missing) - 1} more missing)" if len(missing) > 1 else "")
            )
        for row_number, row in zip(
            export.rows, export.frame.to_dict(orient="records"), strict=True
        ):
            expert = str(row[mapping.id]).strip()
            if not expert:
                raise InputError(
                    f"{path}: row {row_number}, column {mapping.id!r}: no respondent id"
                )
            row_round = file_round
            if mapping.round_column:
                label = str(row[mapping.round_column]).strip()
                if label not in mapping.round_values:
                    raise InputError(
                        f"{path}: row {row_number}, column {mapping.round_column!r}: {label!r} "
                        "is not in the mapping's round_values"
                    )
                row_round = mapping.round_values[label]
            group = str(row[mapping.group]).strip() if mapping.group else None
            for column, target in mapping.columns.items():
                where = f"{path}: row {row_number}, column {column!r}"
                value = _number(row[column], mapping.codes.get(target.question, {}), where)
                answer_round = target.round if target.round is not None else row_round
                key = (answer_round, expert, target.item, target.question)
                if key in seen:
                    raise InputError(
                        f"{where}: respondent {expert} answered {target.item} {target.question} "
                        f"of round {answer_round} already ({seen[key]})"
                    )
                seen[key] = f"{path}: row {row_number}, column {column!r}"
                bounds = ends.get(target.question)
                if value is not None and bounds and not bounds[0] <= value <= bounds[1]:
                    raise InputError(
                        f"{where}: {value:g} is off the scale of {target.question} "
                        f"({bounds[0]:g} to {bounds[1]:g})"
                    )
                records.append((answer_round, expert, target.item, target.question, value, group))
    frame = pd.DataFrame(records, columns=[*LONG_HEADER, "group"])
    if mapping.group is None:
        frame = frame.drop(columns="group")
    else:
        # a group asked once (e.g. in the first round's form) holds for the respondent's other rows
        known = frame[frame["group"] != ""].groupby("expert")["group"].first()
        frame["group"] = frame["group"].where(frame["group"] != "", frame["expert"].map(known))
    # a respondent with no answer at all in a round did not take part in it (e.g. the wide
    # file's empty round-3 cells of an expert who left): no rows, as in the long format
    answered = frame["value"].notna().groupby([frame["round"], frame["expert"]]).transform("any")
    frame = frame[answered]
    return frame.sort_values(["round", "item", "question"], kind="stable").reset_index(drop=True)


def write_long(frame: pd.DataFrame, out: Any) -> None:
    """The long table as CSV; whole numbers without a decimal point."""
    text = frame.copy()
    text["value"] = [
        "" if v is None or v != v else (str(int(v)) if float(v).is_integer() else repr(float(v)))
        for v in frame["value"]
    ]
    text.to_csv(out, index=False, lineterminator="\n")


# ---------------------------------------------------------------------------------------------
# Proposing a mapping from the headers


def detect_format(header: Sequence[str], second_row: Sequence[str] | None = None) -> str:
    """The tool that made an export, from its header (and Qualtrics' import-id row)."""
    names = set(header)
    if {"ResponseId", "StartDate"} <= names or (
        second_row and any("ImportId" in str(v) for v in second_row)
    ):
        return "qualtrics"
    if {"submitdate", "lastpage", "startlanguage"} <= names:
        return "limesurvey"
    if "redcap_event_name" in names or any(n.endswith("_complete") for n in header):
        return "redcap"
    return "wide"


def _is_meta(name: str, fmt: str) -> bool:
    if name in META_COLUMNS[fmt]:
        return True
    if fmt == "redcap" and name.endswith(("_complete", "_timestamp")):
        return True
    return fmt == "limesurvey" and (name.endswith("Time") or name.startswith("attribute_"))


def _split(name: str) -> tuple[int | None, str, str] | None:
    """(round or None, first part, second part) of an answer column's name, if it has parts."""
    round_: int | None = None
    rest = name
    for pattern in (_ROUND_PREFIX, _ROUND_SUFFIX):
        found = pattern.match(rest)
        if found:
            round_, rest = int(found["round"]), found["rest"]
            break
    parts = _BRACKETS.match(rest) or _LAST_SEPARATOR.match(rest)
    if not parts:
        return None
    return round_, parts["a"], parts["b"]


def _propose_scale(question: str, values: list[float]) -> str:
    if not values:
        return "continuous"
    low, high = min(values), max(values)
    whole = all(float(v).is_integer() for v in values)
    if any(word in question.lower() for word in ("likely", "prob", "percent", "pct")) or (
        low >= 0 and high <= 100 and high > 10
    ):
        return "probability"
    if whole and high - low <= 10:
        return f"likert:{low:g}:{high:g}"
    return "continuous"


def propose_mapping(files: Sequence[str], fmt: str | None = None) -> dict[str, Any]:
    """A mapping document guessed from the files' headers and values, to check and edit."""
    if fmt is None:
        # read as a plain table first: Qualtrics shows itself by its import-id row
        plain = read_export(files[0], "wide").frame
        fmt = detect_format(list(plain.columns), list(plain.iloc[1]) if len(plain) > 1 else None)
    exports = [read_export(path, fmt) for path in files]
    header = list(exports[0].frame.columns)
    notes = ["Check every guess below (items, questions, scales, codes) before importing."]
    id_column = {
        "limesurvey": "token",
        "qualtrics": "ExternalReference",
        "redcap": header[0] if header else "record_id",
    }.get(fmt)
    if id_column is None or id_column not in header:
        lowered = {c.lower(): c for c in header}
        id_column = next((lowered[n] for n in _ID_NAMES if n in lowered), header[0])
    document: dict[str, Any] = {"format": fmt, "id": id_column}
    group = next((c for c in header if c.lower() in ("group", "panel_group")), None)
    if group is None and fmt == "redcap" and "redcap_data_access_group" in header:
        group = "redcap_data_access_group"
    if group:
        document["group"] = group
    if fmt == "redcap" and "redcap_event_name" in header:
        labels = sorted({v for e in exports for v in e.frame["redcap_event_name"] if v})
        document["round_column"] = "redcap_event_name"
        document["round_values"] = {
            label: int(m.group(1)) if (m := re.search(r"(\d+)", label)) else index + 1
            for index, label in enumerate(labels)
        }
    skipped = {id_column, group, document.get("round_column")}
    candidates = [c for c in header if c not in skipped and not _is_meta(c, fmt)]
    split = {c: _split(c) for c in candidates}
    unsplit = [c for c, parts in split.items() if parts is None]
    parts = {c: p for c, p in split.items() if p is not None}
    firsts = Counter(p[1] for p in parts.values())
    seconds = Counter(p[2] for p in parts.values())
    question_first = len(firsts) <= len(seconds)
    columns: dict[str, dict[str, Any]] = {}
    values: dict[str, list[float]] = {}
    texts: dict[str, set[str]] = {}
    for column, (round_, a, b) in parts.items():
        question, item = (a, b) if question_first else (b, a)
        spec: dict[str, Any] = {"item": item, "question": question}
        if round_ is not None:
            spec["round"] = round_
        columns[column] = spec
        for export in exports:
            for text in export.frame[column]:
                text = str(text).strip()
                if not text:
                    continue
                try:
                    values.setdefault(question, []).append(float(text))
                except ValueError:
                    texts.setdefault(question, set()).add(text)
    document["columns"] = columns
    codes: dict[str, dict[str, int | None]] = {}
    for question, found in sorted(texts.items()):
        codes[question] = {
            code: int(m.group(1)) if (m := _CODE_NUMBER.match(code)) else None
            for code in sorted(found)
        }
        values.setdefault(question, []).extend(v for v in codes[question].values() if v is not None)
    if codes:
        document["codes"] = codes
        notes.append("Answer codes were read as the number they end with; null = no answer.")
    document["scales"] = {
        q: _propose_scale(q, values.get(q, []))
        for q in sorted({s["question"] for s in columns.values()})
    }
    notes.append("Scales are guessed from the answers seen; set their true ends and agree=LO..HI.")
    if unsplit:
        notes.append(f"Not mapped (no item and question in the name): {', '.join(unsplit)}")
    document["notes"] = notes
    return document
