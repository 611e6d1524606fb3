"""The state tables (``store/thread_state.py``) on both stores: goals, sections and their
order, attachments, Git edits; what a reindex keeps, what a delete removes, and the
size/mtime check that makes ``list`` notice a rollout another program appended to."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.store._rollouts import BASE_TIME, stamp, write_rollout
from tests.support.postgres import pg_database_url
from tests.support.readonly import read_only_dir, tree_snapshot

from threadline.protocol.rollout import GitInfo
from threadline.store import ListQuery, LocalThreadStore, MemoryThreadStore, StoreError
from threadline.store.postgres import PostgresThreadStore
from threadline.store.thread_state import (
    PINNED_SECTION_ID,
    AttachmentRecord,
    GoalRecord,
    SectionRecord,
    ThreadState,
)


@pytest.fixture(params=["local", "memory", "postgres"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ThreadState]:
    store: LocalThreadStore | MemoryThreadStore | PostgresThreadStore
    if request.param == "local":
        store = LocalThreadStore(tmp_path / "h", backfill=False)
    elif request.param == "postgres":
        store = PostgresThreadStore(pg_database_url(), tmp_path / "h")
    else:
        store = MemoryThreadStore(tmp_path / "h")
    yield store.state
    if request.param == "postgres":
        await store.close()


def _goal(tid: str, **changes: object) -> GoalRecord:
    base = GoalRecord(tid, "g1", "do it", "active", None, 0, 0, 1000, 1000)
    return GoalRecord(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})  # type: ignore[arg-type]


async def test_goal_roundtrip_and_usage(state: ThreadState) -> None:
    assert await state.goal("t1") is None
    await state.put_goal(_goal("t1", token_budget=100))
    assert (await state.goal("t1")) == _goal("t1", token_budget=100)
    charged = await state.add_goal_usage("t1", tokens=60, seconds=3, now_ms=2000)
    assert charged is not None and (charged.tokens_used, charged.status) == (60, "active")
    spent = await state.add_goal_usage("t1", tokens=50, seconds=1, now_ms=3000)
    assert spent is not None and (spent.tokens_used, spent.status) == (110, "budgetLimited")
    # Only an active goal is charged.
    assert await state.add_goal_usage("t1", tokens=5, seconds=1, now_ms=4000) is None
    assert await state.delete_goal("t1") and not await state.delete_goal("t1")


async def test_sections_order_moves_and_delete(state: ThreadState) -> None:
    page = await state.sections(10, None)
    assert [s.id for s in page.items] == [PINNED_SECTION_ID] and page.next_cursor is None
    work = SectionRecord("0199aaaa-0000-7000-8000-000000000001", "Work", {"color": "red"})
    await state.put_section(work)
    for tid in ("a", "b", "c"):
        await state.move(tid, work.id, None, now_ms=1000)
    assert await state.section_members(work.id) == ["a", "b", "c"]
    await state.move("c", work.id, "a", now_ms=2000)
    assert await state.section_members(work.id) == ["c", "a", "b"]
    placed = await state.placement("c")
    assert placed is not None and placed.section == work and placed.entered_at_ms == 1000
    with pytest.raises(StoreError, match="is not in section"):
        await state.move("a", work.id, "zz", now_ms=3000)
    with pytest.raises(StoreError, match="does not exist"):
        await state.move("a", "nope", None, now_ms=3000)
    assert await state.section_members(work.id) == ["c", "a", "b"]  # a refused move changed nothing
    await state.move("a", PINNED_SECTION_ID, None, now_ms=4000)
    placed = await state.placement("a")
    assert placed is not None and placed.section.name == "Pinned" and placed.entered_at_ms == 4000
    await state.move("b", None, None, now_ms=5000)
    assert await state.placement("b") is None
    assert await state.delete_section(work.id) and not await state.delete_section(work.id)
    assert await state.placement("c") is None
    page = await state.sections(1, None)
    assert page.next_cursor is None


async def test_attachments_unique_per_thread_and_owners(state: ThreadState) -> None:
    one = AttachmentRecord("0199aaaa-0000-7000-8000-00000000000a", "t1", "pr", "k", {"x": "é"}, 5)
    stored, created = await state.add_attachment(one)
    assert created and stored == one
    again, created = await state.add_attachment(
        AttachmentRecord("0199aaaa-0000-7000-8000-00000000000b", "t1", "pr", "k", 2, 6)
    )
    assert not created and again == one
    await state.add_attachment(AttachmentRecord("0199aaaa-0000-7000-8000-00000000000c", "t2", "pr", "k", None, 7))
    owners = await state.attachment_owners("pr", "k", 1, None)
    assert owners.items == ["t1"] and owners.next_cursor == "t1"
    owners = await state.attachment_owners("pr", "k", 1, owners.next_cursor)
    assert owners.items == ["t2"] and owners.next_cursor is None
    assert await state.remove_attachment("t1", "pr", "k") == one
    assert await state.remove_attachment("t1", "pr", "k") is None
    forgotten = await state.forget("t2")
    assert [a.thread_id for a in forgotten] == ["t2"]
    assert (await state.attachment_owners("pr", "k", 10, None)).items == []


async def test_reindex_keeps_state_and_git_edits(tmp_path: Path) -> None:
    home = tmp_path / "h"
    tid, _path = await write_rollout(home, git=GitInfo(commit_hash="aaa", branch="main"))
    store = LocalThreadStore(home, backfill=False)
    await store.reindex()
    await store.state.put_goal(_goal(tid))
    await store.state.edit_git(tid, {"branch": "feature", "origin_url": None})
    record = await store.get(tid)
    assert record is not None
    await store.upsert(record)  # a row written again (e.g. by a loaded thread) keeps the edit
    record = await store.get(tid)
    assert record is not None and record.git is not None
    assert (record.git.sha, record.git.branch) == ("aaa", "feature")
    report = await store.reindex()
    assert report.indexed == 1
    rebuilt = await store.get(tid)
    assert rebuilt is not None and rebuilt.git is not None and rebuilt.git.branch == "feature"
    assert await store.state.goal(tid) == _goal(tid)
    await store.close()
    # A new process (a new store on the same home) sees the same.
    store2 = LocalThreadStore(home, backfill=False)
    assert await store2.state.goal(tid) == _goal(tid)
    again = await store2.get(tid)
    assert again is not None and again.git is not None and again.git.branch == "feature"
    await store2.close()
    # The state lives in state.sqlite itself, in its own tables.
    with sqlite3.connect(home / "state.sqlite") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"threads", "tl_goals", "tl_sections", "tl_attachments", "tl_git_edits"} <= tables


async def test_delete_thread_removes_files_row_and_state(tmp_path: Path) -> None:
    home = tmp_path / "h"
    tid, path = await write_rollout(home)
    other, other_path = await write_rollout(home, created=BASE_TIME + timedelta(hours=1))
    store = LocalThreadStore(home, backfill=False)
    await store.reindex()
    await store.state.put_goal(_goal(tid))
    await store.state.move(tid, PINNED_SECTION_ID, None, now_ms=1)
    assert await store.delete_thread(tid) == 1
    assert not path.exists() and other_path.exists()
    assert await store.get(tid) is None
    assert await store.state.goal(tid) is None and await store.state.placement(tid) is None
    assert await store.delete_thread(tid) == 0
    assert [r.id for r in (await store.list(ListQuery())).records] == [other]
    await store.close()


async def test_delete_does_not_follow_a_symlinked_rollout(tmp_path: Path) -> None:
    home = tmp_path / "h"
    tid, path = await write_rollout(home)
    outside = tmp_path / "precious.jsonl"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    store = LocalThreadStore(home, backfill=False)
    await store.delete_thread(tid)
    assert outside.exists()
    await store.close()


async def test_list_notices_a_rollout_appended_by_another_program(tmp_path: Path) -> None:
    home = tmp_path / "h"
    old, old_path = await write_rollout(home, text="old one")
    new, new_path = await write_rollout(home, created=BASE_TIME + timedelta(hours=1), text="new one")
    for path, when in ((old_path, BASE_TIME), (new_path, BASE_TIME + timedelta(hours=1))):
        os.utime(path, (when.timestamp(), when.timestamp()))
    store = LocalThreadStore(home, backfill=False)
    await store.reindex()
    query = ListQuery(sort_key="updated_at")
    first = await store.list(query)
    assert [r.id for r in first.records] == [new, old]
    # Codex appends a turn to the old thread's rollout behind our back.
    later = BASE_TIME + timedelta(days=3)
    with old_path.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"timestamp": stamp(later), "type": "event_msg",
                            "payload": {"type": "user_message", "message": "more", "images": []}}) + "\n")
    os.utime(old_path, (later.timestamp(), later.timestamp()))
    await asyncio.sleep(LocalThreadStore.RECHECK_INTERVAL_S)  # past the last look
    second = await store.list(query)
    assert [r.id for r in second.records] == [old, new]
    assert second.records[0].updated_at_ms == int(later.timestamp() * 1000)
    await store.close()


async def test_read_only_home_keeps_state_readable_and_refuses_changes(tmp_path: Path) -> None:
    home = tmp_path / "h"
    tid, _ = await write_rollout(home)
    async with LocalThreadStore(home, backfill=False) as store:
        await store.reindex()
        await store.state.put_goal(_goal(tid))
    before = tree_snapshot(home)
    with read_only_dir(home):
        async with LocalThreadStore(home, backfill=False) as store:
            assert store.index.read_only
            assert await store.state.goal(tid) == _goal(tid)  # copied with the index
            with pytest.raises(StoreError, match=r"cannot save thread state: .*not writable"):
                await store.state.put_goal(_goal(tid, objective="other"))
            with pytest.raises(StoreError, match="not writable"):
                await store.state.put_section(SectionRecord("s", "S"))
            assert await store.state.goal(tid) == _goal(tid)
            await store.list(ListQuery())  # the stat bookkeeping stays in memory
    assert tree_snapshot(home) == before


async def test_manager_thread_state_on_the_memory_store(tmp_path: Path) -> None:
    """Goals, revert (loaded and not) and delete through ``ThreadManager`` on the memory
    store: the same core code, nothing on disk."""
    from tests.e2e.conftest import write_mock_config
    from tests.support.mock_model import MockModel, text

    from threadline.core.config import load_config
    from threadline.core.errors import InvalidRequest
    from threadline.core.manager import StartOptions, ThreadManager
    from threadline.protocol.ops import UserTurn
    from threadline.protocol.v2.item import TextUserInput

    with MockModel() as mock:
        home = tmp_path / "home"
        write_mock_config(home, mock.base_url)
        manager = ThreadManager(load_config(home), store=MemoryThreadStore(home))
        svc = manager.thread_state
        try:
            thread = manager.start_thread(StartOptions(cwd=str(tmp_path)))
            for words in ("one", "two", "three"):
                mock.enqueue(text(f"re {words}"))
                thread.submit(UserTurn(items=[TextUserInput(text=words)]))
                assert (await thread.wait_turn()) is not None
            tid = thread.id
            goal = await svc.set_goal(tid, objective="g", status=None, token_budget=None, budget_given=False)
            assert goal.status == "active"
            ids = [t.id for t in thread.turns]
            assert await svc.revert_thread(tid, ids[2]) == (tid, 1)
            assert [t.id for t in thread.turns] == ids[:2]
            await manager.drain_index()
            await manager.unload(tid)
            assert await svc.revert_thread(tid, ids[1]) == (tid, 1)
            _record, turns = await manager.read_thread(tid)
            assert [t.id for t in turns] == ids[:1]
            _id, was_loaded, _atts = await svc.delete_thread(tid)
            assert not was_loaded
            assert await manager.store.get(tid) is None
            assert await manager.store.state.goal(tid) is None
            with pytest.raises(InvalidRequest, match="no rollout found"):
                await svc.delete_thread(tid)
            assert not list(home.glob("sessions/**/*.jsonl"))
        finally:
            await manager.shutdown()
