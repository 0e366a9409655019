"""Job kinds and the outbox runner: every kind is known when its row is written, and only the
runner ends a row, in the transaction that commits the work."""

import ast
import contextvars
import inspect
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import jobs, outbox
from portal.extensions import db
from portal.jobs.registry import REGISTRY, JobKind, JobSpec, QueueKind, UnknownJob
from portal.models import OutboxMessage, Submission

PORTAL = Path(__file__).resolve().parent.parent / "portal"


def rows() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


@pytest.mark.parametrize("kind", list(JobKind))
def test_every_job_kind_has_a_handler_a_queue_and_a_subject(kind):
    spec = REGISTRY[kind]
    parameters = inspect.signature(spec.function).parameters
    assert list(parameters)[0] == "claim"  # how the runner calls it: handler(claim, **args)
    assert spec.subject in parameters
    assert spec.queue in QueueKind
    assert spec.timeout is None or spec.timeout > 0


def test_bulk_work_has_its_own_queue_and_what_people_wait_for_has_the_default():
    bulk = {kind for kind, spec in REGISTRY.items() if spec.queue == QueueKind.BULK}
    assert bulk == {JobKind.BUILD_EXPORT, JobKind.RENDER_PDF, JobKind.RUN_WHAT_IF}


@pytest.mark.parametrize(
    "kind, args, message",
    [
        ("send_email", {"email_id": 1}, "'send_email' is not a job kind"),
        ("no_such_job", {"email_id": 1}, "'no_such_job' is not a job kind"),
        (JobKind.SEND_EMAIL, {"mail_id": 1}, "send_email: "),
        (JobKind.SEND_EMAIL, {}, "send_email: missing a required argument: 'email_id'"),
        (JobKind.START_CHAIN, {"submission_id": None}, "submission_id is needed"),
    ],
)
def test_a_job_no_worker_could_run_is_refused_when_its_row_is_written(app, kind, args, message):
    with pytest.raises(UnknownJob, match=message):
        outbox.add(kind, **args)
    assert rows() == 0


def test_a_row_carries_the_subject_its_kind_names(app):
    render = outbox.add(JobKind.RENDER_PDF, submission_id=42, user_id=7)
    email = outbox.add(JobKind.SEND_EMAIL, email_id=9)
    assert (render.subject, email.subject) == ("submission:42", "email:9")
    assert outbox.waiting(JobKind.RENDER_PDF, submission_id=42)
    assert not outbox.waiting(JobKind.START_CHAIN, submission_id=42)  # same subject, not kind
    assert not outbox.waiting(JobKind.RENDER_PDF, submission_id=4)
    db.session.rollback()


def _outbox_add_calls():
    for path in sorted(PORTAL.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "add"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "outbox"
            ):
                yield path, node


def test_every_outbox_add_in_the_code_names_a_job_kind():
    calls = list(_outbox_add_calls())
    assert len(calls) >= 5
    for path, call in calls:
        kind = call.args[0]
        where = f"{path.relative_to(PORTAL.parent)}:{call.lineno}"
        assert isinstance(kind, ast.Attribute) and kind.value.id == "JobKind", where
        assert kind.attr in JobKind.__members__, where


def test_only_the_runner_deletes_outbox_rows():
    """The runner deletes a row once its work is done; the outbox's own take_back deletes only
    rows its transaction wrote and has not committed (a demo history's). Nobody else does."""
    deleting = set()
    for path in sorted(PORTAL.rglob("*.py")):
        text = path.read_text()
        if "OutboxMessage" not in text or "migrations" in path.parts:
            continue
        for function in ast.walk(ast.parse(text, str(path))):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and (
                    getattr(node.func, "attr", None) == "delete"
                    or getattr(node.func, "id", None) == "delete"
                ):
                    deleting.add(f"{path.relative_to(PORTAL.parent)}:{function.name}")
    assert deleting == {"portal/jobs/__init__.py:_end", "portal/outbox.py:take_back"}


@pytest.fixture
def submission(app, org, publish):
    from portal.services import submissions
    from portal.services.submissions import Files

    version = publish(
        "note", {"title": "Note", "fields": [{"type": "text", "name": "n", "label": "N"}]}
    )
    made, evaluation = submissions.submit(org.alice, version, {"n": "x"}, Files())
    assert made is not None, evaluation.errors
    db.session.query(OutboxMessage).delete()  # its own start_chain: not what is tested here
    db.session.commit()
    return made


def run(message_id: int) -> str:
    return contextvars.Context().run(jobs.run_outbox, message_id)


@pytest.mark.parametrize(
    "handler, outcome, left, summary",
    [
        ("tests.jobs:summarising", "start_chain done", 0, "written by a job that finished"),
        ("tests.jobs:postponing", "start_chain postponed: not now", 1, None),
    ],
)
def test_the_runner_ends_the_row_with_the_work_and_keeps_it_for_work_not_done(
    app, submission, monkeypatch, handler, outcome, left, summary
):
    monkeypatch.setitem(
        REGISTRY, JobKind.START_CHAIN, JobSpec(handler, QueueKind.DEFAULT, "submission_id")
    )
    before = submission.summary
    message = outbox.add(JobKind.START_CHAIN, submission_id=submission.id)
    db.session.commit()
    jobs.use_app(app)
    try:
        assert run(message.id) == outcome
    finally:
        jobs.use_app(None)
    assert rows() == left
    assert db.session.get(Submission, submission.id).summary == (summary or before)
