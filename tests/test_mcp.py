"""`baton mcp`: the MCP server as a client meets it, started as a subprocess over stdio.

The official SDK's stdio client starts `flask --app app baton mcp` against the test database,
lists the tools, submits a request as a person, decides its task as the sanctions agent, and
is refused what each token may not do. The client runs on an event loop of its own in a
thread of its own, so a browser test's loop in the same process does not get in its way.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from portal.domain.chain import StepState, TaskState
from portal.extensions import db
from portal.models import Task
from tests.api.test_api import invoice_data
from tests.test_agents import events_of, step_state

ROOT = Path(__file__).resolve().parents[1]
TOOLS = {"list_forms", "get_form", "submit_request", "list_my_tasks", "get_request", "decide_task"}


def server_environment(app, token: str) -> dict[str, str]:
    """What `baton mcp` needs to reach the test's database, Redis queue and instance folder."""
    return {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "BATON_QUEUE": app.config["RQ_QUEUE"],
        "BATON_INSTANCE": app.instance_path,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "BATON_TIMEZONE": "Europe/Berlin",
        "BATON_MCP_TOKEN": token,
    }


def with_server(app, token: str, script):
    """Run `await script(session)` against a `baton mcp` subprocess acting as `token`."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "flask", "--app", "app", "baton", "mcp"],
        env=server_environment(app, token),
        cwd=str(ROOT),
    )

    async def main():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await script(session)

    outcome: dict = {}

    def thread_body():
        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:  # handed to the test's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=thread_body)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "the MCP session did not finish"
    if "error" in outcome:
        raise outcome["error"]
    db.session.expire_all()
    return outcome["value"]


async def call(session: ClientSession, tool: str, **arguments) -> tuple[bool, object]:
    """(is_error, what the tool answered: its JSON, or the refusal's words)."""
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text if result.content else ""
    if result.isError:
        return True, text.removeprefix(f"Error executing tool {tool}: ")
    if result.structuredContent is not None:
        content = result.structuredContent
        return False, content.get("result", content) if set(content) == {"result"} else content
    return False, json.loads(text)


@pytest.mark.slow
def test_a_person_and_an_agent_use_baton_through_mcp(
    app, org, sanctions_bot, sanctions_form, token_for, run_jobs
):
    alice = token_for(org.alice, "Alice's assistant")

    async def as_alice(session):
        tools = {tool.name for tool in (await session.list_tools()).tools}
        failed, forms = await call(session, "list_forms")
        failed_form, form = await call(session, "get_form", slug="vendor_invoice")
        missing = await call(session, "get_form", slug="no_such_form")
        bad = await call(session, "submit_request", form="vendor_invoice", data={"vendor_name": ""})
        submitted = await call(
            session, "submit_request", form="vendor_invoice", data=invoice_data()
        )
        return tools, (failed, forms), (failed_form, form), missing, bad, submitted

    tools, listed, described, missing, bad, submitted = with_server(app, alice, as_alice)
    assert tools == TOOLS
    assert listed == (False, [{"slug": "vendor_invoice", "title": "Vendor invoice", "version": 1}])
    failed, form = described
    assert not failed
    fields = {field["name"]: field for field in form["fields"]}
    new_vendor = "“This is a new vendor (first invoice from them)” is ticked"
    assert fields["vendor_tax_id"]["shown_only_when"] == new_vendor
    assert fields["po_number"]["required_when"] == "“Invoice total (net)” is more than 5000"
    assert "do not send it" in fields["total"]["computed"]
    assert form["approval"][0]["agent_output"] == [
        "sanctions_hit: true or false; The vendor is on a sanctions list",
        "score: a number from 0 to 100; Risk score",
    ]
    assert missing == (True, "There is no open form called 'no_such_form'; list_forms names them.")
    assert bad[0] is True and bad[1].startswith("The request was not submitted.")
    assert "vendor_email" in bad[1]
    failed, request = submitted
    assert not failed and request["status"] == "in_review"
    run_jobs()  # the worker starts the chain: the sanctions agent is asked

    (task,) = db.session.query(Task).filter_by(submission_id=request["id"]).all()
    assert task.assignee_id == sanctions_bot.user.id
    task_id = task.id  # the client's thread has no app context to load rows in

    async def alice_again(session):
        not_hers = await call(session, "decide_task", task_id=task_id, decision="approve")
        seen = await call(session, "get_request", request_id=request["id"])
        return not_hers, seen

    not_hers, seen = with_server(app, alice, alice_again)
    assert not_hers == (True, "This task is not assigned to you.")
    assert seen[1]["waiting_at"] == "Sanctions check: waiting for Sanctions bot (agent)"

    async def as_agent(session):
        tasks = await call(session, "list_my_tasks")
        wrong = await call(
            session,
            "decide_task",
            task_id=task_id,
            decision="approve",
            rationale="No list names Acme.",
            output={"sanctions_hit": False, "score": 300},
        )
        done = await call(
            session,
            "decide_task",
            task_id=task_id,
            decision="approve",
            rationale="No list names Acme.",
            output={"sanctions_hit": False, "score": 4},
        )
        others = await call(session, "get_request", request_id=request["id"] + 1000)
        return tasks, wrong, done, others

    tasks, wrong, done, others = with_server(app, sanctions_bot.token, as_agent)
    assert tasks[0] is False and [t["id"] for t in tasks[1]] == [task_id]
    assert tasks[1][0]["output_schema"]["properties"]["score"]["maximum"] == 100
    assert wrong == (
        True,
        "The decision was not recorded. output.score: 300 is more than 100 allows",
    )
    # EUR 12,475 is above the agent's limit: its decision waits for a finance person.
    assert done[0] is False and done[1]["task"]["state"] == "recommended"
    assert others[0] is True
    assert db.session.get(Task, task_id).state == TaskState.RECOMMENDED
    submission = task.submission
    assert step_state(submission, "sanctions") == StepState.ACTIVE
    (recommended,) = events_of(submission, "task_recommended")
    assert recommended.channel == "agent"
    assert recommended.details["api_token"] == "token for Sanctions bot"
    assert recommended.details["output"] == {"sanctions_hit": False, "score": 4}
    (made,) = events_of(submission, "submitted")
    assert made.channel == "api" and made.details["api_token"] == "Alice's assistant"


def test_a_wrong_token_is_refused_before_serving(app):
    finished = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "baton", "mcp", "--token", "baton_wrong"],
        cwd=ROOT,
        env={**server_environment(app, ""), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1
    assert "This token is not valid" in finished.stderr
    assert finished.stdout == ""
