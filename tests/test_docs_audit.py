"""docs/audit.md stays true to the code: its commands exist and print what it shows, its URLs
are routes, and the file names it gives for exports are the ones the export job writes.

File names, CSV columns and failure reasons are read from the source with `ast`, so renaming
one in the code without the document (or the other way round) fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest
from sqlalchemy import update

from portal import audit, config
from portal.extensions import db
from portal.models import AuditEvent
from portal.services import access

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "audit.md"
EXPORTS = ROOT / "portal" / "services" / "exports.py"
AUDIT = ROOT / "portal" / "audit.py"
MIGRATION = ROOT / "portal" / "migrations" / "versions" / "ca6902904e59_audit_pdfs_exports.py"

_COMMAND = re.compile(r"flask --app app baton((?: +[^\s`#|;&>]+)*)")
_PLACEHOLDER = re.compile(r"^\[?[A-Z][A-Z_]*\]?$")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_PATH = re.compile(r"(?<![\w.])/(?:compliance|submissions)[^\s`'\"<>)]*(?:<[a-z_ ]+>[^\s`'\")]*)*")
_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def _doc() -> str:
    return DOC.read_text("utf-8")


def _code() -> str:
    """Everything the document puts in backticks: inline spans and fenced blocks."""
    text = _doc()
    return "\n".join(_CODE_SPAN.findall(_FENCE.sub("", text)) + _FENCE.findall(text))


def _shape(text: str) -> str:
    """Hashes and numbers blanked out, so real output can be compared with the document's."""
    return re.sub(r"\d+", "N", _HASH.sub("<hash>", text))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text("utf-8"))


def _calls(tree: ast.AST, method: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == method
    ]


def _pattern(node: ast.expr) -> re.Pattern:
    """A string or f-string from the code as a regex: each {value} matches a word or a number
    (an id a number, exactly six digits for `:06d`), or a <placeholder> as the document has it."""
    if isinstance(node, ast.Constant):
        return re.compile(re.escape(node.value))
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(re.escape(value.value))
        else:
            spec = ast.unparse(value.format_spec) if value.format_spec else ""
            if "06d" in spec:
                word = r"\d{6}"
            elif ast.unparse(value.value).endswith("id"):
                word = r"\d+"
            else:
                word = r"[a-z0-9_]+"
            parts.append(f"(?:{word}|<[^<>]+>)")
    return re.compile("".join(parts))


def _commands() -> list[list[str]]:
    found = [match.group(1).split() for match in _COMMAND.finditer(_doc())]
    assert found, "docs/audit.md shows no `flask --app app baton ...` command"
    return found


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_every_command_in_the_document_exists(app, words):
    command: click.Command = app.cli
    context = click.Context(command)
    rest = ["baton", *words]
    while isinstance(command, click.Group) and rest:
        name = rest.pop(0)
        found = command.get_command(context, name)
        assert found is not None, f"`baton {' '.join(words)}`: there is no command {name!r}"
        command, context = found, click.Context(found, parent=context)
    assert not isinstance(command, click.Group), f"`baton {' '.join(words)}` names a group"
    if not any(_PLACEHOLDER.match(word) for word in rest):
        command.make_context(command.name, rest)  # concrete arguments must parse as written


def test_verify_prints_what_the_document_shows(app, runner, tamper):
    actor = audit.Actor(system="tests", channel="cli")
    for chain in ("admin", "submission:1"):
        for number in range(3):
            audit.record(chain, "step", actor, {"n": number})
    db.session.commit()
    shown = _shape(_code())

    result = runner.invoke(args=["baton", "audit", "verify"])
    assert result.exit_code == 0, result.output
    tamper(
        update(AuditEvent)
        .where(AuditEvent.chain == "submission:1", AuditEvent.seq == 2)
        .values(details={"n": "forged"})
    )
    broken = runner.invoke(args=["baton", "audit", "verify", "1"])
    assert broken.exit_code == 1, broken.output
    missing = runner.invoke(args=["baton", "audit", "verify", "999"])
    assert missing.exit_code == 1, missing.output

    lines = (result.output + broken.output + missing.output).splitlines()
    assert any("BROKEN at event 2" in line for line in lines)
    for line in filter(None, (line.strip() for line in lines)):
        assert _shape(line) in shown, (
            f"the command prints {line!r}; docs/audit.md shows no such line"
        )


def test_every_failure_reason_is_explained():
    reasons = {
        call.args[-1].value
        for call in ast.walk(_tree(AUDIT))
        if isinstance(call, ast.Call)
        and getattr(call.func, "id", None) == "Verification"
        and len(call.args) == 6
    }
    assert len(reasons) >= 4, reasons
    missing = sorted(reason for reason in reasons if f"`{reason}`" not in _doc())
    assert not missing, (
        f"reasons `audit verify` gives that docs/audit.md does not explain: {missing}"
    )


