"""The method table: every method the server answers takes its params and response types
from ``protocol.methods``, and a real answer to each validates against the reference schema.

The server runs in-process on the in-memory transport (``tests/support/memory_server.py``),
against the mock model.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import BaseModel
from tests.support.appserver import AppServerClient
from tests.support.memory_server import MemoryServerFactory
from tests.support.mock_model import Gate, MockModel, text
from tests.support.schema import SchemaRegistry, schema_dir

from threadline.core.config import load_config
from threadline.protocol.methods import CLIENT_REQUESTS, THREADLINE_REQUESTS, client_request_types
from threadline.protocol.v2.misc import CommandExecResponse
from threadline.protocol.v2.thread_ops import (
    ThreadLoadedListParams,
    ThreadLoadedListResponse,
)
from threadline.protocol.v2.turn import TurnStartParams
from threadline.server import build_app_server
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.handlers import HANDLERS

TOOLBOX = str(Path(__file__).resolve().parents[1] / "support" / "mcp_servers" / "toolbox.py")


def served_table(home: Path) -> MethodTable:
    server, _manager = build_app_server(load_config(home=home), test_methods=False)
    return server.method_table


def test_every_served_method_has_its_types_in_the_protocol_table(
    tmp_path: Path, schema: SchemaRegistry
) -> None:
    table = served_table(tmp_path)
    assert set(table) == set(HANDLERS)
    for method in table:
        spec = table.get(method)
        types = client_request_types(method)
        assert spec is not None and types is not None, method
        assert (spec.params_type, spec.response_type) == types, method
        assert all(issubclass(t, BaseModel) for t in types), method
        if method in CLIENT_REQUESTS:
            assert schema.response_validator(method) is not None, method
        else:
            assert method in THREADLINE_REQUESTS and method not in schema.client_methods, method


def test_registering_checks_the_handler_against_the_table() -> None:
    table = MethodTable()

    async def loaded(ctx: RequestContext, p: ThreadLoadedListParams) -> ThreadLoadedListResponse:
        return ThreadLoadedListResponse(data=[])

    async def wrong_params(ctx: RequestContext, p: TurnStartParams) -> ThreadLoadedListResponse:
        return ThreadLoadedListResponse(data=[])

    with pytest.raises(TypeError, match="takes"):
        table.register("thread/loaded/list", wrong_params)
    with pytest.raises(ValueError, match=r"not in threadline\.protocol\.methods"):
        table.register("no/such", loaded)
    with pytest.raises(ValueError, match=r"is in threadline\.protocol\.methods"):
        table.register_unlisted(
            "thread/loaded/list", ThreadLoadedListParams, ThreadLoadedListResponse, loaded
        )
    table.register("thread/loaded/list", loaded)
    with pytest.raises(ValueError, match="already registered"):
        table.register("thread/loaded/list", loaded)


@pytest_asyncio.fixture
async def served(
    tmp_path: Path, memory_server: MemoryServerFactory
) -> AsyncIterator[tuple[AppServerClient, MockModel]]:
    with MockModel() as mock:
        home = tmp_path / "home"
        home.mkdir()
        (home / "config.toml").write_text(
            'model_provider = "mock"\nmodel = "mock-model"\napproval_policy = "never"\n'
            "[model_providers.mock]\n"
            f'name = "Mock"\nbase_url = "{mock.base_url}"\nwire_api = "responses"\n'
            "request_max_retries = 0\n"
            "[mcp_servers.box]\n"
            f"command = {json.dumps(sys.executable)}\nargs = [{json.dumps(TOOLBOX)}]\n",
            encoding="utf-8",
        )
        server = await memory_server(home=home, test_methods=False, name="walk", version="1")
        yield server.client, mock


async def test_every_method_answers_with_its_response_type(
    served: tuple[AppServerClient, MockModel], tmp_path: Path
) -> None:
    client, mock = served
    answered: set[str] = set()

    async def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        result = await client.request(method, params, timeout=20)
        _, response = client_request_types(method) or (None, None)
        assert response is not None
        response.model_validate(result)  # and the harness's schema check on arrival
        answered.add(method)
        return result

    await call("config/read", {})
    await call("account/read", {})
    await call("model/list", {})
    started = await call("thread/start", {"cwd": str(tmp_path)})
    tid = started["thread"]["id"]
    await call("thread/loaded/list", {})

    mock.enqueue(text("first answer"))
    await call("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "one"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    await call("thread/read", {"threadId": tid, "includeTurns": True})
    await call("thread/list", {})
    await call("thread/name/set", {"threadId": tid, "name": "walked"})
    await call(
        "thread/inject_items",
        {
            "threadId": tid,
            "items": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}
            ],
        },
    )
    await call("thread/increment_elicitation", {"threadId": tid})
    await call("thread/decrement_elicitation", {"threadId": tid})
    await call("thread/memoryMode/set", {"threadId": tid, "mode": "disabled"})
    mock.enqueue(text("a hand-off note"))
    await call("thread/compact/start", {"threadId": tid})
    await client.wait_for_notification("turn/completed", timeout=20)

    gate = Gate()
    mock.enqueue(text("held answer", gate=gate))
    turn = await call("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "two"}]})
    turn_id = turn["turn"]["id"]
    await call(
        "turn/steer",
        {"threadId": tid, "expectedTurnId": turn_id, "input": [{"type": "text", "text": "more"}]},
    )
    await call("turn/interrupt", {"threadId": tid, "turnId": turn_id})
    await client.wait_for_notification("turn/completed", timeout=20)
    gate.set()

    # command/exec answers when its process ends; its controls meanwhile (on a pty).
    exec_id = client.new_id()
    exec_params = {
        "command": ["cat"],
        "processId": "walk",
        "tty": True,
        "sandboxPolicy": {"type": "dangerFullAccess"},
    }
    await client.send({"id": exec_id, "method": "command/exec", "params": exec_params})
    await call("command/exec/write", {"processId": "walk", "deltaBase64": "aGkK"})
    await call("command/exec/resize", {"processId": "walk", "size": {"rows": 10, "cols": 40}})
    await call("command/exec/terminate", {"processId": "walk"})
    exec_answer = await client.wait_for_answer(exec_id, timeout=20)
    CommandExecResponse.model_validate(exec_answer["result"])
    answered.add("command/exec")
    await call("thread/shellCommand", {"threadId": tid, "command": "true"})
    await client.wait_for_notification("turn/completed", timeout=20)
    await call("mcpServerStatus/list", {"threadId": tid})
    await call("mcpServer/tool/call", {"threadId": tid, "server": "box", "tool": "echo",
                                       "arguments": {"text": "walk"}})
    await call("mcpServer/resource/read", {"threadId": tid, "server": "box", "uri": "memo://greeting"})
    await call("config/mcpServer/reload", {})

    forked = await call("thread/fork", {"threadId": tid})
    fork_id = forked["thread"]["id"]
    await call("thread/rollback", {"threadId": tid, "numTurns": 1})
    await call("thread/unsubscribe", {"threadId": tid})
    await call("thread/resume", {"threadId": tid})
    await call("thread/archive", {"threadId": fork_id})
    await call("thread/unarchive", {"threadId": fork_id})
    await call("modelProvider/default/set", {"providerId": "mock"})  # 0.171, not in 0.169's schema

    # Every other handler answers a method of the 0.169 stable schema, which
    # tests/server/test_stable_surface.py walks one by one.
    stable = {
        v["properties"]["method"]["enum"][0]
        for v in json.loads((schema_dir() / "ClientRequest.json").read_text())["oneOf"]
    }
    assert answered <= set(HANDLERS)
    assert set(HANDLERS) - answered <= stable, sorted(set(HANDLERS) - answered - stable)
