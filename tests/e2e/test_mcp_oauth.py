"""OAuth login to an HTTP MCP server (``mcpServer/oauth/login``), against a real OAuth-protected
MCP server (tests/support/mcp_servers/oauth_box.py: the ``mcp`` SDK's authorization server with
dynamic registration and PKCE, consent automatic). The test plays the browser: it follows the
authorization URL, which ends at threadline's loopback listener with the code.

What Codex 0.169 answers (probed with the same server): the response carries
``authorizationUrl`` and a ``loginId``; the browser's last page says "Authentication complete.
You may close this window."; ``mcpServer/oauthLogin/completed {name, threadId, loginId, success}``
follows; the server's ``authStatus`` becomes ``oAuth``. Errors: an unknown server -32600 "No MCP
server named '<name>' found.", a stdio one -32600 "OAuth login is only supported for streamable
HTTP servers.", an unreachable one -32603 "failed to login to MCP server '<name>': ...".

The core flow is tested directly (``threadline.core.mcp_host.start_oauth_login`` and a thread's
MCP host using the stored token); the app-server method is tested once it is in the method
table (the lead's wiring: the ``mcp`` area modules' ``REQUESTS`` / ``HANDLERS``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from tests.e2e.conftest import StartClient, write_mock_config
from tests.support.mock_model import MockModel

from threadline.core.config_sections import McpServerConfig
from threadline.core.errors import InvalidRequest
from threadline.core.mcp_host import (
    McpHost,
    OAuthLoginFailed,
    oauth_logged_in,
    oauth_store,
    start_oauth_login,
)
from threadline.mcp.oauth import DONE_PAGE
from threadline.protocol.methods import CLIENT_REQUESTS

SERVERS = Path(__file__).parents[1] / "support" / "mcp_servers"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def oauth_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVERS / "oauth_box.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("oauth_box did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _browse(url: str) -> httpx2.Response:
    """What the user's browser does: open the URL, follow the redirects to the end."""
    async with httpx2.AsyncClient(follow_redirects=True, timeout=20) as browser:
        return await browser.get(url)


def _servers(oauth_url: str) -> dict[str, McpServerConfig]:
    stdio = McpServerConfig(command=sys.executable, args=(str(SERVERS / "toolbox.py"),))
    gone = McpServerConfig(url=f"http://127.0.0.1:{_free_port()}/mcp")
    return {"box": McpServerConfig(url=oauth_url), "local": stdio, "gone": gone}


async def test_login_stores_a_token_the_threads_connection_then_uses(
    tmp_path: Path, oauth_url: str
) -> None:
    servers = _servers(oauth_url)
    # Before the login the server refuses the connection.
    before = McpHost({"box": servers["box"]}, lambda _m: None, home=tmp_path)
    await before.ready_quietly()
    [status] = before.status()
    assert status["status"] == "failed"
    await before.aclose()
    assert not oauth_logged_in(servers["box"], tmp_path)

    login = await start_oauth_login(servers, "box", home=tmp_path, scopes=None, timeout_s=30)
    assert login.authorization_url.startswith(oauth_url.removesuffix("/mcp") + "/authorize?")
    assert "code_challenge=" in login.authorization_url  # PKCE
    assert not login.done.done()  # waiting for the browser
    page = await _browse(login.authorization_url)
    assert page.status_code == 200 and page.text == DONE_PAGE
    assert page.url.host == "127.0.0.1" and page.url.path.startswith("/callback/")
    assert await login.done is None
    assert oauth_logged_in(servers["box"], tmp_path)
    stored = tmp_path / "mcp-oauth.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert oauth_store(tmp_path).access_token(oauth_url) in stored.read_text()

    after = McpHost({"box": servers["box"]}, lambda _m: None, home=tmp_path)
    try:
        await after.ready_quietly()
        [status] = after.status()
        assert status["status"] == "ready", status
        result = await after.call_tool("box", "whoami", {})
        assert result["content"][0]["text"].startswith("client ")
    finally:
        await after.aclose()


