"""Persistence end to end: resume and fork with the token-usage replay, list/read/name/
archive, crash safety and bad input — all over a real stdio app-server subprocess, once
on the local store and once on PostgreSQL (rollouts are seeded and read back through
the ``store`` fixture)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LaunchServer
from tests.support.appserver import AppServerClient
from tests.support.mock_model import Gate, MockModel, text, usage
from tests.support.stores import StoreUnderTest, both_stores, local_only

pytestmark = both_stores

THREAD_ID = "019a0000-0000-7000-8000-00000000abcd"
TURN_ID = "turn-one"

TOTAL = {
    "totalTokens": 150,
    "inputTokens": 120,
    "cachedInputTokens": 20,
    "outputTokens": 30,
    "reasoningOutputTokens": 10,
}


def _line(ts: str, kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"timestamp": ts, "type": kind, "payload": payload})


def _usage(total: int, inp: int, cached: int, out: int, reasoning: int) -> dict[str, int]:
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": total,
    }


def write_fake_rollout(home: Path, *, cwd: Path, tail_turn: bool = False) -> Path:
    """One completed user turn with a token_count (the numbers of Codex's own test);
    with ``tail_turn``, a second turn that started and never finished (a crash)."""
    day = home / "sessions" / "2026" / "11" / "20"
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"rollout-2026-11-20T10-00-00-{THREAD_ID}.jsonl"
    ts = "2026-11-20T10:00:00.000Z"
    info = {
        "total_token_usage": _usage(150, 120, 20, 30, 10),
        "last_token_usage": _usage(90, 70, 10, 20, 5),
        "model_context_window": 200000,
    }
    lines = [
        _line(ts, "session_meta", {
            "id": THREAD_ID, "timestamp": ts, "cwd": str(cwd), "originator": "tests",
            "cli_version": "0.0.0", "source": "vscode", "model_provider": "mock",
            "base_instructions": None,
        }),
        _line(ts, "event_msg", {"type": "task_started", "turn_id": TURN_ID}),
        _line(ts, "turn_context", {"turn_id": TURN_ID, "cwd": str(cwd), "approval_policy": "never",
                                   "sandbox_policy": {"type": "read-only"}, "model": "mock-model",
                                   "summary": "auto"}),
        _line(ts, "response_item", {"type": "message", "role": "user",
                                    "content": [{"type": "input_text", "text": "remember the word pelican"}]}),
        _line(ts, "event_msg", {"type": "user_message", "message": "remember the word pelican",
                                "images": None, "local_images": [], "text_elements": []}),
        _line(ts, "response_item", {"type": "message", "role": "assistant", "id": "msg_1",
                                    "content": [{"type": "output_text", "text": "Noted: pelican."}]}),
        _line(ts, "event_msg", {"type": "agent_message", "message": "Noted: pelican."}),
        _line(ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": None}),
        _line(ts, "event_msg", {"type": "task_complete", "turn_id": TURN_ID,
                                "last_agent_message": "Noted: pelican."}),
    ]
    if tail_turn:
        lines += [
            _line(ts, "event_msg", {"type": "task_started", "turn_id": "turn-two"}),
            _line(ts, "response_item", {"type": "message", "role": "user",
                                        "content": [{"type": "input_text", "text": "and then?"}]}),
            _line(ts, "event_msg", {"type": "user_message", "message": "and then?",
                                    "images": None, "local_images": [], "text_elements": []}),
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _inputs_text(body: Any) -> str:
    return json.dumps(body.get("input", []))


async def _replay(client: AppServerClient, thread_id: str) -> dict[str, Any]:
    note = await client.wait_for_notification(
        "thread/tokenUsage/updated", predicate=lambda p: p.get("threadId") == thread_id
    )
    return dict(note["params"])


def _breakdown(value: dict[str, Any]) -> dict[str, Any]:
    return {key: value[key] for key in TOTAL}


def _method_order(client: AppServerClient) -> list[str]:
    return [m.get("method") or f"result:{m.get('id')}" for m in client.received()]


async def test_resume_replays_restored_usage_before_any_turn(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    path = write_fake_rollout(mock_home, cwd=tmp_path)
    await store.seed(path)
    before = store.raw_lines(path)
    server = await launch_server()
    client = server.client
    result = await client.request("thread/resume", {"threadId": THREAD_ID})
    thread = result["thread"]
    assert thread["id"] == THREAD_ID
    assert thread["path"] == str(path)
    assert [t["id"] for t in thread["turns"]] == [TURN_ID]
    assert thread["turns"][0]["status"] == "completed"
    replay = await _replay(client, THREAD_ID)
    assert replay["turnId"] == thread["turns"][0]["id"]
    assert _breakdown(replay["tokenUsage"]["total"]) == TOTAL
    assert replay["tokenUsage"]["last"]["totalTokens"] == 90
    assert replay["tokenUsage"]["modelContextWindow"] == 200000
    # The replay follows the response, and no model request was made.
    methods = [m for m in _method_order(client) if m != "thread/status/changed"]
    resume_idx = next(i for i, m in enumerate(methods) if m.startswith("result:"))
    assert methods.index("thread/tokenUsage/updated") > resume_idx
    assert not any(m == "thread/started" for m in methods)
    assert mock_model.requests == []
    # Resume writes nothing to the rollout.
    assert store.raw_lines(path) == before


async def test_fork_replays_usage_then_announces_thread(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    await store.seed(write_fake_rollout(mock_home, cwd=tmp_path))
    server = await launch_server()
    client = server.client
    result = await client.request("thread/fork", {"threadId": THREAD_ID})
    fork = result["thread"]
    assert fork["id"] != THREAD_ID
    assert fork["forkedFromId"] == THREAD_ID
    assert fork["preview"] == "remember the word pelican"
    assert fork["path"] and store.exists(fork["path"])
    replay = await _replay(client, fork["id"])
    assert replay["turnId"] == TURN_ID
    assert _breakdown(replay["tokenUsage"]["total"]) == TOTAL
    started = await client.wait_for_notification("thread/started")
    assert started["params"]["thread"]["id"] == fork["id"]
    order = [m for m in _method_order(client) if m in ("thread/tokenUsage/updated", "thread/started")]
    assert order == ["thread/tokenUsage/updated", "thread/started"]
    assert mock_model.requests == []
    # The fork's file starts with its own session_meta naming the parent.
    first = store.lines(fork["path"])[0]
    assert first["type"] == "session_meta"
    assert first["payload"]["id"] == fork["id"]
    assert first["payload"]["forked_from_id"] == THREAD_ID


async def test_replay_goes_only_to_the_requesting_connection(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path, store: StoreUnderTest
) -> None:
    await store.seed(write_fake_rollout(mock_home, cwd=tmp_path))
    server = await launch_server(transport="ws")
    a = await server.connect()
    b = await server.connect()
    await a.request("thread/resume", {"threadId": THREAD_ID})
    await _replay(a, THREAD_ID)
    # B rejoins the loaded thread: it gets its own replay, A gets none.
    await b.request("thread/resume", {"threadId": THREAD_ID})
    await _replay(b, THREAD_ID)
    await asyncio.sleep(0.3)
    assert len(a.received("thread/tokenUsage/updated")) == 1
    assert len(b.received("thread/tokenUsage/updated")) == 1


async def test_resume_continue_then_resume_sums_without_double_count(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    await store.seed(write_fake_rollout(mock_home, cwd=tmp_path))
    server = await launch_server()
    client = server.client
    await client.request("thread/resume", {"threadId": THREAD_ID})
    await _replay(client, THREAD_ID)
    mock_model.enqueue(text("Your word was pelican.", usage=usage(input=200, cached=50, output=40, reasoning=0)))
    turn = await client.request("turn/start", {
        "threadId": THREAD_ID, "input": [{"type": "text", "text": "what was the word?"}]})
    turn_id = turn["turn"]["id"]
    await client.wait_for_notification("turn/completed", timeout=20)
    # The model saw the restored history.
    body = mock_model.requests[-1].body
    assert "remember the word pelican" in _inputs_text(body)
    assert "Noted: pelican." in _inputs_text(body)
    await server.stop()

    # A fresh process: the restored total is the sum, counted once.
    server2 = await launch_server()
    c2 = server2.client
    result = await c2.request("thread/resume", {"threadId": THREAD_ID})
    replay = await _replay(c2, THREAD_ID)
    assert replay["tokenUsage"]["total"]["totalTokens"] == 150 + 240
    assert replay["tokenUsage"]["total"]["inputTokens"] == 120 + 200
    assert replay["tokenUsage"]["last"]["totalTokens"] == 240
    assert replay["turnId"] == turn_id
    assert [t["id"] for t in result["thread"]["turns"]][-1] == turn_id
    # Resume once more: still the same total (the replay was never written back).
    await server2.stop()
    server3 = await launch_server()
    await server3.client.request("thread/resume", {"threadId": THREAD_ID})
    again = await _replay(server3.client, THREAD_ID)
    assert again["tokenUsage"]["total"]["totalTokens"] == 390


async def test_stale_interrupted_tail_turn_does_not_own_usage(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path, store: StoreUnderTest
) -> None:
    await store.seed(write_fake_rollout(mock_home, cwd=tmp_path, tail_turn=True))
    server = await launch_server()
    result = await server.client.request("thread/resume", {"threadId": THREAD_ID})
    turns = result["thread"]["turns"]
    assert [t["status"] for t in turns] == ["completed", "interrupted"]
    replay = await _replay(server.client, THREAD_ID)
    assert replay["turnId"] == TURN_ID


async def test_list_read_name_archive_unarchive(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel
) -> None:
    server = await launch_server()
    client = server.client
    ids = []
    for n in range(3):
        mock_model.enqueue(text(f"answer {n}", usage=usage(input=10, output=2)))
        started = await client.request("thread/start", {})
        tid = started["thread"]["id"]
        ids.append(tid)
        await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": f"question {n}"}]})
        await client.wait_for_notification(
            "turn/completed", timeout=20, predicate=lambda p, tid=tid: p.get("threadId") == tid
        )
    page1 = await client.request("thread/list", {"limit": 2})
    assert [t["id"] for t in page1["data"]] == [ids[2], ids[1]]
    assert page1["nextCursor"]
    page2 = await client.request("thread/list", {"limit": 2, "cursor": page1["nextCursor"]})
    assert [t["id"] for t in page2["data"]] == [ids[0]]
    assert page1["data"][0]["preview"] == "question 2"
    assert page2["nextCursor"] is None

    await client.request("thread/name/set", {"threadId": ids[0], "name": "first one"})
    named = await client.wait_for_notification("thread/name/updated")
    assert named["params"] == {"threadId": ids[0], "threadName": "first one"}
    read = await client.request("thread/read", {"threadId": ids[0], "includeTurns": True})
    assert read["thread"]["name"] == "first one"
    assert [i["type"] for i in read["thread"]["turns"][0]["items"]] == ["userMessage", "agentMessage"]

    await client.request("thread/archive", {"threadId": ids[1]})
    await client.wait_for_notification("thread/archived")
    live = await client.request("thread/list", {})
    assert ids[1] not in [t["id"] for t in live["data"]]
    archived = await client.request("thread/list", {"archived": True})
    assert [t["id"] for t in archived["data"]] == [ids[1]]
    assert "/archived_sessions/" in archived["data"][0]["path"]
    un = await client.request("thread/unarchive", {"threadId": ids[1]})
    assert un["thread"]["id"] == ids[1]
    assert "/sessions/" in un["thread"]["path"]
    await client.wait_for_notification("thread/unarchived")
    live = await client.request("thread/list", {})
    assert ids[1] in [t["id"] for t in live["data"]]
    # Names survive a fresh process (read from the rollout / index).
    await server.stop()
    server2 = await launch_server()
    listed = await server2.client.request("thread/list", {"searchTerm": "first"})
    assert [t["id"] for t in listed["data"]] == [ids[0]]


async def test_crash_mid_turn_then_resume(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, store: StoreUnderTest
) -> None:
    server = await launch_server()
    client = server.client
    mock_model.enqueue(text("first answer", usage=usage(input=100, output=10)))
    tid = (await client.request("thread/start", {}))["thread"]["id"]
    await client.request("turn/start", {"threadId": tid, "input": [{"type": "text", "text": "one"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    gate = Gate()
    mock_model.enqueue(text("a long streaming answer that never ends", chunks=8, gate=gate))
    second = await client.request(
        "turn/start", {"threadId": tid, "input": [{"type": "text", "text": "two"}]}
    )
    # The gated stream has opened the answer (so the turn's lines are on disk) and waits.
    await client.wait_for_notification(
        "item/started",
        timeout=20,
        predicate=lambda p: p["turnId"] == second["turn"]["id"]
        and p["item"]["type"] == "agentMessage",
    )
    os.kill(server.proc.pid, signal.SIGKILL)
    await server.proc.wait()
    gate.set()

    server2 = await launch_server()
    result = await server2.client.request("thread/resume", {"threadId": tid})
    turns = result["thread"]["turns"]
    lines = store.raw_lines(result["thread"]["path"])
    kinds = [json.loads(x)["payload"].get("type", json.loads(x)["type"]) for x in lines]
    assert [t["status"] for t in turns] == ["completed", "interrupted"], " ".join(kinds)
    assert [i["type"] for i in turns[0]["items"]] == ["userMessage", "agentMessage"]
    replay = await _replay(server2.client, tid)
    assert replay["tokenUsage"]["total"]["totalTokens"] == 110
    assert replay["turnId"] == turns[0]["id"]


@local_only("resume by path of files that are garbage, outside the home or missing")
async def test_bad_inputs_get_clear_errors_and_touch_nothing(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path
) -> None:
    good = write_fake_rollout(mock_home, cwd=tmp_path)
    garbage = good.parent / "rollout-2026-11-20T11-00-00-019a0000-0000-7000-8000-00000000ffff.jsonl"
    garbage.write_text("not json\n{\"also\": \"not a rollout\"}\n", encoding="utf-8")
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes(good.read_bytes())
    snapshot = {p: p.read_bytes() for p in (good, garbage, outside)}
    server = await launch_server()
    client = server.client

    unknown = "019a0000-0000-7000-8000-000000000999"
    err = await client.request_error("thread/resume", {"threadId": unknown})
    assert err["code"] == -32600
    assert err["message"] == f"no rollout found for thread id {unknown}"
    err = await client.request_error("thread/fork", {"threadId": unknown})
    assert err["code"] == -32600 and unknown in err["message"]
    err = await client.request_error("thread/resume", {"threadId": "not-a-uuid"})
    assert err["code"] == -32600 and "not-a-uuid" in err["message"]
    err = await client.request_error("thread/resume", {"threadId": "", "path": str(outside)})
    assert err["code"] == -32600 and "outside" in err["message"]
    missing = good.parent / "rollout-2026-11-20T12-00-00-019a0000-0000-7000-8000-00000000eeee.jsonl"
    err = await client.request_error("thread/resume", {"threadId": "", "path": str(missing)})
    assert err["code"] == -32600 and "no such file" in err["message"]
    err = await client.request_error("thread/resume", {"threadId": "", "path": str(garbage)})
    assert err["code"] == -32600 and "failed to load rollout" in err["message"]
    err = await client.request_error("thread/resume", {})
    assert err["code"] == -32600 and "threadId" in err["message"]
    # Still alive, nothing modified.
    assert (await client.request("thread/loaded/list", {}))["data"] == []
    assert {p: p.read_bytes() for p in snapshot} == snapshot
