"""The SQLite index behind ``thread/list``: ``$THREADLINE_HOME/state.sqlite``.

One row per thread (the columns of :class:`ThreadRecord`, plus the derived
``source_kind``). The file is WAL-journaled; the schema is versioned with
``PRAGMA user_version`` and migrated forward in numbered steps. The index is
only a cache of the rollouts: an unreadable database, or one written by a newer
threadline, is set aside and rebuilt.

Both sort orders have a covering index that starts with ``archived`` (every
query filters on it), so a page is an index range scan with no temporary
B-tree, whatever the number of threads. Paging is keyset-based (see
:mod:`.cursor`).

Threading: one connection, used by one dedicated worker thread; the async
methods hand their work to that thread, so the event loop never waits on a long
query or a write. Work is serialised in submission order. A page and the other
short reads run on the loop's own thread when the worker is idle
(:mod:`.sql_worker`).
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from threadline.protocol.text import without_surrogates
from threadline.store.base import GitRecord, ListPage, ListQuery, StoreError, ThreadRecord
from threadline.store.cursor import decode_cursor, encode_backwards_cursor, encode_cursor
from threadline.store.live_rows import LiveRows
from threadline.store.query import clamp_limit, normalize_cwd
from threadline.store.records import bound_preview, source_kind_of
from threadline.store.sql_worker import SqlWorker

__all__ = ["INDEX_FILE", "SCHEMA_VERSION", "ThreadIndex"]

log = logging.getLogger(__name__)

INDEX_FILE = "state.sqlite"

_T = TypeVar("_T")

_MIGRATIONS: tuple[str, ...] = (
    # 1: the threads table and both keyset indexes.
    """
    CREATE TABLE IF NOT EXISTS threads (
        id              TEXT PRIMARY KEY NOT NULL,
        rollout_path    TEXT NOT NULL,
        created_at_ms   INTEGER NOT NULL,
        updated_at_ms   INTEGER NOT NULL,
        source          TEXT NOT NULL,
        source_kind     TEXT NOT NULL,
        model_provider  TEXT NOT NULL,
        cwd             TEXT NOT NULL,
        cli_version     TEXT NOT NULL DEFAULT '',
        originator      TEXT NOT NULL DEFAULT '',
        name            TEXT,
        preview         TEXT NOT NULL DEFAULT '',
        archived        INTEGER NOT NULL DEFAULT 0,
        archived_at_ms  INTEGER,
        forked_from_id  TEXT,
        memory_mode     TEXT,
        tokens_used     INTEGER NOT NULL DEFAULT 0,
        model           TEXT,
        reasoning_effort TEXT,
        git_sha         TEXT,
        git_branch      TEXT,
        git_origin_url  TEXT
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS threads_by_created ON threads (archived, created_at_ms, id);
    CREATE INDEX IF NOT EXISTS threads_by_updated ON threads (archived, updated_at_ms, id);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)

_COLUMNS = (
    "id",
    "rollout_path",
    "created_at_ms",
    "updated_at_ms",
    "source",
    "source_kind",
    "model_provider",
    "cwd",
    "cli_version",
    "originator",
    "name",
    "preview",
    "archived",
    "archived_at_ms",
    "forked_from_id",
    "memory_mode",
    "tokens_used",
    "model",
    "reasoning_effort",
    "git_sha",
    "git_branch",
    "git_origin_url",
)
_SELECT = "SELECT " + ", ".join(_COLUMNS) + " FROM threads"
_PLACEHOLDERS = ", ".join("?" for _ in _COLUMNS)
_UPSERT = (
    f"INSERT INTO threads ({', '.join(_COLUMNS)}) VALUES ({_PLACEHOLDERS}) "
    "ON CONFLICT(id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "id")
)
_INSERT_MISSING = f"INSERT OR IGNORE INTO threads ({', '.join(_COLUMNS)}) VALUES ({_PLACEHOLDERS})"


