"""Webhooks: registered by an admin, delivered after commit to a real receiver on 127.0.0.1,
signed, retried with back-off when it fails, and never in the way of a chain."""

from __future__ import annotations

import json
import socket
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
def receiver(private_webhook_targets):
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
    admin, api, vendor_invoice, token_for, org, run_jobs, fast_retries, private_webhook_targets
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


# -- targets: what Baton refuses to send to ----------------------------------------------------


def endpoints_saved() -> int:
    return len(db.session.scalars(select(WebhookEndpoint)).all())


def saved_before_checks(url: str) -> WebhookEndpoint:
    """An endpoint row as an older Baton saved it, without today's checks on its URL."""
    endpoint = WebhookEndpoint(url=url, secret="whsec_test", events=["submission.created"])
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def deliver_a_ping(ada, endpoint, run_jobs) -> WebhookDelivery:
    delivery = webhooks.ping(ada, endpoint)
    db.session.commit()
    run_jobs()
    db.session.expire_all()
    return db.session.get(WebhookDelivery, delivery.id)


def deliver_webhook_jobs_left() -> list[OutboxMessage]:
    return db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.job == "deliver_webhook")
    ).all()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://erp.example.com/in box", "cannot contain spaces"),
        ("https://erp.example.com/in\r\nX-Injected: 1", "cannot contain spaces"),
        ("https://erp.example.com/in\nbox", "cannot contain spaces"),
        ("https://erp.example.com/\tin", "cannot contain spaces"),
        ("https://erp.exa mple.com/in", "cannot contain spaces"),
        ("https://erp.example.com/in\x00", "cannot contain spaces"),
        ("https://erp.example.com/in\u200b", "cannot contain spaces"),
        ("https://[::1/in", "must start with https://"),
        ("https://erp.example.com:99999/in", "must start with https://"),
        ("https:///in", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("https://user:secret@erp.example.com/in", "user name or password"),
        ("https://erp.exämple.com/in", "in ASCII"),
        ("https://" + "a" * 64 + ".example.com/in", "not a host name"),
        ("https://erp..example.com/in", "not a host name"),
        ("https://erp.example.com%2f/in", "not a host name"),
        ("https://./in", "not a host name"),
    ],
)
def test_a_url_a_request_line_cannot_carry_is_refused_on_save(admin, org, url, message):
    response = admin.post("/admin/webhooks", {"url": url, "events": ["submission.created"]})
    assert response.status_code == 422 and message in response.text
    assert endpoints_saved() == 0


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "127.0.0.2",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "localhost",
        "LOCALHOST.",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[2002:7f00:1::]",
        "[64:ff9b::7f00:1]",
        "0.0.0.0",
        "[::]",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "[fe80::1]",
        "[fd00:ec2::254]",
        "224.0.0.251",
    ],
)
def test_loopback_private_and_link_local_targets_are_refused_on_save(app, ada, host):
    app.config["BASE_URL"] = "https://baton.example.com"
    with pytest.raises(webhooks.TargetRefused, match="public addresses only") as refused:
        webhooks.save_endpoint(ada, f"http://{host}:8080/hook", ["submission.created"])
    assert refused.value.reason == webhooks.PRIVATE_ADDRESS
    db.session.rollback()
    assert endpoints_saved() == 0


def test_a_refused_target_is_explained_on_the_page(admin, org):
    response = admin.post(
        "/admin/webhooks", {"url": "http://169.254.169.254/latest", "events": ["ping"]}
    )
    assert response.status_code == 422
    assert "public addresses only" in response.text
    assert "BATON_WEBHOOK_ALLOW_PRIVATE" in response.text
    assert endpoints_saved() == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://baton.example.com/api/v1/forms",
        "https://BATON.example.com.:443/admin",
        "http://baton.example.com:8080/",
    ],
)
def test_the_portal_itself_is_refused_as_a_target(app, ada, url):
    app.config["BASE_URL"] = "https://baton.example.com"
    with pytest.raises(webhooks.TargetRefused, match="Baton itself"):
        webhooks.save_endpoint(ada, url, ["submission.created"])
    db.session.rollback()
    assert endpoints_saved() == 0


def test_with_private_targets_allowed_only_the_portals_own_port_is_refused(
    app, ada, private_webhook_targets
):
    app.config["BASE_URL"] = "http://127.0.0.1:5000"
    with pytest.raises(webhooks.TargetRefused, match="Baton itself"):
        webhooks.save_endpoint(ada, "http://127.0.0.1:5000/hook", ["submission.created"])
    db.session.rollback()
    beside = webhooks.save_endpoint(ada, "http://127.0.0.1:5001/hook", ["submission.created"])
    assert beside.url == "http://127.0.0.1:5001/hook"


