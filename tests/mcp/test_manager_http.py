"""McpManager against the toolbox MCP server over streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mcp.types as mt
import pytest

from threadline.mcp.manager import McpManager
from threadline.mcp.specs import McpServerSpec

TOOLBOX = str(Path(__file__).resolve().parents[1] / "support" / "mcp_servers" / "toolbox.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, TOOLBOX, "--label", "web", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("toolbox HTTP server did not come up")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def text_of(result: mt.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, mt.TextContent))


async def test_http_call_resource_elicit_and_bearer(
    http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TL_MCP_TOKEN", "sekret")
    spec = McpServerSpec(
        name="web", url=http_url, bearer_token_env_var="TL_MCP_TOKEN", http_headers={"X-A": "b"}
    )
    assert spec.request_headers() == {"X-A": "b", "Authorization": "Bearer sekret"}
    mgr = McpManager({"web": spec})
    try:
        await mgr.start()
        assert mgr.states()[0].status == "ready"
        assert "echo" in {t.name for t in mgr.tools()}
        assert text_of(await mgr.call_tool("web", "echo", {"text": "hi"})) == "web:hi"
        assert text_of(await mgr.call_tool("web", "whoami", {})) == "Bearer sekret|b"
        failed = await mgr.call_tool("web", "fail", {"reason": "http-nope"})
        assert failed.is_error and "http-nope" in text_of(failed)
        read = await mgr.read_resource("web", "memo://greeting")
        assert read.contents[0].text == "greetings from web"  # type: ignore[union-attr]

        async def accept(server: str, params: mt.ElicitRequestParams) -> mt.ElicitResult:
            return mt.ElicitResult(action="accept", content={"name": "Web"})

        mgr.set_elicitation_handler(accept)
        assert text_of(await mgr.call_tool("web", "ask", {})) == "hello Web"
    finally:
        await mgr.aclose()


async def test_http_unreachable_optional_fails_with_reason() -> None:
    spec = McpServerSpec(
        name="gone", url=f"http://127.0.0.1:{_free_port()}/mcp", startup_timeout_sec=3
    )
    mgr = McpManager({"gone": spec})
    try:
        await mgr.start()
        state = mgr.states()[0]
        assert state.status == "failed" and state.error
    finally:
        await mgr.aclose()
