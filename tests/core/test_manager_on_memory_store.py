"""``ThreadManager`` over a second ``ThreadStore`` implementation: the in-memory store.

Nothing of core changes for it: start, a turn, rename, memory mode, unload, read,
resume, fork and rollback work on histories that never touch the file system — the
check that the store interface, not rollout files, is core's storage boundary."""

from __future__ import annotations

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
