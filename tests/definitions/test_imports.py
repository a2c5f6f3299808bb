"""app.definitions depends on the standard library and analysis/ only (architecture rule)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "app" / "definitions"
ALLOWED_PROJECT_PREFIXES = ("app.definitions", "analysis")


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_definitions_import_only_the_standard_library_and_analysis() -> None:
    sources = sorted(PACKAGE.glob("*.py"))
    assert sources
    for source in sources:
        for module in _imported_modules(source):
            top = module.split(".")[0]
            allowed = top in sys.stdlib_module_names or module.startswith(ALLOWED_PROJECT_PREFIXES)
            assert allowed, f"{source.name} imports {module}"
