"""A read-only home: the store lists and reads from an in-memory index (copied from
``state.sqlite`` when it can be read, else rebuilt from the rollouts) and writes nothing.

As root (CI) the home is a read-only bind mount of itself, which root cannot write
either (see ``tests/support/readonly.py``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from tests.store._rollouts import BASE_TIME, write_rollout
from tests.support.readonly import read_only_dir, tree_snapshot

from threadline.rollout.files import unwritable_reason
from threadline.store import ListQuery, LocalThreadStore
from threadline.store.index import INDEX_FILE


async def _home_with_threads(home: Path, count: int = 3) -> list[str]:
    ids = []
    for i in range(count):
        thread_id, _path = await write_rollout(
            home, created=BASE_TIME + timedelta(minutes=i), text=f"request {i}"
        )
        ids.append(thread_id)
    return ids


async def test_existing_index_is_copied_into_memory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ids = await _home_with_threads(home)
    async with LocalThreadStore(home) as store:
        await store.wait_ready()
        await store.set_name(ids[0], "named before the home became read-only")
    before = tree_snapshot(home)

    with read_only_dir(home):
        async with LocalThreadStore(home) as store:
            assert store.index.read_only
            assert not store.index.created  # the rows came from the file: no backfill
            assert await store.wait_ready() is None
            page = await store.list(ListQuery(limit=10))
            assert [r.id for r in page.records] == list(reversed(ids))
            record = await store.get(ids[0])
            assert record is not None
            assert record.name == "named before the home became read-only"
            assert record.preview == "request 0"
            # Writes land in the in-memory copy only.
            await store.note_activity(ids[1], updated_at_ms=10**13, preview="x")
            assert (await store.list(ListQuery(limit=1, sort_key="updated_at"))).records[0].id == ids[1]
        assert tree_snapshot(home) == before
    assert tree_snapshot(home) == before


async def test_missing_index_is_rebuilt_in_memory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ids = await _home_with_threads(home, count=4)
    assert not (home / INDEX_FILE).exists()

    with read_only_dir(home):
        async with LocalThreadStore(home) as store:
            assert store.index.read_only and store.index.created
            report = await asyncio.wait_for(store.wait_ready(), 10)
            assert report is not None and report.indexed == 4
            page = await store.list(ListQuery(limit=10))
            assert {r.id for r in page.records} == set(ids)
            assert (await store.get(ids[2])) is not None
            report = await store.reindex()
            assert report.indexed == 4
        assert not (home / INDEX_FILE).exists()


async def test_unreadable_index_file_is_rebuilt_in_memory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ids = await _home_with_threads(home, count=2)
    (home / INDEX_FILE).write_bytes(b"this is not a database" * 100)
    before = tree_snapshot(home)

    with read_only_dir(home):
        async with LocalThreadStore(home) as store:
            assert store.index.read_only and store.index.created
            await asyncio.wait_for(store.wait_ready(), 10)
            page = await store.list(ListQuery(limit=10))
            assert {r.id for r in page.records} == set(ids)
    assert tree_snapshot(home) == before  # the broken file is not set aside in a read-only home


async def test_index_with_uncheckpointed_wal_is_read(tmp_path: Path) -> None:
    """A writable server left rows in ``state.sqlite-wal``: the read-only copy sees them."""
    home = tmp_path / "home"
    ids = await _home_with_threads(home, count=2)
    store = LocalThreadStore(home)
    await store.open()
    await store.wait_ready()
    await store.set_name(ids[1], "only in the WAL")
    wal = home / f"{INDEX_FILE}-wal"
    assert wal.exists() and wal.stat().st_size > 0
    with read_only_dir(home):
        try:
            async with LocalThreadStore(home) as reader:
                assert reader.index.read_only
                record = await reader.get(ids[1], repair=False)
                assert record is not None and record.name == "only in the WAL"
        finally:
            # SQLite keeps the reader's descriptor until the writer's connection to the
            # same file closes; close it before the mount goes.
            await store.close()


def test_unwritable_reason_names_what_is_read_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sessions = home / "sessions"
    sessions.mkdir(parents=True)
    existing = sessions / "rollout-x.jsonl"
    existing.write_text("{}\n")
    new_file = sessions / "2026" / "03" / "01" / "rollout-y.jsonl"
    assert unwritable_reason(existing) is None
    assert unwritable_reason(new_file) is None
    with read_only_dir(home):
        assert unwritable_reason(existing) == f"`{existing}` is on a read-only file system"
        assert unwritable_reason(new_file) == f"`{sessions}` is on a read-only file system"
    # A file where a directory should be is not a read-only home: the writer reports it.
    (sessions / "2026").write_text("in the way")
    assert unwritable_reason(new_file) is None
