"""``MemoryThreadStore``: the same index contract as the local store, with nothing on disk.

It keeps index rows only: threads created through it are ephemeral (a null sink),
and it holds no histories to resume, fork or read.

Rows live in a dict; listing applies the exact filter, order and cursor rules of
the SQLite index (:mod:`.query`). Archive and unarchive rewrite the row's path
the way the local store would move the file, without touching the file system.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from threadline.protocol.rollout import RolloutItem, SessionMeta
from threadline.rollout.paths import archived_path_for, unarchived_path_for
from threadline.store.base import (
    Change,
    ForkSource,
    ListPage,
    ListQuery,
    NullSink,
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

__all__ = ["MemoryThreadStore"]


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


def _no_histories() -> StoreError:
    return StoreError("the in-memory thread store keeps no histories")


class MemoryThreadStore:
    """Rows in memory; safe to share between tasks of one event loop."""

    def __init__(self, home: Path | None = None) -> None:
        self._home = Path(home) if home is not None else Path("/nonexistent-threadline-home")
        self._rows: dict[str, ThreadRecord] = {}
        self._lock = asyncio.Lock()

    @property
    def home(self) -> Path:
        return self._home

    # -- live threads: nothing is kept (ephemeral) --------------------------------------------
    def create_thread(
        self, meta: SessionMeta, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return NullSink()

    async def resume_thread(
        self, stored: StoredThread, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return NullSink()

    async def fork_source(self, stored: StoredThread, *, interrupted_marker: str) -> ForkSource:
        raise _no_histories()

    async def fork_thread(
        self, meta: SessionMeta, source: ForkSource, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return NullSink()

    # -- stored histories: none --------------------------------------------------------------
    async def locate(self, thread_id: str | None = None, *, path: str | None = None) -> StoredRef:
        if path:
            raise StoreError(f"failed to load rollout `{path}`: no such file")
        raise StoreError(f"no rollout found for thread id {thread_id}")

    async def load_history(self, ref: StoredRef, *, live: bool = False) -> StoredThread:
        raise _no_histories()

    async def changed_since(self, stored: StoredThread) -> bool:
        return False

    async def read_meta(self, ref: StoredRef) -> SessionMeta:
        raise _no_histories()

    async def append_items(
        self, ref: StoredRef, items: Sequence[RolloutItem], *, durable: bool = False
    ) -> None:
        raise _no_histories()

    def writable_problem(self, ref: StoredRef | None = None, change: Change = "write") -> str | None:
        return None

    # -- rows ------------------------------------------------------------------------------------
    async def upsert(self, record: ThreadRecord) -> None:
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
        rows = [r for r in self._rows.values() if matches(r, query, cursor)]
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
            row.id, rollout_path=target, archived=True, archived_at_ms=_now_ms()
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
            updated_at_ms=_now_ms(),
        )

    async def reindex(self) -> ReindexReport:
        """Nothing to rebuild from: every row is its own source."""
        return ReindexReport(indexed=len(self._rows), skipped=0, removed=0)

    def lock_thread(self, thread_id: str) -> ThreadLease:
        """Nothing is shared with another process, so the lease excludes nobody."""
        return NullThreadLease(thread_id.lower())

    async def close(self) -> None:
        return None
