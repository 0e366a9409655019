"""Single sign-on through a real OpenID Connect provider on loopback, at the HTTP level."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from portal import audit, clock, limits
from portal.domain.chain import TaskState
from portal.extensions import db
from portal.models import AuditEvent, SignIn, Task, User
from portal.services import users
from tests.fixtures.forms import invoice_with_steps
from tests.fixtures.users import PASSWORD
from tests.fixtures.web import Browser, csrf_token_in, invoice_post, seen_in

NORA = {"email": "nora@example.com", "email_verified": True, "name": "Nora Quist"}


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.email == email)).first()


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
    )


def _counts() -> tuple[int, int, int]:
    """Users, audit events and sessions: what a refused sign-in must leave as it was."""
    db.session.expire_all()
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (User, AuditEvent, SignIn)
    )


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_the_provider_is_asked_for_a_code_with_pkce_state_and_nonce(sso, client):
    url = sso.start(client)
    assert url.startswith(sso.provider.url + "/oauth2/authorize?")
    query = parse_qs(urlsplit(url).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == ["http://127.0.0.1:5000/login/oidc/callback"]
    assert set(query["scope"][0].split()) == {"openid", "email", "profile"}


def test_the_sign_in_page_offers_the_provider_by_name(sso, client):
    page = client.get("/login")
    assert "Sign in with Example ID" in page.text
    assert 'name="password"' in page.text  # BATON_PASSWORD_SIGN_IN is on by default


def test_first_sign_in_creates_the_user_with_the_mapped_groups(sso, client):
    response = sso.sign_in(client, "sub-nora", **NORA, groups=["ap-approvers", "Everyone"])
    assert response.status_code == 302, response.text
    assert response.location == "/"
    nora = _user("nora@example.com")
    assert nora is not None and nora.name == "Nora Quist"
    assert nora.sso_subject == "sub-nora"
    # ap-approvers is mapped to finance; Everyone is in no map and is ignored.
    assert nora.group_names == {"finance"}
    assert _signed_in(client)
    (event,) = _events("user_created")
    assert event.channel == "oidc" and event.actor == "nora@example.com"
    assert event.details["provider"] == sso.provider.url
    assert event.details["groups"] == ["finance"]
    # A session on the server, as a password sign-in starts: signing out ends it there.
    assert db.session.scalar(select(func.count()).select_from(SignIn)) == 1


def test_next_page_is_kept_through_the_provider(sso, client):
    response = sso.sign_in(client, "sub-nora", next_url="/inbox", **NORA)
    assert response.location == "/inbox"


def test_without_a_map_groups_come_by_name(sso, app, client):
    app.config["OIDC_GROUP_MAP"] = None
    sso.sign_in(client, "sub-nora", **NORA, groups=["Finance", "it", "not a name!"])
    assert _user("nora@example.com").group_names == {"finance", "it"}


def test_a_group_removed_at_the_provider_is_removed_at_the_next_sign_in(
    sso, app, make_user, publish, make_submission
):
    first = app.test_client()
    sso.sign_in(first, "sub-nora", **NORA, groups=["ap-approvers", "cfo-office"])
    assert _user("nora@example.com").group_names == {"cfo", "finance"}
    # A request waits for finance: Nora's task.
    alice = make_user("alice@example.com", "Alice Martin", groups=["staff"])
    publish(
        "vendor_invoice",
        invoice_with_steps(
            {"name": "finance", "title": "Finance", "assignees": [{"group": "finance"}]}
        ),
    )
    submission = make_submission(submitter=alice)
    (task,) = db.session.scalars(select(Task).where(Task.submission_id == submission.id))
    assert task.assignee.email == "nora@example.com"

    again = app.test_client()
    response = sso.sign_in(again, "sub-nora", **NORA, groups=["cfo-office"])
    assert response.status_code == 302
    assert _user("nora@example.com").group_names == {"cfo"}
    event = _events("user_changed")[-1]
    assert event.channel == "oidc"
    assert event.details["groups_removed"] == ["finance"]
    assert "groups_added" not in event.details
    # Her open task stays hers, listed for an administrator to reassign.
    assert event.details["open_tasks"] == [task.id]
    db.session.expire_all()
    task = db.session.get(Task, task.id)
    assert task.state == TaskState.OPEN and task.assignee.email == "nora@example.com"

    # An administrator finds it on the admin pages, with the request to reassign it from.
    make_user("ada@example.com", "Ada Byrne", groups=["admin"])
    admin = Browser(app.test_client())
    admin.login("ada@example.com")
    assert "Group changes" in admin.get("/admin/forms").text
    page = admin.get("/admin/group-changes")
    assert page.status_code == 200
    assert "Nora Quist" in page.text and "finance" in page.text
    assert f'href="/submissions/{submission.id}"' in page.text
    assert "Finance" in page.text  # the step's title

    # Reassigned to someone still in finance: nothing left to do.
    fiona = make_user("fiona@example.com", "Fiona Walsh", groups=["finance"])
    response = admin.post(
        f"/tasks/{task.id}/reassign", {"user_id": fiona.id, "reason": "Nora left finance"}
    )
    assert response.status_code == 302
    page = admin.get("/admin/group-changes")
    assert "Nobody who left a group has an open task." in page.text


def test_the_admin_list_is_empty_when_no_task_waits(sso, app, make_user):
    sso.sign_in(app.test_client(), "sub-nora", **NORA, groups=["ap-approvers"])
    sso.sign_in(app.test_client(), "sub-nora", **NORA, groups=[])
    make_user("ada@example.com", "Ada Byrne", groups=["admin"])
    admin = Browser(app.test_client())
    admin.login("ada@example.com")
    page = admin.get("/admin/group-changes")
    # Nora left finance with no task waiting: nothing to do.
    assert "Nobody who left a group has an open task." in page.text


def test_a_sign_in_that_changes_nothing_writes_no_event(sso, client, app):
    sso.sign_in(client, "sub-nora", **NORA, groups=["ap-approvers"])
    before = _counts()[1]
    sso.sign_in(app.test_client(), "sub-nora", **NORA, groups=["ap-approvers"])
    assert _counts()[1] == before


def test_a_renamed_person_is_renamed_and_the_event_says_from_what(sso, client, app):
    sso.sign_in(client, "sub-nora", **NORA)
    sso.sign_in(app.test_client(), "sub-nora", **{**NORA, "name": "Nora Quist-Berg"})
    assert _user("nora@example.com").name == "Nora Quist-Berg"
    event = _events("user_changed")[-1]
    assert event.details["name"] == {"from": "Nora Quist", "to": "Nora Quist-Berg"}
    # The sign-ins' events are links of the admin chain like any other: it still verifies.
    verification = audit.verify(audit.ADMIN_CHAIN)
    assert verification.ok and verification.events == 2


def test_without_a_groups_claim_groups_stay_as_they_are(sso, client, make_user):
    make_user("nora@example.com", "Nora Quist", groups=["compliance"])
    sso.sign_in(client, "sub-nora", **NORA)
    nora = _user("nora@example.com")
    assert nora.group_names == {"compliance"}
    # An account made with a password is linked to the provider's at the first sign-in.
    assert nora.sso_subject == "sub-nora"


def test_the_manager_claim_is_used_by_a_manager_step(sso, app, publish, run_jobs, mailbox):
    publish(
        "vendor_invoice",
        invoice_with_steps(
            {"name": "manager", "title": "Manager approval", "assignees": [{"manager": 1}]}
        ),
    )
    sso.sign_in(app.test_client(), "sub-mia", email="mia@example.com", name="Mia Lund")
    sid = Browser(app.test_client())
    response = sso.sign_in(
        sid.client,
        "sub-sid",
        email="sid@example.com",
        name="Sid Park",
        manager_email="mia@example.com",
    )
    assert response.status_code == 302
    assert _user("sid@example.com").manager.email == "mia@example.com"

    page = sid.get("/forms/vendor_invoice/new")
    sid.token = csrf_token_in(page.text)
    response = sid.post(
        "/forms/vendor_invoice/new", invoice_post(), content_type="multipart/form-data"
    )
    assert response.status_code == 302, response.text
    run_jobs()
    (task,) = db.session.scalars(select(Task).where(Task.state == TaskState.OPEN))
    assert task.step == "manager" and task.assignee.email == "mia@example.com"

    # The emailed link works for Mia as it always has, signed in or not ...
    (message,) = mailbox.to("mia@example.com")
    path = "/act/" + mailbox.text(message).split("/act/")[1].split()[0]
    assert app.test_client().get(path).status_code == 200
    # ... and opened in Sid's signed-in browser it is refused, as for any other person.
    refused = sid.get(path)
    assert refused.status_code == 403
    assert "Approve" not in refused.text


def test_a_manager_not_in_baton_yet_is_noted_and_the_manager_kept(sso, client):
    sso.sign_in(
        client, "sub-sid", email="sid@example.com", name="Sid", manager_email="x@example.com"
    )
    assert _user("sid@example.com").manager is None
    (event,) = _events("user_created")
    assert event.details["manager_not_found"] == "x@example.com"


def test_a_disabled_user_is_refused_and_nothing_changes(sso, app, client):
    sso.sign_in(app.test_client(), "sub-nora", **NORA, groups=["ap-approvers"])
    users.set_active("nora@example.com", False)
    db.session.commit()
    before = _counts()

    response = sso.sign_in(client, "sub-nora", **{**NORA, "name": "Someone Else"}, groups=[])
    assert response.status_code == 403
    assert "Your Baton account is disabled" in response.text
    assert "Nothing was changed in Baton." in response.text
    assert _counts() == before
    nora = _user("nora@example.com")
    assert nora.name == "Nora Quist" and nora.group_names == {"finance"}
    assert not _signed_in(client)


def test_a_tampered_state_is_refused_and_nothing_changes(sso, client):
    sso.provider.set_person("sub-nora", **NORA)
    callback = sso.provider.answer(sso.start(client), "sub-nora")
    path, _, query = callback.partition("?")
    params = {key: values[0] for key, values in parse_qs(query).items()}
    params["state"] = params["state"][:-1] + ("A" if params["state"][-1] != "A" else "B")
    before = _counts()

    response = client.get(f"{path}?{urlencode(params)}")
    assert response.status_code == 400
    assert "did not start in this browser" in response.text
    assert _counts() == before
    assert not _signed_in(client)


def test_a_callback_from_another_browser_is_refused(sso, app, client):
    """Login CSRF: an attacker's own code and state, delivered to the victim's browser."""
    sso.provider.set_person("sub-mallory", email="mallory@example.com")
    callback = sso.provider.answer(sso.start(app.test_client()), "sub-mallory")
    response = client.get(callback)
    assert response.status_code == 400
    assert _user("mallory@example.com") is None


def test_a_used_answer_cannot_be_used_again(sso, client):
    sso.provider.set_person("sub-nora", **NORA)
    callback = sso.provider.answer(sso.start(client), "sub-nora")
    assert client.get(callback).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token_in(client.get("/").text)})
    assert client.get(callback).status_code == 400
    assert not _signed_in(client)


def test_an_unverified_email_is_refused(sso, client):
    before = _counts()
    response = sso.sign_in(client, "sub-nora", **{**NORA, "email_verified": False})
    assert response.status_code == 422
    assert "not verified" in response.text
    assert _counts() == before
    assert not _signed_in(client)


def test_a_person_who_says_no_at_the_provider_sees_why(sso, client):
    before = _counts()
    callback = sso.provider.answer(sso.start(client), None)
    assert "error=access_denied" in callback
    response = client.get(callback)
    assert response.status_code == 400
    assert "You did not allow Baton to sign you in" in response.text
    assert "Back to sign-in" in response.text
    assert _counts() == before


def test_an_expired_id_token_is_refused(sso, client):
    sso.provider.set_person("sub-nora", **NORA)
    callback = sso.provider.answer(sso.start(client), "sub-nora")
    # The provider's tokens last an hour; two hours on, this one has expired.
    with clock.frozen_at(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)):
        response = client.get(callback)
    assert response.status_code == 400
    assert "could not be verified" in response.text
    assert _user("nora@example.com") is None


@pytest.mark.parametrize("setting", ["OIDC_ISSUER", "OIDC_CLIENT_ID"])
def test_an_id_token_for_another_issuer_or_audience_is_refused(sso, app, client, setting):
    """The token names the provider as issuer and this client as audience; Baton expecting
    another issuer or client id (its settings changed after the client was made) refuses it."""
    sso.provider.set_person("sub-nora", **NORA)
    callback = sso.provider.answer(sso.start(client), "sub-nora")
    app.config[setting] = app.config[setting] + "-other"
    response = client.get(callback)
    assert response.status_code == 400
    assert _user("nora@example.com") is None


def test_an_id_token_signed_with_another_key_is_refused(sso, app, client):
    from joserfc.jwk import KeySet, RSAKey

    sso.provider.set_person("sub-nora", **NORA)
    callback = sso.provider.answer(sso.start(client), "sub-nora")
    oidc_client = app.extensions["baton.oidc"]
    published = oidc_client.fetch_jwk_set()
    # A forger's key under the provider's key id: the signature cannot match it.
    forged = RSAKey.generate_key(2048, parameters={"kid": published["keys"][0]["kid"]})
    oidc_client.server_metadata["jwks"] = KeySet([forged]).as_dict(private=False)
    response = client.get(callback)
    assert response.status_code == 400
    assert "could not be verified" in response.text
    assert _user("nora@example.com") is None


def test_an_email_taken_by_another_linked_account_is_refused(sso, app, client):
    sso.sign_in(app.test_client(), "sub-nora", **NORA)
    response = sso.sign_in(client, "sub-someone-else", **NORA)
    assert response.status_code == 409
    assert _user("nora@example.com").sso_subject == "sub-nora"


def test_people_from_the_provider_have_no_password(sso, app, client):
    sso.sign_in(client, "sub-nora", **NORA)
    visitor = app.test_client()
    token = csrf_token_in(visitor.get("/login").text)
    for password in ("x", PASSWORD, "baton: no such user"):
        response = visitor.post(
            "/login",
            data={"csrf_token": token, "email": NORA["email"], "password": password},
        )
        assert response.status_code == 401, password
        assert "That email and password did not match" in response.text
    assert not _signed_in(visitor)


@pytest.fixture
def passwords_off(sso, app):
    app.config["PASSWORD_SIGN_IN"] = False
    return sso


def test_with_passwords_off_only_local_accounts_sign_in_with_one(passwords_off, make_user, client):
    make_user("staff@example.com", "Stef Staff")
    admin, _ = users.save_user("root@example.com", "Ada Admin", PASSWORD, ["admin"], local=True)
    db.session.commit()

    page = client.get("/login")
    assert "Sign in with Example ID" in page.text
    assert 'name="password"' not in page.text
    assert "Sign in with a password" in page.text
    page = client.get("/login?password=1")
    assert 'name="password"' in page.text

    token = csrf_token_in(page.text)
    refused = client.post(
        "/login", data={"csrf_token": token, "email": "staff@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert "Sign in with Example ID" in refused.text
    assert not _signed_in(client)

    allowed = client.post(
        "/login", data={"csrf_token": token, "email": "root@example.com", "password": PASSWORD}
    )
    assert allowed.status_code == 302
    assert _signed_in(client)


def test_create_user_marks_an_account_local(runner):
    result = runner.invoke(
        args=[
            "baton",
            "create-user",
            "root@example.com",
            "--name",
            "Ada",
            "--password",
            PASSWORD,
            "--local",
        ]
    )
    assert result.exit_code == 0, result.output
    assert _user("root@example.com").local is True
    result = runner.invoke(args=["baton", "create-user", "root@example.com", "--name", "Ada"])
    assert _user("root@example.com").local is True  # unchanged unless said
    runner.invoke(args=["baton", "create-user", "root@example.com", "--name", "Ada", "--not-local"])
    assert _user("root@example.com").local is False


def test_single_sign_on_counts_against_the_sign_in_limit_per_address(sso, app, client):
    app.config.update(RATELIMIT_ENABLED=True, RATE_LIMIT_LOGIN_PER_CLIENT="2 per minute")
    limits.limiter.init_app(app)
    answer = "/login/oidc/callback?code=guess&state=guess"
    here, there = {"REMOTE_ADDR": "203.0.113.60"}, {"REMOTE_ADDR": "203.0.113.61"}
    for _ in range(2):
        assert client.get(answer, environ_base=here).status_code == 400
    assert client.get(answer, environ_base=here).status_code == 429
    assert client.get(answer, environ_base=there).status_code == 400


def test_a_signature_step_tells_someone_without_a_password_what_to_do(
    sso, app, publish, make_submission
):
    publish(
        "vendor_invoice",
        invoice_with_steps(
            {
                "name": "manager",
                "title": "Manager approval",
                "signature": "password",
                "sign_as": "Manager",
                "assignees": [{"manager": 1}],
            }
        ),
    )
    mia = Browser(app.test_client())
    sso.sign_in(mia.client, "sub-mia", email="mia@example.com", name="Mia Lund")
    sso.sign_in(
        app.test_client(), "sub-sid", email="sid@example.com", manager_email="mia@example.com"
    )
    submission = make_submission(submitter="sid@example.com")
    (task,) = db.session.scalars(select(Task).where(Task.submission_id == submission.id))
    page = mia.get(f"/tasks/{task.id}")
    mia.token = csrf_token_in(page.text)
    data = {"decision": "approve", "comment": "", "seen": seen_in(page.text)}

    refused = mia.post(f"/tasks/{task.id}", {**data, "password": "anything"})
    assert "signs in through single sign-on without one" in refused.text
    db.session.expire_all()
    assert db.session.get(Task, task.id).state == TaskState.OPEN

    # An administrator sets her a password for signing (which ends her sessions, as a new
    # password does): signed in again, she signs with it.
    users.save_user("mia@example.com", "Mia Lund", "a signing passphrase")
    db.session.commit()
    sso.sign_in(mia.client, "sub-mia", email="mia@example.com", name="Mia Lund")
    page = mia.get(f"/tasks/{task.id}")
    mia.token = csrf_token_in(page.text)
    signed = mia.post(f"/tasks/{task.id}", {**data, "password": "a signing passphrase"})
    assert signed.status_code == 302, signed.text
    db.session.expire_all()
    assert db.session.get(Task, task.id).state != TaskState.OPEN


def test_a_provider_that_cannot_be_reached_gets_a_page_that_says_so(sso, app, client):
    app.config["OIDC_ISSUER"] = "http://127.0.0.1:9"  # discard port: nothing answers there
    response = client.get("/login/oidc")
    assert response.status_code == 502
    assert "Baton could not reach Example ID" in response.text
