"""Webhooks: registered by an admin, delivered after commit to a real receiver on 127.0.0.1,
signed, retried with back-off when it fails, and never in the way of a chain."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import DeliveryState, OutboxMessage, WebhookDelivery, WebhookEndpoint
from portal.services import webhooks
from tests.api.test_api import invoice_data
from tests.fixtures.web import Browser


class Receiver:
    """An HTTP server that records what it is sent; answers `fail` times with 500 first."""

    def __init__(self):
        self.received: list[dict] = []
        self.fail = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = 500 if receiver.fail > 0 else 204
                receiver.fail -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/baton"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[str]:
        return [json.loads(item["body"])["event"] for item in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def fast_retries(app):
    app.config["WEBHOOK_BACKOFF"] = (0, 0, 0)
    yield
    app.config.pop("WEBHOOK_BACKOFF")


@pytest.fixture
def admin(app, org, ada):
    person = Browser(app.test_client())
    person.login("ada@example.com")
    return person


def register(admin, url, events) -> WebhookEndpoint:
    response = admin.post("/admin/webhooks", {"url": url, "events": events, "description": "ERP"})
    assert response.status_code == 302, response.text
    return db.session.scalars(select(WebhookEndpoint)).all()[-1]


def test_events_arrive_signed_at_a_receiver(
    admin, receiver, api, vendor_invoice, token_for, org, run_jobs
):
    endpoint = register(admin, receiver.url, ["submission.created", "task.created"])
    page = admin.get(f"/admin/webhooks/{endpoint.id}").text
    assert endpoint.secret in page and endpoint.secret.startswith("whsec_")
    created = api.post(
        "/forms/vendor_invoice/submissions", token_for(org.alice), {"data": invoice_data()}
    ).get_json()
    run_jobs()
    assert receiver.events() == ["submission.created", "task.created"]
    for item in receiver.received:
        headers = item["headers"]
        assert webhooks.signature_is_valid(
            endpoint.secret, headers["X-Baton-Signature"], item["body"]
        )
        assert not webhooks.signature_is_valid(
            "whsec_wrong", headers["X-Baton-Signature"], item["body"]
        )
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Baton-Event"] == json.loads(item["body"])["event"]
    first = json.loads(receiver.received[0]["body"])
    assert first["data"]["submission"]["id"] == created["id"]
    assert first["data"]["submission"]["status"] == "in_review"
    assert first["data"]["submission"]["api_url"].endswith(f"/api/v1/submissions/{created['id']}")
    task = json.loads(receiver.received[1]["body"])["data"]["task"]
    assert task["assignee"] == "bob@example.com" and task["state"] == "open"
    deliveries = db.session.scalars(select(WebhookDelivery)).all()
    assert {d.state for d in deliveries} == {DeliveryState.DELIVERED}
    left = db.session.scalars(select(OutboxMessage.job)).all()
    assert "deliver_webhook" not in left


def test_a_failing_receiver_gets_the_event_again_until_it_answers(
    admin, receiver, api, vendor_invoice, token_for, org, run_jobs, fast_retries
):
    register(admin, receiver.url, ["submission.created"])
    receiver.fail = 2
    api.post("/forms/vendor_invoice/submissions", token_for(org.alice), {"data": invoice_data()})
    run_jobs()
    assert receiver.events() == ["submission.created"] * 3
    bodies = {item["body"] for item in receiver.received}
    assert len(bodies) == 1  # the same event, the same bytes, each attempt signed afresh
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 3
    assert [attempt["status"] for attempt in delivery.history] == [500, 500, 204]
    log = admin.get(f"/admin/webhooks/deliveries/{delivery.id}").text
    assert "HTTP 500" in log and "HTTP 204" in log


def test_retries_wait_longer_each_time(
    admin, receiver, api, vendor_invoice, token_for, org, run_jobs
):
    register(admin, receiver.url, ["submission.created"])
    receiver.fail = 1
    api.post("/forms/vendor_invoice/submissions", token_for(org.alice), {"data": invoice_data()})
    run_jobs()
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert wait == webhooks.DEFAULT_BACKOFF[0]
    retry = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.job == "deliver_webhook")
    ).one()
    assert retry.job == "deliver_webhook" and retry.run_at == delivery.next_attempt_at
    assert webhooks.DEFAULT_BACKOFF == tuple(sorted(webhooks.DEFAULT_BACKOFF))


def test_a_dead_endpoint_never_holds_up_the_chain(
    admin, api, vendor_invoice, token_for, org, run_jobs, fast_retries
):
    register(admin, "http://127.0.0.1:9/nobody-listens", list(webhooks.EVENTS))
    alice, bob = token_for(org.alice), token_for(org.bob)
    created = api.post(
        "/forms/vendor_invoice/submissions",
        alice,
        {"data": invoice_data(lines=[{"description": "Paper", "quantity": 1, "unit_price": 50}])},
    ).get_json()
    run_jobs()
    task = api.get("/tasks", bob).get_json()[0]
    api.post(f"/tasks/{task['id']}/decision", bob, {"decision": "reject", "comment": "Duplicate."})
    run_jobs()
    assert api.get(f"/submissions/{created['id']}", alice).get_json()["status"] == "rejected"
    deliveries = db.session.scalars(select(WebhookDelivery)).all()
    assert {d.event for d in deliveries} >= {
        "submission.created",
        "task.created",
        "submission.rejected",
    }
    assert {d.state for d in deliveries} == {DeliveryState.FAILED}
    assert all(d.attempts == 4 and "Connection" in d.last_error for d in deliveries)


def test_an_admin_redelivers_a_failed_delivery(
    admin, receiver, api, vendor_invoice, token_for, org, run_jobs, fast_retries
):
    endpoint = register(admin, receiver.url, ["submission.created"])
    receiver.fail = 10
    api.post("/forms/vendor_invoice/submissions", token_for(org.alice), {"data": invoice_data()})
    run_jobs()
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert delivery.state == DeliveryState.FAILED and len(receiver.received) == 4
    receiver.fail = 0
    response = admin.post(f"/admin/webhooks/deliveries/{delivery.id}/redeliver")
    assert response.status_code == 302
    run_jobs()
    db.session.refresh(delivery)
    assert delivery.state == DeliveryState.DELIVERED and len(receiver.received) == 5
    assert len(delivery.history) == 5
    assert endpoint.id == delivery.endpoint_id


def test_a_delivery_job_run_twice_sends_once(admin, receiver, org, run_jobs, ada):
    endpoint = register(admin, receiver.url, ["submission.created"])
    delivery = webhooks.ping(ada, endpoint)
    db.session.commit()
    assert webhooks.send(delivery.id).startswith("delivered")
    db.session.commit()
    assert webhooks.send(delivery.id) == "already delivered"
    run_jobs()  # the outbox job too: it finds nothing left to do
    assert receiver.events() == ["ping"]


def test_a_bad_endpoint_is_refused_with_a_reason(admin, org):
    for url, events, message in [
        ("ftp://files.example.com/in", ["submission.created"], "must start with https://"),
        ("https://erp.example.com/in", [], "Choose at least one event"),
        ("https://erp.example.com/in", ["invoice.paid"], "no event called invoice.paid"),
    ]:
        response = admin.post("/admin/webhooks", {"url": url, "events": events})
        assert response.status_code == 422 and message in response.text
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_the_signature_check_refuses_old_and_altered_deliveries():
    body = '{"event": "ping"}'
    header = webhooks.sign("whsec_x", body, 1_000_000)
    assert webhooks.signature_is_valid("whsec_x", header, body, now=1_000_100)
    assert not webhooks.signature_is_valid("whsec_x", header, body, now=1_000_000 + 301)
    assert not webhooks.signature_is_valid("whsec_x", header, body + " ", now=1_000_100)
    assert not webhooks.signature_is_valid("whsec_x", "garbage", body, now=1_000_100)


def test_an_endpoint_counts_from_the_transaction_after_the_change(
    app, org, ada, vendor_invoice, approvals
):
    """A transaction reads the active endpoints once (a decision records several events); the
    next transaction of the same session reads them again."""
    from sqlalchemy import func

    from portal import audit

    submission = approvals.submit_invoice()

    def deliveries_after_an_event() -> int:
        audit.record(
            f"submission:{submission.id}",
            "submitted",
            audit.Actor(system="tests"),
            submission_id=submission.id,
        )
        db.session.commit()
        return db.session.scalar(select(func.count()).select_from(WebhookDelivery))

    before = deliveries_after_an_event()  # this session has read the endpoints: none active
    endpoint = webhooks.save_endpoint(ada, "https://erp.example/hooks", ["submission.created"])
    db.session.commit()
    assert deliveries_after_an_event() == before + 1
    webhooks.save_endpoint(
        ada, endpoint.url, endpoint.events, active=False, endpoint=db.session.merge(endpoint)
    )
    db.session.commit()
    assert deliveries_after_an_event() == before + 1
