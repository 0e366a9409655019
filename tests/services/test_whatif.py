"""What if on the crafted travel history (tests/fixtures/insight.py), read from the database.

March 2026 holds R1 to R5 (R6 and R7 were submitted in February). In fact: R1 approved after
28h, R2 after 102h, R3 sent back by the manager then rejected by finance after 50h, R4 waiting
at finance, R5 withdrawn. Answers: manager 5 (R1, R2, R3 twice, R4), finance 3, CFO 1.
"""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import event, select

from portal.extensions import db
from portal.jobs.registry import JobKind
from portal.models import OutboxMessage, WhatIf, WhatIfState
from portal.services import whatif
from portal.services.whatif import DraftInvalid, Options
from tests.fixtures.insight import HOUR, MARCH, TRAVEL, TravelHistory
from tests.fixtures.rows import count


@pytest.fixture
def history(app, make_user, publish):
    return TravelHistory(make_user, publish).build()


def replayed(history, document):
    spec = whatif.draft_spec(history.form, json.dumps(document))
    return whatif.compute(history.form, spec, MARCH, Options({}, {}))


def tasks(report):
    return {step.name: (step.before, step.after) for step in report.ordered_steps()}


def test_the_unchanged_chain_reproduces_march_exactly(history):
    report = replayed(history, TRAVEL)
    assert report.requests == 5
    assert report.route_changes == 0 and report.risky == 0
    assert tasks(report) == {"manager": (5, 5), "finance": (3, 3), "cfo": (1, 1)}
    assert sorted(report.cycles_before) == [28 * HOUR * 1000, 50 * HOUR * 1000, 102 * HOUR * 1000]
    assert report.cycles_after == report.cycles_before
    assert report.outcomes_after == report.outcomes_before
    assert dict(report.outcomes_before) == {
        "approved": 2,
        "rejected": 1,
        "in_review": 1,
        "withdrawn": 1,
    }
    assert report.caveats() == []


def test_removing_finance_lets_r3_through_and_finishes_r4(history):
    draft = copy.deepcopy(TRAVEL)
    del draft["approval"]["steps"][1]
    report = replayed(history, draft)
    assert tasks(report) == {"manager": (5, 5), "cfo": (1, 1), "finance": (3, 0)}
    r = history.requests
    assert sorted(item.id for item in report.changed) == sorted(
        [r["R1"].id, r["R2"].id, r["R3"].id, r["R4"].id]
    )
    assert [item.id for item in report.risks] == [r["R3"].id]
    # R1 4h, R2 24h + 6h, R3 50h less finance's 24h; R4 was not decided in fact: not counted.
    assert sorted(report.cycles_after) == [h * HOUR * 1000 for h in (4, 26, 30)]
    assert report.outcomes_after["approved"] == 4  # R4 too, though not in the cycle times


def test_the_history_is_read_in_a_few_queries(history, monkeypatch):
    statements = []

    def note(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split()[0])

    db.session.expire_all()
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        found = list(whatif.histories(history.form, MARCH))
        monkeypatch.setattr(whatif, "BATCH", 2)
        chunked = list(whatif.histories(history.form, MARCH))
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert [h.id for h in found] == [h.id for h in chunked] == sorted(h.id for h in found)
    # Requests, step rows and task rows of the one chunk, the version (once), and the empty
    # chunk that ends it; then with two requests a chunk: three chunks of three, the version
    # and the end.
    assert len(statements) == 5 + 3 * 3 + 1 + 1


def test_starting_queues_a_bulk_job_that_keeps_the_report(history, app):
    from portal import jobs
    from tests.test_outbox import run_outbox_in_a_worker

    ada = history.people["ada"]
    found = whatif.start(ada, history.form, json.dumps(TRAVEL), MARCH, Options({}, {}))
    db.session.commit()
    assert (found.state, found.total) == (WhatIfState.QUEUED, 5)
    message = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.job == JobKind.RUN_WHAT_IF.value)
    ).one()
    message_id = message.id
    assert message.subject == f"what_if:{found.id}"
    jobs.use_app(app)
    try:
        assert run_outbox_in_a_worker(message_id) == "run_what_if done"
    finally:
        jobs.use_app(None)
    db.session.expire_all()
    done = db.session.get(WhatIf, found.id)
    assert done.state == WhatIfState.DONE and done.percent == 100
    assert done.result["requests"] == 5 and done.result["routes_changed"] == 0
    assert count(OutboxMessage, OutboxMessage.id == message_id) == 0


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("{", Options({}, {}), "The draft has problems to fix"),
        (
            json.dumps({k: v for k, v in TRAVEL.items() if k != "approval"}),
            Options({}, {}),
            "no approval chain",
        ),
        (json.dumps(TRAVEL), Options({"legal": "approve"}, {}), "no step “legal”"),
        (json.dumps(TRAVEL), Options({"cfo": "request_changes"}, {}), "approve or reject"),
        (json.dumps(TRAVEL), Options({}, {"cfo": "nobody"}), "No step “nobody”"),
        (json.dumps(TRAVEL), Options({}, {}, 0), "Minutes per task"),
    ],
)
def test_an_unusable_draft_or_option_is_refused_and_changes_nothing(
    history, text, options, message
):
    with pytest.raises(DraftInvalid, match=message):
        whatif.start(history.people["ada"], history.form, text, MARCH, options)
    db.session.rollback()
    assert count(WhatIf) == 0


def test_a_replay_that_cannot_run_is_marked_failed_with_the_reason(history, app):
    from portal import clock, jobs, outbox
    from tests.test_outbox import run_outbox_in_a_worker

    broken = WhatIf(
        form_id=history.form.id,
        requested_by_id=history.people["ada"].id,
        schema_text="{",
        first_day=MARCH.first_day,
        last_day=MARCH.last_day,
        options={},
        created_at=clock.now(),
    )
    db.session.add(broken)
    db.session.flush()
    message = outbox.add(JobKind.RUN_WHAT_IF, what_if_id=broken.id)
    db.session.commit()  # outbox rows are written with the transaction's other rows
    message_id = message.id
    jobs.use_app(app)
    try:
        run_outbox_in_a_worker(message_id)
    finally:
        jobs.use_app(None)
    db.session.expire_all()
    failed = db.session.get(WhatIf, broken.id)
    assert failed.state == WhatIfState.FAILED and failed.is_finished
    assert failed.error.startswith("The draft has problems to fix in the editor first")
    assert failed.result is None
