"""The layers stay as docs/architecture.md draws them, read from the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parent.parent / "portal"


def _modules(package: str) -> list[Path]:
    return sorted((PORTAL / package).glob("*.py"))


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names]


def _imports_of(path: Path) -> list[str]:
    """Every module a file imports, wherever the import statement stands."""
    return [
        name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in _imported(node)
    ]


@pytest.mark.parametrize("path", _modules("services"), ids=lambda path: path.name)
def test_services_import_at_module_level_only(path):
    """An import inside a function was how services dodged import cycles; there are none."""
    inside = [
        f"line {node.lineno}: {', '.join(_imported(node))}"
        for function in ast.walk(ast.parse(path.read_text()))
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert inside == []


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda path: path.name)
def test_the_domain_imports_no_flask_sqlalchemy_or_the_rest_of_portal(path):
    imported = _imports_of(path)
    outside = [
        name
        for name in imported
        if name.split(".")[0] in ("flask", "flask_sqlalchemy", "sqlalchemy", "wtforms", "redis")
        or (name.startswith("portal") and not name.startswith("portal.domain"))
    ]
    assert outside == []


def test_the_portals_time_zone_is_read_in_one_place():
    """clock.local_zone_name reads BATON_TIMEZONE; config.py sets it; nothing else touches it."""
    readers = sorted(
        str(path.relative_to(PORTAL))
        for path in PORTAL.rglob("*.py")
        if "BATON_TIMEZONE" in path.read_text() and path.parts[-2] != "versions"
    )
    assert readers == ["clock.py", "config.py"]


@pytest.mark.parametrize("path", _modules("presentation"), ids=lambda path: path.name)
def test_presentation_helpers_are_as_pure_as_the_domain(path):
    """Chart geometry and editor pointers are about pages, but need no app to be tested."""
    imported = _imports_of(path)
    assert [name for name in imported if name.split(".")[0] in ("flask", "sqlalchemy")] == []
