"""The history half of ``ThreadStore`` on the local store: create, locate, load, fork
source, one-off appends, writability — what ``core`` reaches rollouts through."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.store._rollouts import BASE_TIME, write_rollout
from tests.support.postgres import pg_database_url

from threadline.protocol.items import user_text_message
from threadline.protocol.rollout import EventMsg, SessionMeta, format_rollout_timestamp
from threadline.rollout.reader import read_rollout
from threadline.store import (
    LocalThreadStore,
    MemoryThreadStore,
    StoreError,
    ThreadStore,
    new_thread_id,
)
from threadline.store.postgres import PostgresThreadStore

MARKER = "<turn_aborted>test marker</turn_aborted>"


def _meta(thread_id: str, **extra: object) -> SessionMeta:
    return SessionMeta(
        id=thread_id,
        timestamp=format_rollout_timestamp(datetime.now(UTC)),
        cwd="/work/project",
        originator="threadline_tests",
        cli_version="0.1.0",
        source="cli",
        model_provider="openai",
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def store(tmp_path: Path) -> LocalThreadStore:
    return LocalThreadStore(tmp_path / "home", backfill=False)


@pytest.fixture(params=["sqlite", "memory", "postgres"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> ThreadStore:
    """Each store, for the tests that hold for all of them."""
    if request.param == "postgres":
        return PostgresThreadStore(pg_database_url(), tmp_path / "home")
    if request.param == "memory":
        return MemoryThreadStore(tmp_path / "home")
    return LocalThreadStore(tmp_path / "home", backfill=False)


def test_both_stores_are_thread_stores(tmp_path: Path) -> None:
    stores: list[ThreadStore] = [LocalThreadStore(tmp_path), MemoryThreadStore(tmp_path)]
    assert len(stores) == 2


async def test_created_thread_appears_with_its_first_user_message(any_store: ThreadStore) -> None:
    store = any_store
    thread_id = new_thread_id()
    sink = store.create_thread(_meta(thread_id), extended_history=False, fsync=False)
    assert not sink.materialized
    await sink.append([EventMsg(type="user_message", message="hi", images=[])])
    await sink.flush()
    assert sink.materialized and sink.path is not None
    assert sink.path.name.endswith(f"-{thread_id}.jsonl")
    await sink.close()

    ref = await store.locate(thread_id)
    assert (ref.thread_id, ref.path, ref.archived) == (thread_id, sink.path, False)
    stored = await store.load_history(ref)
    assert stored.thread_id == thread_id
    assert stored.recon.preview == "hi"
    assert not await store.changed_since(stored)
    await store.append_items(ref, [EventMsg(type="thread_name_updated", thread_id=thread_id,
                                            thread_name="named")], durable=True)
    assert await store.changed_since(stored)
    assert (await store.load_history(ref)).recon.name == "named"
    assert (await store.read_meta(ref)).id == thread_id
    await store.close()


async def test_locate_refuses_what_is_not_a_rollout(store: LocalThreadStore, tmp_path: Path) -> None:
    home = store.home
    missing = new_thread_id()
    with pytest.raises(StoreError, match=f"no rollout found for thread id {missing}"):
        await store.locate(missing)
    with pytest.raises(StoreError, match="must be absolute"):
        await store.locate(path="relative.jsonl")
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_text("")
    with pytest.raises(StoreError, match="outside the sessions directories"):
        await store.locate(path=str(outside))
    thread_id, path = await write_rollout(home, created=BASE_TIME)
    link = path.with_name(path.name.replace(thread_id, new_thread_id()))
    os.symlink(path, link)
    with pytest.raises(StoreError, match="symbolic link"):
        await store.locate(path=str(link))
    ref = await store.locate(path=str(path))
    assert ref.thread_id is None and ref.path == path
    await store.close()


async def test_fork_source_marks_an_open_turn_and_copies_the_rest(store: LocalThreadStore) -> None:
    thread_id, path = await write_rollout(store.home, created=BASE_TIME)
    stored = await store.load_history(await store.locate(thread_id))
    clean = await store.fork_source(stored, interrupted_marker=MARKER)
    assert not clean.marked and len(clean.lines) == len(stored.lines)

    with path.open("a") as handle:  # a turn that never finished
        handle.write('{"timestamp":"2026-03-01T12:00:01.000Z","type":"event_msg",'
                     '"payload":{"type":"task_started","turn_id":"open-turn"}}\n')
    stored = await store.load_history(await store.locate(thread_id))
    marked = await store.fork_source(stored, interrupted_marker=MARKER)
    assert marked.marked
    assert marked.lines[-1].payload["type"] == "turn_aborted"
    assert user_text_message(MARKER) in marked.recon.history

    new_id = new_thread_id()
    sink = await store.fork_thread(_meta(new_id, forked_from_id=thread_id), marked,
                                   extended_history=False, fsync=False)
    assert sink.materialized and sink.path is not None
    await sink.close()
    copied = read_rollout(sink.path)
    assert copied.meta is not None and copied.meta.forked_from_id == thread_id
    assert len(copied.lines) == len(marked.lines) + 1
    await store.close()


async def test_writable_problem_names_a_read_only_directory(store: LocalThreadStore) -> None:
    assert store.writable_problem() is None
    thread_id, _ = await write_rollout(store.home, created=BASE_TIME)
    ref = await store.locate(thread_id)
    assert store.writable_problem(ref) is None
    assert store.writable_problem(ref, "archive") is None
    if os.geteuid() == 0:
        return  # root writes through permission bits; the read-only mount case is in tests/e2e
    assert ref.path is not None
    ref.path.parent.chmod(0o500)
    try:
        problem = store.writable_problem(ref, "archive")
        assert problem is not None and str(ref.path.parent) in problem
    finally:
        ref.path.parent.chmod(0o700)
    await store.close()
