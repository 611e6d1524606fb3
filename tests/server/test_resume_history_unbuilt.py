"""A resumed or forked thread holds its model history unbuilt until something reads it
(``core.session_history``): the resume and fork answers, the usage replay and the
thread's setup (its compactor included) never build it, and reading it builds the items
the stored rollout holds. In-process (the real server on the memory transport), so the
loaded thread's session can be looked at; a code path that builds the history during a
resume (a ``len(session.history)``, say) fails here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.history_oracle import validating_replay
from tests.support.memory_server import MemoryServerFactory

from threadline.core.session_history import history_length, history_pending
from threadline.protocol.items import dump_response_item
from threadline.rollout.reader import read_rollout

THREAD_ID = "019a0000-0000-7000-8000-00000000d1f2"
TS = "2026-11-20T10:00:00.000Z"


def _line(kind: str, payload: Any) -> str:
    return json.dumps({"timestamp": TS, "type": kind, "payload": payload})


def _rollout(home: Path, turns: int) -> Path:
    body = [_line("session_meta", {"id": THREAD_ID, "timestamp": TS, "cwd": str(home),
                                   "originator": "tests", "cli_version": "0",
                                   "source": "vscode", "model_provider": "mock"})]
    for n in range(turns):
        body += [
            _line("event_msg", {"type": "task_started", "turn_id": f"t{n}"}),
            _line("response_item", {"type": "message", "role": "user",
                                    "content": [{"type": "input_text", "text": f"q{n}"}]}),
            _line("event_msg", {"type": "user_message", "message": f"q{n}"}),
            _line("response_item", {"type": "message", "role": "assistant",
                                    "content": [{"type": "output_text", "text": f"a{n}"}]}),
            _line("event_msg", {"type": "agent_message", "message": f"a{n}"}),
            _line("event_msg", {"type": "token_count", "info": {
                "total_token_usage": {"input_tokens": 10, "cached_input_tokens": 0,
                                      "output_tokens": 2, "reasoning_output_tokens": 0,
                                      "total_tokens": 12},
                "last_token_usage": {"input_tokens": 10, "cached_input_tokens": 0,
                                     "output_tokens": 2, "reasoning_output_tokens": 0,
                                     "total_tokens": 12},
                "model_context_window": 1000}}),
            _line("event_msg", {"type": "task_complete", "turn_id": f"t{n}"}),
        ]
    day = home / "sessions" / "2026" / "11" / "20"
    day.mkdir(parents=True, exist_ok=True)
    path = day / f"rollout-2026-11-20T10-00-00-{THREAD_ID}.jsonl"
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    return path


async def test_resume_and_fork_leave_the_history_unbuilt_until_read(
    memory_server: MemoryServerFactory,
) -> None:
    server = await memory_server()
    path = _rollout(server.home, 30)
    expected = [dump_response_item(i) for i in validating_replay(read_rollout(path).lines)]
    client = server.client
    for params in ({"threadId": THREAD_ID}, {"threadId": THREAD_ID, "excludeTurns": True}):
        result = await client.request("thread/resume", params)
        await client.wait_for_notification("thread/tokenUsage/updated")
        session = server.manager.get(THREAD_ID).session
        assert history_pending(session) == len(expected) == 60  # nothing built
        assert history_length(session) == len(expected)
        assert len(result["thread"]["turns"]) == (0 if params.get("excludeTurns") else 30)
        assert [dump_response_item(i) for i in session.history] == expected  # built now
        assert history_pending(session) == 0 and session.history is session.history
        await client.request("thread/archive", {"threadId": THREAD_ID})
        await client.request("thread/unarchive", {"threadId": THREAD_ID})
    fork = (await client.request("thread/fork", {"threadId": THREAD_ID}))["thread"]
    forked = server.manager.get(fork["id"]).session
    assert history_pending(forked) == len(expected)
    assert [dump_response_item(i) for i in forked.history] == expected