def _bindable(values: Iterable[Any]) -> tuple[Any, ...]:
    """SQLite parameters that always encode: text is bound as UTF-8, so a lone surrogate
    (a non-UTF-8 ``cwd``, a library caller's name) is bound as U+FFFD, as in the rollout."""
    return tuple(without_surrogates(v) if isinstance(v, str) else v for v in values)


def _row_of(record: ThreadRecord) -> tuple[Any, ...]:
    git = record.git or GitRecord()
    return _bindable((
        record.id,
        str(record.rollout_path),
        record.created_at_ms,
        record.updated_at_ms,
        record.source,
        source_kind_of(record.source),
        record.model_provider,
        normalize_cwd(record.cwd),
        record.cli_version,
        record.originator,
        record.name,
        bound_preview(record.preview),
        1 if record.archived else 0,
        record.archived_at_ms,
        record.forked_from_id,
        record.memory_mode,
        record.tokens_used,
        record.model,
        record.reasoning_effort,
        git.sha,
        git.branch,
        git.origin_url,
    ))


@functools.lru_cache(maxsize=1024)
def _record_of(row: tuple[Any, ...]) -> ThreadRecord:
    """The record of a row, the same object for the same row (the cache's key is the whole
    row, so a changed row makes a new record): a client lists the same newest threads again
    and again, and making the record and its ``Path`` is a third of reading a page. Records
    are immutable, so sharing one is safe; it also lets the handlers' cache of wire threads
    (``handlers.common.listed_thread``) find a record by identity."""
    (
        thread_id, path, created, updated, source, _kind, provider, cwd, cli_version, originator,
        name, preview, archived, archived_at, forked_from, memory_mode, tokens, model, effort,
        git_sha, git_branch, git_url,
    ) = row
    git = (
        GitRecord(sha=git_sha, branch=git_branch, origin_url=git_url)
        if git_sha is not None or git_branch is not None or git_url is not None
        else None
    )
    return ThreadRecord(
        id=thread_id,
        rollout_path=Path(path),
        created_at_ms=created,
        updated_at_ms=updated,
        source=source,
        model_provider=provider,
        cwd=cwd,
        cli_version=cli_version,
        originator=originator,
        name=name,
        preview=preview,
        archived=bool(archived),
        archived_at_ms=archived_at,
        forked_from_id=forked_from,
        memory_mode=memory_mode,
        tokens_used=tokens,
        model=model,
        reasoning_effort=effort,
        git=git,
    )


def _contains_folded(haystack: str | None, needle: str | None) -> int:
    if not haystack or not needle:
        return 0
    return 1 if needle in haystack.casefold() else 0


def _in_clause(column: str, values: Iterable[Any], params: list[Any], *, negate: bool = False) -> str:
    items = list(dict.fromkeys(values))
    params.extend(items)
    marks = ", ".join("?" for _ in items)
    return f"{column} {'NOT IN' if negate else 'IN'} ({marks})"


