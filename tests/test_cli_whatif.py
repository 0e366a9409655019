"""`flask --app app baton what-if`: the same figures as the page, in words or as JSON."""

from __future__ import annotations

import copy
import json

import pytest

from portal.services import whatif
from tests.fixtures.insight import MARCH, TRAVEL, TravelHistory

MARCH_OPTIONS = ["--from", "2026-03-01", "--to", "2026-03-31"]


@pytest.fixture
def history(app, make_user, publish):
    return TravelHistory(make_user, publish).build()


@pytest.fixture
def without_finance(tmp_path):
    draft = copy.deepcopy(TRAVEL)
    del draft["approval"]["steps"][1]
    path = tmp_path / "draft.json"
    path.write_text(json.dumps(draft))
    return path


def test_the_json_is_the_reports(history, runner, without_finance):
    result = runner.invoke(
        args=["baton", "what-if", "travel_request", "--schema", str(without_finance)]
        + MARCH_OPTIONS
        + ["--json"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    spec = whatif.draft_spec(history.form, without_finance.read_text())
    expected = whatif.compute(history.form, spec, MARCH, whatif.Options({}, {})).as_dict()
    assert printed == expected | {
        "form": "travel_request",
        "first_day": "2026-03-01",
        "last_day": "2026-03-31",
    }
    assert printed["routes_changed"] == 4 and printed["risky"] == 1


def test_the_text_names_the_figures(history, runner, without_finance):
    result = runner.invoke(
        args=["baton", "what-if", "travel_request", "--schema", str(without_finance)]
        + MARCH_OPTIONS
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "What if: Travel request, 1 Mar – 31 Mar 2026: 5 requests replayed" in out
    assert "Finance approval         3 ->        0  (not in the draft)" in out
    assert "0.5 hours of people's time saved" in out
    r3 = history.requests["R3"].id
    assert f"#{r3}: Finance approval rejected it in fact; the draft no longer has the step" in out
    assert "Routes changed: 4 requests" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--schema", "{draft}"], "There is no published form “nope”"),
        (["travel_request", "--schema", "{draft}", "--from", "2026-03-01"], "Give both"),
        (["travel_request", "--schema", "{draft}", "--assume", "cfo"], "STEP=VALUE"),
        (["travel_request", "--schema", "{draft}", "--assume", "cfo=maybe"], "approve or reject"),
        (["travel_request", "--schema", "{broken}"], "The draft has problems"),
    ],
)
def test_bad_input_is_refused_with_a_message(
    history, runner, without_finance, tmp_path, args, message
):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    args = [a.format(draft=without_finance, broken=broken) for a in args]
    result = runner.invoke(args=["baton", "what-if", *args])
    assert result.exit_code != 0
    assert message in result.output
