"""thread/list semantics of both stores: keyset paging, both sort keys and directions,
stability under inserts, filters, limit clamp, bad cursors. The SQLite index is real."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support.postgres import pg_database_url

from threadline.store import (
    InvalidCursor,
    ListQuery,
    LocalThreadStore,
    MemoryThreadStore,
    ThreadRecord,
    ThreadStore,
)
from threadline.store.index import SCHEMA_VERSION
from threadline.store.postgres import PostgresThreadStore

BASE_MS = 1_780_000_000_000


def record(n: int, **changes: object) -> ThreadRecord:
    thread_id = f"01900000-0000-7000-8000-{n:012d}"
    base = ThreadRecord(
        id=thread_id,
        rollout_path=Path(f"/h/sessions/2026/01/01/rollout-2026-01-01T00-00-00-{thread_id}.jsonl"),
        created_at_ms=BASE_MS + n * 1000,
        updated_at_ms=BASE_MS + 10_000_000 - n * 7000,  # reverse order of creation
        source="cli",
        model_provider="openai",
        cwd="/work/a",
        preview=f"message {n}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "memory", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ThreadStore]:
    if request.param == "sqlite":
        local = LocalThreadStore(tmp_path / "home")
        await local.open()
        yield local
        await local.close()
    elif request.param == "postgres":
        async with PostgresThreadStore(pg_database_url(), tmp_path / "home") as pg:
            yield pg
    else:
        yield MemoryThreadStore(tmp_path / "home")


async def fill(store: ThreadStore, count: int, **changes: object) -> list[ThreadRecord]:
    records = [record(n, **changes) for n in range(count)]
    for r in records:
        await store.upsert(r)
    return records


async def walk(store: ThreadStore, query: ListQuery) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = query.cursor
    for _ in range(100):
        page = await store.list(replace(query, cursor=cursor))
        pages.append([r.id for r in page.records])
        cursor = page.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("paging did not terminate")


@pytest.mark.parametrize("sort_key", ["created_at", "updated_at"])
@pytest.mark.parametrize("direction", ["desc", "asc"])
async def test_pages_cover_everything_in_order(store: ThreadStore, sort_key: str, direction: str) -> None:
    records = await fill(store, 23)
    key = (lambda r: r.created_at_ms) if sort_key == "created_at" else (lambda r: r.updated_at_ms)
    expected = [r.id for r in sorted(records, key=lambda r: (key(r), r.id), reverse=direction == "desc")]
    pages = await walk(store, ListQuery(limit=5, sort_key=sort_key, sort_direction=direction))  # type: ignore[arg-type]
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for p in pages for i in p] == expected


async def test_ties_on_sort_value_are_broken_by_id(store: ThreadStore) -> None:
    await fill(store, 9, created_at_ms=BASE_MS)  # all created in the same millisecond
    pages = await walk(store, ListQuery(limit=2))
    flat = [i for p in pages for i in p]
    assert flat == sorted(flat, reverse=True)
    assert len(set(flat)) == 9


async def test_paging_is_stable_while_threads_are_inserted(store: ThreadStore) -> None:
    originals = await fill(store, 20)
    seen: list[str] = []
    cursor: str | None = None
    extra = 1000
    for _ in range(20):
        page = await store.list(ListQuery(limit=6, cursor=cursor))
        seen.extend(r.id for r in page.records)
        # New threads arrive between pages: newer than everything, and one in the middle of
        # the already-seen range; neither may shift or repeat what the next page returns.
        await store.upsert(record(extra, created_at_ms=BASE_MS + 10**9))
        await store.upsert(record(extra + 1, created_at_ms=BASE_MS + 19_500))
        extra += 2
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert [r.id for r in sorted(originals, key=lambda r: r.created_at_ms, reverse=True)] == [
        i for i in seen if int(i[-12:]) < 1000
    ]


async def test_backwards_cursor_walks_back_inclusively(store: ThreadStore) -> None:
    await fill(store, 10)
    first = await store.list(ListQuery(limit=4))
    second = await store.list(ListQuery(limit=4, cursor=first.next_cursor))
    assert second.backwards_cursor is not None
    back = await store.list(ListQuery(limit=10, cursor=second.backwards_cursor, sort_direction="asc"))
    # Starts at the second page's first row (same timestamp, inclusive) and goes up.
    assert back.records[0].id == second.records[0].id
    assert [r.id for r in back.records[1:5]] == list(reversed([r.id for r in first.records]))


async def test_filters(store: ThreadStore) -> None:
    await store.upsert(record(1, model_provider="openai", source="cli", cwd="/work/a"))
    await store.upsert(record(2, model_provider="ollama", source="vscode", cwd="/work/b/"))
    await store.upsert(record(3, model_provider="ollama", source='{"subagent":"review"}', cwd="/work/b"))
    await store.upsert(record(4, model_provider="openai", source="exec", name="Grüße Report",
                              preview="anything"))
    await store.upsert(record(5, archived=True, archived_at_ms=BASE_MS, preview="old stuff"))
    await store.upsert(record(6, source="mcp", preview="Fix the ÜBER bug"))

    async def ids(**kw: object) -> list[int]:
        page = await store.list(ListQuery(limit=100, **kw))  # type: ignore[arg-type]
        return sorted(int(r.id[-12:]) for r in page.records)

    assert await ids() == [1, 2, 3, 4, 6]
    assert await ids(archived=True) == [5]
    assert await ids(model_providers=("ollama",)) == [2, 3]
    assert await ids(model_providers=()) == [1, 2, 3, 4, 6]
    assert await ids(source_kinds=("cli", "vscode")) == [1, 2]
    assert await ids(source_kinds=("subAgentReview",)) == [3]
    assert await ids(source_kinds=("appServer", "exec")) == [4, 6]
    assert await ids(cwds=("/work/b",)) == [2, 3]
    assert await ids(cwds=("/work/a/", "/work/b")) == [1, 2, 3, 4, 6]
    assert await ids(cwds=("/elsewhere",)) == []
    assert await ids(search_term="GRÜSSE") == [4]  # Unicode casefold: ß matches ss
    assert await ids(search_term="GRÜ") == [4]
    assert await ids(search_term="über") == [6]
    assert await ids(search_term="MESSAGE 2") == [2]
    assert await ids(search_term="   ") == [1, 2, 3, 4, 6]
    assert await ids(excluded_ids=(record(1).id, record(4).id)) == [2, 3, 6]
    assert await ids(model_providers=("openai",), source_kinds=("cli",), cwds=("/work/a",)) == [1]


async def test_excluded_ids_apply_before_the_limit(store: ThreadStore) -> None:
    records = await fill(store, 6)
    newest = sorted(records, key=lambda r: r.created_at_ms, reverse=True)
    page = await store.list(ListQuery(limit=2, excluded_ids=(newest[0].id, newest[1].id)))
    assert [r.id for r in page.records] == [newest[2].id, newest[3].id]


async def test_limit_is_clamped(store: ThreadStore) -> None:
    await fill(store, 130)
    assert len((await store.list(ListQuery(limit=0))).records) == 1
    assert len((await store.list(ListQuery(limit=-5))).records) == 1
    assert len((await store.list(ListQuery(limit=1000))).records) == 100
    assert len((await store.list(ListQuery())).records) == 25


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "", "2026-13-01T00:00:00.000Z|abc", "2026-01-01T00:00:00.000Z|", "|id",
     "2026-01-01T00:00:00.000Z|not an id!", "x" * 400],
)
async def test_bad_cursor_is_rejected(store: ThreadStore, cursor: str) -> None:
    await fill(store, 3)
    if cursor == "":
        # An empty cursor means "first page", not an error.
        assert len((await store.list(ListQuery(cursor=cursor))).records) == 3
        return
    with pytest.raises(InvalidCursor):
        await store.list(ListQuery(cursor=cursor))


async def test_codex_style_cursor_is_accepted(store: ThreadStore) -> None:
    records = await fill(store, 5)
    newest_first = sorted(records, key=lambda r: r.created_at_ms, reverse=True)
    anchor = newest_first[1]
    from threadline.store.cursor import format_ms

    seconds = format_ms(anchor.created_at_ms)[:19] + "Z"  # Codex writes whole seconds
    page = await store.list(ListQuery(cursor=f"{seconds}|{anchor.id}"))
    assert [r.id for r in page.records] == [r.id for r in newest_first[2:]]


async def test_note_activity_moves_thread_up_by_updated_at(store: ThreadStore) -> None:
    records = await fill(store, 5)
    oldest_update = min(records, key=lambda r: r.updated_at_ms)
    await store.note_activity(oldest_update.id, updated_at_ms=BASE_MS + 10**10, tokens_used=99,
                              preview="ignored because a preview exists", model="m2")
    page = await store.list(ListQuery(limit=1, sort_key="updated_at"))
    top = page.records[0]
    assert top.id == oldest_update.id
    assert top.tokens_used == 99 and top.model == "m2"
    assert top.preview == oldest_update.preview
    # An older timestamp never moves a thread back.
    await store.note_activity(oldest_update.id, updated_at_ms=BASE_MS)
    got = await store.get(oldest_update.id, repair=False)
    assert got is not None and got.updated_at_ms == BASE_MS + 10**10


async def test_note_activity_fills_an_empty_preview(store: ThreadStore) -> None:
    await store.upsert(record(1, preview=""))
    await store.note_activity(record(1).id, updated_at_ms=BASE_MS, preview="first words")
    got = await store.get(record(1).id, repair=False)
    assert got is not None and got.preview == "first words"


# --- SQLite specifics -----------------------------------------------------------------------


async def test_query_plans_use_the_keyset_indexes(tmp_path: Path) -> None:
    async with LocalThreadStore(tmp_path) as store:
        for key, index in (("created_at", "threads_by_created"), ("updated_at", "threads_by_updated")):
            for direction in ("desc", "asc"):
                plan = " ".join(await store.index.explain(
                    ListQuery(sort_key=key, sort_direction=direction,  # type: ignore[arg-type]
                              cursor="2026-01-01T00:00:00.000Z|abc")))
                assert index in plan, plan
                assert "TEMP B-TREE" not in plan, plan


async def test_database_is_wal_and_versioned(tmp_path: Path) -> None:
    async with LocalThreadStore(tmp_path) as store:
        await store.upsert(record(1))
    conn = sqlite3.connect(tmp_path / "state.sqlite")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT COUNT(*) FROM threads").fetchone()[0] == 1
    finally:
        conn.close()
    # Reopening keeps the row (no rebuild, no duplicate migration).
    async with LocalThreadStore(tmp_path) as store:
        assert not store.index.created
        assert await store.get(record(1).id, repair=False) is not None


async def test_newer_or_corrupt_database_is_rebuilt(tmp_path: Path) -> None:
    async with LocalThreadStore(tmp_path) as store:
        await store.upsert(record(1))
    conn = sqlite3.connect(tmp_path / "state.sqlite")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    async with LocalThreadStore(tmp_path) as store:
        assert store.index.created
        assert (await store.list(ListQuery())).records == []
    (tmp_path / "state.sqlite").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"state.sqlite{suffix}").unlink(missing_ok=True)
    async with LocalThreadStore(tmp_path) as store:
        await store.upsert(record(2))
        assert [r.id for r in (await store.list(ListQuery())).records] == [record(2).id]
    assert list(tmp_path.glob("state.sqlite.broken-*"))


async def test_list_does_not_block_the_event_loop(tmp_path: Path) -> None:
    async with LocalThreadStore(tmp_path) as store:
        await fill(store, 50)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        for _ in range(20):
            await store.list(ListQuery(limit=100, search_term="message"))
        task.cancel()
        assert ticks > 20


async def test_preview_is_bounded(store: ThreadStore) -> None:
    from threadline.store import PREVIEW_MAX_CHARS

    await store.upsert(record(1, preview="p" * 5000))
    await store.upsert(record(2, preview=""))
    await store.note_activity(record(2).id, updated_at_ms=BASE_MS, preview="q" * 5000)
    for n in (1, 2):
        got = await store.get(record(n).id, repair=False)
        assert got is not None and len(got.preview) == PREVIEW_MAX_CHARS


async def test_live_paths_stay_one_cached_list_until_rows_come_go_or_move(tmp_path: Path) -> None:
    """``ThreadIndex.live_paths`` (what the append check walks): the same list while rows
    only change their other columns; a new list once a row is added, moved, archived or
    removed here, or once another connection commits."""
    from threadline.store.index import ThreadIndex

    index = ThreadIndex(tmp_path / "state.sqlite")
    await index.open()
    try:
        one, two = record(1), record(2)
        await index.upsert(one)
        first = await index.live_paths()
        assert [r[0] for r in first] == [one.id]
        await index.update(one.id, name="renamed", updated_at_ms=BASE_MS + 99)
        await index.upsert(replace(one, preview="other words"))
        assert await index.live_paths() is first
        await index.upsert(two)
        added = await index.live_paths()
        assert sorted(r[0] for r in added) == sorted([one.id, two.id])
        moved_to = Path("/h/sessions/2026/02/02") / one.rollout_path.name
        await index.upsert(replace(one, rollout_path=moved_to))
        moved = await index.live_paths()
        assert moved is not added and (one.id, str(moved_to)) in {(r[0], r[1]) for r in moved}
        await index.update(two.id, archived=1)
        archived = await index.live_paths()
        assert [r[0] for r in archived] == [one.id]
        other = sqlite3.connect(tmp_path / "state.sqlite", isolation_level=None)
        try:
            other.execute("DELETE FROM threads WHERE id = ?", (one.id,))
        finally:
            other.close()
        assert await index.live_paths() == []
        await index.upsert(two)
        await index.delete([two.id])
        assert await index.live_paths() == []
    finally:
        await index.close()
