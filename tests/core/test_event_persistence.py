"""Which events a live session writes: offered once by ``Session.emit``, decided by the
rollout policy where the writer makes lines (plan items included, in Codex's shape)."""

from __future__ import annotations

import json
import time
import typing
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from threadline.core.session import Session
from threadline.core.settings import ThreadSettings
from threadline.model.responses import ResponsesClient
from threadline.protocol import events as ev
from threadline.protocol.v2.item import AgentMessageThreadItem, PlanThreadItem
from threadline.rollout.policy import PersistencePolicy, is_persisted_event
from threadline.rollout.reader import parse_lines
from threadline.rollout.turns import build_turns
from threadline.rollout.writer import RolloutWriter
from threadline.tools.registry import ToolRegistry


@pytest.fixture
async def client() -> AsyncIterator[ResponsesClient]:
    # Never called: emitting events does not sample the model.
    c = ResponsesClient(
        provider_id="mock",
        base_url="http://127.0.0.1:9/v1",
        api_key=None,
        max_retries=0,
        backoff_base_s=0.01,
        stream_idle_timeout_s=1,
    )
    yield c
    await c.aclose()


def _session(path: Path, client: ResponsesClient, *, extended: bool = False) -> Session:
    path.touch()
    return Session(
        thread_id="thread-1",
        settings=ThreadSettings(
            model="mock-model",
            model_provider="mock",
            cwd=str(path.parent),
            persist_extended_history=extended,
        ),
        model=client,
        sink=RolloutWriter.resume(path, policy=PersistencePolicy(extended=extended)),
        tools=ToolRegistry([]),
        history=[],
        token_info=None,
        turns=[],
        preview="",
        updated_at=time.time(),
    )


def _payloads(path: Path) -> list[dict[str, typing.Any]]:
    return [json.loads(line)["payload"] for line in path.read_text().splitlines()]


async def test_plan_items_are_written_as_codex_writes_them(
    tmp_path: Path, client: ResponsesClient
) -> None:
    path = tmp_path / "rollout.jsonl"
    session = _session(path, client)
    plan = PlanThreadItem(id="plan-1", text="1. read\n2. write", started_at_ms=5)
    agent = AgentMessageThreadItem(id="msg-1", text="done")
    await session.emit("turn-1", ev.TaskStarted(turn_id="turn-1", started_at=1))
    await session.emit("turn-1", ev.ItemStarted(turn_id="turn-1", item=plan, started_at_ms=5))
    await session.emit("turn-1", ev.ItemCompleted(turn_id="turn-1", item=plan, completed_at_ms=9))
    await session.emit("turn-1", ev.ItemCompleted(turn_id="turn-1", item=agent, completed_at_ms=9))
    await session.emit("turn-1", ev.WarningEvent(message="careful"))
    await session.emit("turn-1", ev.ErrorEvent(message="limited mode drops errors"))
    await session.emit("turn-1", ev.AgentMessageDelta(turn_id="turn-1", item_id="m", delta="x"))
    await session.emit("turn-1", ev.TaskComplete(turn_id="turn-1", completed_at=2))
    await session.sink.close()

    payloads = _payloads(path)
    assert [p["type"] for p in payloads] == ["task_started", "item_completed", "task_complete"]
    assert payloads[1] == {
        "type": "item_completed",
        "thread_id": "thread-1",
        "turn_id": "turn-1",
        "item": {"type": "Plan", "id": "plan-1", "text": "1. read\n2. write"},
        "started_at_ms": 5,
        "completed_at_ms": 9,
    }
    lines, _ = parse_lines(path.read_bytes())
    [turn] = build_turns(lines)
    assert [(i.type, getattr(i, "text", None)) for i in turn.items] == [
        ("plan", "1. read\n2. write")
    ]


async def test_extended_mode_is_the_writers_policy(tmp_path: Path, client: ResponsesClient) -> None:
    path = tmp_path / "rollout.jsonl"
    session = _session(path, client, extended=True)
    await session.emit("turn-1", ev.ErrorEvent(message="kept in extended mode"))
    await session.emit("turn-1", ev.WarningEvent(message="never kept"))
    await session.sink.close()
    assert [p["type"] for p in _payloads(path)] == ["error"]


@pytest.mark.parametrize("extended", [False, True])
def test_the_deltas_a_session_never_offers_are_never_persisted(extended: bool) -> None:
    # Session.emit skips these by class before building a rollout item; the policy agrees.
    deltas = [c for c in typing.get_args(ev.EventMsg) if issubclass(c, ev.StreamDelta)]
    assert len(deltas) == 3
    for cls in deltas:
        kind = typing.get_args(typing.get_type_hints(cls)["type"])[0]
        assert not is_persisted_event({"type": kind}, extended=extended), kind
