"""Read a survey file (TOML) into a `SurveyDefinition`, or fail with every problem found.

The steps, each guarding the next: size limit, UTF-8 decoding, TOML syntax (`tomllib`, which
also rejects duplicate keys), then the format's rules (`app.definitions.validate`). Lines are
found by `app.definitions.source_map` only when there is something to report. An invalid file
yields `DefinitionError` and nothing else: there is no partial result.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tomllib
from dataclasses import replace

from app.definitions.fields import Checker, quote
from app.definitions.model import DefinitionError, Problem, SurveyDefinition
from app.definitions.source_map import SourceMap, scan
from app.definitions.validate import build_definition
from app.definitions.vocabulary import MAX_FILE_BYTES, MAX_NESTING, MAX_SEPARATORS, MAX_WARNINGS

_POSITION = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)\s*$")
_BOM = b"\xef\xbb\xbf"
_SEPARATOR = re.compile(r"[\n,=\[{]")
_LONG_NUMBER = re.compile(r"[0-9_]{1000,}")

#: tomllib's messages (by their start) in plain words for facilitators.
_SYNTAX_MESSAGES: tuple[tuple[str, str], ...] = (
    ("Cannot overwrite a value", "this key is given a value twice"),
    ("Cannot declare", "this table is declared twice"),
    ("Cannot mutate immutable namespace", "this key was already given as a { ... } table"),
    ("Cannot redefine namespace", "this key was already given as a value, so it cannot be a table"),
    ("Duplicate inline table key", "a key is given twice inside this { ... } table"),
    ("Expected '=' after a key", "expected '=' after the key"),
    ("Expected ']' at the end of a table", "a [table] header must end with ']'"),
    ("Expected ']]' at the end of an array", "an [[array]] header must end with ']]'"),
    ("Invalid statement", "this line is neither key = value nor a [table] header"),
    (
        "Invalid value",
        'this value is not valid: text needs quotes ("..."), numbers have no units, '
        "true and false are lowercase",
    ),
    ("Invalid initial character for a key", "a key must be a word or a quoted text"),
    ("Unclosed array", "a list opened with '[' is not closed with ']'"),
    (
        "Unclosed inline table",
        "a table opened with '{' is not closed with '}' (it must close on the same line)",
    ),
    ("Unterminated string", "a text is missing its closing quote"),
    (
        "Unescaped '\\' in a string",
        "a backslash in text must be written \\\\ (or put the text in single quotes)",
    ),
    ("Invalid hex value", "a \\u escape in text needs hexadecimal digits"),
    ("Escaped character is not a Unicode", "a \\u escape in text is not a valid character"),
    ("Invalid date or datetime", "this is not a valid date"),
    ("Illegal character '\\n'", "a text is missing its closing quote on this line"),
    ("Illegal character", "a control character is not allowed here (only tabs and line breaks)"),
    ("Found invalid character", "unexpected character"),
)


def _clean_filename(filename: str) -> str:
    """The file name as shown in messages: no control characters, not endless."""
    shown = quote(filename or "", limit=120)[1:-1]  # uploads may come without a name
    return shown or "(unnamed file)"


def _through_line(text: str, line: int) -> str:
    """The text from the start through the end of `line`."""
    return "\n".join(text.split("\n", line)[:line])


def _at_line(filename: str, text: str, line: int, message: str) -> Problem:
    """A problem on `line`, naming the field the scanner finds there."""
    source_map = scan(_through_line(text, line), max_depth=MAX_NESTING)
    if source_map.too_deep is not None:
        return _too_deep(filename, source_map)
    return Problem(filename, source_map.label(source_map.path_at(line)), message, line)


def _too_deep(filename: str, source_map: SourceMap) -> Problem:
    line, path = source_map.too_deep or (1, ())
    return Problem(
        filename,
        source_map.label(path[: len(path) - MAX_NESTING] or path[:1]),
        f"lists or tables are nested more than {MAX_NESTING} levels deep here",
        line,
    )


def _syntax_problem(filename: str, text: str, error: tomllib.TOMLDecodeError) -> Problem:
    raw = str(error)
    match = _POSITION.search(raw)
    message = raw[: match.start()] if match else raw
    line = int(match.group(1)) if match and match.group(1) else text.count("\n") + 1
    column = f" (column {match.group(2)})" if match and match.group(2) else ""
    plain = next((words for start, words in _SYNTAX_MESSAGES if message.startswith(start)), None)
    source_map = scan(_through_line(text, line))
    path = source_map.path_at(line)
    if line in source_map.duplicates:
        path, first = source_map.duplicates[line]
        plain = f"appears twice (first on line {first}); each key may be given only once"
    elif message.startswith("Unclosed") and source_map.unclosed is not None:
        path, column = source_map.unclosed, ""
        line = source_map.line_of(path)
        plain = f"{plain} (it is opened on this line)"
    if plain is None:
        plain = f"not valid TOML: {quote(message, limit=80)}"
    return Problem(filename, source_map.label(path), plain + column, line)


def _too_big(filename: str, size: int) -> Problem:
    limit = f"{MAX_FILE_BYTES // (1024 * 1024)} MB"
    return Problem(filename, "", f"the file is {size:,} bytes; survey files may be at most {limit}")


def _too_complex(filename: str, text: str) -> Problem | None:
    """A problem if the file has more separators than any real study needs."""
    if sum(text.count(mark) for mark in "\n,=[{") <= MAX_SEPARATORS:
        return None
    beyond = next(itertools.islice(_SEPARATOR.finditer(text), MAX_SEPARATORS, None))
    message = (
        f"the file has more than {MAX_SEPARATORS:,} line breaks, commas, '=', '[' and '{{' "
        "together, more than any study needs; the limit is passed on this line"
    )
    return _at_line(filename, text, text.count("\n", 0, beyond.start()) + 1, message)


def _decode(filename: str, data: bytes) -> str:
    """The file's text; a DefinitionError names the line of the first byte that is not UTF-8."""
    body = data.removeprefix(_BOM)  # editors on Windows like to start UTF-8 files with one
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        line = body.count(b"\n", 0, error.start) + 1
        column = error.start - (body.rfind(b"\n", 0, error.start) + 1) + 1
        prefix = body[: error.start].decode("utf-8", errors="replace")
        message = (
            f"the file is not UTF-8 text: byte 0x{body[error.start]:02x} at column {column} "
            "cannot be read; save the file with UTF-8 encoding"
        )
        raise DefinitionError([_at_line(filename, prefix, line, message)]) from None


