"""store.sql_worker: a short read runs on the caller's thread only when the worker is idle,
a long one is interrupted and handed to the worker, and nothing overtakes earlier work."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from threadline.store.sql_worker import INLINE_STEPS, SqlWorker


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
    return conn


def test_idle_worker_short_read_runs_on_the_calling_thread(tmp_path: Path) -> None:
    async def main() -> tuple[int, int, int]:
        worker = SqlWorker("test-sql")
        conn = _connect(tmp_path / "db.sqlite")
        try:
            await worker.run(lambda: conn.execute("INSERT INTO t VALUES (1)"))
            assert worker.idle

            def read() -> tuple[int, int]:
                return threading.get_ident(), conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]

            where, count = await worker.read(conn, read)
            worker_thread = await worker.run(threading.get_ident)
            return where, count, worker_thread
        finally:
            worker.shutdown()
            conn.close()

    where, count, worker_thread = asyncio.run(main())
    assert where == threading.get_ident()
    assert where != worker_thread
    assert count == 1


def test_read_waits_behind_submitted_work(tmp_path: Path) -> None:
    """A read while the worker has work goes after it, on the worker, and sees its change."""

    async def main() -> tuple[int, bool, int]:
        worker = SqlWorker("test-sql")
        conn = _connect(tmp_path / "db.sqlite")
        gate = threading.Event()
        try:
            def slow_write() -> None:
                gate.wait(5)
                conn.execute("INSERT INTO t VALUES (7)")

            write = asyncio.ensure_future(worker.run(slow_write))
            await asyncio.sleep(0)
            busy = not worker.idle

            def read() -> tuple[int, int]:
                return threading.get_ident(), conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]

            reading = asyncio.ensure_future(worker.read(conn, read))
            await asyncio.sleep(0.05)
            gate.set()
            await write
            where, count = await reading
            return where, busy, count
        finally:
            worker.shutdown()
            conn.close()

    where, busy, count = asyncio.run(main())
    assert busy
    assert where != threading.get_ident()
    assert count == 1


def test_long_read_is_handed_to_the_worker_with_the_same_result(tmp_path: Path) -> None:
    sql = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
        "SELECT COUNT(*), SUM(x) FROM c"
    )
    rows = INLINE_STEPS * 2

    async def main() -> tuple[int, tuple[int, int], bool]:
        worker = SqlWorker("test-sql")
        conn = _connect(tmp_path / "db.sqlite")
        try:
            def read() -> tuple[int, tuple[int, int]]:
                return threading.get_ident(), conn.execute(sql, (rows,)).fetchone()

            where, result = await worker.read(conn, read)
            # The handler is gone afterwards: a long statement on the loop is not cut short.
            cleared = conn.execute(sql, (rows,)).fetchone() == result
            return where, result, cleared
        finally:
            worker.shutdown()
            conn.close()

    where, result, cleared = asyncio.run(main())
    assert where != threading.get_ident()
    assert result == (rows, rows * (rows + 1) // 2)
    assert cleared


def test_a_real_error_of_an_inline_read_is_raised(tmp_path: Path) -> None:
    async def main() -> None:
        worker = SqlWorker("test-sql")
        conn = _connect(tmp_path / "db.sqlite")
        try:
            with pytest.raises(sqlite3.OperationalError, match="no such table"):
                await worker.read(conn, lambda: conn.execute("SELECT * FROM missing").fetchall())
        finally:
            worker.shutdown()
            conn.close()

    asyncio.run(main())


def test_work_cancelled_before_it_ran_leaves_the_worker_idle(tmp_path: Path) -> None:
    async def main() -> tuple[bool, bool]:
        worker = SqlWorker("test-sql")
        gate = threading.Event()
        try:
            first = asyncio.ensure_future(worker.run(lambda: gate.wait(5)))
            second = asyncio.ensure_future(worker.run(lambda: None))
            await asyncio.sleep(0.01)
            second.cancel()  # still queued behind the first: never runs
            await asyncio.sleep(0.01)
            gate.set()
            await first
            with pytest.raises(asyncio.CancelledError):
                await second
            await asyncio.sleep(0.01)
            after = worker.idle
            return after, second.cancelled()
        finally:
            worker.shutdown()

    idle, cancelled = asyncio.run(main())
    assert cancelled
    assert idle


def test_index_pages_inline_and_on_the_worker_are_the_same(tmp_path: Path) -> None:
    """``ThreadIndex.list``/``get`` and the state tables' placements give the same answer
    run inline (worker idle) as queued behind other work (worker busy)."""
    from dataclasses import replace

    from threadline.store import ListQuery, LocalThreadStore, ThreadRecord
    from threadline.store.thread_state import SectionRecord

    def record(n: int) -> ThreadRecord:
        thread_id = f"01900000-0000-7000-8000-{n:012d}"
        return ThreadRecord(
            id=thread_id,
            rollout_path=Path(f"/h/sessions/rollout-2026-01-01T00-00-00-{thread_id}.jsonl"),
            created_at_ms=1_780_000_000_000 + n * 1000,
            updated_at_ms=1_780_000_000_000 + n * 500,
            source="cli" if n % 3 else "exec",
            model_provider="openai",
            cwd=f"/work/{n % 4}",
            preview=f"message {n} {'needle' if n % 7 == 0 else ''}",
        )

    queries = [
        ListQuery(limit=25),
        ListQuery(limit=100, sort_key="updated_at", sort_direction="asc"),
        ListQuery(limit=10, source_kinds=("cli",), cwds=("/work/1",)),
        ListQuery(limit=25, search_term="NEEDLE"),
        ListQuery(limit=25, model_providers=("nobody",)),  # scans every row
    ]

    async def main() -> None:
        store = LocalThreadStore(tmp_path / "home", backfill=False)
        await store.open()
        try:
            records = [record(n) for n in range(3000)]
            await store.index.upsert_many(records)
            await store.index.upsert(replace(records[5], name="renamed"))
            state = store.state
            await state.put_section(SectionRecord("s1", "Work", {"color": "red"}))
            await state.move(records[2999].id, "s1", None, now_ms=2_000)
            ids = [r.id for r in records[-30:]]
            idle = [await store.index.list(q) for q in queries]
            idle_get = await store.index.get(records[5].id)
            idle_places = await state.placements(ids)
            gate = threading.Event()
            blocker = asyncio.ensure_future(store.index.run_sql(lambda db: gate.wait(5)))
            await asyncio.sleep(0)
            busy = [asyncio.ensure_future(store.index.list(q)) for q in queries]
            busy_get = asyncio.ensure_future(store.index.get(records[5].id))
            busy_places = asyncio.ensure_future(state.placements(ids))
            await asyncio.sleep(0.01)
            gate.set()
            await blocker
            assert [await b for b in busy] == idle
            assert await busy_get == idle_get
            assert await busy_places == idle_places
            assert idle_get is not None and idle_get.name == "renamed"
            assert list(idle_places) == [records[2999].id]
            assert [len(p.records) for p in idle] == [25, 100, 10, 25, 0]
        finally:
            await store.close()

    asyncio.run(main())


def test_cached_read_is_reused_only_while_the_database_is_unchanged(tmp_path: Path) -> None:
    async def main() -> None:
        worker = SqlWorker("test-sql")
        path = tmp_path / "db.sqlite"
        conn = _connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        other = sqlite3.connect(path, isolation_level=None)  # another process's connection
        calls = 0

        def count() -> list[int]:
            nonlocal calls
            calls += 1
            return [conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]]

        try:
            first = await worker.read_cached(conn, "count", count)
            again = await worker.read_cached(conn, "count", count)
            assert again is first and first == [0] and calls == 1
            # A change of this connection (always handed to the worker) is seen.
            await worker.run(lambda: conn.execute("INSERT INTO t VALUES (1)"))
            assert await worker.read_cached(conn, "count", count) == [1]
            assert calls == 2
            # So is another connection's commit (PRAGMA data_version moves).
            other.execute("INSERT INTO t VALUES (2)")
            assert await worker.read_cached(conn, "count", count) == [2]
            assert calls == 3
            # Another key is its own read.
            assert await worker.read_cached(conn, "other", count) == [2]
            assert calls == 4
            assert await worker.read_cached(conn, "count", count) == [2]
            assert calls == 4
        finally:
            worker.shutdown()
            other.close()
            conn.close()

    asyncio.run(main())


def test_a_write_handed_over_as_changing_no_read_keeps_the_cached_answer(
    tmp_path: Path,
) -> None:
    """``run(..., changes_reads=False)`` (the rollout stats' write) leaves a cached answer
    valid; any other write does not."""

    async def main() -> None:
        worker = SqlWorker("test-sql")
        conn = _connect(tmp_path / "db.sqlite")
        calls = 0

        def rows() -> list[tuple[int]]:
            nonlocal calls
            calls += 1
            return conn.execute("SELECT n FROM t ORDER BY n").fetchall()

        try:
            first = await worker.read_cached(conn, "rows", rows)
            await worker.run(lambda: conn.execute("CREATE TABLE u (x)"), changes_reads=False)
            assert await worker.read_cached(conn, "rows", rows) is first and calls == 1
            await worker.run(lambda: conn.execute("INSERT INTO t VALUES (3)"))
            assert await worker.read_cached(conn, "rows", rows) == [(3,)] and calls == 2
        finally:
            worker.shutdown()
            conn.close()

    asyncio.run(main())


def test_a_new_index_is_wal_and_synced_normally_after_its_unsynced_creation(
    tmp_path: Path,
) -> None:
    """The file is made without fsyncs (store/index.py ``_connect(new=True)``); what follows
    is synced as before, and the file reopens with its schema and rows."""
    from threadline.store.index import SCHEMA_VERSION, ThreadIndex

    async def settings(index: ThreadIndex) -> tuple[str, int, int, int]:
        return await index.run_sql(lambda db: (
            db.execute("PRAGMA journal_mode").fetchone()[0],
            db.execute("PRAGMA synchronous").fetchone()[0],
            db.execute("PRAGMA user_version").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM threads").fetchone()[0],
        ))

    async def main() -> None:
        path = tmp_path / "home" / "state.sqlite"
        first = ThreadIndex(path)
        await first.open()
        assert first.created
        assert await settings(first) == ("wal", 1, SCHEMA_VERSION, 0)
        await first.run_sql(lambda db: db.execute(
            "INSERT INTO threads (id, rollout_path, created_at_ms, updated_at_ms, source, "
            "source_kind, model_provider, cwd) VALUES ('a', '/r', 1, 1, 'cli', 'cli', 'p', '/')"
        ))
        await first.close()
        again = ThreadIndex(path)
        await again.open()
        try:
            assert not again.created
            assert await settings(again) == ("wal", 1, SCHEMA_VERSION, 1)
        finally:
            await again.close()
        # A file that is not a database is set aside and made anew, the same way.
        path.unlink()
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        path.write_bytes(b"not a database" * 100)
        broken = ThreadIndex(path)
        await broken.open()
        try:
            assert broken.created
            assert await settings(broken) == ("wal", 1, SCHEMA_VERSION, 0)
            assert list(path.parent.glob("state.sqlite.broken-*"))
        finally:
            await broken.close()

    asyncio.run(main())
