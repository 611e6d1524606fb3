"""``thread/resume`` as Codex 0.169 answers it, over a real stdio app-server: every
member of Codex's answer (compared with the recorded reference trace), the
notifications around it (``thread/status/changed`` before a cold resume's answer, none
on a rejoin, ``thread/goal/cleared`` after), ``excludeTurns`` with the backwards
cursors, and a resume after a compaction that gives the model only what the
compaction kept. On the local store and on PostgreSQL (the rollout seeded into it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.support.mock_model import MockModel, text
from tests.support.stores import StoreUnderTest, both_stores

pytestmark = both_stores

REFERENCE_TRACE = Path("/work/shared/reference/codex-0.169.0/traces/s04_resume.jsonl")
THREAD_ID = "019a0000-0000-7000-8000-0000005a9e01"
TS = "2026-11-20T10:00:00.000Z"


def _line(kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"timestamp": TS, "type": kind, "payload": payload}, separators=(",", ":"))


def _turn(turn_id: str, question: str, answer: str) -> list[str]:
    return [
        _line("event_msg", {"type": "task_started", "turn_id": turn_id}),
        _line("response_item", {"type": "message", "role": "user",
                                "content": [{"type": "input_text", "text": question}]}),
        _line("event_msg", {"type": "user_message", "message": question, "local_images": [],
                            "text_elements": []}),
        _line("response_item", {"type": "message", "role": "assistant",
                                "content": [{"type": "output_text", "text": answer}]}),
        _line("event_msg", {"type": "agent_message", "message": answer}),
        _line("event_msg", {"type": "task_complete", "turn_id": turn_id}),
    ]


def write_rollout(home: Path, cwd: Path, body: list[str]) -> Path:
    day = home / "sessions" / "2026" / "11" / "20"
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"rollout-2026-11-20T10-00-00-{THREAD_ID}.jsonl"
    meta = _line("session_meta", {"id": THREAD_ID, "timestamp": TS, "cwd": str(cwd),
                                  "originator": "tests", "cli_version": "0.0.0",
                                  "source": "vscode", "model_provider": "mock"})
    path.write_text("\n".join([meta, *body]) + "\n", encoding="utf-8")
    return path


def _codex_resume_keys() -> set[str]:
    """The members of a cold ``thread/resume`` answer in the recorded Codex trace."""
    resume_id = None
    for raw in REFERENCE_TRACE.read_text().splitlines():
        record = json.loads(raw)
        msg = record.get("msg") or {}
        if record["dir"] == "c2s" and msg.get("method") == "thread/resume":
            resume_id = msg["id"]
        elif record["dir"] == "s2c" and resume_id is not None and msg.get("id") == resume_id:
            return set(msg["result"])
    raise AssertionError("no resume answer in the reference trace")


async def test_resume_answer_has_codex_members_and_notifications(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path, store: StoreUnderTest
) -> None:
    await store.seed(write_rollout(mock_home, tmp_path, _turn("t1", "hello", "hi") + _turn("t2", "again", "yes")))
    server = await launch_server(transport="ws")
    a = await server.connect()
    b = await server.connect()
    seen = len(a.received())
    result = await a.request("thread/resume", {"threadId": THREAD_ID})
    missing = _codex_resume_keys() - set(result)
    assert not missing, f"members Codex sends that we do not: {sorted(missing)}"
    assert result["collaborationMode"] == {
        "mode": "default",
        "settings": {"model": result["model"], "reasoning_effort": None,
                     "developer_instructions": None},
    }
    assert result["runtimeWorkspaceRoots"] == [result["cwd"]]
    assert result["activePermissionProfile"] is None
    assert result["multiAgentMode"] == "explicitRequestOnly"
    assert result["initialTurnsPage"] is None
    cursor = json.loads(result["turnsBackwardsCursor"])
    assert cursor["turnId"] == "t2" and cursor["includeAnchor"] is True
    # Cold resume: status/changed (to every connection) before the answer, goal/cleared after.
    await a.wait_for_notification("thread/goal/cleared")
    order = [m.get("method") or "answer" for m in a.received()[seen:]]
    assert order.index("thread/status/changed") < order.index("answer") < order.index("thread/goal/cleared")
    await b.wait_for_notification("thread/status/changed", predicate=lambda p: p["threadId"] == THREAD_ID)
    await b.wait_for_notification("thread/goal/cleared")
    # Rejoin: no status/changed, goal/cleared again.
    before = len(b.received("thread/status/changed"))
    await b.request("thread/resume", {"threadId": THREAD_ID})
    await b.wait_for_notification("thread/goal/cleared", predicate=lambda p: len(b.received("thread/goal/cleared")) >= 2)
    assert len(b.received("thread/status/changed")) == before


async def test_exclude_turns_then_page_with_the_cursors(
    launch_server: LaunchServer, mock_home: Path, tmp_path: Path, store: StoreUnderTest
) -> None:
    await store.seed(write_rollout(mock_home, tmp_path, _turn("t1", "one", "r1") + _turn("t2", "two", "r2")))
    client = (await launch_server()).client
    result = await client.request("thread/resume", {"threadId": THREAD_ID, "excludeTurns": True})
    assert result["thread"]["turns"] == []
    turns = await client.request("thread/turns/list", {
        "threadId": THREAD_ID, "cursor": result["turnsBackwardsCursor"], "sortDirection": "desc"})
    assert [t["id"] for t in turns["data"]] == ["t2", "t1"]
    items = await client.request("thread/items/list", {
        "threadId": THREAD_ID, "cursor": result["itemsBackwardsCursor"], "sortDirection": "desc"})
    assert [e["item"]["type"] for e in items["data"]] == ["agentMessage", "userMessage"] * 2


@pytest.mark.parametrize("windowed", [True, False], ids=["seek", "read"])
async def test_resume_after_compaction_gives_the_model_what_it_kept(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, tmp_path: Path,
    windowed: bool, store: StoreUnderTest,
) -> None:
    """With window numbers on the compaction the resume seeks to it (the offset index);
    without, it reads the file but decodes nothing the compaction replaced."""
    kept = [{"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "SUMMARY-OF-EARLIER-WORK"}]}]
    body = _turn("t1", "OLD-QUESTION-MARKER", "OLD-ANSWER-MARKER")
    window = {"window_id": "w1", "first_window_id": "w0", "window_number": 1} if windowed else {}
    body += [_line("compacted", {"message": "SUMMARY-OF-EARLIER-WORK", **window,
                                 "replacement_history": kept})]
    body += _turn("t2", "after the compaction", "fine")
    await store.seed(write_rollout(mock_home, tmp_path, body))
    client = (await launch_server()).client
    result = await client.request("thread/resume", {"threadId": THREAD_ID, "excludeTurns": True})
    assert result["thread"]["turns"] == []
    page = await client.request("thread/turns/list", {"threadId": THREAD_ID, "itemsView": "full"})
    assert [t["id"] for t in page["data"]] == ["t2", "t1"]  # the turns are all still there
    assert page["data"][1]["items"][0]["content"][0]["text"] == "OLD-QUESTION-MARKER"
    mock_model.enqueue(text("noted"))
    await client.request("turn/start", {"threadId": THREAD_ID,
                                        "input": [{"type": "text", "text": "next question"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    sent = json.dumps((await mock_model.async_wait_for_requests(1))[-1].body.get("input", []))
    assert "SUMMARY-OF-EARLIER-WORK" in sent and "after the compaction" in sent
    assert "OLD-QUESTION-MARKER" not in sent and "OLD-ANSWER-MARKER" not in sent


async def test_exclude_turns_resume_serves_every_item_when_asked(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    """An ``excludeTurns`` resume leaves the earlier turns' items unread; every way of
    asking for them (turns/list, items/list, thread/read, a rejoining resume) still
    answers exactly what a full read does, and a new turn continues the thread."""
    body: list[str] = []
    for n in range(5):
        body += _turn(f"t{n}", f"question {n}", f"answer {n}")
    await store.seed(write_rollout(mock_home, tmp_path, body))
    reference = (await launch_server()).client
    full = (await reference.request("thread/read", {"threadId": THREAD_ID, "includeTurns": True}))["thread"]["turns"]
    client = (await launch_server()).client
    await client.request("thread/resume", {"threadId": THREAD_ID, "excludeTurns": True})
    page = await client.request("thread/turns/list", {"threadId": THREAD_ID, "itemsView": "full", "limit": 10})
    assert list(reversed(page["data"])) == full
    items = await client.request("thread/items/list", {"threadId": THREAD_ID, "limit": 100})
    assert [e["item"] for e in items["data"]] == [i for t in full for i in t["items"]]
    read = await client.request("thread/read", {"threadId": THREAD_ID, "includeTurns": True})
    assert read["thread"]["turns"] == [{**t, "itemsView": "full"} for t in full]
    rejoined = await client.request("thread/resume", {"threadId": THREAD_ID})
    assert [t["items"] for t in rejoined["thread"]["turns"]] == [t["items"] for t in full]
    mock_model.enqueue(text("the next answer"))
    await client.request("turn/start", {"threadId": THREAD_ID, "input": [{"type": "text", "text": "more"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    sent = json.dumps((await mock_model.async_wait_for_requests(1))[-1].body.get("input", []))
    assert all(f"answer {n}" in sent for n in range(5))  # the model history is whole
    latest = await client.request("thread/turns/list", {"threadId": THREAD_ID, "limit": 2, "itemsView": "full"})
    assert [t["id"] for t in latest["data"]][1] == "t4"
    assert latest["data"][1]["items"] == full[4]["items"]