def test_every_compliance_and_pdf_path_is_a_route(app):
    paths = set(_PATH.findall(_code()))
    assert any(path.startswith("/compliance") for path in paths), "no /compliance path in the doc"
    routes = app.url_map.bind("localhost")
    for path in sorted(paths):
        concrete = re.sub(r"<[^<>]+>", "1", path).split("?", 1)[0].rstrip(".,;:")
        assert any(routes.test(concrete, method=method) for method in ("GET", "POST")), (
            f"docs/audit.md names {path!r}, which is not a route"
        )


def test_zip_member_names_are_the_ones_the_export_writes():
    tree = _tree(EXPORTS)
    assigned = {
        node.targets[0].id: node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    members = [
        assigned.get(call.args[0].id) if isinstance(call.args[0], ast.Name) else call.args[0]
        for call in _calls(tree, "writestr")
    ]
    assert len(members) >= 3, "expected the PDFs, index.csv and manifest.sha256"
    text, code = _doc(), _code()
    for node in members:
        pattern = _pattern(node)
        assert pattern.search(code), (
            f"docs/audit.md never shows a ZIP member like {pattern.pattern}"
        )
    pdf = next(_pattern(n) for n in members if isinstance(n, ast.JoinedStr))
    for named in re.findall(r"records/[^\s`|]+\.pdf", text):
        assert pdf.fullmatch(named), f"{named!r} is not how the export names a record's PDF"
    zip_name = next(
        _pattern(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr) and "baton-export-" in ast.unparse(node)
    )
    assert zip_name.search(code), f"docs/audit.md never names the ZIP ({zip_name.pattern})"
    for named in re.findall(r"baton-export-[^\s`/|]+\.zip", text):
        assert zip_name.fullmatch(named), f"{named!r} is not how the export names its ZIP"


def test_every_index_column_is_documented():
    headers = [
        [element.value for element in call.args[0].elts]
        for call in _calls(_tree(EXPORTS), "writerow")
        if isinstance(call.args[0], ast.List)
        and all(isinstance(element, ast.Constant) for element in call.args[0].elts)
    ]
    assert len(headers) == 1, "expected one header row in the export's index.csv"
    missing = [column for column in headers[0] if f"`{column}`" not in _doc()]
    assert not missing, f"index.csv columns not in backticks in docs/audit.md: {missing}"


def test_the_manifest_is_what_sha256sum_reads_if_the_document_says_so():
    if "sha256sum -c" not in _doc():
        return
    lines = [
        node
        for node in ast.walk(_tree(EXPORTS))
        if isinstance(node, ast.JoinedStr)
        and [type(value) for value in node.values]
        == [ast.FormattedValue, ast.Constant, ast.FormattedValue]
        and node.values[1].value == "  "
    ]
    assert lines, "manifest lines are no longer '<sha256>  <name>', which `sha256sum -c` reads"


def test_settings_groups_and_messages_match_the_code(tmp_path):
    text = _doc()
    assert "BATON_EXPORT_WORKERS" in text
    assert (
        config.from_environment(str(tmp_path), {"BATON_EXPORT_WORKERS": "3"})["EXPORT_WORKERS"] == 3
    )
    with pytest.raises(ValueError, match="from 1 to 64"):
        config.from_environment(str(tmp_path), {"BATON_EXPORT_WORKERS": "65"})
    assert "1 to 64" in text
    for group in access.READ_ALL_GROUPS:
        assert f"`{group}`" in text, f"the {group!r} group is not named in docs/audit.md"
    refusal = re.search(r'APPEND_ONLY = "([^"]+)"', MIGRATION.read_text("utf-8")).group(1)
    assert refusal in text, "the database's refusal message is not quoted in docs/audit.md"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_every_link_inside_the_document_has_its_heading():
    text = _FENCE.sub("", _doc())
    anchors = {_slug(heading) for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}
    broken = sorted(set(re.findall(r"\]\(#([^)]+)\)", text)) - anchors)
    assert not broken, f"links in docs/audit.md to headings that do not exist: {broken}"


def test_the_channel_column_names_every_channel_the_api_document_knows():
    from portal.blueprints.api.openapi import document

    channels = document()["components"]["schemas"]["Event"]["properties"]["channel"]["enum"]
    row = next(line for line in _doc().splitlines() if line.startswith("| `channel` |"))
    assert set(channels) <= set(_CODE_SPAN.findall(row)), row
