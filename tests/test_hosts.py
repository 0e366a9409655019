"""Several hosts: web and workers that share only the database, Redis and the object store.

Hosts are simulated by processes with instance folders of their own: whatever one of them
keeps in its folder, the others never see.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import http.cookiejar
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from portal import audit, create_app, jobs
from portal.extensions import db
from portal.models import (
    AuditPdf,
    EmailMessage,
    Export,
    ExportState,
    OutboxMessage,
    Submission,
    Task,
    User,
)
from portal.services import deadlines
from portal.services import tokens as api_tokens
from tests.fixtures.jobs import Mailbox, free_port
from tests.fixtures.users import PASSWORD
from tests.fixtures.web import csrf_token_in

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


# -- web, worker and cron on different hosts ---------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PDF = b"%PDF-1.4\n% the vendor's invoice, scanned\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
WAIT = 90  # seconds: the most any step may take on a busy 2-core machine


class Host:
    """Processes started with one instance folder of their own: one machine of a deployment."""

    def __init__(self, name: str, folder: Path, environ: dict[str, str]):
        self.name, self.folder = name, folder
        self.environ = dict(environ, BATON_INSTANCE=str(folder))
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, label: str, command: list[str], **extra: str) -> subprocess.Popen:
        log = self.folder.parent / f"{self.name}-{label}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=dict(self.environ, **extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((label, process, log))
        return process

    def web(self, port: int) -> str:
        command = [str(BIN / "gunicorn"), "--config", "python:portal.processes.gunicorn_conf"]
        self.start("web", [*command, "app:create_app()"], PORT=str(port), WEB_CONCURRENCY="2")
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _status(base + "/login") == 200, f"{self.name}'s web on {base}", self)
        return base

    def stop(self) -> None:
        for _, process, _ in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {self.name} {label} (exit {process.poll()}) ---\n"
            + log.read_text(errors="replace")[-3000:]
            for label, process, log in self.processes
        )


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _wait_for(condition, what: str, *hosts: Host):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        for host in hosts:
            for label, process, _ in host.processes:
                assert process.poll() is None, f"{host.name} {label} stopped\n{host.logs()}"
        time.sleep(0.3)
    logs = "\n".join(host.logs() for host in hosts)
    raise AssertionError(f"waited {WAIT}s for {what}\n{logs}")


class Api:
    """The JSON API as one person, against one web host."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base + "/api/v1", token

    def call(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def json(self, method: str, path: str, body: dict | None = None):
        status, _, content = self.call(method, path, body)
        return status, json.loads(content)


class Session:
    """A person signed in to one web host in a browser (cookies and CSRF tokens)."""

    def __init__(self, base: str, email: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.get("/login")[2].decode()
        status, _, _ = self.post(
            "/login", {"csrf_token": csrf_token_in(page), "email": email, "password": PASSWORD}
        )
        assert status == 200, f"{email} could not sign in to {base}"
        self.token = csrf_token_in(self.get("/")[2].decode())

    def get(self, path: str):
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def post(self, path: str, fields: dict):
        fields = {"csrf_token": getattr(self, "token", None), **fields}
        data = urllib.parse.urlencode({k: v for k, v in fields.items() if v is not None})
        try:
            with self.opener.open(self.base + path, data.encode(), timeout=30) as response:
                return response.status, response.geturl(), response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.geturl(), error.read()


@pytest.fixture
def deployment(app, migrated_url, redis_url, make_bucket, s3_env, tmp_path):
    """The environment every host shares: database, Redis, object store, SMTP, secret key."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BATON_", "MAIL_", "WEB_", "AWS_"))
        and name not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PORT", "HOST")
    }
    environ |= s3_env | {
        "DATABASE_URL": migrated_url,
        "REDIS_URL": redis_url,
        "BATON_STORAGE_URL": f"s3://{make_bucket()}/acme",
        "SECRET_KEY": "the same long random value on every host",
        "BATON_QUEUE": f"hosts-{uuid.uuid4().hex[:8]}",
        "BATON_TIMEZONE": "Europe/Berlin",
        "BATON_RATE_LIMITS_OFF": "1",
        "BATON_EXPORT_WORKERS": "1",
        "BATON_LOG_LEVEL": "INFO",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "PYTHONUNBUFFERED": "1",
    }
    hosts: list[Host] = []

    def host(name: str) -> Host:
        made = Host(name, tmp_path / name, environ)
        made.folder.mkdir()
        hosts.append(made)
        return made

    try:
        yield host, box, environ
    finally:
        for made in hosts:
            made.stop()
        smtp.stop()
        db.session.remove()


@pytest.mark.slow
def test_web_and_workers_on_different_hosts_share_every_file(
    deployment, org, vendor_invoice, tmp_path
):
    """Host A serves the web; host B runs the worker (every queue) and the cron sweep; host C
    is a second web. They share PostgreSQL (or one SQLite file), Redis and the object store,
    and nothing else: a file one of them keeps in its own folder is lost to the others."""
    host, mailbox, environ = deployment
    people = ["alice", "bob", "carol", "fiona", "frank", "pat", "cora"]
    tokens = {}
    for name in people:
        user = getattr(org, name)
        tokens[user.email] = api_tokens.create(user, "hosts test", audit.Actor(user))[1]
    db.session.commit()
    queue = environ["BATON_QUEUE"]

    a, b, c = host("host-a"), host("host-b"), host("host-c")
    b.start(
        "worker",
        [str(BIN / "rq"), "worker", "-w", "portal.processes.worker.BatonSimpleWorker"]
        + ["--with-scheduler", "--url", environ["REDIS_URL"], queue, f"{queue}-bulk"],
    )
    redis = ["--url", environ["REDIS_URL"]]
    b.start("cron", [str(BIN / "rq"), "cron", "portal.processes.cron_config"] + redis)
    web_a = a.web(free_port())
    alice = Api(web_a, tokens["alice@example.com"])

    # Alice submits a vendor invoice with its PDF, on host A.
    status, created = alice.json(
        "POST",
        "/forms/vendor_invoice/submissions",
        {
            "data": {
                "vendor_name": "Acme Office Supplies GmbH",
                "vendor_email": "billing@acme.example",
                "invoice_number": "INV-2026-0042",
                "invoice_date": "2026-11-02",
                "due_date": "2026-12-02",
                "currency": "EUR",
                "cost_centre": "CC-100",
                "lines": [{"description": "Desk lamps", "quantity": 5, "unit_price": "55.00"}],
                "invoice_file": {
                    "filename": "INV-2026-0042.pdf",
                    "content_base64": base64.b64encode(PDF).decode(),
                },
            }
        },
    )
    assert status == 201, created
    number = created["id"]

    # Host B's worker moves the chain; each approver decides on host A as their task appears.
    def open_tasks():
        found = {}
        for email, token in tokens.items():
            status, listed = Api(web_a, token).json("GET", "/tasks")
            assert status == 200, listed
            found |= {task["id"]: (email, task) for task in listed if task["submission"] == number}
        return found

    decided = set()
    while True:
        state = _wait_for(
            lambda: (
                (alice.json("GET", f"/submissions/{number}")[1]["status"] != "in_review" and "done")
                or (set(open_tasks()) - decided and "task")
            ),
            "the next task or the end of the chain",
            a,
            b,
        )
        if state == "done":
            break
        for task_id, (email, task) in open_tasks().items():
            if task_id in decided:
                continue
            body = {"decision": "approve", "comment": "Matches the delivery note."}
            if task.get("signature_required"):
                body["password"] = PASSWORD
            status, answer = Api(web_a, tokens[email]).json(
                "POST", f"/tasks/{task_id}/decision", body
            )
            assert status in (200, 409), answer  # 409: closed by another's approval meanwhile
            decided.add(task_id)
    assert alice.json("GET", f"/submissions/{number}")[1]["status"] == "approved"
    assert any("approved" in (m["Subject"] or "").lower() for m in mailbox.to("alice@example.com"))

    # The audit-trail PDF: asked for on host A, rendered by host B, downloaded from host A.
    status, _, _ = alice.call("GET", f"/submissions/{number}/audit.pdf")
    assert status == 202
    got = _wait_for(
        lambda: (lambda r: r[0] == 200 and r)(
            alice.call("GET", f"/submissions/{number}/audit.pdf")
        ),
        "the audit-trail PDF",
        a,
        b,
    )
    _, headers, content = got
    assert content.startswith(b"%PDF")
    db.session.expire_all()
    rendering = db.session.scalars(select(AuditPdf)).one()
    assert hashlib.sha256(content).hexdigest() == rendering.sha256
    assert headers["X-Baton-Head-Hash"] == rendering.head_hash

    # A bulk export: started on host A, built by host B, downloaded from host A.
    cora = Session(web_a, "cora@example.com")
    status, landed, _ = cora.post("/compliance/exports", {"form": "vendor_invoice"})
    assert status == 200 and "/compliance/exports/" in landed, landed
    export_id = int(landed.rstrip("/").rsplit("/", 1)[-1])

    def export_done():
        db.session.expire_all()
        found = db.session.get(Export, export_id)
        return found if found.state == ExportState.DONE else None

    export = _wait_for(export_done, "the export", a, b)
    status, headers, archive_bytes = cora.get(f"/compliance/exports/{export_id}/download")
    assert status == 200 and hashlib.sha256(archive_bytes).hexdigest() == export.sha256
    archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
    inside = archive.read(f"records/vendor_invoice-{number:06d}.pdf")
    assert hashlib.sha256(inside).hexdigest() == rendering.sha256

    # The attachment, from a second web process on a third host, which (as a second host
    # might) starts a cron sweep of its own too.
    c.start("cron", [str(BIN / "rq"), "cron", "portal.processes.cron_config"] + redis)
    web_c = c.web(free_port())
    submission = db.session.get(Submission, number)
    attachment = submission.attachments[0]
    alice_on_c = Session(web_c, "alice@example.com")
    status, headers, body = alice_on_c.get(f"/submissions/{number}/files/{attachment.id}")
    assert status == 200 and body == PDF
    assert headers["Content-Disposition"] == "attachment; filename=INV-2026-0042.pdf"
    assert (
        Session(web_c, "pat@example.com").get(f"/submissions/{number}/files/{attachment.id}")[0]
        == 404
    )  # permissions are where they were: not Pat's to see

    # No host kept any of it in its own folder: everything went to the object store.
    for made in (a, b, c):
        kept_here = [
            p.relative_to(made.folder).as_posix()
            for folder in ("uploads", "pdfs", "exports")
            for p in (made.folder / folder).rglob("*")
        ]
        assert kept_here == [], f"{made.name} kept {kept_here} in its own folder"
    for made in (a, b, c):
        for label, process, _ in made.processes:
            assert process.poll() is None, f"{made.name} {label} stopped\n{made.logs()}"
    # Both cron processes had host B's worker run the sweep (each sweeps as it starts).
    worker_log = b.folder.parent / "host-b-worker.log"
    _wait_for(
        lambda: worker_log.read_text(errors="replace").count("portal.jobs.sweep()") >= 2,
        "a sweep from each cron process",
        a,
        b,
        c,
    )


@pytest.mark.slow
def test_a_web_host_without_secret_key_stops_at_start_saying_to_set_it(deployment):
    host, _, environ = deployment
    lonely = host("host-d")
    lonely.environ.pop("SECRET_KEY")
    process = lonely.start(
        "web",
        [str(BIN / "gunicorn"), "--config", "python:portal.processes.gunicorn_conf"]
        + ["app:create_app()"],
        PORT=str(free_port()),
        WEB_CONCURRENCY="1",
    )
    assert process.wait(timeout=WAIT) != 0
    said = lonely.logs()
    assert "SECRET_KEY is not set" in said and "Set SECRET_KEY" in said
    assert not (lonely.folder / "secret_key").exists()
