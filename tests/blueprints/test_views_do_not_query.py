"""Views parse requests and call services: they never query, commit or roll back themselves.

The request's one commit point is in portal/web.py; every query lives in portal/services.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import portal.blueprints

BLUEPRINTS = Path(portal.blueprints.__file__).parent
SOURCES = sorted(BLUEPRINTS.rglob("*.py"))
#: Modules a view must not import: the session (and queries) are reached through services only.
BANNED_MODULES = ("sqlalchemy", "portal.extensions")
#: A session's calls that end or undo a transaction: only the commit point makes them. (A form's
#: rollback, publishing an old version again, is another thing of the same name.)
BANNED_CALLS = ("commit", "rollback")


def _violations(source: Path) -> list[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if any(name == banned or name.startswith(banned + ".") for banned in BANNED_MODULES):
                found.append(f"line {node.lineno}: imports {name}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in BANNED_CALLS
            and _is_session(node.func.value)
        ):
            found.append(f"line {node.lineno}: calls .{node.func.attr}()")
    return found


def _is_session(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "session") or (
        isinstance(node, ast.Name) and node.id == "session"
    )


def test_there_are_views_to_check():
    assert len(SOURCES) > 5 and any(p.name == "routes.py" for p in SOURCES)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(BLUEPRINTS)))
def test_a_blueprint_neither_queries_nor_commits(source):
    assert _violations(source) == []


def test_the_check_finds_a_query_and_a_commit(tmp_path):
    view = tmp_path / "routes.py"
    view.write_text(
        "from sqlalchemy import select\n"
        "from portal.extensions import db\n"
        "def view(session):\n"
        "    db.session.commit()\n"
        "    session.rollback()\n"
        "    form_service.rollback('slug', 3)\n"
    )
    assert len(_violations(view)) == 4
