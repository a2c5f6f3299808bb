"""Find the line of a field in TOML source text: a light, forgiving scanner.

`tomllib` gives values without positions, so semantic problems are located by scanning the text
once more. The scanner tracks table headers (`[study]`, `[[items]]` by occurrence, dotted and
quoted keys), `key =` lines, inline tables and list elements, and maps each path to the first
line where it appears. It never fails and runs in linear time on any text (every string pattern
matches up to its end or the end of the text), so it is safe on hostile input; where it cannot
tell, a lookup falls back to the nearest enclosing table.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

#: One step of a path: a table key, or a 0-based position in a list.
Segment: TypeAlias = str | int
Path: TypeAlias = tuple[Segment, ...]

_TOKEN = re.compile(
    r"""
    (?P<newline>\r?\n)
    | (?P<space>[ \t\r]+)
    | (?P<comment>\#[^\r\n]*)
    | (?P<mlbasic>\"\"\"(?:[^"\\]|\\[\s\S]|"(?!""))*(?:\"\"\"(?:"{1,2}(?!"))?|\Z))
    | (?P<mlliteral>'''[\s\S]*?(?:'''(?:'{1,2}(?!'))?|\Z))
    | (?P<basic>"(?:[^"\\\r\n]|\\[^\r\n])*(?:"|(?=[\r\n])|\Z))
    | (?P<literal>'[^'\r\n]*(?:'|(?=[\r\n])|\Z))
    | (?P<punct>[\[\]{}=,.])
    | (?P<bare>[A-Za-z0-9_+\-:]+)
    | (?P<other>[\s\S])
    """,
    re.VERBOSE,
)
_HEADER_KEYS = re.compile(
    r"""(?:[ \t]*("(?:[^"\\\r\n]|\\[^\r\n])*"|'[^'\r\n]*'|[A-Za-z0-9_\-]+)[ \t]*\.?)"""
)


def _unquote(lexeme: str) -> str:
    """The key a bare or quoted key lexeme stands for (best effort on odd escapes)."""
    if lexeme[:1] == "'":
        return lexeme[1:-1] if len(lexeme) > 1 and lexeme.endswith("'") else lexeme[1:]
    if lexeme[:1] == '"':
        if "\\" not in lexeme:
            return lexeme[1:-1] if len(lexeme) > 1 and lexeme.endswith('"') else lexeme[1:]
        try:
            value = tomllib.loads(f"k = {lexeme}")["k"]
        except tomllib.TOMLDecodeError:
            return lexeme.strip('"')
        return value if isinstance(value, str) else lexeme
    return lexeme


@dataclass
class _Frame:
    """An open list or inline table while scanning a value."""

    kind: Literal["array", "inline"]
    path: Path
    index: int = 0
    key: list[str] = field(default_factory=list)
    #: inline tables: reading a key, expecting its value, or after the value
    state: Literal["key", "value", "after"] = "key"


@dataclass
class SourceMap:
    """Where paths first appear in one file's text."""

    lines: dict[Path, int] = field(default_factory=dict)
    #: paths in the order they were met, for "which field is on this line"
    order: list[tuple[int, Path]] = field(default_factory=list)
    #: the `key = "..."` value of a table, to show `items[E07]` instead of `items[7]`
    keys: dict[Path, str] = field(default_factory=dict)
    #: line -> (path given a second time on that line, line of its first appearance)
    duplicates: dict[int, tuple[Path, int]] = field(default_factory=dict)
    #: the first place where lists and tables nest deeper than allowed: (line, path)
    too_deep: tuple[int, Path] | None = None
    #: the innermost list or inline table still open at the end of the text
    unclosed: Path | None = None

    def line_of(self, path: Path) -> int:
        """The line of `path`, else of its nearest recorded parent, else 1."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def path_at(self, line: int) -> Path:
        """The last path that starts on or before `line` (the field a syntax error is in)."""
        found: Path = ()
        for start, path in self.order:
            if start > line:
                break
            found = path
        return found

    def label(self, path: Path) -> str:
        """A path as readers see it: `items[E07].questions[2]` (positions count from 1)."""
        text = ""
        for end, segment in enumerate(path, start=1):
            if isinstance(segment, int):
                shown = self.keys.get(path[:end], str(segment + 1))
                text += f"[{shown}]"
            else:
                text += f".{segment}" if text else segment
        return text


class _Scanner:
    def __init__(self, text: str, max_depth: int) -> None:
        self.text = text
        self.max_depth = max_depth
        self.map = SourceMap()
        self.explicit: set[Path] = set()
        self.array_tables: dict[Path, int] = {}
        self.table: Path = ()
        self.line = 1

    def record(self, path: Path, *, explicit: bool) -> None:
        if explicit and path in self.explicit and self.line not in self.map.duplicates:
            self.map.duplicates[self.line] = (path, self.map.lines.get(path, self.line))
        if explicit:
            self.explicit.add(path)
        if path not in self.map.lines:
            self.map.lines[path] = self.line
            self.map.order.append((self.line, path))

    def record_key(self, path: Path, parts: int) -> None:
        """A `key = value` line; a dotted key (`title.en =`) also locates its parent tables."""
        for end in range(len(path) - parts + 1, len(path)):
            self.record(path[:end], explicit=False)
        self.record(path, explicit=True)

    def header(self, position: int) -> int:
        """Read a `[table]` or `[[array]]` header starting at `position`; return the next one."""
        is_array = self.text.startswith("[[", position)
        cursor = position + (2 if is_array else 1)
        names: list[str] = []
        while True:
            match = _HEADER_KEYS.match(self.text, cursor)
            if match is None or match.end() == cursor:
                break
            names.append(_unquote(match.group(1)))
            cursor = match.end()
        resolved: list[Segment] = []
        for position_in_header, name in enumerate(names):
            resolved.append(name)
            prefix = tuple(resolved)
            is_last = position_in_header == len(names) - 1
            if not is_last and prefix in self.array_tables:
                resolved.append(self.array_tables[prefix] - 1)
            if not is_last:
                self.record(tuple(resolved), explicit=False)
        if is_array and names:
            prefix = tuple(resolved)
            self.record(prefix, explicit=False)
            count = self.array_tables.get(prefix, 0)
            self.array_tables[prefix] = count + 1
            resolved.append(count)
        self.table = tuple(resolved)
        if names:
            self.record(self.table, explicit=True)
        end = self.text.find("\n", cursor)
        closing = self.text.find("]", cursor, end if end >= 0 else len(self.text))
        return cursor if closing < 0 else closing + (2 if is_array else 1)

    def scan(self) -> SourceMap:
        text = self.text
        stack: list[_Frame] = []
        mode: Literal["line", "key", "value", "after"] = "line"
        key: list[str] = []
        dotted = False  # the key so far ends with '.', so another part may follow
        value_path: Path = ()
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:  # pragma: no cover - the `other` branch matches any character
                break
            kind, lexeme = match.lastgroup, match.group()
            position = match.end()
            if kind in ("space", "comment"):
                continue
            if kind == "newline":
                if mode == "key" and not stack:  # a key without '=': locate the syntax error
                    self.record(self.table + tuple(key), explicit=False)
                self.line += 1
                if not stack:
                    mode = "line"
                continue
            if not stack:
                if mode == "line":
                    if lexeme == "[":
                        position = self.header(match.start())
                        mode = "after"
                    elif kind in ("bare", "basic", "literal"):
                        key = [_unquote(lexeme)]
                        dotted = False
                        mode = "key"
                    else:
                        mode = "after"
                elif mode == "key":
                    if lexeme == "=":
                        value_path = self.table + tuple(key)
                        self.record_key(value_path, len(key))
                        mode = "value"
                    elif lexeme == ".":
                        dotted = True
                    elif kind in ("bare", "basic", "literal") and dotted:
                        key.append(_unquote(lexeme))
                        dotted = False
                    else:  # not a key after all: remember it for syntax errors
                        self.record(self.table + tuple(key), explicit=False)
                        mode = "after"
                elif mode == "value":
                    mode = "after"
                    if lexeme in ("[", "{"):
                        stack.append(_Frame("array" if lexeme == "[" else "inline", value_path))
                        mode = "value"
                    elif kind in ("basic", "literal") and value_path[-1:] == ("key",):
                        self.map.keys.setdefault(value_path[:-1], _unquote(lexeme))
            else:
                frame = stack[-1]
                opened: _Frame | None = None
                if frame.kind == "array":
                    if lexeme == "]":
                        stack.pop()
                    elif lexeme == ",":
                        frame.index += 1
                    else:
                        element = (*frame.path, frame.index)
                        self.record(element, explicit=False)
                        if lexeme in ("[", "{"):
                            opened = _Frame("array" if lexeme == "[" else "inline", element)
                elif lexeme == "}":
                    stack.pop()
                elif frame.state == "key":
                    if lexeme == "=":
                        value_path = frame.path + tuple(frame.key)
                        self.record_key(value_path, len(frame.key))
                        frame.state = "value"
                    elif kind in ("bare", "basic", "literal"):
                        frame.key.append(_unquote(lexeme))
                elif frame.state == "value":
                    frame.state = "after"
                    value_path = frame.path + tuple(frame.key)
                    if lexeme in ("[", "{"):
                        opened = _Frame("array" if lexeme == "[" else "inline", value_path)
                    elif kind in ("basic", "literal") and value_path[-1:] == ("key",):
                        self.map.keys.setdefault(value_path[:-1], _unquote(lexeme))
                elif lexeme == ",":
                    frame.state, frame.key = "key", []
                if opened is not None:
                    stack.append(opened)
                    if len(stack) > self.max_depth:
                        self.map.too_deep = (self.line, opened.path)
                        break
                if not stack:
                    mode = "after"
            self.line += lexeme.count("\n")
        self.map.unclosed = stack[-1].path if stack else None
        return self.map


def scan(text: str, *, max_depth: int = 1_000_000) -> SourceMap:
    """Map every table, key and list element in `text` to its first line (never raises)."""
    return _Scanner(text, max_depth).scan()
