"""McpManager against real MCP servers (tests/support/mcp_servers/toolbox.py) over stdio."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import mcp.types as mt
import pytest

from threadline.mcp.manager import McpError, McpManager, McpServerState, McpStartupError
from threadline.mcp.specs import McpServerSpec

TOOLBOX = str(Path(__file__).resolve().parents[1] / "support" / "mcp_servers" / "toolbox.py")


def stdio(name: str, *extra: str, **kw: object) -> McpServerSpec:
    return McpServerSpec(
        name=name, command=sys.executable, args=(TOOLBOX, "--label", name, *extra), **kw
    )  # type: ignore[arg-type]


def text_of(result: mt.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, mt.TextContent))


async def test_stdio_tools_call_error_resource_and_status() -> None:
    seen: list[McpServerState] = []
    mgr = McpManager({"a": stdio("a")}, on_status=seen.append)
    try:
        await mgr.start()
        assert [(s.name, s.status) for s in seen] == [("a", "starting"), ("a", "ready")]
        names = {t.name for t in mgr.tools()}
        assert {"echo", "add", "fail", "slow", "crash", "grow", "ask"} <= names
        echo = next(t for t in mgr.tools() if t.name == "echo")
        assert echo.server == "a" and echo.input_schema["properties"]["text"]["type"] == "string"
        assert echo.annotations == {"readOnlyHint": True}
        assert text_of(await mgr.call_tool("a", "echo", {"text": "hi"})) == "a:hi"
        added = await mgr.call_tool("a", "add", {"a": 2, "b": 3})
        assert added.structured_content == {"sum": 5}
        failed = await mgr.call_tool("a", "fail", {"reason": "nope"})
        assert failed.is_error is True and "nope" in text_of(failed)
        read = await mgr.read_resource("a", "memo://greeting")
        assert read.contents[0].text == "greetings from a"  # type: ignore[union-attr]
        state = mgr.states()[0]
        assert state.status == "ready"
        assert [r["uri"] for r in state.resources] == ["memo://greeting", "memo://pixel"]
        with pytest.raises(McpError, match="unknown MCP server 'zz'"):
            await mgr.call_tool("zz", "echo", {})
    finally:
        await mgr.aclose()


async def test_tool_timeout_and_progress() -> None:
    mgr = McpManager({"a": stdio("a", tool_timeout_sec=0.5)})
    try:
        await mgr.start()
        t0 = time.monotonic()
        with pytest.raises(McpError, match=r"timed out after 0.5s \(tool_timeout_sec\)"):
            await mgr.call_tool("a", "slow", {"seconds": 10})
        assert time.monotonic() - t0 < 3
        steps: list[tuple[float, float | None, str | None]] = []

        async def on_progress(p: float, total: float | None, msg: str | None) -> None:
            steps.append((p, total, msg))

        r = await mgr.call_tool("a", "progress", {}, progress=on_progress)
        assert text_of(r) == "progressed"
        assert steps == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
        # the server still answers after a timed-out call
        assert text_of(await mgr.call_tool("a", "echo", {"text": "x"})) == "a:x"
    finally:
        await mgr.aclose()


async def test_crash_at_start_leaves_others_working() -> None:
    seen: list[McpServerState] = []
    mgr = McpManager(
        {"bad": stdio("bad", "--crash-at-start"), "good": stdio("good")}, on_status=seen.append
    )
    try:
        await mgr.start()
        states = {s.name: s for s in mgr.states()}
        assert states["bad"].status == "failed" and states["bad"].error
        assert states["good"].status == "ready"
        assert ("bad", "failed") in [(s.name, s.status) for s in seen]
        assert {t.server for t in mgr.tools()} == {"good"}
        assert text_of(await mgr.call_tool("good", "echo", {"text": "ok"})) == "good:ok"
        with pytest.raises(McpError, match="'bad' is not available"):
            await mgr.call_tool("bad", "echo", {"text": "x"})
    finally:
        await mgr.aclose()


async def test_slow_optional_server_does_not_delay_start() -> None:
    mgr = McpManager(
        {"slow": stdio("slow", "--slow-start", "8", startup_timeout_sec=0.5), "fast": stdio("fast")}
    )
    try:
        t0 = time.monotonic()
        await mgr.start()
        assert time.monotonic() - t0 < 4
        states = {s.name: s for s in mgr.states()}
        assert states["fast"].status == "ready"
        assert states["slow"].status == "failed"
        assert states["slow"].error == "did not start within 0.5s"
    finally:
        await mgr.aclose()


async def test_required_server_failure_is_clear() -> None:
    mgr = McpManager({"need": stdio("need", "--crash-at-start", required=True), "ok": stdio("ok")})
    try:
        with pytest.raises(
            McpStartupError, match="MCP server 'need' is required but failed to start"
        ):
            await mgr.start()
    finally:
        await mgr.aclose()


async def test_tools_list_changed_updates_tools() -> None:
    mgr = McpManager({"a": stdio("a")})
    changed = asyncio.Event()
    try:
        await mgr.start()
        mgr.on_tools_changed(changed.set)
        assert "extra" not in {t.name for t in mgr.tools()}
        await mgr.call_tool("a", "grow", {})
        await asyncio.wait_for(changed.wait(), 5)
        assert "extra" in {t.name for t in mgr.tools()}
        assert text_of(await mgr.call_tool("a", "extra", {})) == "extra!"
    finally:
        await mgr.aclose()


async def test_crash_mid_thread_is_reported_and_restarted() -> None:
    seen: list[McpServerState] = []
    mgr = McpManager({"a": stdio("a")}, on_status=seen.append)
    try:
        await mgr.start()
        with pytest.raises(McpError):
            await mgr.call_tool("a", "crash", {})
        assert mgr.states()[0].status == "failed"
        assert seen[-1].status == "failed"
        assert mgr.tools() == []
        assert text_of(await mgr.call_tool("a", "echo", {"text": "back"})) == "a:back"
        assert mgr.states()[0].status == "ready"
        assert [s.status for s in seen][-2:] == ["starting", "ready"]
    finally:
        await mgr.aclose()


async def test_elicitation_accept_decline_and_default() -> None:
    mgr = McpManager({"a": stdio("a")})
    asked: list[tuple[str, str]] = []
    try:
        await mgr.start()
        # no handler: decline
        assert text_of(await mgr.call_tool("a", "ask", {})) == "decline"

        async def accept(server: str, params: mt.ElicitRequestParams) -> mt.ElicitResult:
            asked.append((server, params.message))
            assert isinstance(params, mt.ElicitRequestFormParams)
            assert params.requested_schema["properties"]["name"]["type"] == "string"
            return mt.ElicitResult(action="accept", content={"name": "Ada"})

        mgr.set_elicitation_handler(accept)
        assert text_of(await mgr.call_tool("a", "ask", {})) == "hello Ada"
        assert asked == [("a", "What is your name?")]

        async def cancel(server: str, params: mt.ElicitRequestParams) -> mt.ElicitResult:
            return mt.ElicitResult(action="cancel")

        mgr.set_elicitation_handler(cancel)
        assert text_of(await mgr.call_tool("a", "ask", {})) == "cancel"
    finally:
        await mgr.aclose()


async def test_enabled_and_disabled_tools_and_env() -> None:
    spec = stdio(
        "a",
        enabled_tools=("echo", "env", "fail"),
        disabled_tools=("fail",),
        env={"TL_MCP_A": "from-env"},
    )
    mgr = McpManager({"a": spec, "off": stdio("off", enabled=False)})
    try:
        await mgr.start()
        assert sorted(t.name for t in mgr.tools()) == ["echo", "env"]
        assert [s.name for s in mgr.states()] == ["a"]
        assert text_of(await mgr.call_tool("a", "env", {"name": "TL_MCP_A"})) == "from-env"
    finally:
        await mgr.aclose()


async def test_reload_keeps_unchanged_restarts_changed() -> None:
    mgr = McpManager({"keep": stdio("keep"), "change": stdio("change"), "drop": stdio("drop")})
    try:
        await mgr.start()
        kept_session = mgr._servers["keep"].session
        changed_session = mgr._servers["change"].session
        await mgr.reload(
            {"keep": stdio("keep"), "change": stdio("change", env={"X": "1"}), "new": stdio("new")}
        )
        assert [s.name for s in mgr.states()] == ["change", "keep", "new"]
        assert all(s.status == "ready" for s in mgr.states())
        assert mgr._servers["keep"].session is kept_session
        assert mgr._servers["change"].session is not changed_session
        assert text_of(await mgr.call_tool("new", "echo", {"text": "n"})) == "new:n"
        with pytest.raises(McpError, match="unknown MCP server 'drop'"):
            await mgr.call_tool("drop", "echo", {"text": "x"})
    finally:
        await mgr.aclose()


def test_spec_from_config_json() -> None:
    spec = McpServerSpec.from_json(
        "s",
        {
            "command": "x",
            "args": ["-v"],
            "env": {"A": "b"},
            "startup_timeout_ms": 2500,
            "tool_timeout_sec": 7,
            "enabled_tools": ["t"],
            "required": True,
        },
    )
    assert spec.transport == "stdio" and spec.args == ("-v",) and spec.startup_timeout_sec == 2.5
    assert spec.tool_timeout_sec == 7.0 and spec.enabled_tools == ("t",) and spec.required
    assert not spec.tool_enabled("u")
    http = McpServerSpec.from_json(
        "h", {"url": "http://127.0.0.1:1/mcp", "http_headers": {"X": "y"}}
    )
    assert http.transport == "streamable_http" and http.request_headers() == {"X": "y"}
