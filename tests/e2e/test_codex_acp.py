"""Zed's path: the ACP bridge ``@agentclientprotocol/codex-acp`` 2.6.0 with ``CODEX_PATH`` at threadline.

The test is the ACP client (Zed's side): it starts the bridge with ``node``, the bridge starts
``threadline app-server`` through a ``codex`` stand-in (tests/support/codex_acp.py), and the mock
model answers the turns. One walk: initialize, session/new, a prompt with reasoning and text, a
prompt whose ``exec_command`` asks for permission (answered allow), a slow prompt cancelled with
``session/cancel``, an MCP tool call the user allows through the bridge's permission request,
session/list; then a NEW bridge process: session/load replays the earlier
turns with their tool call, and a prompt continues the session (the model sees the history).

The provider comes from ``config.toml`` in one run and from the bridge's ``MODEL_PROVIDER`` +
``CODEX_CONFIG`` variables (which it turns into ``-c model_provider=...`` and
``-c model_providers.<id>={...}`` on the app-server's command line) in the other. Every message
threadline sends the bridge is checked against the reference schema. The same walk runs against
the real Codex 0.169 when it is installed, so a difference between the two shows here first.

The bridge titles a session by itself: after the first prompt it starts an ephemeral thread whose
one turn asks the model for a title. The mock answers those requests apart from the scripted ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.codex_acp import (
    AcpClient,
    bridge_script,
    read_traffic,
    schema_violations,
    write_codex_stand_in,
)
from tests.support.codex_ref import codex_binary
from tests.support.mock_model import Gate, MockModel, RecordedRequest, Script, function_call, text

pytestmark = pytest.mark.asyncio

_TITLE_PROMPT = "generate a very short title"
_ANNOTATED = Path(__file__).parents[1] / "support" / "mcp_servers" / "annotated.py"
_CLIENT_CAPS = {"fs": {"readTextFile": False, "writeTextFile": False}, "terminal": False}


class _Model:
    """The mock model: scripted answers for the session's turns, a title for the bridge's own."""

    def __init__(self, mock: MockModel) -> None:
        self.mock = mock
        self.queue: deque[Script] = deque()
        mock.set_default(self._route)

    @staticmethod
    def is_title(rec: RecordedRequest) -> bool:
        return _TITLE_PROMPT in json.dumps(rec.body)

    def _route(self, rec: RecordedRequest) -> Script:
        if self.is_title(rec):
            return text("Greeting and a file")
        return self.queue.popleft() if self.queue else text("(no script left)")

    def enqueue(self, *scripts: Script) -> None:
        self.queue.extend(scripts)

    def session_requests(self) -> list[RecordedRequest]:
        return [r for r in self.mock.requests if not self.is_title(r)]

    async def wait_session_requests(self, n: int, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.session_requests()) < n:
            if loop.time() > deadline:
                raise TimeoutError(f"mock model: {n} session requests never came")
            await asyncio.sleep(0.02)


def _provider_table(base_url: str) -> dict[str, Any]:
    return {
        "name": "Mock Responses",
        "base_url": base_url,
        "wire_api": "responses",
        "request_max_retries": 0,
        "stream_max_retries": 0,
        "stream_idle_timeout_ms": 20000,
    }


def _chunks(updates: list[dict[str, Any]], kind: str) -> str:
    return "".join(
        u["content"].get("text", "")
        for u in updates
        if u.get("sessionUpdate") == kind and isinstance(u.get("content"), dict)
    )


def _input_text(rec: RecordedRequest) -> str:
    return json.dumps(rec.body.get("input"))


@pytest.fixture(scope="module")
def bridge() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (the bridge is a Node program)")
    script = bridge_script(install=True)
    if script is None:
        pytest.skip("@agentclientprotocol/codex-acp could not be installed (npm)")
    return script


@pytest.fixture(params=["threadline", "codex-0.169"])
def target(request: pytest.FixtureRequest) -> Path | None:
    """``None`` for threadline, else the real Codex binary."""
    if request.param == "threadline":
        return None
    real = codex_binary()
    if real is None:
        pytest.skip("the real Codex 0.169 is not installed (../shared/tools/codex-ref)")
    return real


@pytest.fixture
def base(tmp_path: Path, target: Path | None) -> Iterator[Path]:
    # The real Codex will not put its helper binaries under /tmp: give it /var/tmp.
    if target is None:
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="acp-codex-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("provider_from", ["config_toml", "bridge_env"])
async def test_zed_path_through_codex_acp(
    bridge: Path, target: Path | None, base: Path, provider_from: str
) -> None:
    home, work = base / "home", base / "work"
    home.mkdir()
    work.mkdir()
    traffic, argv_log = base / "traffic.log", base / "argv.log"
    with MockModel() as mock:
        model = _Model(mock)
        base_url = mock.base_url
        provider = _provider_table(base_url)
        config = 'model = "mock-model"\ncheck_for_update_on_startup = false\n'
        config += "[analytics]\nenabled = false\n[features]\nplugins = false\napps = false\n"
        mcp_log = base / "mcp-calls.log"
        mcp_argv = [str(_ANNOTATED), "--log", str(mcp_log)]
        config += f"[mcp_servers.ann]\ncommand = {json.dumps(sys.executable)}\n"
        config += f"args = {json.dumps(mcp_argv)}\n"
        env = {
            **os.environ,
            "CODEX_HOME": str(home),
            "INITIAL_AGENT_MODE": "workspace-write",
            "NO_BROWSER": "1",
            "APP_SERVER_LOGS": str(base / "bridge-logs"),
        }
        if provider_from == "config_toml":
            table = "".join(f"{k} = {json.dumps(v)}\n" for k, v in provider.items())
            config = 'model_provider = "mock"\n' + config + "[model_providers.mock]\n" + table
        else:
            env["MODEL_PROVIDER"] = "mock"
            env["CODEX_CONFIG"] = json.dumps({"model_providers": {"mock": provider}})
        (home / "config.toml").write_text(config, encoding="utf-8")
        env["CODEX_PATH"] = str(
            write_codex_stand_in(base / "bin", real=target, traffic_log=traffic, argv_log=argv_log)
        )

        # ---- first bridge process --------------------------------------------------
        acp = await AcpClient(bridge, env=env, cwd=work).start()
        try:
            init = await acp.request(
                "initialize", {"protocolVersion": 1, "clientCapabilities": _CLIENT_CAPS}
            )
            assert init["protocolVersion"] == 1
            assert init["agentCapabilities"]["loadSession"] is True

            new = await acp.request("session/new", {"cwd": str(work), "mcpServers": []})
            sid = new["sessionId"]
            assert new["modes"]["currentModeId"] == "workspace-write"

            # A prompt answered with reasoning and text, streamed as chunks.
            model.enqueue(text("Hello from the mock.", reasoning="thinking about it"))
            first = await acp.request(
                "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "say hi"}]}
            )
            assert first["stopReason"] == "end_turn"
            updates = acp.updates(sid)
            assert "thinking about it" in _chunks(updates, "agent_thought_chunk")
            assert "Hello from the mock." in _chunks(updates, "agent_message_chunk")
            assert "say hi" in _input_text(model.session_requests()[0])

            # A command that needs the user's permission: the client allows it once.
            seen = len(acp.updates(sid))
            model.enqueue(
                function_call(
                    "exec_command",
                    {
                        "cmd": "echo hi > made.txt",
                        "sandbox_permissions": "require_escalated",
                        "justification": "write a file",
                    },
                    call_id="call_acp_cmd",
                ),
                text("Made it."),
            )
            second = await acp.request(
                "session/prompt",
                {"sessionId": sid, "prompt": [{"type": "text", "text": "make a file"}]},
            )
            assert second["stopReason"] == "end_turn"
            asked = [r for r in acp.agent_requests if r["method"] == "session/request_permission"]
            assert len(asked) == 1, acp.agent_requests
            assert asked[0]["params"]["toolCall"]["toolCallId"] == "call_acp_cmd"
            assert "echo hi" in asked[0]["params"]["toolCall"]["title"]
            assert (work / "made.txt").read_text() == "hi\n"
            turn_updates = acp.updates(sid)[seen:]
            done = [
                u
                for u in turn_updates
                if u.get("toolCallId") == "call_acp_cmd" and u.get("status") == "completed"
            ]
            assert done, turn_updates
            assert "Made it." in _chunks(turn_updates, "agent_message_chunk")
            outputs = [
                item
                for item in model.session_requests()[-1].body["input"]
                if item.get("type") == "function_call_output"
            ]
            assert [o["call_id"] for o in outputs] == ["call_acp_cmd"]

            # An MCP tool that needs approval (destructive): the bridge asks, the client allows.
            seen = len(acp.updates(sid))
            asked_before = len(acp.agent_requests)
            model.enqueue(
                function_call("wipe", {"note": "x"}, call_id="call_acp_mcp", namespace="mcp__ann"),
                text("Wiped."),
            )
            third = await acp.request(
                "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "wipe"}]}
            )
            assert third["stopReason"] == "end_turn"
            mcp_asks = acp.agent_requests[asked_before:]
            assert [r["method"] for r in mcp_asks] == ["session/request_permission"]
            assert mcp_asks[0]["params"]["_meta"] == {"is_mcp_tool_approval": True}
            assert mcp_log.read_text().split() == ["wipe"]
            mcp_done = [
                u
                for u in acp.updates(sid)[seen:]
                if u.get("toolCallId") == "call_acp_mcp" and u.get("status") == "completed"
            ]
            assert mcp_done, acp.updates(sid)[seen:]
            assert "ran wipe" in json.dumps(model.session_requests()[-1].body["input"])

            # A slow prompt, cancelled while the model has not answered yet.
            gate = Gate()
            model.enqueue(text("too late", gate=gate))
            before = len(model.session_requests())
            slow = acp.send_request(
                "session/prompt",
                {"sessionId": sid, "prompt": [{"type": "text", "text": "be slow"}]},
            )
            await model.wait_session_requests(before + 1)
            await acp.notify("session/cancel", {"sessionId": sid})
            cancelled = await asyncio.wait_for(slow, 30)
            gate.set()
            assert cancelled["stopReason"] == "cancelled"
            assert "too late" not in _chunks(acp.updates(sid), "agent_message_chunk")

            listed = await acp.request("session/list", {})
            sessions = {s["sessionId"]: s for s in listed["sessions"]}
            assert list(sessions) == [sid], listed  # the bridge's title thread is ephemeral
            assert sessions[sid]["cwd"] == str(work)
        finally:
            await acp.close()

        # ---- a new bridge process: load the session, then continue it ---------------
        acp = await AcpClient(bridge, env=env, cwd=work).start()
        try:
            await acp.request(
                "initialize", {"protocolVersion": 1, "clientCapabilities": _CLIENT_CAPS}
            )
            await acp.request(
                "session/load", {"sessionId": sid, "cwd": str(work), "mcpServers": []}
            )
            replay = acp.updates(sid)
            users = [
                u["content"]["text"]
                for u in replay
                if u.get("sessionUpdate") == "user_message_chunk"
            ]
            assert users[:4] == ["say hi", "make a file", "wipe", "be slow"], users
            assert "thinking about it" in _chunks(replay, "agent_thought_chunk")
            assert "Hello from the mock." in _chunks(replay, "agent_message_chunk")
            assert "Made it." in _chunks(replay, "agent_message_chunk")
            calls = [u for u in replay if u.get("sessionUpdate") == "tool_call"]
            replayed = [c["toolCallId"] for c in calls]
            assert replayed[0] == "call_acp_cmd", calls
            mcp_replayed = replayed == ["call_acp_cmd", "call_acp_mcp"]
            assert mcp_replayed or replayed == ["call_acp_cmd"], calls
            assert calls[0]["kind"] == "execute"
            assert calls[0]["status"] == "completed"
            assert "echo hi > made.txt" in json.dumps(calls[0]["rawInput"])

            seen = len(acp.updates(sid))
            model.enqueue(text("Continued."))
            fourth = await acp.request(
                "session/prompt", {"sessionId": sid, "prompt": [{"type": "text", "text": "go on"}]}
            )
            assert fourth["stopReason"] == "end_turn"
            assert "Continued." in _chunks(acp.updates(sid)[seen:], "agent_message_chunk")
            history = _input_text(model.session_requests()[-1])
            for earlier in ("say hi", "Hello from the mock.", "call_acp_cmd", "go on"):
                assert earlier in history, earlier
        finally:
            await acp.close()

    # Both bridge processes ran app-servers with the provider where this run put it.
    argv = argv_log.read_text(encoding="utf-8").splitlines()
    assert argv.count("app-server") == 2, argv
    if provider_from == "bridge_env":
        assert 'model_provider="mock"' in argv
        assert any(a.startswith("model_providers.mock=") and base_url in a for a in argv)
    else:
        assert not any(a.startswith("model_provider") for a in argv), argv
    messages = read_traffic(traffic)
    asked_interrupt = [
        m for tag, m in messages if tag == ">" and m.get("method") == "turn/interrupt"
    ]
    assert len(asked_interrupt) == 1
    if target is None:
        assert schema_violations(traffic) == []
    if not mcp_replayed:
        if target is not None:
            pytest.fail("Codex did not replay the MCP tool call")
        # Everything else passed: say what is still missing instead of passing.
        pytest.xfail(
            "threadline does not write a finished mcpToolCall item to the rollout (Codex writes "
            "item_completed with a core McpToolCall item), so session/load cannot replay it"
        )
