"""Method dispatch and error answers: the real server in-process on the memory transport;
malformed and oversized lines over the real stdio server (its framing).

Codes are the standard JSON-RPC ones (the reference answers everything with
-32600); messages keep the reference's serde wording.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, ValidationError
from tests.support.appserver import AppServerClient, AppServerProcess
from tests.support.memory_server import InProcessServer, MemoryServerFactory

from threadline.server.errors import format_validation_error


async def alive(client: AppServerClient) -> None:
    """The connection still serves requests."""
    assert await client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}


async def test_unknown_method_is_32601_and_lists_known_methods(
    in_process: InProcessServer,
) -> None:
    error = await in_process.client.request_error("foo/bar", {})
    assert error["code"] == -32601
    assert error["message"].startswith(
        "Invalid request: unknown variant `foo/bar`, expected one of "
    )
    assert "`initialize`" in error["message"]
    assert "`thread/loaded/list`" in error["message"]
    assert "data" not in error
    await alive(in_process.client)


async def test_invalid_params_are_32600_naming_the_field(in_process: InProcessServer) -> None:
    client = in_process.client
    error = await client.request_error("thread/loaded/list", {"limit": "ten"})
    assert error == {
        "code": -32600,
        "message": 'Invalid request: invalid type: string "ten", expected an integer at `limit`',
    }
    error = await client.request_error("thread/loaded/list", {"cursor": 42})
    assert error["code"] == -32600
    assert error["message"].startswith(
        "Invalid request: invalid type: integer `42`, expected a string"
    )
    assert "`cursor`" in error["message"]
    await alive(client)


async def test_missing_field_is_named(memory_server: MemoryServerFactory) -> None:
    server = await memory_server()
    error = await server.client.request_error("test/notify", {"params": {}})
    assert error == {"code": -32600, "message": "Invalid request: missing field `method`"}


async def test_unknown_fields_are_ignored(in_process: InProcessServer) -> None:
    client = in_process.client
    result = await client.request("thread/loaded/list", {"limit": 5, "fromTheFuture": [1, 2]})
    assert result == {"data": [], "nextCursor": None}
    await client.send(
        {"id": "x1", "method": "thread/loaded/list", "params": {}, "trace": {"span": 1}}
    )
    assert (await client.wait_for_answer("x1"))["result"] == {"data": [], "nextCursor": None}


async def test_missing_params_member_is_treated_as_empty(in_process: InProcessServer) -> None:
    answer = await in_process.client.call("thread/loaded/list", omit_params=True)
    assert answer["result"] == {"data": [], "nextCursor": None}


async def test_handler_exception_is_32603_and_connection_survives(
    memory_server: MemoryServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await memory_server()
    with caplog.at_level(logging.ERROR, logger="threadline.server"):
        error = await server.client.request_error("test/raise", {"message": "kaput"})
    assert error == {"code": -32603, "message": "Internal error: kaput"}
    await alive(server.client)
    # Logged with its traceback (the subprocess test in test_handshake sees it on stderr).
    assert "kaput" in caplog.text and "Traceback" in caplog.text


async def test_malformed_lines_get_errors_and_do_not_break_the_stream(
    stdio_server: AppServerProcess,
) -> None:
    client = stdio_server.client
    await client.send_raw("{not json")
    parse = await client.next_message()
    assert parse["id"] is None and parse["error"]["code"] == -32700
    assert parse["error"]["message"].startswith("Parse error")

    await client.send_raw("[1, 2, 3]")
    not_object = await client.next_message()
    assert not_object == {
        "id": None,
        "error": {
            "code": -32600,
            "message": "Invalid request: expected a JSON object, got an array",
        },
    }

    await client.send_raw(json.dumps({"id": 77}))
    no_method = await client.wait_for_answer(77)
    assert no_method["error"]["code"] == -32600

    await client.send_raw(json.dumps({"id": 78, "method": 5}))
    bad_method = await client.wait_for_answer(78)
    assert bad_method["error"] == {
        "code": -32600,
        "message": "Invalid request: `method` must be a non-empty string",
    }

    await client.send_raw(json.dumps({"id": 79, "method": "thread/loaded/list", "params": [1]}))
    bad_params = await client.wait_for_answer(79)
    assert bad_params["error"]["code"] == -32600
    assert "`params` must be an object" in bad_params["error"]["message"]

    await client.send_raw(json.dumps({"id": [1], "method": "thread/loaded/list"}))
    bad_id = await client.next_message()
    assert bad_id["id"] is None and bad_id["error"]["code"] == -32600

    await client.send_raw("")  # blank lines are skipped
    await client.send_raw("   ")
    await client.send_raw(b"\xff\xfe{".decode("latin-1"))  # not valid JSON
    assert (await client.next_message())["error"]["code"] == -32700
    await alive(client)
    assert client.unread() == []


async def test_ignored_client_messages_get_no_answer(in_process: InProcessServer) -> None:
    client = in_process.client
    await client.notify("foo/notified", {})  # unknown notification
    await client.send({"id": 9999, "result": {}})  # answer to a request never sent
    await client.send({"id": 9998, "error": {"code": 1, "message": "no"}})
    await alive(client)
    assert client.unread() == []


async def test_oversized_line_is_refused_without_buffering_it(
    stdio_server: AppServerProcess,
) -> None:
    client = stdio_server.client
    big = json.dumps({"id": 5, "method": "thread/loaded/list", "params": {"pad": "x" * (11 << 20)}})
    await client.send_raw(big)
    error = await client.next_message(timeout=20)
    assert error["id"] is None
    assert error["error"]["code"] == -32600
    assert "exceeds the limit" in error["error"]["message"]
    await alive(client)


async def test_answers_keep_request_order(in_process: InProcessServer) -> None:
    client = in_process.client
    for n in range(50):
        method = "thread/loaded/list" if n % 2 else "foo/bar"
        await client.send({"id": f"o{n}", "method": method, "params": {}})
    answers = [await client.wait_for_answer(f"o{n}") for n in range(50)]
    ids = [m.get("id") for m in client.received() if isinstance(m.get("id"), str)]
    assert ids == [f"o{n}" for n in range(50)]
    assert all(("error" in a) == (n % 2 == 0) for n, a in enumerate(answers))


async def test_reference_error_wording_for_turn_start(in_process: InProcessServer) -> None:
    """The reference's s08 cases: same wording (plus where), standard code."""
    client = in_process.client
    error = await client.request_error("turn/start", {"threadId": "x", "input": "not-an-array"})
    assert error == {
        "code": -32600,
        "message": 'Invalid request: invalid type: string "not-an-array", expected a sequence'
        " at `input`",
    }
    error = await client.request_error("turn/start", {})
    assert error == {"code": -32600, "message": "Invalid request: missing field `threadId`"}


