"""The thread-state methods side by side with the real Codex 0.169: the same requests go
to ``codex app-server`` and to ``threadline app-server`` (each on its own home, both
against the mock model) and every answer, error code and message included, must match
once ids and timestamps are named by order of appearance. Skipped without the binary."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.support.codex_ref import CODEX_CONFIG, codex_binary
from tests.support.mock_model import MockModel, text

UNKNOWN = "019a0000-0000-7000-8000-000000000000"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_THREAD_KEYS = ("id", "gitInfo", "section")
"""What is compared of a Thread (Codex's carries fields threadline's does not)."""

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]



class _Names:
    """Replaces ids and timestamps by names given in order of appearance."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {UNKNOWN: "<unknown>"}

    def text(self, value: str) -> str:
        return _UUID.sub(lambda m: self._ids.setdefault(m.group(0), f"<id{len(self._ids)}>"), value)

    def value(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            if key in ("thread",):
                value = {k: value.get(k) for k in _THREAD_KEYS}
            return {k: self.value(v, k) for k, v in sorted(value.items())}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int) and not isinstance(value, bool) and key.endswith("At"):
            return "<time>"
        return value


async def _script(call: Call, tid: str) -> list[Any]:
    """The requests, in order; each answer as ``("ok", result)`` or ``("error", code, message)``."""
    out: list[Any] = []
    names = _Names()
    names.text(tid)

    async def step(method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = await call(method, params)
        if "error" in answer:
            err = answer["error"]
            out.append((method, "error", err["code"], names.text(err["message"])))
            return {}
        out.append((method, "ok", names.value(answer["result"])))
        return dict(answer["result"])

    await step("thread/goal/get", {"threadId": tid})
    await step("thread/goal/set", {"threadId": tid, "objective": "do x", "tokenBudget": 1000, "status": "paused"})
    await step("thread/goal/set", {"threadId": tid, "tokenBudget": -5})
    await step("thread/goal/set", {"threadId": tid, "objective": ""})
    await step("thread/goal/get", {"threadId": tid})
    await step("thread/goal/get", {"threadId": UNKNOWN})
    await step("thread/goal/clear", {"threadId": tid})
    await step("thread/goal/clear", {"threadId": tid})
    await step("thread/goal/set", {"threadId": tid, "status": "paused"})
    await step("thread/metadata/update", {"threadId": tid, "gitInfo": {"branch": "feat", "sha": None}})
    await step("thread/metadata/update", {"threadId": tid})
    await step("thread/metadata/update", {"threadId": tid, "gitInfo": {"branch": ""}})
    await step("thread/metadata/update", {"threadId": UNKNOWN, "gitInfo": {"branch": "x"}})
    await step("threadSection/list", {})
    created = await step("threadSection/create", {"name": "Work", "appearance": {"color": "red"}})
    sid = created["section"]["id"]
    await step("threadSection/create", {"name": "  "})
    await step("threadSection/update", {"sectionId": sid, "name": "Work2"})
    await step("threadSection/update", {"sectionId": "zzz", "name": "Work2"})
    await step("thread/section/move", {"threadId": tid, "sectionId": sid})
    await step("thread/section/move", {"threadId": tid, "sectionId": "zzz"})
    await step("thread/section/move", {"threadId": tid, "sectionId": sid, "beforeThreadId": UNKNOWN})
    await step("thread/metadata/update", {"threadId": tid, "gitInfo": {"originUrl": "https://x"}})
    await step("threadSection/list", {"limit": 1})
    att = {"threadId": tid, "attachmentType": "pr", "identityKey": "k1", "payload": {"a": 1}}
    await step("thread/attachment/add", att)
    await step("thread/attachment/add", {**att, "payload": {"a": 2}})
    await step("thread/attachment/list", {"threadId": tid})
    await step("thread/attachmentOwner/list", {"attachmentType": "pr", "identityKey": "k1"})
    await step("thread/attachment/remove", {k: v for k, v in att.items() if k != "payload"})
    await step("thread/attachment/remove", {k: v for k, v in att.items() if k != "payload"})
    await step("thread/attachment/add", {**att, "threadId": UNKNOWN})
    await step("thread/approveGuardianDeniedAction", {"threadId": tid, "event": {}})
    await step("threadSection/delete", {"sectionId": sid})
    await step("threadSection/delete", {"sectionId": sid})
    await step("thread/delete", {"threadId": tid})
    await step("thread/delete", {"threadId": tid})
    return out


async def _run_codex(binary: Path, base: Path, mock: MockModel) -> list[Any]:
    home, cwd = base / "codex-home", base / "codex-cwd"
    home.mkdir(parents=True)
    cwd.mkdir()
    (home / "config.toml").write_text(CODEX_CONFIG.format(base_url=mock.base_url))
    env = {**os.environ, "CODEX_HOME": str(home), "MOCK_OPENAI_API_KEY": "k", "RUST_LOG": "error"}
    proc = await asyncio.create_subprocess_exec(
        str(binary), "app-server", cwd=cwd, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, limit=1 << 24,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    next_id = 0
    seen: list[dict[str, Any]] = []

    async def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        nonlocal next_id
        next_id += 1
        mine = next_id
        stdin.write((json.dumps({"id": mine, "method": method, "params": params}) + "\n").encode())
        await stdin.drain()
        while True:
            line = await asyncio.wait_for(stdout.readline(), 30)
            assert line, "codex closed its output"
            message = json.loads(line)
            if message.get("id") == mine and ("result" in message or "error" in message):
                return dict(message)
            seen.append(message)

    try:
        await call("initialize", {"clientInfo": {"name": "t", "title": "t", "version": "0"}})
        stdin.write(b'{"method": "initialized"}\n')
        tid = (await call("thread/start", {"cwd": str(cwd)}))["result"]["thread"]["id"]
        mock.enqueue(text("hello"))
        await call("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "hi"}]})
        while not any(m.get("method") == "turn/completed" for m in seen):
            seen.append(json.loads(await asyncio.wait_for(stdout.readline(), 30)))
        return await _script(call, tid)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_thread_state_answers_match_codex(
    launch_server: LaunchServer, mock_model: MockModel, tmp_path: Path
) -> None:
    binary = codex_binary()
    if binary is None:
        pytest.skip("the Codex 0.169 reference binary is not installed")
    theirs = await _run_codex(binary, tmp_path / "codex", mock_model)

    server = await launch_server()
    client = server.client
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    mock_model.enqueue(text("hello"))
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "hi"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    ours = await _script(lambda m, p: client.call(m, p), tid)

    assert len(ours) == len(theirs) == 35
    for mine, codex in zip(ours, theirs, strict=True):
        assert mine == codex
