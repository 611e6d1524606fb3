"""Text that is not valid Unicode, on the way in and on the way out.

In: a ``\\ud800`` escape without its pair is not a character (Codex's serde refuses it
as invalid JSON); bytes that are not UTF-8 neither. Each is answered with ``-32700``
carrying the request's id when it can be read, and the connection keeps serving:
the lines written together with the bad one are all answered.

Out: a string holding a lone surrogate that reaches the outgoing path (here the
server's own working directory, whose name is not UTF-8, so Python holds it with
surrogate escapes) is written with U+FFFD in its place and never closes the
connection. Every message goes through the reference-schema check of the harness.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from tests.conftest import AppServerFactory
from tests.support.appserver import AppServerClient, AppServerProcess

from threadline.protocol.jsonrpc import dumps, dumps_line

INIT = '{"id":"init","method":"initialize","params":{"clientInfo":{"name":"x","version":"1"}}}'


async def answer(client: AppServerClient, request_id: object) -> dict[str, object]:
    return await client.wait_for_answer(request_id, timeout=10)


async def still_serving(client: AppServerClient) -> None:
    listed = await client.request("thread/loaded/list", {})
    assert listed["data"] == []


async def write_raw(server: AppServerProcess, data: bytes) -> None:
    """Bytes straight onto the server's stdin, in one write."""
    stdin = server.proc.stdin
    assert stdin is not None
    stdin.write(data)
    await stdin.drain()


async def test_stdio_lone_surrogate_is_a_parse_error_with_the_id(
    app_server: AppServerFactory,
) -> None:
    server = await app_server(initialize=False)
    client = server.client
    # The reproduction of the report: initialize and a request whose string holds a lone
    # surrogate, in one write; the answers to both (and to what follows) must arrive.
    await write_raw(
        server,
        (
            INIT + "\n"
            '{"id":2,"method":"thread/read","params":{"threadId":"\\ud800"}}\n'
            '{"id":3,"method":"thread/loaded/list","params":{}}\n'
            '{"id":4,"method":"thread/name/set","params":{"threadId":"t","name":"a\\udfffb"}}\n'
            '{"id":"\\udc00","method":"thread/loaded/list","params":{}}\n'
            '{"id":6,"method":"thread/read","params":{"threadId":"\\ud83d\\ude00"}}\n'
        ).encode(),
    )
    assert "result" in await answer(client, "init")
    bad = await answer(client, 2)
    assert bad["error"] == {
        "code": -32700,
        "message": "Parse error: lone surrogate `\\ud800` in a string at `params.threadId`; "
        "JSON text must be valid Unicode",
    }
    assert (await answer(client, 3))["result"] == {"data": [], "nextCursor": None}
    named = await answer(client, 4)
    assert named["error"]["code"] == -32700  # type: ignore[index]
    assert "`params.name`" in named["error"]["message"]  # type: ignore[index]
    # An id that is itself not valid Unicode cannot be echoed: the error has a null id.
    orphan = await answer(client, None)
    assert orphan["error"]["code"] == -32700  # type: ignore[index]
    assert "at `id`" in orphan["error"]["message"]  # type: ignore[index]
    # A proper surrogate pair is a character like any other (here: not a thread id).
    emoji = await answer(client, 6)
    assert emoji["error"]["code"] == -32600  # type: ignore[index]
    await still_serving(client)
    assert server.proc.returncode is None


async def test_stdio_invalid_utf8_is_a_parse_error_with_the_id(
    app_server: AppServerFactory,
) -> None:
    server = await app_server()
    client = server.client
    await write_raw(
        server,
        b'{"id":7,"method":"thread/read","params":{"threadId":"\xff\xfe"}}\n'
        b'{"id":"\xc3","method":"thread/loaded/list"}\n'
        b'{"id":8,"method":"thread/loaded/list","params":{}}\n',
    )
    bad = await answer(client, 7)
    assert bad["error"] == {
        "code": -32700,
        "message": "Parse error: invalid UTF-8 at byte 53: invalid start byte",
    }
    assert (await answer(client, None))["error"]["code"] == -32700  # type: ignore[index]
    assert "result" in await answer(client, 8)
    await still_serving(client)


async def test_websocket_lone_surrogate_keeps_the_connection(
    app_server: AppServerFactory,
) -> None:
    server = await app_server(transport="ws")
    client = await server.connect()
    other = await server.connect()
    await client.send_raw('{"id":11,"method":"thread/read","params":{"threadId":"\\udbff"}}')
    bad = await answer(client, 11)
    assert bad["error"] == {
        "code": -32700,
        "message": "Parse error: lone surrogate `\\udbff` in a string at `params.threadId`; "
        "JSON text must be valid Unicode",
    }
    await still_serving(client)
    await still_serving(other)
    assert not client.closed


async def test_outgoing_lone_surrogate_is_replaced_not_fatal(
    app_server: AppServerFactory, tmp_path: Path
) -> None:
    # A directory whose name is not UTF-8: os.getcwd() gives "cwd-\udcff".
    workdir = Path(os.fsdecode(bytes(tmp_path) + b"/cwd-\xff"))
    workdir.mkdir()
    server = await app_server(cwd=workdir)
    client = server.client
    started = await client.request("thread/start", {})
    cwd = started["cwd"]
    assert cwd == str(tmp_path / "cwd-\ufffd")
    assert started["thread"]["cwd"] == cwd
    loaded = await client.request("thread/loaded/list", {})
    assert loaded["data"] == [started["thread"]["id"]]
    await asyncio.sleep(0)
    assert server.proc.returncode is None


def test_encoder_never_raises() -> None:
    """The last line of defence, on the values the fast serializer refuses."""
    assert dumps_line({"id": 1, "result": {"a\ud800": ["\udcff", 2]}}) == (
        b'{"id":1,"result":{"a\xef\xbf\xbd":["\xef\xbf\xbd",2]}}\n'
    )
    assert json.loads(dumps({"id": 2, "result": {"when": Opaque()}})) == {
        "id": 2,
        "result": {"when": "opaque"},
    }
    cycle: list[object] = []
    cycle.append(cycle)
    assert json.loads(dumps_line({"id": 3, "result": cycle})) == {
        "id": 3,
        "error": {
            "code": -32603,
            "message": "Internal error: the response could not be encoded as JSON (RecursionError)",
        },
    }
    note = json.loads(dumps({"method": "item/started", "params": cycle}))
    assert note["id"] is None
    assert note["error"]["message"].startswith("Internal error: a `item/started` message")


class Opaque:
    def __str__(self) -> str:
        return "opaque"