class _Text(BaseModel):
    type: Literal["text"]
    text: str


class _Image(BaseModel):
    type: Literal["image"]
    url: str


class _Params(BaseModel):
    thread_id: str = Field(alias="threadId")
    input: list[Annotated[_Text | _Image, Field(discriminator="type")]]
    policy: Literal["never", "always"] | None = None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"input": []}, "Invalid request: missing field `threadId`"),
        (
            {"threadId": 1, "input": []},
            "Invalid request: invalid type: integer `1`, expected a string at `threadId`",
        ),
        (
            {
                "threadId": "t",
                "input": [{"type": "text", "text": "a"}, {"type": "text", "text": 5}],
            },
            "Invalid request: invalid type: integer `5`, expected a string at `input[1].text`",
        ),
        (
            {"threadId": "t", "input": [{"type": "image"}]},
            "Invalid request: missing field `url`",
        ),
        (
            {"threadId": "t", "input": [{"type": "video"}]},
            "Invalid request: unknown variant `video`, expected one of `text`, `image` at `input[0]`",
        ),
        (
            {"threadId": "t", "input": [{"text": "x"}]},
            "Invalid request: missing field `type` at `input[0]`",
        ),
        (
            {"threadId": "t", "input": [], "policy": "sometimes"},
            "Invalid request: unknown variant `sometimes`, expected one of `never`, `always`"
            " at `policy`",
        ),
    ],
)
def test_validation_messages_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Params.model_validate(data)
    assert format_validation_error(info.value, data) == message
