"""docs/agents.md stays true to the code: its tools, its schema example and its Python client."""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import json
import re
from pathlib import Path

from portal import mcp_server
from portal.domain.schema import load
from tests.fixtures.agents import SANCTIONS_STEP, sanctions_invoice

DOC = (Path(__file__).resolve().parents[1] / "docs" / "agents.md").read_text("utf-8")


def test_the_tools_table_is_the_servers_tools(app, make_agent):
    agent = make_agent("Sanctions bot")
    server = mcp_server.build(app, agent.token)
    # In a thread of its own: the browser tests leave an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        listed_tools = pool.submit(asyncio.run, server.list_tools()).result(timeout=60)
    tools = {tool.name for tool in listed_tools}
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", DOC, re.M))
    assert listed == tools


def test_the_chain_example_is_the_tests_sanctions_invoice():
    block = re.search(r'```jsonc\n"approval": (\{.*?\n\})\n```', DOC, re.S).group(1)
    approval = json.loads(block)
    assert approval["steps"][0] == SANCTIONS_STEP
    assert approval == sanctions_invoice()["approval"]
    assert load(sanctions_invoice(), "vendor_invoice").approval.step("sanctions").review_group


def test_the_python_client_parses_and_calls_real_tools():
    (code,) = re.findall(r"```python\n(.*?)```", DOC, re.S)
    tree = ast.parse(code)
    called = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "call_tool"
        and isinstance(node.args[0], ast.Constant)
    }
    assert called == {"list_my_tasks", "get_request"}
