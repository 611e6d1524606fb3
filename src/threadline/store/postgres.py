"""``PostgresThreadStore``: every thread's history, row and state in one PostgreSQL database,
so several ``threadline app-server`` processes (on several machines) share one thread space.

Histories are the rollout lines a file would hold, one row per line in ``tl_lines``
numbered in append order; appends to one thread are serialized by its ``tl_histories``
row, which also counts its lines (what :meth:`changed_since` compares). The lines are
filtered by the same persistence policy as a rollout file and rebuilt by the same code,
so resume, fork, read and rollback behave as with the local store. ``thread.path`` is the
path the thread's rollout would have under the home (shown, never written), as the
memory store does; archive and unarchive move it the way the local store moves files.
It is not ``null`` (which the schema allows) because clients take a null path for a
thread that is not persisted (codex-acp leaves such threads out of its session list);
``threadline threads export ID --out <thread.path>`` writes exactly that file. Paged
history reads only the page's lines (:mod:`.postgres_pages`).

The ``thread/list`` rows live in ``tl_threads``, indexed on ``(archived, sort key, id)``
so a page is a keyset range scan whatever the number of threads (:mod:`.postgres_list`).
Writer leases are session advisory locks (:mod:`.postgres_lease`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from threadline.protocol.clock import now_ms, parse_timestamp
from threadline.protocol.rollout import (
    RolloutItem,
    RolloutLine,
    SessionMeta,
    dump_line_json,
    format_rollout_timestamp,
    line_from_item,
)
from threadline.protocol.v2.turn import Turn
from threadline.rollout.history import reconstruct_records
from threadline.rollout.paths import archived_path_for, rollout_path_for, unarchived_path_for
from threadline.rollout.policy import PersistencePolicy
from threadline.rollout.reader import parse_lines
from threadline.store import rollouts
from threadline.store.base import (
    Change,
    ForkSource,
    GitRecord,
    ListPage,
    ListQuery,
    ReindexReport,
    StoredRef,
    StoredThread,
    StoreError,
    StoreThreadNotFound,
    ThreadLease,
    ThreadRecord,
    ThreadSink,
)
from threadline.store.postgres_db import DEFAULT_TIMEOUT_S, PgDatabase, encodable
from threadline.store.postgres_lease import DEFAULT_LEASE_EXPIRY_S, PgLeases
from threadline.store.postgres_list import RECORD_COLUMNS, list_page, record_of, upsert_values
from threadline.store.postgres_pages import page_turn_ids, page_turns
from threadline.store.postgres_relay import PgRelay
from threadline.store.postgres_state import PostgresThreadState
from threadline.store.records import bound_preview, encode_source
from threadline.store.thread_state import ThreadState, with_git_edits

__all__ = ["PostgresSink", "PostgresThreadStore"]

NOTIFY_CHANNEL = "tl_lines"
"""Every append notifies this channel with the thread id (for relays on other servers)."""


class PostgresSink:
    """A live thread's history in the database; created with the first user message
    (or :meth:`materialize`), ``session_meta`` first. Flushes are serialized, so lines
    keep their order; a failed flush keeps what it could not write for the next one."""

    def __init__(
        self,
        store: PostgresThreadStore,
        meta: SessionMeta,
        policy: PersistencePolicy,
        *,
        path: Path | None = None,
        resumed: bool = False,
    ) -> None:
        self._owner = store.owner
        self._store = store
        self._meta = meta
        self._policy = policy
        self._path = path or store.path_of(meta)
        self._pending: list[RolloutLine] = []
        self._created = resumed
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def materialized(self) -> bool:
        return self._created

    async def append(self, items: Sequence[RolloutItem | RolloutLine]) -> None:
        lines = [line for item in items if (line := self._policy.line_for(item)) is not None]
        self._pending.extend(lines)
        if any(line.event_type == "user_message" for line in lines):
            await self.materialize()
        elif self._created:
            await self.flush()

    async def append_or_discard(self, items: Sequence[RolloutItem]) -> None:
        lines = [line for item in items if (line := self._policy.line_for(item)) is not None]
        if not self._created:
            self._pending.extend(lines)
            return
        async with self._lock:
            await self._write_pending()
            await self._store.append_lines(self._meta.id, lines, owner=self._owner)

    async def materialize(self) -> None:
        async with self._lock:
            if not self._created:
                await self._store.new_history(self._meta, self._path)
                self._created = True
            await self._write_pending()

    async def flush(self) -> None:
        if not self._created:
            return
        async with self._lock:
            await self._write_pending()

    async def _write_pending(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending)
        await self._store.append_lines(self._meta.id, batch, owner=self._owner)
        del self._pending[: len(batch)]

    async def close(self) -> None:
        await self.flush()
        self._pending.clear()


class PostgresThreadStore:
    """Safe to share between the tasks of one event loop; any number of processes may
    share the database."""

    def __init__(
        self,
        url: str,
        home: Path | None = None,
        *,
        lease_expiry_s: float = DEFAULT_LEASE_EXPIRY_S,
        pool_size: int = 10,
        pool_timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._home = Path(home) if home is not None else Path("/nonexistent-threadline-home")
        self._db = PgDatabase(url, max_size=pool_size, timeout=pool_timeout_s)
        self._state = PostgresThreadState(self._db)
        self._leases = PgLeases(url, expiry_s=lease_expiry_s)
        self._relay = PgRelay(self._db)

    @property
    def home(self) -> Path:
        return self._home

    @property
    def state(self) -> ThreadState:
        return self._state

    @property
    def db(self) -> PgDatabase:
        return self._db

    async def open(self) -> None:
        """Connect and migrate now (else the first operation does it)."""
        async with self._db.connection():
            pass

    async def __aenter__(self) -> PostgresThreadStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def problem(self) -> str | None:
        """Why the store cannot serve now (``/readyz``), or None."""
        return await self._db.problem()

    # -- histories in the database -----------------------------------------------------------
    async def new_history(self, meta: SessionMeta, shown: Path) -> None:
        """Start (or restart) ``meta``'s history with ``meta`` as its first line (one
        transaction: a history is never seen without its ``session_meta``)."""
        tid = meta.id.lower()
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO tl_histories (thread_id, shown_path, line_count) VALUES (%s, %s, 1) "
                "ON CONFLICT (thread_id) DO UPDATE SET shown_path = EXCLUDED.shown_path, "
                "line_count = 1, generation = tl_histories.generation + 1",
                encodable((tid, str(shown))),
            )
            await conn.execute("DELETE FROM tl_lines WHERE thread_id = %s", (tid,))
            await conn.execute(
                "INSERT INTO tl_lines (thread_id, seq, line) VALUES (%s, 0, %s)",
                (tid, dump_line_json(line_from_item(meta))),
            )

    @property
    def owner(self) -> str:
        """How this process names itself in ``tl_owners``."""
        return self._leases.owner

    async def append_lines(
        self, thread_id: str, lines: Sequence[RolloutLine], *, owner: str | None = None
    ) -> None:
        """Append ``lines``; with ``owner`` (a live thread's sink), refused once another
        server has taken the thread over (the fence: ``tl_owners`` names the holder of the
        lease; a new holder's claim waits for an append in flight, and every later
        append of the old one fails)."""
        if not lines:
            return
        tid = thread_id.lower()
        texts = [dump_line_json(line) for line in lines]
        async with self._db.connection() as conn, conn.transaction():
            if owner is not None:
                cur = await conn.execute(
                    "SELECT owner FROM tl_owners WHERE thread_id = %s FOR SHARE", (tid,)
                )
                holder = await cur.fetchone()
                if holder is not None and holder[0] != owner:
                    raise StoreError(
                        f"thread {tid} was taken over by another server ({holder[0]}); "
                        "this server lost its lease and stores nothing more for it"
                    )
            cur = await conn.execute(
                "UPDATE tl_histories SET line_count = line_count + %s WHERE thread_id = %s "
                "RETURNING line_count",
                (len(texts), tid),
            )
            row = await cur.fetchone()
            if row is None:
                raise StoreThreadNotFound(thread_id)
            start = int(row[0]) - len(texts)
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO tl_lines (thread_id, seq, line) VALUES (%s, %s, %s)",
                    [(tid, start + n, text) for n, text in enumerate(texts)],
                )
            await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, f"{tid} {start + len(texts)}"))

    async def _history(self, thread_id: str) -> tuple[Path, list[str], tuple[int, int]]:
        tid = thread_id.lower()
        async with self._db.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT shown_path, line_count, generation FROM tl_histories WHERE thread_id = %s",
                (tid,),
            )
            head = await cur.fetchone()
            if head is None:
                raise StoreError(f"no rollout found for thread id {thread_id}")
            cur = await conn.execute(
                "SELECT line FROM tl_lines WHERE thread_id = %s ORDER BY seq", (tid,)
            )
            texts = [r[0] for r in await cur.fetchall()]
        return Path(head[0]), texts, (int(head[2]), int(head[1]))

    async def _version(self, thread_id: str) -> tuple[int, int] | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT generation, line_count FROM tl_histories WHERE thread_id = %s",
                (thread_id.lower(),),
            )
            row = await cur.fetchone()
        return (int(row[0]), int(row[1])) if row else None

    # -- live threads ------------------------------------------------------------------------
    def create_thread(
        self, meta: SessionMeta, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return PostgresSink(self, meta, PersistencePolicy(extended=extended_history))

    async def resume_thread(
        self, stored: StoredThread, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return PostgresSink(
            self, stored.meta, PersistencePolicy(extended=extended_history),
            path=stored.ref.path, resumed=True,
        )

    async def fork_source(self, stored: StoredThread, *, interrupted_marker: str) -> ForkSource:
        return await rollouts.fork_source(stored, interrupted_marker=interrupted_marker)

    async def fork_thread(
        self, meta: SessionMeta, source: ForkSource, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        sink = PostgresSink(self, meta, PersistencePolicy(extended=extended_history))
        await sink.materialize()
        await sink.append(source.lines)
        return sink

    # -- stored histories --------------------------------------------------------------------
    def path_of(self, meta: SessionMeta) -> Path:
        created = parse_timestamp(meta.timestamp)
        return rollout_path_for(self._home, meta.id, created.astimezone())

    async def locate(self, thread_id: str | None = None, *, path: str | None = None) -> StoredRef:
        async with self._db.connection() as conn:
            if path:
                cur = await conn.execute(
                    "SELECT h.thread_id, t.rollout_path, t.archived FROM tl_histories h "
                    "LEFT JOIN tl_threads t ON t.id = h.thread_id "
                    "WHERE h.shown_path = %s OR t.rollout_path = %s LIMIT 1",
                    (path, path),
                )
                found = await cur.fetchone()
                if found is None:
                    raise StoreError(f"failed to load rollout `{path}`: no such file")
            else:
                if thread_id is None:
                    raise StoreError("no rollout found for thread id None")
                cur = await conn.execute(
                    "SELECT h.thread_id, COALESCE(t.rollout_path, h.shown_path), "
                    "COALESCE(t.archived, FALSE) FROM tl_histories h "
                    "LEFT JOIN tl_threads t ON t.id = h.thread_id WHERE h.thread_id = %s",
                    (thread_id.lower(),),
                )
                found = await cur.fetchone()
                if found is None:
                    raise StoreError(f"no rollout found for thread id {thread_id}")
        tid, shown, archived = found
        if shown is None:
            shown = path
        return StoredRef(tid, Path(shown), archived=bool(archived))

    def _id_of(self, ref: StoredRef) -> str:
        if ref.thread_id is None:
            raise StoreError(f"no rollout found for thread id {ref.thread_id}")
        return ref.thread_id

    async def load_history(
        self,
        ref: StoredRef,
        *,
        live: bool = False,
        for_resume: bool = False,
        with_turns: bool = True,
    ) -> StoredThread:
        tid = self._id_of(ref)
        shown, texts, version = await self._history(tid)
        rollout, recon = await asyncio.to_thread(  # decoded off the loop, collector paused
            reconstruct_records, texts, ref.path or shown, source=f"thread {tid.lower()}",
            live=live, lazy_history=not for_resume,
        )
        meta, lines = rollout.meta, rollout.lines
        if meta is None or recon is None:
            raise StoreError(f"failed to load rollout `{ref.path}`: empty file")
        created = parse_timestamp(meta.timestamp).timestamp()
        stamp = lines[-1].timestamp if lines else meta.timestamp
        return StoredThread(
            ref=ref,
            meta=meta,
            recon=recon,
            lines=lines,
            created_at=created,
            updated_at=parse_timestamp(stamp).timestamp(),
            version=version,
            native=rollout,
        )

    async def turn_ids(self, ref: StoredRef) -> list[str]:
        ids = await page_turn_ids(self._db, self._id_of(ref))
        if ids is None:  # a history the index cannot page: read whole
            ids = [turn.id for turn in (await self.load_history(ref)).recon.turns]
        return ids

    async def read_turns(self, ref: StoredRef, positions: Sequence[int]) -> list[Turn]:
        """Only the lines of the turns at ``positions`` are read (``postgres_pages``)."""
        turns = await page_turns(self._db, self._id_of(ref), positions)
        if turns is None:  # a history the index cannot page: read whole
            whole = (await self.load_history(ref)).recon.turns
            turns = [whole[p] for p in positions if 0 <= p < len(whole)]
        return turns

    async def changed_since(self, stored: StoredThread) -> bool:
        return bool(await self._version(self._id_of(stored.ref)) != stored.version)

    async def read_meta(self, ref: StoredRef) -> SessionMeta:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT line FROM tl_lines WHERE thread_id = %s AND seq = 0",
                (self._id_of(ref).lower(),),
            )
            row = await cur.fetchone()
        lines, _ = parse_lines(row[0].encode()) if row else ([], 0)
        if not lines or lines[0].type != "session_meta":
            raise StoreError(f"failed to load rollout `{ref.path}`: no session_meta line")
        return lines[0].as_session_meta()

    async def append_items(
        self, ref: StoredRef, items: Sequence[RolloutItem], *, durable: bool = False
    ) -> None:
        stamp = format_rollout_timestamp()
        await self.append_lines(self._id_of(ref), [line_from_item(item, stamp) for item in items])

    def writable_problem(self, ref: StoredRef | None = None, change: Change = "write") -> str | None:
        return None

    # -- rows ------------------------------------------------------------------------------------
    async def upsert(self, record: ThreadRecord) -> None:
        (record,) = await with_git_edits(self._state, [record])
        columns, values = upsert_values(record)
        marks = ", ".join("%s" for _ in columns)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "id")
        async with self._db.connection() as conn:
            await conn.execute(
                f"INSERT INTO tl_threads ({', '.join(columns)}) VALUES ({marks}) "
                f"ON CONFLICT (id) DO UPDATE SET {updates}",
                values,
            )

    async def note_activity(
        self,
        thread_id: str,
        *,
        updated_at_ms: int,
        preview: str | None = None,
        tokens_used: int | None = None,
        model: str | None = None,
        reasoning_effort: str | None = None,
    ) -> None:
        sets = ["updated_at_ms = GREATEST(updated_at_ms, %s)"]
        params: list[Any] = [updated_at_ms]
        if preview is not None:
            bounded = bound_preview(preview)
            sets.append("preview = CASE WHEN preview = '' THEN %s ELSE preview END")
            sets.append("preview_folded = CASE WHEN preview = '' THEN %s ELSE preview_folded END")
            params += [bounded, bounded.casefold()]
        for column, value in (
            ("tokens_used", tokens_used), ("model", model), ("reasoning_effort", reasoning_effort)
        ):
            if value is not None:
                sets.append(f"{column} = %s")
                params.append(value)
        params.append(thread_id.lower())
        async with self._db.connection() as conn:
            await conn.execute(
                f"UPDATE tl_threads SET {', '.join(sets)} WHERE id = %s", encodable(params)
            )

    async def get(self, thread_id: str, *, repair: bool = True) -> ThreadRecord | None:
        """The row; with ``repair``, a history stored without a row (its owner died
        between the two writes) gets one rebuilt from its lines."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {RECORD_COLUMNS} FROM tl_threads WHERE id = %s",
                (thread_id.lower(),),
            )
            row = await cur.fetchone()
        if row is not None:
            return record_of(row)
        return await self._rebuild_row(thread_id) if repair else None

    async def _rebuild_row(self, thread_id: str) -> ThreadRecord | None:
        try:
            stored = await self.load_history(await self.locate(thread_id))
        except StoreError:
            return None
        if not stored.recon.preview:
            return None  # no user message yet: not listed (as Codex does)
        meta, recon = stored.meta, stored.recon
        git = meta.git
        info = recon.token_info
        record = ThreadRecord(
            id=meta.id.lower(),
            rollout_path=stored.ref.path or self.path_of(meta),
            created_at_ms=int(stored.created_at * 1000),
            updated_at_ms=int(stored.updated_at * 1000),
            source=encode_source(meta.source),
            model_provider=meta.model_provider or "",
            cwd=meta.cwd,
            cli_version=meta.cli_version,
            originator=meta.originator,
            name=recon.name,
            preview=recon.preview,
            forked_from_id=meta.forked_from_id,
            memory_mode=meta.memory_mode,
            tokens_used=info.total_token_usage.total_tokens if info is not None else 0,
            model=recon.model,
            git=GitRecord(git.commit_hash, git.branch, git.repository_url)
            if git is not None and (git.commit_hash or git.branch or git.repository_url)
            else None,
        )
        await self.upsert(record)
        return await self.get(thread_id, repair=False)

    async def find_rollout(self, thread_id: str) -> Path | None:
        row = await self.get(thread_id)
        return row.rollout_path if row is not None else None

    async def list(self, query: ListQuery) -> ListPage:
        async with self._db.connection() as conn:
            return await list_page(conn, query)

    async def _update(self, thread_id: str, sets: str, params: Sequence[Any]) -> ThreadRecord:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"UPDATE tl_threads SET {sets} WHERE id = %s RETURNING {RECORD_COLUMNS}",
                encodable((*params, thread_id.lower())),
            )
            row = await cur.fetchone()
        if row is None:
            raise StoreThreadNotFound(thread_id)
        return record_of(row)

    async def set_name(self, thread_id: str, name: str | None) -> None:
        await self._update(
            thread_id, "name = %s, name_folded = %s", (name or None, (name or "").casefold())
        )

    async def set_memory_mode(self, thread_id: str, mode: str) -> None:
        await self._update(thread_id, "memory_mode = %s", (mode,))

    async def archive(self, thread_id: str) -> ThreadRecord:
        row = await self.get(thread_id)
        if row is None:
            raise StoreThreadNotFound(thread_id)
        if row.archived:
            raise StoreError(f"thread {row.id} is already archived")
        target = archived_path_for(self._home, row.rollout_path.name)
        return await self._update(
            row.id, "rollout_path = %s, archived = TRUE, archived_at_ms = %s",
            (str(target), now_ms()),
        )

    async def unarchive(self, thread_id: str) -> ThreadRecord:
        row = await self.get(thread_id)
        if row is None:
            raise StoreThreadNotFound(thread_id)
        if not row.archived:
            raise StoreError(f"thread {row.id} is not archived")
        target = unarchived_path_for(self._home, row.rollout_path.name) or row.rollout_path
        return await self._update(
            row.id,
            "rollout_path = %s, archived = FALSE, archived_at_ms = NULL, "
            "updated_at_ms = GREATEST(updated_at_ms, %s)",
            (str(target), now_ms()),
        )

    async def reindex(self) -> ReindexReport:
        """Give every history without a row one, rebuilt from its lines (the rows are
        otherwise written with every change); drop rows without a history."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT h.thread_id FROM tl_histories h LEFT JOIN tl_threads t "
                "ON t.id = h.thread_id WHERE t.id IS NULL"
            )
            missing = [r[0] for r in await cur.fetchall()]
            cur = await conn.execute(
                "DELETE FROM tl_threads t WHERE NOT EXISTS "
                "(SELECT 1 FROM tl_histories h WHERE h.thread_id = t.id)"
            )
            removed = cur.rowcount
        skipped = 0
        for thread_id in missing:
            if await self._rebuild_row(thread_id) is None:
                skipped += 1
        async with self._db.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM tl_threads")
            row = await cur.fetchone()
        return ReindexReport(
            indexed=int(row[0]) if row else 0, skipped=skipped, removed=max(0, removed)
        )

    async def delete_thread(self, thread_id: str) -> int:
        tid = thread_id.lower()
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM tl_threads WHERE id = %s", (tid,))
            await conn.execute("DELETE FROM tl_lines WHERE thread_id = %s", (tid,))
            await conn.execute("DELETE FROM tl_turn_index WHERE thread_id = %s", (tid,))
            cur = await conn.execute("DELETE FROM tl_histories WHERE thread_id = %s", (tid,))
            removed = cur.rowcount
        await self._state.forget(tid)
        return 1 if removed else 0

    def lock_thread(self, thread_id: str) -> ThreadLease:
        return self._leases.acquire(thread_id)

    def relay(self) -> PgRelay:
        """Events and operations between this server and the owners of other threads."""
        return self._relay

    async def close(self) -> None:
        await self._relay.close()
        await asyncio.to_thread(self._leases.close)
        await self._db.close()

