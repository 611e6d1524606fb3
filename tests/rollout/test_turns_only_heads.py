"""The turns-only read's one-match head classification and its single search for a
duplicate ``type`` (``rollout.turns_only``): records that only look skippable, written
with JSON whitespace around the duplicate key, with Codex's ``ordinal`` member, nested
at any depth, give the turns a full read rebuilds, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic_core
import pytest

from threadline.protocol.v2.turn import Turn
from threadline.rollout.history import reconstruct
from threadline.rollout.reader import read_rollout
from threadline.rollout.turns_only import read_turns_only

THREAD = "019f0000-0000-7000-8000-0000000000b2"
STAMP = "2027-06-01T00:00:00.000Z"


def _wire(turns: list[Turn]) -> bytes:
    return pydantic_core.to_json([t.model_dump(mode="json", by_alias=True) for t in turns])


def _head(ordinal: int | None) -> str:
    middle = f'"ordinal":{ordinal},' if ordinal is not None else ""
    return '{"timestamp":"' + STAMP + '",' + middle


def _event(payload: dict[str, object], ordinal: int | None) -> str:
    body = json.dumps({"payload": payload}, separators=(",", ":"))[1:]
    return _head(ordinal) + '"type":"event_msg",' + body


def _file(tmp: Path, name: str, middle: list[str], ordinal: int | None) -> Path:
    meta = {"id": THREAD, "timestamp": STAMP, "cwd": "/w", "originator": "t",
            "cli_version": "0.1.0", "source": "cli", "model_provider": "mock"}
    lines = [
        _head(ordinal) + '"type":"session_meta","payload":' + json.dumps(meta) + "}",
        _event({"type": "task_started", "turn_id": "t1"}, ordinal),
        _event({"type": "user_message", "message": "hi"}, ordinal),
        *middle,
        _event({"type": "agent_message", "message": "plain"}, ordinal),
        _event({"type": "task_complete", "turn_id": "t1"}, ordinal),
    ]
    path = tmp / f"rollout-{name}-{THREAD}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _tricky(ordinal: int | None) -> list[str]:
    head = _head(ordinal)
    return [
        # whitespace around the duplicate key's colon: still an event in a full read
        head + '"type":"response_item","payload":{"type":"agent_message","message":"ws"}'
        ',"type" :\t"event_msg"}',
        head + '"type":"turn_context","payload":{"type":"agent_message","message":"nl"},'
        '"type":\r "event_msg"}',
        # a compaction behind a response_item head (marks the open turn compacted)
        head + '"type":"response_item","payload":{"message":"c"},"type": "compacted"}',
        # the words in a text, not as a type: skipped, as a full read ignores them too
        head + '"type":"response_item","payload":{"type":"message","content":'
        '[{"type":"output_text","text":"event_msg compacted session_meta"}]}}',
        # a nested member named type with an event value: decoded (harmless)
        head + '"type":"response_item","payload":{"type":"message","x":{"type":"event_msg"}}}',
        # a token_count head whose payload's later type wins
        head + '"type":"event_msg","payload":{"type":"token_count","type":"agent_message",'
        '"message":"dup payload type"}}',
        # Codex 0.169's own line types turns ignore, one hiding an event behind its head
        head + '"type":"world_state","payload":{"full":true,"state":{"type":"x"}},'
        '"type":"event_msg","payload":{"type":"agent_message","message":"world"}}',
        head + '"type":"token_usage_record","payload":{"turn_id":"t1","usage":{}}}',
        head + '"type":"world_state","payload":{"full":false,"state":{}}}',
        # an ordinary token_count and turn_context
        _event({"type": "token_count", "info": None}, ordinal),
        head + '"type":"turn_context","payload":{"cwd":"/w","model":"m"}}',
    ]


@pytest.mark.parametrize("ordinal", [None, 7, 12345])
def test_tricky_heads_give_the_full_reads_turns(tmp_path: Path, ordinal: int | None) -> None:
    path = _file(tmp_path, f"tricky{ordinal}", _tricky(ordinal), ordinal)
    turns = read_turns_only(path)
    assert turns is not None
    full = reconstruct(read_rollout(path), lazy_history=True).turns
    assert _wire(turns) == _wire(full)
    texts = [getattr(item, "text", None) for item in turns[0].items]
    assert texts == [None, "ws", "nl", "dup payload type", "world", "plain"]
