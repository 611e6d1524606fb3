"""The first model request after a ``thread/resume`` sends the history the stored
rollout holds, now that a resume replays it without building its items (they wait as
decoded JSON until that request, ``protocol.items.DeferredItems``): over a real stdio
app-server and the mock model, the request's ``input`` starts with exactly the items
the earlier, validating replay made of the same file (``tests/support/history_oracle``),
on a Codex 0.169 reference rollout as it is and on one with items the models refuse, a
rollback and a compaction. A fork's first request sends its parent's history the same
way, and its ``thread/started`` carries no turns, as Codex's (the recorded trace). On
the local store and on PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import LaunchServer
from tests.support.history_oracle import validating_replay
from tests.support.mock_model import MockModel, text
from tests.support.stores import StoreUnderTest, both_stores

from threadline.protocol.items import dump_response_item
from threadline.rollout.reader import read_rollout

pytestmark = both_stores

ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")
REFERENCE = (ROLLOUTS / "sessions/2026/11/25/"
             "rollout-2026-11-25T00-58-56-01a21036-7da3-7453-a7b3-21219d0a7b11.jsonl")
CRAFTED_ID = "019a0000-0000-7000-8000-00000000e2e1"
TS = "2026-11-20T10:00:00.000Z"


def _line(kind: str, payload: Any) -> str:
    return json.dumps({"timestamp": TS, "type": kind, "payload": payload})


def _msg(role: str, text_value: Any, kind: str = "input_text") -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text_value}]}


def _turn(turn_id: str, question: str) -> list[str]:
    return [
        _line("event_msg", {"type": "task_started", "turn_id": turn_id}),
        _line("response_item", _msg("user", question)),
        _line("event_msg", {"type": "user_message", "message": question}),
        _line("response_item", {"type": "reasoning", "summary": [
            {"type": "summary_text", "text": f"thinking about {turn_id}"}]}),
        _line("response_item", {"type": "function_call", "name": "shell",
                                "arguments": "{\"command\":[\"true\"]}", "call_id": turn_id}),
        _line("response_item", {"type": "function_call_output", "call_id": turn_id,
                                "output": "done"}),
        _line("response_item", _msg("assistant", f"ANSWER-{turn_id}", "output_text")),
        _line("event_msg", {"type": "agent_message", "message": f"ANSWER-{turn_id}"}),
        _line("event_msg", {"type": "task_complete", "turn_id": turn_id}),
    ]


def _crafted(home: Path, cwd: Path) -> Path:
    refused = [
        _line("response_item", _msg("user", 42)),
        _line("response_item", {"type": "function_call", "name": "shell"}),
        _line("response_item", {"type": "function_call_output", "call_id": "x"}),
    ]
    summary = _line("compacted", {"message": "SUMMARY", "replacement_history": [
        _msg("user", "q1"), _msg("user", "SUMMARY-OF-q1")]})
    rollback = _line("event_msg", {"type": "thread_rolled_back", "num_turns": 1})
    body = [*_turn("t1", "q1"), *refused, summary, *_turn("t2", "q2"), *refused,
            *_turn("t3", "ROLLED-BACK"), rollback, *_turn("t4", "q4")]
    meta = _line("session_meta", {"id": CRAFTED_ID, "timestamp": TS, "cwd": str(cwd),
                                  "originator": "tests", "cli_version": "0.0.0",
                                  "source": "vscode", "model_provider": "mock"})
    day = home / "sessions" / "2026" / "11" / "20"
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"rollout-2026-11-20T10-00-00-{CRAFTED_ID}.jsonl"
    path.write_text("\n".join([meta, *body]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("which", ["reference", "crafted"])
async def test_first_request_after_resume_sends_the_stored_history(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, tmp_path: Path,
    store: StoreUnderTest, which: str,
) -> None:
    if which == "reference":
        if not REFERENCE.is_file():
            pytest.fail(f"reference rollout missing at {REFERENCE}")
        path = mock_home / REFERENCE.relative_to(ROLLOUTS)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REFERENCE, path)
        thread_id = "01a21036-7da3-7453-a7b3-21219d0a7b11"
    else:
        path = _crafted(mock_home, tmp_path)
        thread_id = CRAFTED_ID
    expected = [dump_response_item(i) for i in validating_replay(read_rollout(path).lines)]
    assert len(expected) >= 8
    if which == "crafted":
        sent_before = json.dumps(expected)
        assert "ROLLED-BACK" not in sent_before and "SUMMARY-OF-q1" in sent_before
        assert "ANSWER-t1" not in sent_before  # replaced by the compaction
    await store.seed(path)
    client = (await launch_server()).client
    await client.request("thread/resume", {"threadId": thread_id})
    mock_model.enqueue(text("noted"))
    await client.request("turn/start", {"threadId": thread_id,
                                        "input": [{"type": "text", "text": "NEXT-QUESTION"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    sent = (await mock_model.async_wait_for_requests(1))[-1].body["input"]
    asked = next(i for i, item in enumerate(sent) if "NEXT-QUESTION" in json.dumps(item))
    start = asked - len(expected)
    assert sent[start:asked] == expected  # the stored history, item for item
    # before it only the instructions each request opens with, which no rollout holds
    assert start >= 0 and all(item.get("role") == "developer" for item in sent[:start])


TRACE = Path("/work/shared/reference/codex-0.169.0/traces/s05_fork.jsonl")


def _codex_fork_announcements() -> list[tuple[int, int]]:
    """(turns in the fork's answer, turns in its ``thread/started``) of every non-ephemeral
    fork with turns in the recorded Codex trace."""
    records = [json.loads(raw) for raw in TRACE.read_text().splitlines()]
    answers: dict[Any, int] = {}
    forks = {r["msg"]["id"]: r["msg"]["params"] for r in records
             if r["dir"] == "c2s" and (r.get("msg") or {}).get("method") == "thread/fork"}
    out: list[tuple[int, int]] = []
    pending: int | None = None
    for record in records:
        msg = record.get("msg") or {}
        if record["dir"] != "s2c":
            continue
        if msg.get("id") in forks and "result" in msg:
            answers[msg["id"]] = len(msg["result"]["thread"]["turns"])
            params = forks[msg["id"]]
            pending = answers[msg["id"]] if not params.get("ephemeral") else None
        elif msg.get("method") == "thread/started" and pending:
            out.append((pending, len(msg["params"]["thread"]["turns"])))
            pending = None
    return out


async def test_fork_announces_the_new_thread_without_its_turns_as_codex(
    launch_server: LaunchServer, mock_home: Path, mock_model: MockModel, tmp_path: Path,
    store: StoreUnderTest,
) -> None:
    """Codex's ``thread/started`` after a fork carries no turns, the answer has them (a
    big fork's turns were serialized and sent twice)."""
    recorded = _codex_fork_announcements()
    assert recorded and all(answer > 0 and started == 0 for answer, started in recorded)
    await store.seed(_crafted(mock_home, tmp_path))
    client = (await launch_server()).client
    result = await client.request("thread/fork", {"threadId": CRAFTED_ID})
    assert len(result["thread"]["turns"]) == 3  # t1, t2, t4 (t3 rolled back)
    started = await client.wait_for_notification("thread/started")
    shown = started["params"]["thread"]
    assert shown["id"] == result["thread"]["id"] and shown["turns"] == []
    assert {k: v for k, v in shown.items() if k != "turns"} == {
        k: v for k, v in result["thread"].items() if k != "turns"}
    # the fork's model history is the parent's, built with its first request
    expected = [dump_response_item(i) for i in validating_replay(
        read_rollout(_crafted(tmp_path / "again", tmp_path)).lines)]
    mock_model.enqueue(text("noted"))
    fork_id = result["thread"]["id"]
    await client.request("turn/start", {"threadId": fork_id,
                                        "input": [{"type": "text", "text": "NEXT-QUESTION"}]})
    await client.wait_for_notification("turn/completed", timeout=20)
    sent = (await mock_model.async_wait_for_requests(1))[-1].body["input"]
    asked = next(i for i, item in enumerate(sent) if "NEXT-QUESTION" in json.dumps(item))
    assert sent[asked - len(expected):asked] == expected