class ThreadIndex:
    """The SQLite index. Create with :meth:`open`; every method is safe on the event loop."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._worker = SqlWorker("threadline-index")
        self._conn: sqlite3.Connection | None = None
        self._created = False
        self._closed = False
        self._read_only = False
        self._live_rows = LiveRows()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def read_only(self) -> bool:
        """True when the database file cannot be written (a read-only home): the index then
        lives in memory, seeded from the file when it can be read, and is never saved."""
        return self._read_only

    @property
    def created(self) -> bool:
        """True when :meth:`open` had to create (or recreate) the database."""
        return self._created

    # -- plumbing ----------------------------------------------------------------------------
    async def _run(self, fn: Callable[[], _T], *, changes_reads: bool = True) -> _T:
        if self._closed:
            raise StoreError("the thread index is closed")
        return await self._worker.run(fn, changes_reads=changes_reads)

    async def _read(self, fn: Callable[[], _T]) -> _T:
        """:meth:`_run` for a read, on the loop's thread when it is short and the worker idle."""
        if self._closed:
            raise StoreError("the thread index is closed")
        return await self._worker.read(self._conn, fn)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the thread index is not open")
        return self._conn

    # -- open / migrate ----------------------------------------------------------------------
    async def open(self) -> None:
        await self._run(self._open_sync)

    def _connect(self, *, new: bool = False) -> sqlite3.Connection:
        """The connection, its schema migrated. A ``new`` file is switched to WAL and given
        its schema without syncing: under the default rollback journal the switch rewrites
        the header with two fsyncs, and the first commit syncs again, 30-50 ms on a busy
        disk on every first start in a fresh home. Such a file holds nothing yet, so those
        writes need not be durable (lost to a power cut, the next start makes them again);
        every later change is synced as ``synchronous=NORMAL`` says."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=OFF" if new else "PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.create_function("tl_contains", 2, _contains_folded, deterministic=True)
            self._migrate(conn)
            if new:
                conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        return conn

    def _writable(self) -> bool:
        """Can the database (and its ``-wal``/``-shm`` companions) be created or written?"""
        directory = self._path.parent
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent
        if not os.access(directory, os.W_OK | os.X_OK):
            return False
        return not self._path.exists() or os.access(self._path, os.R_OK | os.W_OK)

    def _open_sync(self) -> None:
        if not self._writable():
            self._open_in_memory()
            return
        existed = self._path.exists()
        if not existed:
            # A WAL left behind by a deleted database would be replayed into the new one.
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    self._path.with_name(self._path.name + suffix).unlink()
        try:
            conn = self._connect(new=not existed)
        except sqlite3.DatabaseError as exc:
            log.warning("thread index %s is unusable (%s); rebuilding it", self._path, exc)
            self._set_aside()
            conn = self._connect(new=True)
            existed = False
        self._live_rows.watch(conn)
        self._conn = conn
        if not existed:
            self._created = True
        else:
            (count,) = conn.execute("SELECT COUNT(*) FROM threads").fetchone()
            self._created = self._created or count == 0

    def _open_in_memory(self) -> None:
        """The read-only home case: copy what the file holds into memory (or start empty,
        which makes the store rebuild the rows from the rollouts)."""
        self._read_only = True
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        conn.create_function("tl_contains", 2, _contains_folded, deterministic=True)
        copied = self._copy_file_into(conn)
        self._migrate(conn)
        (count,) = conn.execute("SELECT COUNT(*) FROM threads").fetchone()
        self._live_rows.watch(conn)
        self._conn = conn
        self._created = not copied or count == 0
        log.warning(
            "thread index %s is not writable; using an in-memory index (%s)",
            self._path, "copied from the file" if copied else "rebuilt from the rollouts",
        )

    def _copy_file_into(self, target: sqlite3.Connection) -> bool:
        if not os.access(self._path, os.R_OK):
            return False
        uri = self._path.resolve().as_uri()
        # Plain read-only first (sees a WAL that was not checkpointed yet); a read-only
        # directory can make that fail for want of the -shm file, so then immutable.
        for options in ("mode=ro", "mode=ro&immutable=1"):
            source: sqlite3.Connection | None = None
            try:
                source = sqlite3.connect(f"{uri}?{options}", uri=True, check_same_thread=False)
                (version,) = source.execute("PRAGMA user_version").fetchone()
                if version > SCHEMA_VERSION:
                    return False
                source.backup(target)
                target.execute("SELECT COUNT(*) FROM threads").fetchone()
                return True
            except sqlite3.DatabaseError as exc:
                log.info("cannot copy thread index %s (%s): %s", self._path, options, exc)
                target.execute("DROP TABLE IF EXISTS threads")
                target.execute("PRAGMA user_version = 0")
            finally:
                if source is not None:
                    source.close()
        return False

    def _set_aside(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            source = self._path.with_name(self._path.name + suffix)
            if source.exists():
                with contextlib.suppress(OSError):
                    source.rename(source.with_name(f"{source.name}.broken-{stamp}"))

    def _migrate(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            # Written by a newer threadline; the index is a cache, so start over.
            log.warning("thread index schema %d is newer than %d; rebuilding", version, SCHEMA_VERSION)
            conn.execute("DROP TABLE IF EXISTS threads")
            version = 0
            self._created = True
        for number in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        conn.execute("SELECT COUNT(*) FROM threads").fetchone()

    async def close(self) -> None:
        if self._closed:
            return
        conn = self._conn

        def shutdown() -> None:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA optimize")
                conn.close()

        try:
            await self._run(shutdown)
        finally:
            self._closed = True
            self._conn = None
            self._worker.shutdown()

    # -- writes ------------------------------------------------------------------------------
    async def upsert(self, record: ThreadRecord) -> None:
        row = _row_of(record)
        await self._run(lambda: self._db().execute(_UPSERT, row))

    async def upsert_many(self, records: Sequence[ThreadRecord], *, only_missing: bool = False) -> int:
        """Write many rows in one transaction; ``only_missing`` never replaces an existing row."""
        rows = [_row_of(r) for r in records]
        sql = _INSERT_MISSING if only_missing else _UPSERT

        def write() -> int:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                before = db.total_changes
                db.executemany(sql, rows)
                db.execute("COMMIT")
                return db.total_changes - before
            except BaseException:
                db.execute("ROLLBACK")
                raise

        return await self._run(write)

    async def note_activity(
        self,
        thread_id: str,
        *,
        updated_at_ms: int,
        preview: str | None,
        tokens_used: int | None,
        model: str | None,
        reasoning_effort: str | None,
    ) -> bool:
        """Returns False when there is no row for ``thread_id``."""
        sql = (
            "UPDATE threads SET updated_at_ms = MAX(updated_at_ms, ?), "
            "preview = CASE WHEN preview = '' AND ? IS NOT NULL THEN ? ELSE preview END, "
            "tokens_used = COALESCE(?, tokens_used), model = COALESCE(?, model), "
            "reasoning_effort = COALESCE(?, reasoning_effort) WHERE id = ?"
        )
        if preview is not None:
            preview = bound_preview(preview) or None
        params = _bindable(
            (updated_at_ms, preview, preview, tokens_used, model, reasoning_effort, thread_id)
        )
        return await self._run(lambda: self._db().execute(sql, params).rowcount > 0)

    async def update(self, thread_id: str, **columns: Any) -> bool:
        """Set the given columns of one row; False when the row does not exist."""
        if not columns:
            return False
        unknown = set(columns) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown index columns: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in columns)
        params = _bindable(
            [*(str(v) if isinstance(v, Path) else v for v in columns.values()), thread_id]
        )
        sql = f"UPDATE threads SET {assignments} WHERE id = ?"
        return await self._run(lambda: self._db().execute(sql, params).rowcount > 0)

    async def delete(self, thread_ids: Sequence[str]) -> int:
        ids = _bindable(thread_ids)

        def remove() -> int:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                before = db.total_changes
                db.executemany("DELETE FROM threads WHERE id = ?", [(i,) for i in ids])
                db.execute("COMMIT")
                return db.total_changes - before
            except BaseException:
                db.execute("ROLLBACK")
                raise

        return await self._run(remove)

    # -- reads -------------------------------------------------------------------------------
    async def get(self, thread_id: str) -> ThreadRecord | None:
        def read() -> ThreadRecord | None:
            row = self._db().execute(_SELECT + " WHERE id = ?", _bindable((thread_id,))).fetchone()
            return _record_of(row) if row is not None else None

        return await self._read(read)

    async def count(self) -> int:
        def read() -> int:
            (count,) = self._db().execute("SELECT COUNT(*) FROM threads").fetchone()
            return int(count)

        return await self._run(read)

    async def paths(self) -> dict[str, str]:
        """Every row's id -> rollout path."""
        def read() -> dict[str, str]:
            return dict(self._db().execute("SELECT id, rollout_path FROM threads").fetchall())

        return await self._run(read)

    async def list(self, query: ListQuery) -> ListPage:
        sql, params, column, limit = self._list_sql(query)

        def read() -> builtins.list[ThreadRecord]:
            return [_record_of(row) for row in self._db().execute(sql, params).fetchall()]

        if self._closed:
            raise StoreError("the thread index is closed")
        found = await self._worker.read_cached(self._conn, (sql, *params), read)
        more = len(found) > limit
        records = found[:limit]  # a copy: ``found`` may be shared (read_cached)
        next_cursor = None
        if more and records:
            last = records[-1]
            next_cursor = encode_cursor(getattr(last, column), last.id)
        backwards = encode_backwards_cursor(getattr(records[0], column)) if records else None
        return ListPage(records=records, next_cursor=next_cursor, backwards_cursor=backwards)

    def _list_sql(self, query: ListQuery) -> tuple[str, builtins.list[Any], str, int]:
        column = "updated_at_ms" if query.sort_key == "updated_at" else "created_at_ms"
        desc = query.sort_direction != "asc"
        limit = clamp_limit(query.limit)
        params: builtins.list[Any] = [1 if query.archived else 0]
        where = ["archived = ?"]
        if query.model_providers:
            where.append(_in_clause("model_provider", query.model_providers, params))
        if query.source_kinds:
            where.append(_in_clause("source_kind", query.source_kinds, params))
        if query.cwds:
            where.append(_in_clause("cwd", (normalize_cwd(c) for c in query.cwds), params))
        term = (query.search_term or "").strip()
        if term:
            folded = term.casefold()
            where.append("(tl_contains(name, ?) OR tl_contains(preview, ?))")
            params.extend((folded, folded))
        if query.excluded_ids:
            where.append(_in_clause("id", query.excluded_ids, params, negate=True))
        if query.included_ids is not None:
            where.append(_in_clause("id", query.included_ids, params))
        if query.cursor:
            cursor = decode_cursor(query.cursor)
            if cursor.thread_id is None:
                where.append(f"{column} {'<=' if desc else '>='} ?")
                params.append(cursor.value_ms)
            else:
                where.append(f"({column}, id) {'<' if desc else '>'} (?, ?)")
                params.extend((cursor.value_ms, cursor.thread_id))
        order = "DESC" if desc else "ASC"
        sql = (
            f"{_SELECT} WHERE {' AND '.join(where)} "
            f"ORDER BY {column} {order}, id {order} LIMIT ?"
        )
        params.append(limit + 1)
        return sql, list(_bindable(params)), column, limit

    async def run_sql(
        self, fn: Callable[[sqlite3.Connection], _T], *, changes_reads: bool = True
    ) -> _T:
        """Run ``fn(connection)`` on the index's worker thread (the state tables of
        :mod:`threadline.store.thread_state` share the database and its worker);
        ``changes_reads=False`` for a write no cached read reads (``SqlWorker.run``)."""
        return await self._run(lambda: fn(self._db()), changes_reads=changes_reads)

    async def read_sql(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """:meth:`run_sql` for a read (``fn`` changes nothing): see :meth:`_read`."""
        return await self._read(lambda: fn(self._db()))

    async def live_paths(self) -> builtins.list[tuple[str, str, int]]:
        """``(id, rollout path, updated_at_ms)`` of every row not archived: one shared list
        while the rows stay where they are (:class:`threadline.store.live_rows.LiveRows`)."""
        return await self._run(lambda: self._live_rows.read(self._db()), changes_reads=False)

    async def explain(self, query: ListQuery) -> builtins.list[str]:
        """The query plan of a list query (used by tests to prove no full scan / temp B-tree)."""
        sql, params, _column, _limit = self._list_sql(query)

        def read() -> builtins.list[str]:
            rows = self._db().execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            return [str(row[-1]) for row in rows]

        return await self._run(read)
