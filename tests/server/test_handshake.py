"""The initialize gate, identity in the initialize response, opt-outs (the real server
in-process on the memory transport), and the stdio lifecycle (a real subprocess)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest
from tests.conftest import AppServerFactory
from tests.support.memory_server import InProcessServer, MemoryServerFactory

from threadline import __version__


async def test_requests_before_initialize_are_refused(memory_server: MemoryServerFactory) -> None:
    server = await memory_server(initialize=False)
    client = server.client
    for method in ("thread/list", "model/list", "thread/loaded/list"):
        error = await client.request_error(method, {})
        assert error == {"code": -32600, "message": "Not initialized"}
    result = await client.initialize()
    assert result["platformOs"] in {"linux", "macos", "windows"}
    assert (await client.request("thread/loaded/list", {})) == {"data": [], "nextCursor": None}


async def test_second_initialize_is_refused(in_process: InProcessServer) -> None:
    error = await in_process.client.request_error(
        "initialize", {"clientInfo": {"name": "again", "version": "1"}}
    )
    assert error == {"code": -32600, "message": "Already initialized"}


async def test_initialized_before_initialize_is_ignored(
    memory_server: MemoryServerFactory,
) -> None:
    server = await memory_server(initialize=False)
    client = server.client
    await client.notify("initialized")
    await client.initialize()
    # Nothing was sent in answer to the early notification.
    assert [m for m in client.received() if "id" not in m] == []
    assert client.unread() == []


async def test_initialize_response_identity(
    memory_server: MemoryServerFactory, tmp_path: Path
) -> None:
    home = tmp_path / "custom-home"
    home.mkdir()
    server = await memory_server(home=home, initialize=False)
    result = await server.client.initialize(name="my_client", version="9.8.7")
    agent = result["userAgent"]
    # The reference's shape: "<name>/<version> (<os> <os version>; <arch>) <terminal> (<client>; <version>)".
    assert agent.startswith(f"threadline/{__version__} (")
    assert agent.endswith(" (my_client; 9.8.7)")
    assert f"; {platform.machine()}) " in agent
    # What the official SDK does with it: name and version split on the first "/".
    name, _, rest = agent.partition("/")
    assert (name, rest.split(" ", 1)[0]) == ("threadline", __version__)
    assert result["codexHome"] == str(home)
    assert result["platformFamily"] == ("windows" if os.name == "nt" else "unix")
    # Nothing else is pushed right after initialize (no remoteControl notifications).
    with pytest.raises(TimeoutError):
        await server.client.next_message(timeout=0.3)


async def test_initialize_with_bad_params(memory_server: MemoryServerFactory) -> None:
    server = await memory_server(initialize=False)
    error = await server.client.request_error("initialize", {"clientInfo": {"name": "x"}})
    assert error == {"code": -32600, "message": "Invalid request: missing field `version`"}
    # The failed initialize did not count: a proper one still works.
    await server.client.initialize()


async def test_stdin_eof_exits_zero_after_answering(app_server: AppServerFactory) -> None:
    server = await app_server()
    await server.client.send({"id": 500, "method": "account/read", "params": {}})
    await server.close_stdin()
    assert await server.wait() == 0
    answer = await server.client.wait_for_answer(500, timeout=2)
    assert answer["result"]["account"] is None
    assert answer["result"]["requiresOpenaiAuth"] is False


async def test_default_home_is_dot_threadline(app_server: AppServerFactory, tmp_path: Path) -> None:
    fake_home = tmp_path / "user"
    fake_home.mkdir()
    env = {"HOME": str(fake_home), "THREADLINE_HOME": ""}
    server = await app_server(env=env, initialize=False)
    result = await server.client.initialize()
    assert result["codexHome"] == str(fake_home / ".threadline")


async def test_string_ids_and_jsonrpc_member(in_process: InProcessServer) -> None:
    client = in_process.client
    await client.send(
        {"jsonrpc": "2.0", "id": "req-abc", "method": "thread/loaded/list", "params": {}}
    )
    answer = await client.wait_for_answer("req-abc")
    assert answer == {"id": "req-abc", "result": {"data": [], "nextCursor": None}}


async def test_opt_out_notification_methods_match_exact_names(
    memory_server: MemoryServerFactory,
) -> None:
    server = await memory_server(initialize=False)
    client = server.client
    await client.initialize(
        capabilities={
            "optOutNotificationMethods": ["thread/closed", "thread/name", "Thread/Archived"]
        }
    )

    async def notify(method: str) -> bool:
        result = await client.request(
            "test/notify", {"method": method, "params": {"threadId": "t1"}}
        )
        return bool(result["sent"])

    assert await notify("thread/closed") is False  # opted out
    assert await notify("thread/name/updated") is True  # "thread/name" is not a prefix rule
    assert await notify("thread/archived") is True  # names are case-sensitive
    assert await notify("thread/unarchived") is True
    await client.wait_for_notification("thread/unarchived")
    got = [m["method"] for m in client.received() if "method" in m]
    assert got == ["thread/name/updated", "thread/archived", "thread/unarchived"]
    assert all(isinstance(m["emittedAtMs"], int) for m in client.received() if "method" in m)


async def test_opt_outs_are_per_connection(memory_server: MemoryServerFactory) -> None:
    server = await memory_server(capabilities={"optOutNotificationMethods": ["thread/closed"]})
    quiet = server.client
    loud = await server.connect()
    for client in (quiet, loud):
        await client.request(
            "test/notify", {"method": "thread/closed", "params": {"threadId": "t"}}
        )
    note = await loud.wait_for_notification("thread/closed")
    assert note["params"] == {"threadId": "t"}
    assert quiet.received("thread/closed") == []


async def test_initialize_without_capabilities_or_title(
    memory_server: MemoryServerFactory,
) -> None:
    server = await memory_server(initialize=False)
    answer = await server.client.call(
        "initialize", {"clientInfo": {"name": "bare", "version": "1"}, "someFutureField": {"x": 1}}
    )
    assert answer["result"]["userAgent"].endswith(" (bare; 1)")


async def test_requests_work_before_the_initialized_notification(
    memory_server: MemoryServerFactory,
) -> None:
    server = await memory_server(initialize=False)
    await server.client.initialize(send_initialized=False)
    assert await server.client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}


async def test_stdout_carries_protocol_only_and_logs_go_to_stderr(
    app_server: AppServerFactory,
) -> None:
    env = {"THREADLINE_TEST_SLOW_METHOD": "1", "THREADLINE_LOG": "DEBUG"}
    server = await app_server(env=env)
    client = server.client
    await client.request_error("test/raise", {"message": "noisy failure"})
    await client.send_raw("{broken")
    await client.next_message()
    assert await client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
    await server.close_stdin()
    assert await server.wait() == 0
    # Every stdout line parsed as a protocol message (the harness records non-JSON
    # lines as violations), while the logs, traceback included, went to stderr.
    assert client.violations == []
    assert "Traceback" in server.stderr and "noisy failure" in server.stderr
    assert "DEBUG" in server.stderr or "INFO" in server.stderr