def test_the_setting_for_private_targets_is_read_from_the_environment(tmp_path):
    from portal.config import from_environment

    assert from_environment(str(tmp_path), {})["BATON_WEBHOOK_ALLOW_PRIVATE"] is False
    allowed = from_environment(str(tmp_path), {"BATON_WEBHOOK_ALLOW_PRIVATE": "1"})
    assert allowed["BATON_WEBHOOK_ALLOW_PRIVATE"] is True


def test_a_saved_url_that_cannot_be_sent_to_fails_once_in_the_log_and_is_not_retried(
    app, admin, ada, run_jobs, fast_retries
):
    endpoint = saved_before_checks("https://erp.example.com/in box\r\nX-Injected: 1")
    delivery = deliver_a_ping(ada, endpoint, run_jobs)
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 1
    assert delivery.last_error == "refused: invalid URL" and delivery.last_status is None
    assert [attempt["error"] for attempt in delivery.history] == ["refused: invalid URL"]
    assert deliver_webhook_jobs_left() == []
    log = admin.get(f"/admin/webhooks/deliveries/{delivery.id}").text
    assert "refused: invalid URL" in log


@pytest.mark.parametrize("listening", [True, False])
def test_a_private_target_is_refused_at_delivery_without_trying_it(
    app, ada, run_jobs, fast_retries, listening
):
    """Whether a port on the inside answers must not show in the log: nothing is tried."""
    server = Receiver()
    port = server.server.server_port
    if not listening:
        server.close()
    try:
        endpoint = saved_before_checks(f"http://localhost:{port}/hooks/baton")
        delivery = deliver_a_ping(ada, endpoint, run_jobs)
    finally:
        if listening:
            server.close()
    assert server.received == []
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 1
    assert delivery.last_error == "refused: private address" and delivery.last_status is None
    assert [(a["status"], a["error"], a["ms"]) for a in delivery.history] == [
        (None, "refused: private address", 0)
    ]
    assert deliver_webhook_jobs_left() == []


def test_the_host_is_resolved_again_at_each_delivery(app, ada, run_jobs, monkeypatch):
    """A name that was public when saved and points inside later (DNS rebinding) is refused."""
    answers = {"erp.example.com": ["93.184.216.34"]}
    monkeypatch.setattr(webhooks, "_resolve", lambda target: answers[target.host])
    endpoint = webhooks.save_endpoint(ada, "https://erp.example.com/in", ["submission.created"])
    db.session.commit()
    answers["erp.example.com"] = ["93.184.216.34", "10.0.0.7"]
    delivery = deliver_a_ping(ada, endpoint, run_jobs)
    assert delivery.state == DeliveryState.FAILED
    assert delivery.last_error == "refused: private address"


def test_a_delivery_connects_to_the_address_it_checked(app, ada, receiver, run_jobs, monkeypatch):
    """The connection goes to the address checked, not to a second lookup of the name (which
    could answer differently); the Host header still names the URL's host."""
    looked_up = []

    def resolve(target):
        looked_up.append(target.host)
        return ["127.0.0.1"]

    monkeypatch.setattr(webhooks, "_resolve", resolve)
    port = receiver.server.server_port
    endpoint = saved_before_checks(f"http://erp.baton.invalid:{port}/hooks/baton")
    delivery = deliver_a_ping(ada, endpoint, run_jobs)
    assert delivery.state == DeliveryState.DELIVERED, delivery.last_error
    assert looked_up == ["erp.baton.invalid"]
    assert receiver.received[0]["headers"]["Host"] == f"erp.baton.invalid:{port}"


def test_an_answer_that_is_not_http_fails_the_attempt_not_the_job(
    app, ada, run_jobs, private_webhook_targets
):
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer_garbage():
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HELLO THERE\r\n\r\n")

        thread = threading.Thread(target=answer_garbage, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        endpoint = saved_before_checks(f"http://127.0.0.1:{port}/hook")
        delivery = deliver_a_ping(ada, endpoint, run_jobs)
        thread.join(timeout=5)
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    assert delivery.last_error.startswith("BadStatusLine")
    assert [job.args for job in deliver_webhook_jobs_left()] == [{"delivery_id": delivery.id}]