def parse_definition(data: bytes, filename: str) -> SurveyDefinition:
    """Parse and validate a survey file's bytes; DefinitionError lists every problem found."""
    filename = _clean_filename(filename)
    if len(data) > MAX_FILE_BYTES:
        raise DefinitionError([_too_big(filename, len(data))])
    text = _decode(filename, data)
    too_complex = _too_complex(filename, text)
    if too_complex is not None:
        raise DefinitionError([too_complex])
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DefinitionError([_syntax_problem(filename, text, error)]) from None
    except RecursionError:
        raise DefinitionError([_too_deep(filename, scan(text, max_depth=MAX_NESTING))]) from None
    except ValueError:  # Python refuses to convert integers of thousands of digits
        match = _LONG_NUMBER.search(text)
        line = text.count("\n", 0, match.start()) + 1 if match else 1
        problem = _at_line(filename, text, line, "this number is too long")
        raise DefinitionError([problem]) from None

    checker = Checker()
    definition = build_definition(checker, document)
    if definition is None:
        raise DefinitionError(_problems(filename, text, checker))
    warnings = list(dict.fromkeys(checker.warnings))
    if len(warnings) > MAX_WARNINGS:
        hidden = len(warnings) - MAX_WARNINGS
        warnings = [*warnings[:MAX_WARNINGS], f"... and {hidden:,} more warnings of the same kinds"]
    return replace(
        definition, source_hash=hashlib.sha256(data).hexdigest(), warnings=tuple(warnings)
    )


def _problems(filename: str, text: str, checker: Checker) -> list[Problem]:
    """The checker's problems with their lines, in file order."""
    source_map: SourceMap = scan(text)
    problems = [
        Problem(filename, loc.label, message, source_map.line_of(loc.path))
        for loc, message in checker.problems
    ]
    problems.sort(key=lambda problem: problem.line or 0)
    if checker.suppressed:
        problems.append(
            Problem(filename, "", "... and more problems not shown: fix these first, then retry")
        )
    return problems


def load_definition(path: str | os.PathLike[str]) -> SurveyDefinition:
    """Read and parse the survey file at `path` (see `parse_definition`)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_FILE_BYTES:  # never read a huge file into memory
                raise DefinitionError([_too_big(_clean_filename(name), size)])
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        problem = Problem(_clean_filename(name), "", f"cannot read the file: {reason}")
        raise DefinitionError([problem]) from None
    return parse_definition(data, name)
