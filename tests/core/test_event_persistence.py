"""Which events a live session writes: offered once by ``Session.emit``, decided by the
rollout policy where the writer makes lines (plan items included, in Codex's shape); the
session's sink is a new thread of the local store (a rollout file) and of the PostgreSQL
store (the database's lines)."""

from __future__ import annotations

import json
import time
import typing
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.stores import StoreUnderTest, both_stores, store_for

from threadline.core.session import Session
from threadline.core.settings import ThreadSettings
from threadline.model.responses import ResponsesClient
from threadline.protocol import events as ev
from threadline.protocol.rollout import SessionMeta
from threadline.protocol.v2.item import AgentMessageThreadItem, PlanThreadItem
from threadline.rollout.policy import is_persisted_event
from threadline.rollout.reader import parse_lines
from threadline.rollout.turns import build_turns
from threadline.store.base import ThreadSink, ThreadStore
from threadline.store.local import LocalThreadStore
from threadline.tools.registry import ToolRegistry

THREAD_UUID = "019a0000-0000-7000-8000-00000000e7e1"


@pytest.fixture
def store(request: pytest.FixtureRequest) -> StoreUnderTest:
    return store_for(request)


@pytest.fixture
async def thread_store(store: StoreUnderTest, tmp_path: Path) -> AsyncIterator[ThreadStore]:
    """The store under test itself, in this process (home: ``tmp_path/"home"``)."""
    opened: ThreadStore
    if store.postgres:
        from threadline.store.postgres import PostgresThreadStore

        assert store.url is not None
        opened = PostgresThreadStore(store.url, tmp_path / "home")
    else:
        opened = LocalThreadStore(tmp_path / "home", backfill=False)
    yield opened
    await opened.close()


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


async def _sink(thread_store: ThreadStore, cwd: Path, *, extended: bool) -> ThreadSink:
    meta = SessionMeta(
        id=THREAD_UUID, timestamp="2026-11-20T10:00:00.000Z", cwd=str(cwd),
        originator="tests", cli_version="0.0.0", source="cli", model_provider="mock",
    )
    sink = thread_store.create_thread(meta, extended_history=extended, fsync=False)
    await sink.materialize()
    return sink


async def _session(
    thread_store: ThreadStore, cwd: Path, client: ResponsesClient, *, extended: bool = False
) -> Session:
    return Session(
        thread_id="thread-1",
        settings=ThreadSettings(
            model="mock-model",
            model_provider="mock",
            cwd=str(cwd),
            persist_extended_history=extended,
        ),
        model=client,
        sink=await _sink(thread_store, cwd, extended=extended),
        tools=ToolRegistry([]),
        history=[],
        token_info=None,
        turns=[],
        preview="",
        updated_at=time.time(),
    )


def _raw(store: StoreUnderTest, session: Session) -> list[str]:
    """The session's lines after its ``session_meta`` (what the session wrote)."""
    assert session.sink.path is not None
    return [
        line for line in store.raw_lines(session.sink.path)
        if json.loads(line)["type"] != "session_meta"
    ]


def _payloads(store: StoreUnderTest, session: Session) -> list[dict[str, typing.Any]]:
    return [json.loads(line)["payload"] for line in _raw(store, session)]


@both_stores
async def test_plan_items_are_written_as_codex_writes_them(
    tmp_path: Path, client: ResponsesClient, store: StoreUnderTest, thread_store: ThreadStore
) -> None:
    session = await _session(thread_store, tmp_path, client)
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

    payloads = _payloads(store, session)
    assert [p["type"] for p in payloads] == ["task_started", "item_completed", "task_complete"]
    assert payloads[1] == {
        "type": "item_completed",
        "thread_id": "thread-1",
        "turn_id": "turn-1",
        "item": {"type": "Plan", "id": "plan-1", "text": "1. read\n2. write"},
        "started_at_ms": 5,
        "completed_at_ms": 9,
    }
    lines, _ = parse_lines("\n".join(_raw(store, session)).encode())
    [turn] = build_turns(lines)
    assert [(i.type, getattr(i, "text", None)) for i in turn.items] == [
        ("plan", "1. read\n2. write")
    ]


@both_stores
async def test_extended_mode_is_the_writers_policy(
    tmp_path: Path, client: ResponsesClient, store: StoreUnderTest, thread_store: ThreadStore
) -> None:
    session = await _session(thread_store, tmp_path, client, extended=True)
    await session.emit("turn-1", ev.ErrorEvent(message="kept in extended mode"))
    await session.emit("turn-1", ev.WarningEvent(message="never kept"))
    await session.sink.close()
    assert [p["type"] for p in _payloads(store, session)] == ["error"]


@pytest.mark.parametrize("extended", [False, True])
def test_the_deltas_a_session_never_offers_are_never_persisted(extended: bool) -> None:
    # Session.emit skips these by class before building a rollout item; the policy agrees.
    deltas = [c for c in typing.get_args(ev.EventMsg) if issubclass(c, ev.StreamDelta)]
    assert len(deltas) == 3
    for cls in deltas:
        kind = typing.get_args(typing.get_type_hints(cls)["type"])[0]
        assert not is_persisted_event({"type": kind}, extended=extended), kind
