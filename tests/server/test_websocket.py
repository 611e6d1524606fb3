"""The websocket transport of the real server: probes, Origin refusal, token auth, frames,
command-line checks, SIGTERM. (Several connections served at once, each with its own
initialize gate, are in ``test_connections.py``, in-process.)"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from tests.conftest import AppServerFactory
from tests.support.appserver import AppServerProcess, server_argv, server_env
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

TOKEN = "s3cret-capability-token"


async def http_get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """A bare HTTP/1.1 GET on the server's port: (status, body)."""
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.decode("latin-1").partition("\r\n\r\n")
    return int(head.split(" ", 2)[1]), body


async def stderr_shows(server: AppServerProcess, text: str) -> None:
    """Wait (bounded) until the server has written ``text`` on stderr."""
    for _ in range(100):
        if text in server.stderr:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{text!r} not on stderr:\n{server.stderr}")


async def ws_server(app_server: AppServerFactory, tmp_path: Path, **kw: object) -> AppServerProcess:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    return await app_server(transport="ws", args=["--ws-token-file", str(token_file)], **kw)


async def test_banner_and_health_probes(app_server: AppServerFactory) -> None:
    server = await app_server(transport="ws")
    assert server.url is not None and server.url.startswith("ws://127.0.0.1:")
    await stderr_shows(server, f"readyz: http://{server.url[5:]}/readyz")
    await stderr_shows(server, f"healthz: http://{server.url[5:]}/healthz")
    await stderr_shows(server, "note: binds localhost only")
    for path in ("/readyz", "/healthz", "/healthz?verbose=1"):
        status, body = await http_get(server.url, path)
        assert (status, body.strip()) == (200, "ok")
    # Anything else that is not a websocket upgrade is a client error.
    status, _ = await http_get(server.url, "/")
    assert 400 <= status < 500
    # The server still serves websocket clients after plain HTTP requests.
    client = await server.connect()
    assert await client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}


async def test_requests_with_an_origin_header_are_refused(app_server: AppServerFactory) -> None:
    server = await app_server(transport="ws")
    assert server.url is not None
    with pytest.raises(InvalidStatus) as info:
        await connect(server.url, origin="http://evil.example", open_timeout=5)  # type: ignore[arg-type]
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        await connect(server.url, additional_headers={"Origin": "null"}, open_timeout=5)
    assert info.value.response.status_code == 403
    status, _ = await http_get(server.url, "/readyz", {"Origin": "http://localhost"})
    assert status == 403


async def test_token_auth_rejects_missing_or_wrong_tokens(
    app_server: AppServerFactory, tmp_path: Path
) -> None:
    server = await ws_server(app_server, tmp_path)
    assert server.url is not None
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ):
        with pytest.raises(InvalidStatus) as info:
            await connect(server.url, additional_headers=headers, open_timeout=5)
        assert info.value.response.status_code == 401, headers
    # Probes need no token.
    assert (await http_get(server.url, "/readyz"))[0] == 200


async def test_token_auth_accepts_the_right_token(
    app_server: AppServerFactory, tmp_path: Path
) -> None:
    server = await ws_server(app_server, tmp_path)
    client = await server.connect(headers={"Authorization": f"Bearer {TOKEN}"})
    assert await client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
    other = await server.connect(headers={"Authorization": f"bearer {TOKEN}"})
    assert await other.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}


async def test_token_sha256_and_codex_ws_auth_flag(app_server: AppServerFactory) -> None:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    server = await app_server(
        transport="ws", args=["--ws-auth", "capability-token", "--ws-token-sha256", digest]
    )
    client = await server.connect(headers={"Authorization": f"Bearer {TOKEN}"})
    assert await client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
    assert server.url is not None
    with pytest.raises(InvalidStatus):
        await connect(server.url, open_timeout=5)


async def test_malformed_frames_get_errors_and_the_socket_stays_open(
    app_server: AppServerFactory,
) -> None:
    server = await app_server(transport="ws")
    client = await server.connect()
    await client.send_raw("{nope")
    assert (await client.next_message())["error"]["code"] == -32700
    await client.send_raw('"just a string"')
    assert (await client.next_message())["error"]["code"] == -32600
    assert await client.request("thread/loaded/list", {}) == {"data": [], "nextCursor": None}
    assert not client.closed


async def test_non_loopback_bind_needs_a_token(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *server_argv("ws://0.0.0.0:0"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(tmp_path),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert out == b""
    assert b"refusing to listen on non-loopback address 0.0.0.0" in err


async def test_ws_auth_without_a_token_is_a_usage_error(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *server_argv("ws://127.0.0.1:0", args=["--ws-auth", "capability-token"]),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_env(tmp_path),
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert b"--ws-token-file" in err


async def test_sigterm_closes_clients_and_exits_cleanly(app_server: AppServerFactory) -> None:
    server = await app_server(transport="ws")
    client = await server.connect()
    server.proc.terminate()
    assert await server.wait() == 0
    for _ in range(250):
        if client.closed:
            break
        await asyncio.sleep(0.02)
    assert client.closed
