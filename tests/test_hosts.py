"""Several hosts: web and workers that share only the database, Redis and the object store.

Hosts are simulated by processes with instance folders of their own: whatever one of them
keeps in its folder, the others never see.
"""

from __future__ import annotations

import contextvars
import threading

import pytest
from sqlalchemy import func, select, update

from portal import create_app, jobs
from portal.extensions import db
from portal.models import EmailMessage, OutboxMessage, Task, User
from portal.services import deadlines

# -- what must be equal on every host ---------------------------------------------------------


@pytest.mark.parametrize(
    "environ",
    [
        {"BATON_STORAGE_URL": "s3://baton-files/prod"},
        {"BATON_ENV": "production"},
    ],
    ids=["object storage", "production"],
)
def test_a_secret_key_only_this_host_would_know_is_refused_at_start(environ, tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("BATON_INSTANCE", str(tmp_path / "host-a"))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="SECRET_KEY is not set") as refused:
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert "Set SECRET_KEY to the same long random value everywhere" in str(refused.value)
    assert not (tmp_path / "host-a" / "secret_key").exists()  # none was generated


def test_an_existing_instance_key_is_not_used_either_once_hosts_share_storage(
    tmp_path, monkeypatch
):
    """A key generated before the switch to object storage is still one host's own."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("BATON_INSTANCE", str(tmp_path))
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})  # development: generated, fine
    assert (tmp_path / "secret_key").exists()
    monkeypatch.setenv("BATON_STORAGE_URL", "s3://baton-files/prod")
    with pytest.raises(ValueError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_a_secret_key_set_everywhere_starts_with_object_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("BATON_INSTANCE", str(tmp_path))
    monkeypatch.setenv("BATON_STORAGE_URL", "s3://baton-files/prod")
    monkeypatch.setenv("BATON_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "the same on every host")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SECRET_KEY"] == "the same on every host"
    assert app.extensions["baton.storage"].url == "s3://baton-files/prod/"


# -- two cron sweeps at once ------------------------------------------------------------------


def test_two_sweeps_at_once_do_no_harm(
    app, approvals, org, vendor_invoice, make_submission, run_jobs, monkeypatch
):
    """Two hosts both started the cron sweep: each hands out the same work and queues the
    same digest at the same moment; the work is still done once and one digest goes out."""
    approvals.submit_invoice()
    bob = db.session.scalars(select(User).where(User.email == "bob@example.com")).one()
    bob.daily_digest = True
    app.config["BATON_DIGEST_HOUR"] = 0
    db.session.commit()
    waiting = make_submission(chain_started=False)
    # Its start_chain job as if never handed to RQ (Redis was down at the commit).
    db.session.execute(update(OutboxMessage).values(enqueued_at=None))
    db.session.commit()
    approvals.mailbox.clear()

    both_decided = threading.Barrier(2, timeout=20)
    decide = deadlines.digest_due

    def digest_due_in_step(*args, **kwargs):
        found = decide(*args, **kwargs)
        both_decided.wait()  # neither has queued its digest before the other decided
        return found

    monkeypatch.setattr(deadlines, "digest_due", digest_due_in_step)
    outcomes, errors = [], []

    def sweep():
        try:
            outcomes.append(contextvars.Context().run(jobs.sweep))
        except Exception as error:  # pragma: no cover - the assertion below shows it
            errors.append(error)

    sweeps = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in sweeps:
        thread.start()
    for thread in sweeps:
        thread.join(timeout=60)
    assert errors == []
    # Both found the digest due; the waiting job went to RQ from one of them, or from both.
    assert len(outcomes) == 2 and all(o.endswith("digests 1") for o in outcomes)
    assert any(o.startswith("relayed 1") for o in outcomes)
    monkeypatch.undo()
    run_jobs()

    db.session.expire_all()
    digests = db.session.scalars(select(EmailMessage).where(EmailMessage.kind == "digest")).all()
    assert len(digests) == 1
    # One digest, sent once, listing both requests (the one whose chain the sweeps started
    # included: a person who takes the digest gets no email per request).
    sent = [message["Subject"] for message in approvals.mailbox.to("bob@example.com")]
    assert sent == ["2 requests waiting for your decision"]
    tasks = db.session.scalar(
        select(func.count()).select_from(Task).where(Task.submission_id == waiting.id)
    )
    assert tasks == 1  # the chain of the waiting request started once, not twice
