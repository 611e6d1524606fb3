"""A big answer (``connection.BIG_ANSWER_BYTES`` or more: a long thread's turns) holds the
collector's pause, which background start-up work waits for (``core.stored.loading``),
from when it is queued until a real stdio pipe has taken all of it, not only until it
was serialized; a small answer holds nothing; an answer that will never be written (the
connection aborted first) lets go at once."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from threadline.core.stored import loading
from threadline.protocol.v2.thread import ThreadReadResponse
from threadline.server.connection import BIG_ANSWER_BYTES, Connection
from threadline.server.transports.stdio import StdioChannel

THREAD = "019f0000-0000-7000-8000-0000000000c4"


def _answer(preview_chars: int) -> ThreadReadResponse:
    return ThreadReadResponse.model_validate({"thread": {
        "id": THREAD, "preview": "x" * preview_chars, "ephemeral": False,
        "modelProvider": "mock", "createdAt": 1, "updatedAt": 2,
        "status": {"type": "notLoaded"}, "path": None, "cwd": "/w", "cliVersion": "0.1.0",
        "source": "vscode", "turns": [], "sessionId": THREAD,
    }})


async def _no_dispatch(ctx: Any, params: Any) -> tuple[Any, Any]:
    raise AssertionError("no request is sent")


def _read_line(fd: int) -> bytes:
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1 << 16)
        assert chunk
        data += chunk
    return bytes(data)


async def _connection() -> tuple[Connection, asyncio.Task[None], int, int]:
    to_server_r, to_server_w = os.pipe()
    to_client_r, to_client_w = os.pipe()
    channel = StdioChannel(to_server_r, to_client_w)
    await channel.open()
    conn = Connection(channel, connection_id=1, dispatch=_no_dispatch,
                      on_initialize=lambda p: None)  # type: ignore[arg-type,return-value]
    return conn, asyncio.create_task(conn.run()), to_server_w, to_client_r


async def _until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.01)


def test_a_big_answer_holds_the_pause_until_it_is_written() -> None:
    async def run() -> None:
        conn, task, to_server_w, to_client_r = await _connection()
        assert not loading()
        assert conn.send_response(7, _answer(BIG_ANSWER_BYTES + 10))
        await asyncio.sleep(0.05)
        assert loading()  # serialized and queued, but the client has read nothing yet
        line = await asyncio.to_thread(_read_line, to_client_r)
        assert json.loads(line)["id"] == 7
        await _until(lambda: not loading())
        assert not loading()
        assert conn.send_response(8, _answer(1000))
        assert not loading()  # a small answer holds nothing
        assert json.loads(await asyncio.to_thread(_read_line, to_client_r))["id"] == 8
        os.close(to_server_w)  # the client goes away: the connection ends
        await task
        os.close(to_client_r)

    asyncio.run(run())


def test_an_answer_never_written_lets_go() -> None:
    async def run() -> None:
        conn, task, to_server_w, to_client_r = await _connection()
        assert conn.send_response(7, _answer(BIG_ANSWER_BYTES * 2))
        await asyncio.sleep(0.05)
        assert loading()
        conn.abort("test")  # the client never reads it
        await task
        assert not loading()
        os.close(to_server_w)
        os.close(to_client_r)

    asyncio.run(run())
