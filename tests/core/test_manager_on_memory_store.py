"""``ThreadManager`` over a second ``ThreadStore`` implementation: the in-memory store.

Nothing of core changes for it: start, a turn, rename, memory mode, unload, read,
resume, fork and rollback work on histories that never touch the file system — the
check that the store interface, not rollout files, is core's storage boundary."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import write_mock_config
from tests.support.mock_model import MockModel, text, usage

from threadline.core.config import load_config
from threadline.core.errors import InvalidRequest
from threadline.core.manager import StartOptions, ThreadManager
from threadline.protocol.ops import UserTurn
from threadline.protocol.v2.item import TextUserInput
from threadline.store import MemoryThreadStore
from threadline.store.base import ThreadRecord


@pytest.fixture
def mock_model() -> Iterator[MockModel]:
    with MockModel() as mock:
        yield mock


async def test_start_turn_rename_resume_fork_read_rollback_in_memory(
    mock_model: MockModel, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    store = MemoryThreadStore(home)
    manager = ThreadManager(load_config(home), store=store)
    try:
        mock_model.enqueue(text("First.", usage=usage(50, 0, 5, 0), item_id="msg_1"))
        thread = manager.start_thread(StartOptions(cwd=str(tmp_path)))
        thread.submit(UserTurn(items=[TextUserInput(text="remember me")]))
        turn = await thread.wait_turn()
        assert turn is not None and turn.status == "completed"
        await manager.set_thread_name(thread.id, "kept in memory")
        await manager.set_memory_mode(thread.id, "disabled")
        await manager.drain_index()
        thread_id = thread.id
        await manager.unload(thread_id)

        record, turns = await manager.read_thread(thread_id)
        assert record.name == "kept in memory" and record.preview == "remember me"
        assert [t.status for t in turns] == ["completed"]

        await manager.set_thread_name(thread_id, "renamed while unloaded")
        resumed = await manager.resume_thread(thread_id)
        assert resumed.name == "renamed while unloaded"
        assert resumed.memory_mode == "disabled"
        assert [t.id for t in resumed.turns] == [t.id for t in turns]

        mock_model.enqueue(text("Second.", usage=usage(80, 0, 5, 0), item_id="msg_2"))
        resumed.submit(UserTurn(items=[TextUserInput(text="and again")]))
        again = await resumed.wait_turn()
        assert again is not None and again.status == "completed"
        rolled = await manager.rollback_thread(thread_id, 1)
        assert len(rolled.turns) == 1

        fork = await manager.fork_thread(thread_id)
        assert fork.forked_from_id == thread_id and fork.id != thread_id
        assert len(fork.turns) == 1
        assert not list(home.glob("sessions/**/*.jsonl"))  # nothing on disk

        with pytest.raises(InvalidRequest, match="no rollout found"):
            await manager.resume_thread("00000000-0000-7000-8000-000000000000")
    finally:
        await manager.shutdown()


class _SlowIndexStore(MemoryThreadStore):
    """A memory store whose index writes can be held back, as a busy database pool holds
    back a connection: a row write built before a rename then lands after it."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.hold_after: int | None = None  # this many more writes pass, the next ones wait
        self.gate = asyncio.Event()
        self.named = asyncio.Event()

    async def upsert(self, record: ThreadRecord) -> None:
        if self.hold_after is not None:
            if self.hold_after > 0:
                self.hold_after -= 1
            else:
                await self.gate.wait()
        await super().upsert(record)

    async def set_name(self, thread_id: str, name: str | None) -> None:
        await super().set_name(thread_id, name)
        self.named.set()


async def test_a_rename_is_not_undone_by_an_index_write_already_in_flight(
    mock_model: MockModel, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    write_mock_config(home, mock_model.base_url)
    store = _SlowIndexStore(home)
    manager = ThreadManager(load_config(home), store=store)
    try:
        mock_model.enqueue(text("First.", item_id="msg_1"))
        mock_model.enqueue(text("Second.", item_id="msg_2"))
        thread = manager.start_thread(StartOptions(cwd=str(tmp_path)))
        thread.submit(UserTurn(items=[TextUserInput(text="one")]))
        assert (await thread.wait_turn()) is not None
        await manager.drain_index()
        # The second turn's first row write passes; the one its end schedules (built with
        # no name) waits, as for a busy pool connection.
        store.hold_after = 1
        thread.submit(UserTurn(items=[TextUserInput(text="two")]))
        assert (await thread.wait_turn()) is not None
        rename = asyncio.create_task(manager.set_thread_name(thread.id, "kept"))
        await asyncio.wait_for(store.named.wait(), 10)
        store.gate.set()  # the stale write lands after the rename's
        await asyncio.wait_for(rename, 10)
        record = await store.get(thread.id)
        assert record is not None and record.name == "kept"
        await manager.drain_index()
        record = await store.get(thread.id)
        assert record is not None and record.name == "kept"
    finally:
        await manager.shutdown()
