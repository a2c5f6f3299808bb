"""The import rules that keep the code easy to change (docs: architecture, rules 1-2)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_ANALYSIS = {"flask", "sqlalchemy", "wtforms", "app", "flask_babel", "flask_wtf"}


def _imported_modules(path: Path) -> set[str]:
    """Top-level names of every module a file imports (relative imports excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_analysis_imports_no_web_database_or_app_code() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_modules(path) & FORBIDDEN_IN_ANALYSIS)
        for path in (ROOT / "analysis").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_services_never_import_flask() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "app" / "services").rglob("*.py")
        if {"flask", "flask_babel", "flask_login", "flask_wtf"} & _imported_modules(path)
    ]
    assert offenders == []


def test_models_and_definitions_never_import_flask() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("models", "definitions")
        for path in (ROOT / "app" / folder).rglob("*.py")
        if any(name.startswith("flask") for name in _imported_modules(path))
    ]
    assert offenders == []


def test_analysis_is_importable_alone() -> None:
    """Importing analysis (and its CLI) must not pull in flask or sqlalchemy transitively."""
    code = (
        "import sys, analysis, analysis.cli; "
        "bad = [m for m in ('flask', 'sqlalchemy', 'wtforms', 'app') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == ""


def test_nothing_binds_at_import_time() -> None:
    """No module-level app or engine: the factory is the only place an app is made."""
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = node.value.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in {"create_app", "Flask", "create_engine"}:
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


#: modules that may touch a snapshot's stored JSON: the one that writes it, the model that decodes
#: it, and the archive, which carries the stored JSON verbatim (and checks an imported one as
#: untrusted input, before any decoding)
RAW_SNAPSHOT_READERS = {
    "app/services/snapshots.py",
    "app/models/rounds.py",
    "app/services/exports/archive_write.py",
    "app/services/exports/archive_read.py",
    "app/services/exports/archive_check.py",
}


def test_snapshot_readers_use_the_typed_snapshot() -> None:
    """Everyone else reads `snapshot.content` (analysis.snapshot), never `snapshot.data`."""
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        name = str(path.relative_to(ROOT))
        if name in RAW_SNAPSHOT_READERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "data"
                and isinstance(node.value, ast.Name | ast.Attribute)
                and "snapshot" in ast.unparse(node.value).lower()
                # the column in a query (decoded at once) is not a read of stored JSON
                and ast.unparse(node.value) != "Snapshot"
            ):
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == []
