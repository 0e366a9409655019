"""Agent accounts: made by `baton create-agent`, listed apart from people, never signed in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.services import users
from tests.fixtures.web import csrf_token_in


def test_create_agent_prints_a_token_once_that_acts_as_the_agent(runner, api, app):
    result = runner.invoke(
        args=["baton", "create-agent", "Sanctions bot", "--group", "sanctions_agents"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "Created agent Sanctions bot (agent), sanctions-bot@agents.invalid (sanctions_agents)."
    )
    assert lines[1] == "Its API token 'token for Sanctions bot' (shown once; store it now):"
    token = lines[2]
    assert token.startswith("baton_")
    db.session.expire_all()
    agent = db.session.scalars(select(User).where(User.kind == "agent")).one()
    assert agent.is_agent and agent.group_names == {"sanctions_agents"}
    assert api.get("/tasks", token).json == []
    created = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "agent_created")
    ).one()
    assert created.details["user"] == "sanctions-bot@agents.invalid"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["  "], "an agent needs a name"),
        (["Bot", "--email", "not-an-address"], "'not-an-address' is not an email address"),
    ],
)
def test_create_agent_refuses_what_cannot_work_and_makes_nothing(runner, app, args, message):
    result = runner.invoke(args=["baton", "create-agent", *args])
    assert result.exit_code != 0 and message in result.output
    db.session.expire_all()
    assert db.session.scalars(select(User)).all() == []


def test_an_agents_name_is_taken_once(runner, make_agent):
    make_agent("Sanctions bot")
    result = runner.invoke(args=["baton", "create-agent", "Sanctions Bot"])
    assert result.exit_code == 1
    assert "sanctions-bot@agents.invalid already exists" in result.output


def test_list_users_shows_people_and_agents_apart(runner, alice, make_agent, make_user):
    make_agent("Sanctions bot", ["sanctions_agents"])
    make_user("zed@example.com", "Zed Old")
    users.set_active("zed@example.com", False)
    db.session.commit()
    result = runner.invoke(args=["baton", "list-users"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "People (2):",
        "  alice@example.com  Alice Martin  (staff)",
        "  zed@example.com  Zed Old  (no groups) [disabled]",
        "Agents (1):",
        "  sanctions-bot@agents.invalid  Sanctions bot (agent)  (sanctions_agents)",
    ]


def test_an_agent_cannot_sign_in_and_is_told_why(client, make_agent):
    agent = make_agent("Sanctions bot")
    token = csrf_token_in(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": agent.user.email, "password": "anything at all"},
    )
    assert response.status_code == 403
    assert "Sanctions bot (agent) is an agent: agents cannot sign in to the web" in (
        response.get_data(as_text=True)
    )
    assert client.get("/").status_code == 302  # still signed out
    assert users.authenticate(agent.user.email, "") is None


def test_an_agent_gets_no_password_from_create_user(runner, make_agent):
    make_agent("Sanctions bot")
    result = runner.invoke(
        args=[
            "baton",
            "create-user",
            "sanctions-bot@agents.invalid",
            "--name",
            "Bot",
            "--password",
            "long enough pw",
        ]
    )
    assert result.exit_code == 1 and "is an agent" in result.output
