"""``MemoryThreadStore``: the same index contract as the local store, with nothing on disk.

Histories are kept as rollout lines in memory (:class:`MemorySink`), filtered by
the same persistence policy and rebuilt the same way, so resume, fork, read and
rollback work as on disk; nothing survives the process. Paths are only shown
(``thread.path``), never written.

Rows live in a dict; listing applies the exact filter, order and cursor rules of
the SQLite index (:mod:`.query`). Archive and unarchive rewrite the row's path
the way the local store would move the file, without touching the file system.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from threadline.protocol.clock import now_ms, parse_timestamp
from threadline.protocol.rollout import (
    RolloutItem,
    RolloutLine,
    SessionMeta,
    format_rollout_timestamp,
    line_from_item,
)
from threadline.protocol.v2.turn import Turn
from threadline.rollout.history import reconstruct
from threadline.rollout.paths import archived_path_for, rollout_path_for, unarchived_path_for
from threadline.rollout.policy import PersistencePolicy
from threadline.rollout.reader import RolloutFile
from threadline.store import rollouts
from threadline.store.base import (
    Change,
    ForkSource,
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
from threadline.store.cursor import decode_cursor, encode_backwards_cursor, encode_cursor
from threadline.store.locks import NullThreadLease
from threadline.store.query import clamp_limit, matches, normalize_cwd, sort_value
from threadline.store.records import bound_preview
from threadline.store.thread_state import MemoryStateDb, ThreadState, with_git_edits

__all__ = ["MemoryThreadStore"]


class MemorySink:
    """A live thread's history kept in its store's memory, filtered by the same policy
    as a rollout; it appears in the store with the first user message (or
    :meth:`materialize`), ``session_meta`` first."""

    def __init__(
        self,
        store: MemoryThreadStore,
        meta: SessionMeta,
        policy: PersistencePolicy,
        *,
        resumed: bool = False,
    ) -> None:
        self._store = store
        self._meta = meta
        self._policy = policy
        self._path = store.path_of(meta)
        self._pending: list[RolloutLine] = []
        self._lines: list[RolloutLine] | None = (
            store.history_lines(meta.id) if resumed else None
        )

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def materialized(self) -> bool:
        return self._lines is not None

    async def append(self, items: Sequence[RolloutItem | RolloutLine]) -> None:
        lines = [line for item in items if (line := self._policy.line_for(item)) is not None]
        self._pending.extend(lines)
        if any(line.event_type == "user_message" for line in lines):
            await self.materialize()
        elif self._lines is not None:
            await self.flush()

    async def append_or_discard(self, items: Sequence[RolloutItem]) -> None:
        self._pending.extend(line for item in items if (line := self._policy.line_for(item)) is not None)
        if self._lines is not None:
            await self.flush()

    async def materialize(self) -> None:
        if self._lines is None:
            self._lines = self._store.new_history(self._meta, self._path)
        await self.flush()

    async def flush(self) -> None:
        if self._lines is not None:
            self._lines.extend(self._pending)
            self._pending.clear()

    async def close(self) -> None:
        await self.flush()
        self._pending.clear()


class MemoryThreadStore:
    """Rows in memory; safe to share between tasks of one event loop."""

    def __init__(self, home: Path | None = None) -> None:
        self._home = Path(home) if home is not None else Path("/nonexistent-threadline-home")
        self._rows: dict[str, ThreadRecord] = {}
        self._histories: dict[str, tuple[Path, list[RolloutLine]]] = {}
        self._lock = asyncio.Lock()
        self._state_db = MemoryStateDb()
        self._state = ThreadState(self._state_db.run)

    @property
    def home(self) -> Path:
        return self._home

    @property
    def state(self) -> ThreadState:
        return self._state

    async def delete_thread(self, thread_id: str) -> int:
        canonical = thread_id.lower()
        async with self._lock:
            self._rows.pop(canonical, None)
            removed = self._histories.pop(canonical, None)
        await self._state.forget(canonical)
        return 1 if removed is not None else 0

    def new_history(self, meta: SessionMeta, shown: Path) -> list[RolloutLine]:
        """The (new) history of ``meta``'s thread, starting with ``meta``."""
        lines = [line_from_item(meta)]
        self._histories[meta.id.lower()] = (shown, lines)
        return lines

    def history_lines(self, thread_id: str) -> list[RolloutLine]:
        return self._histories[thread_id.lower()][1]

    # -- live threads ----------------------------------------------------------------------
    def create_thread(
        self, meta: SessionMeta, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return MemorySink(self, meta, PersistencePolicy(extended=extended_history))

    async def resume_thread(
        self, stored: StoredThread, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return MemorySink(
            self, stored.meta, PersistencePolicy(extended=extended_history), resumed=True
        )

    async def fork_source(self, stored: StoredThread, *, interrupted_marker: str) -> ForkSource:
        return await rollouts.fork_source(stored, interrupted_marker=interrupted_marker)

    async def fork_thread(
        self, meta: SessionMeta, source: ForkSource, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        sink = MemorySink(self, meta, PersistencePolicy(extended=extended_history))
        await sink.materialize()
        await sink.append(source.lines)
        return sink

    # -- stored histories --------------------------------------------------------------------
    def path_of(self, meta: SessionMeta) -> Path:
        """The ``thread.path`` a history is shown under (nothing is written there)."""
        created = parse_timestamp(meta.timestamp)
        return rollout_path_for(self._home, meta.id, created.astimezone())

    async def locate(self, thread_id: str | None = None, *, path: str | None = None) -> StoredRef:
        if path:
            for tid, (shown, _) in self._histories.items():
                if str(shown) == path:
                    return self._ref(tid)
            raise StoreError(f"failed to load rollout `{path}`: no such file")
        if thread_id is None or thread_id.lower() not in self._histories:
            raise StoreError(f"no rollout found for thread id {thread_id}")
        return self._ref(thread_id.lower())

    def _ref(self, thread_id: str) -> StoredRef:
        shown, _ = self._histories[thread_id]
        row = self._rows.get(thread_id)
        if row is not None:
            return StoredRef(thread_id, row.rollout_path, archived=row.archived)
        return StoredRef(thread_id, shown)

    def _lines_of(self, ref: StoredRef) -> list[RolloutLine]:
        entry = self._histories.get((ref.thread_id or "").lower())
        if entry is None:
            for shown, lines in self._histories.values():
                if ref.path is not None and shown == ref.path:
                    return lines
            raise StoreError(f"no rollout found for thread id {ref.thread_id}")
        return entry[1]

    async def load_history(
        self,
        ref: StoredRef,
        *,
        live: bool = False,
        for_resume: bool = False,
        with_turns: bool = True,
    ) -> StoredThread:
        lines = list(self._lines_of(ref))
        meta = next((line.as_session_meta() for line in lines if line.type == "session_meta"), None)
        if meta is None:
            raise StoreError(f"failed to load rollout `{ref.path}`: empty file")
        rollout = RolloutFile(path=ref.path or self.path_of(meta), meta=meta, lines=lines)
        created = parse_timestamp(meta.timestamp).timestamp()
        stamp = lines[-1].timestamp if lines else meta.timestamp
        updated = parse_timestamp(stamp).timestamp()
        return StoredThread(
            ref=ref,
            meta=meta,
            recon=reconstruct(rollout, live=live),
            lines=lines,
            created_at=created,
            updated_at=updated,
            version=len(lines),
            native=rollout,
        )

    async def turn_ids(self, ref: StoredRef) -> list[str]:
        return [turn.id for turn in (await self.load_history(ref)).recon.turns]

    async def read_turns(self, ref: StoredRef, positions: Sequence[int]) -> list[Turn]:
        turns = (await self.load_history(ref)).recon.turns
        return [turns[p] for p in positions if 0 <= p < len(turns)]

    async def changed_since(self, stored: StoredThread) -> bool:
        return bool(len(self._lines_of(stored.ref)) != stored.version)

    async def read_meta(self, ref: StoredRef) -> SessionMeta:
        for line in self._lines_of(ref):
            if line.type == "session_meta":
                return line.as_session_meta()
        raise StoreError(f"failed to load rollout `{ref.path}`: no session_meta line")

    async def append_items(
        self, ref: StoredRef, items: Sequence[RolloutItem], *, durable: bool = False
    ) -> None:
        stamp = format_rollout_timestamp()
        self._lines_of(ref).extend(line_from_item(item, stamp) for item in items)

    def writable_problem(self, ref: StoredRef | None = None, change: Change = "write") -> str | None:
        return None

    # -- rows ------------------------------------------------------------------------------------
    async def upsert(self, record: ThreadRecord) -> None:
        (record,) = await with_git_edits(self._state, [record])
        async with self._lock:
            self._rows[record.id] = replace(
                record, cwd=normalize_cwd(record.cwd), preview=bound_preview(record.preview)
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
        async with self._lock:
            row = self._rows.get(thread_id.lower())
            if row is None:
                return
            self._rows[row.id] = replace(
                row,
                updated_at_ms=max(row.updated_at_ms, updated_at_ms),
                preview=(row.preview or bound_preview(preview)) if preview is not None else row.preview,
                tokens_used=tokens_used if tokens_used is not None else row.tokens_used,
                model=model if model is not None else row.model,
                reasoning_effort=reasoning_effort
                if reasoning_effort is not None
                else row.reasoning_effort,
            )

    async def get(self, thread_id: str, *, repair: bool = True) -> ThreadRecord | None:
        return self._rows.get(thread_id.lower())

    async def find_rollout(self, thread_id: str) -> Path | None:
        row = self._rows.get(thread_id.lower())
        return row.rollout_path if row is not None else None

    async def list(self, query: ListQuery) -> ListPage:
        cursor = decode_cursor(query.cursor) if query.cursor else None
        limit = clamp_limit(query.limit)
        desc = query.sort_direction != "asc"
        included = set(query.included_ids) if query.included_ids is not None else None
        rows = [
            r for r in self._rows.values()
            if matches(r, query, cursor) and (included is None or r.id in included)
        ]
        rows.sort(key=lambda r: (sort_value(r, query.sort_key), r.id), reverse=desc)
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit and page:
            next_cursor = encode_cursor(sort_value(page[-1], query.sort_key), page[-1].id)
        backwards = encode_backwards_cursor(sort_value(page[0], query.sort_key)) if page else None
        return ListPage(records=page, next_cursor=next_cursor, backwards_cursor=backwards)

    async def _update(self, thread_id: str, **changes: object) -> ThreadRecord:
        async with self._lock:
            row = self._rows.get(thread_id.lower())
            if row is None:
                raise StoreThreadNotFound(thread_id)
            updated = replace(row, **changes)  # type: ignore[arg-type]
            self._rows[row.id] = updated
            return updated

    async def set_name(self, thread_id: str, name: str | None) -> None:
        await self._update(thread_id, name=name or None)

    async def set_memory_mode(self, thread_id: str, mode: str) -> None:
        await self._update(thread_id, memory_mode=mode)

    async def archive(self, thread_id: str) -> ThreadRecord:
        row = self._rows.get(thread_id.lower())
        if row is None:
            raise StoreThreadNotFound(thread_id)
        if row.archived:
            raise StoreError(f"thread {row.id} is already archived")
        target = archived_path_for(self._home, row.rollout_path.name)
        return await self._update(
            row.id, rollout_path=target, archived=True, archived_at_ms=now_ms()
        )

    async def unarchive(self, thread_id: str) -> ThreadRecord:
        row = self._rows.get(thread_id.lower())
        if row is None:
            raise StoreThreadNotFound(thread_id)
        if not row.archived:
            raise StoreError(f"thread {row.id} is not archived")
        target = unarchived_path_for(self._home, row.rollout_path.name) or row.rollout_path
        return await self._update(
            row.id, rollout_path=target, archived=False, archived_at_ms=None,
            updated_at_ms=now_ms(),
        )

    async def reindex(self) -> ReindexReport:
        """Nothing to rebuild from: every row is its own source."""
        return ReindexReport(indexed=len(self._rows), skipped=0, removed=0)

    def lock_thread(self, thread_id: str) -> ThreadLease:
        """Nothing is shared with another process, so the lease excludes nobody."""
        return NullThreadLease(thread_id.lower())

    async def close(self) -> None:
        await self._state_db.close()
