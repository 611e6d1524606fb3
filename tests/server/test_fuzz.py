"""Garbage in: random bytes and random JSON never crash the server or break the stream.

One long-lived server per test serves every example; after each example a probe
request must be answered, the process must be alive, and everything the server
said must validate against the reference schema (checked by the harness).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import AppServerFactory
from tests.support.appserver import AppServerClient, AppServerProcess

FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
methods = st.sampled_from(
    [
        "thread/loaded/list",
        "account/read",
        "initialize",
        "initialized",
        "foo/bar",
        "",
        "thread/loaded",
    ]
) | st.text(max_size=12)
ids = st.integers(min_value=-(2**40), max_value=2**40) | st.text(max_size=8) | json_values
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "id": ids,
        "method": methods | json_values,
        "params": json_values
        | st.dictionaries(st.sampled_from(["limit", "cursor", "clientInfo"]), json_values),
        "result": json_values,
        "error": json_values,
        "jsonrpc": st.just("2.0") | json_values,
    },
)
lines = (
    st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
    | json_values.map(json.dumps)
    | envelopes.map(json.dumps)
    | envelopes.map(lambda e: json.dumps(e)[: max(1, len(json.dumps(e)) // 2)])
)


_probe = itertools.count()


async def probe(server: AppServerProcess, client: AppServerClient) -> None:
    probe_id = f"probe-{next(_probe)}"
    await client.send({"id": probe_id, "method": "thread/loaded/list", "params": {}})
    answer = await client.wait_for_answer(probe_id, timeout=10)
    assert answer == {"id": probe_id, "result": {"data": [], "nextCursor": None}}
    assert server.proc.returncode is None
    client.check()


def answered_or_ignored(client: AppServerClient, sent: str) -> None:
    """Every server message is a well-formed answer or error (the schema check ran too)."""
    for message in client.unread():
        assert isinstance(message, dict)
        assert "result" in message or "error" in message, (sent, message)
        if "error" in message:
            assert message["error"]["code"] in {-32700, -32600, -32601, -32602, -32603}, message


@FUZZ_SETTINGS
@given(payload=st.lists(lines, min_size=1, max_size=4))
async def test_stdio_survives_garbage(app_server: AppServerFactory, payload: list[str]) -> None:
    server = await fuzz_server(app_server, "stdio")
    client = server.client
    for line in payload:
        # One stdio line each: a newline inside random text just makes more lines.
        await client.send_raw(line.replace("\r", ""))
    await probe(server, client)
    answered_or_ignored(client, repr(payload))


@FUZZ_SETTINGS
@given(payload=st.lists(lines | st.binary(max_size=200).map(lambda b: b), min_size=1, max_size=4))
async def test_websocket_survives_garbage(
    app_server: AppServerFactory, payload: list[str | bytes]
) -> None:
    server = await fuzz_server(app_server, "ws")
    client = server.clients[0]
    ws = server.websockets[0]
    for frame in payload:
        await ws.send(frame)  # text frames, and binary ones too
    await probe(server, client)
    answered_or_ignored(client, repr(payload))


_servers: dict[tuple[int, str], AppServerProcess] = {}


async def fuzz_server(app_server: AppServerFactory, transport: str) -> AppServerProcess:
    """The one server of this test (the fixture factory is the same for every example)."""
    key = (id(app_server), transport)
    server = _servers.get(key)
    if server is None:
        server = await app_server(transport=transport)
        if transport == "ws":
            await server.connect()
        _servers.clear()
        _servers[key] = server
    drained: Any = server.clients[0]
    drained._inbox.clear()
    return server
