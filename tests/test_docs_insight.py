"""docs/insight.md stays true to the code: its CSV columns, addresses, presets and commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.blueprints.insight import tables
from portal.domain import insight as rules

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "insight.md").read_text("utf-8")


@pytest.mark.parametrize("table", sorted(tables.TABLES))
def test_every_csv_is_documented_with_its_columns(table):
    line = next(row for row in DOC.splitlines() if f"/insight/<form>/{table}.csv" in row)
    documented = re.findall(r"`([a-z0-9_]+)`", line.split("|")[3])
    assert documented == _header(tables.TABLES[table][0])


def _header(rows_of) -> list[str]:
    """The header a table function writes, read without computing anything."""

    class Empty:
        volume, steps, approvers, visible_steps = [], [], [], []
        cycle = type("Cycle", (), {"by_bucket": []})()

    header, rows = rows_of(Empty())
    assert rows == []
    return header


def test_the_presets_and_the_longest_period_are_the_documented_ones():
    for key in rules.PRESETS:
        assert f"`?period={key}`" in DOC
    assert f"more than {rules.MAX_DAYS:,} days" in DOC


def test_the_addresses_are_routes(app):
    rules_by_path = {rule.rule for rule in app.url_map.iter_rules()}
    assert "/insight/" in rules_by_path
    assert "/insight/<slug>" in rules_by_path
    assert "/insight/<slug>/<table>.csv" in rules_by_path


def test_the_commands_in_the_document_exist(runner):
    for options in re.findall(r"baton seed-demo((?: --[a-z]+ \d+)+)", DOC):
        for name in re.findall(r"--([a-z]+)", options):
            assert f"--{name}" in runner.invoke(args=["baton", "seed-demo", "--help"]).output
    assert (ROOT / "bench" / "insight.py").exists() and "bench.insight --quick" in DOC


def test_the_what_if_command_and_its_options_are_the_documented_ones(runner):
    help_text = runner.invoke(args=["baton", "what-if", "--help"]).output
    used = re.findall(r"baton what-if [^\n]*(?:\n\s+--[^\n]*)?", DOC)
    assert used
    for line in used:
        for name in re.findall(r"(--[a-z-]+)", line):
            assert name in help_text, name
    for name in ("--assume", "--similar", "--json", "--from", "--to", "--minutes-per-task"):
        assert f"`{name}" in DOC or f"{name} " in DOC, name


def test_the_screenshots_the_document_shows_exist():
    shown = re.findall(r"\]\((screenshots/[^)]+\.png)\)", DOC)
    assert "screenshots/insight-step-value.png" in shown
    assert "screenshots/what-if-report.png" in shown
    for path in shown:
        assert (ROOT / "docs" / path).is_file(), path


def test_the_step_value_threshold_is_the_documented_one():
    from portal.domain import replay, step_value

    assert f"at\nleast {step_value.ENOUGH_VOLUME} decisions" in DOC or (
        f"least {step_value.ENOUGH_VOLUME} decisions" in DOC
    )
    assert f"fewer than {replay.MIN_HISTORY} recorded waits" in DOC