async def test_login_refusals_name_the_reason(tmp_path: Path, oauth_url: str) -> None:
    servers = _servers(oauth_url)
    with pytest.raises(InvalidRequest, match=r"^No MCP server named 'nope' found\.$"):
        await start_oauth_login(servers, "nope", home=tmp_path)
    with pytest.raises(InvalidRequest, match="only supported for streamable HTTP servers"):
        await start_oauth_login(servers, "local", home=tmp_path)
    with pytest.raises(OAuthLoginFailed, match=r"^failed to login to MCP server 'gone': "):
        await start_oauth_login(servers, "gone", home=tmp_path, timeout_s=10)
    assert not (tmp_path / "mcp-oauth.json").exists() or not oauth_logged_in(
        servers["gone"], tmp_path
    )


async def test_a_browser_that_reports_an_error_fails_the_login(
    tmp_path: Path, oauth_url: str
) -> None:
    login = await start_oauth_login(_servers(oauth_url), "box", home=tmp_path, timeout_s=30)
    [redirect] = parse_qs(urlsplit(login.authorization_url).query)["redirect_uri"]
    assert urlsplit(redirect).hostname == "127.0.0.1"
    async with httpx2.AsyncClient(timeout=10) as browser:
        wrong = await browser.get(redirect.rsplit("/", 1)[0] + "/elsewhere?code=x")
        assert wrong.status_code == 404  # only the login's own path is served
        answer = await browser.get(redirect + "?error=access_denied&error_description=user+said+no")
    assert answer.status_code == 400 and "user said no" in answer.text
    why = await login.done
    assert why is not None and "user said no" in why
    assert not oauth_logged_in(McpServerConfig(url=oauth_url), tmp_path)


async def test_the_app_server_method(
    tmp_path: Path, mock_model: MockModel, start_client: StartClient, oauth_url: str
) -> None:
    if "mcpServer/oauth/login" not in CLIENT_REQUESTS:
        pytest.skip(
            "mcpServer/oauth/login is implemented (protocol/v2/mcp_status.REQUESTS, "
            "server/handlers/mcp.HANDLERS) but not yet merged into the method table"
        )
    home = tmp_path / "home"
    table = f"[mcp_servers.box]\nurl = {json.dumps(oauth_url)}\n"
    table += f"[mcp_servers.local]\ncommand = {json.dumps(sys.executable)}\n"
    table += f"args = {json.dumps([str(SERVERS / 'toolbox.py')])}\n"
    write_mock_config(home, mock_model.base_url, extra=table)
    client = await start_client(home=home)
    started_thread = await client.request("thread/start", {"cwd": str(tmp_path)})
    thread_id = started_thread["thread"]["id"]
    await client.wait_for_notification(  # refused: no token yet
        "mcpServer/startupStatus/updated",
        timeout=30,
        predicate=lambda p: p["name"] == "box" and p["status"] == "failed",
    )
    err = await client.request_error("mcpServer/oauth/login", {"name": "nope"})
    assert err["code"] == -32600 and err["message"] == "No MCP server named 'nope' found."
    err = await client.request_error("mcpServer/oauth/login", {"name": "local"})
    assert err["code"] == -32600 and "streamable HTTP" in err["message"]
    started = await client.request("mcpServer/oauth/login", {"name": "box"})
    assert started["loginId"]
    page = await _browse(started["authorizationUrl"])
    assert page.text == DONE_PAGE
    done = await client.wait_for_notification("mcpServer/oauthLogin/completed", timeout=30)
    assert done["params"] == {
        "name": "box",
        "success": True,
        "error": None,
        "loginId": started["loginId"],
        "threadId": None,
    }
    listed = await client.request("mcpServerStatus/list", {"serverName": "box"})
    assert listed["data"][0]["authStatus"] == "oAuth"
    # The loaded thread reconnects the server with the token.
    await client.wait_for_notification(
        "mcpServer/startupStatus/updated",
        timeout=30,
        predicate=lambda p: p["name"] == "box" and p["status"] == "ready",
    )
    called = await client.request(
        "mcpServer/tool/call", {"threadId": thread_id, "server": "box", "tool": "whoami"}
    )
    assert called["content"][0]["text"].startswith("client ")
    assert (home / "mcp-oauth.json").stat().st_mode & 0o777 == 0o600
    assert os.environ.get("THREADLINE_HOME") != str(home)  # the server's own home was used
