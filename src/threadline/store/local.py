"""``LocalThreadStore``: rollouts under a home directory plus the SQLite index.

The rollout files are the truth; ``state.sqlite`` is a cache that is kept
current by the calls below and repaired from the files whenever it disagrees
with them:

* :meth:`get` / :meth:`find_rollout` rebuild a missing row, or one whose file
  has moved or vanished, from the rollout's head (and a bounded tail read);
* :meth:`reindex` rebuilds every row;
* on first start (new or empty index) with rollouts on disk, a background task
  indexes them in batches while requests are served; :meth:`wait_ready`
  waits for it.

Thread names are written to ``session_index.jsonl`` (as Codex does), so they
survive a reindex. All blocking work (file system, SQLite) runs off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from threadline.protocol.clock import now_ms
from threadline.protocol.lazy_module import lazy_module
from threadline.rollout.files import rollout_file_problem
from threadline.rollout.paths import (
    ARCHIVED_SESSIONS_SUBDIR,
    SESSIONS_SUBDIR,
    archived_path_for,
    find_rollout_path,
    is_inside,
    is_valid_thread_id,
    iter_rollout_files,
    parse_rollout_file_name,
    unarchived_path_for,
)
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
from threadline.store.gc_pause import gc_paused
from threadline.store.index import INDEX_FILE, ThreadIndex
from threadline.store.records import (
    append_session_name,
    discard_session_names,
    read_session_names,
    record_from_rollout,
)
from threadline.store.rollout_watch import AppendWatch

if TYPE_CHECKING:
    from threadline.protocol.rollout import RolloutItem, SessionMeta
    from threadline.protocol.v2.turn import Turn
    from threadline.store import locks, rollouts, thread_state, turns_read
else:  # each loads with its first use (a read, a list or state request, a lease)
    rollouts = lazy_module("threadline.store.rollouts", around=gc_paused)
    turns_read = lazy_module("threadline.store.turns_read")
    thread_state = lazy_module("threadline.store.thread_state")
    locks = lazy_module("threadline.store.locks")

__all__ = ["LocalThreadStore"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_BATCH = 512


def _scan_rollouts(home: Path) -> dict[str, Path]:
    """Thread id -> rollout path for every regular file under ``sessions/`` and
    ``archived_sessions/`` (symbolic links, FIFOs, sockets, devices and directories
    with a rollout name are ignored; see :func:`iter_rollout_files`).

    Ids come from the file names (no file is opened). A live file wins over an
    archived copy of the same thread.
    """
    found: dict[str, Path] = {}
    for path in iter_rollout_files(home, archived=True):
        parsed = parse_rollout_file_name(path.name)
        if parsed is not None:
            found[parsed.thread_id] = path
    for path in iter_rollout_files(home, archived=False):
        parsed = parse_rollout_file_name(path.name)
        if parsed is not None:
            found[parsed.thread_id] = path
    return found


def _build_records(
    paths: Sequence[Path], locate: Callable[[str], Path | None], names: dict[str, str | None]
) -> tuple[list[ThreadRecord], int]:
    records: list[ThreadRecord] = []
    skipped = 0
    for path in paths:
        try:
            record = record_from_rollout(path, locate=locate, names=names)
        except Exception as exc:  # one bad file must not stop the rebuild
            log.warning("cannot index rollout %s: %s", path, exc)
            record = None
        if record is None:
            skipped += 1
        else:
            records.append(record)
    return records, skipped


class LocalThreadStore:
    """The default store. ``LocalThreadStore(home)``; opened lazily on first use."""

    RECHECK_INTERVAL_S = 1.0
    """How long ``list`` trusts its last look at the rollouts' sizes and mtimes."""

    def __init__(self, home: Path, *, backfill: bool = True) -> None:
        self._home = Path(home)
        self._index = ThreadIndex(self._home / INDEX_FILE)
        self._backfill_enabled = backfill
        self._open_lock: asyncio.Lock | None = None
        self._opened = False
        self._closed = False
        self._backfill: asyncio.Task[ReindexReport] | None = None
        self._first_batch: asyncio.Event | None = None
        self._stats: dict[str, tuple[int, int]] | None = None
        """Size and mtime of each rollout when ``list`` last looked (see ``_notice_appends``)."""
        self._recheck = asyncio.Lock()  # one look at a time (binds to a loop on first wait)
        self._rechecked_at = float("-inf")
        self._appends = AppendWatch()

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return self._home

    @property
    def index(self) -> ThreadIndex:
        return self._index

    @cached_property
    def state(self) -> thread_state.ThreadState:
        """The state tables, made on first use (``initialize`` needs none)."""
        read, quiet = self._index.read_sql, partial(self._index.run_sql, changes_reads=False)
        return thread_state.ThreadState(self._run_state, self._state_read_only, read=read,
                                        quiet=quiet)

    def _state_read_only(self) -> str | None:
        return f"`{self._index.path}` is not writable" if self._index.read_only else None

    async def _run_state(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        await self.open()
        return await self._index.run_sql(fn)

    @property
    def backfilling(self) -> bool:
        return self._backfill is not None and not self._backfill.done()

    async def open(self) -> None:
        """Open (and migrate) the index; start the first-start backfill when it is new."""
        if self._opened:
            return
        if self._closed:
            raise StoreError("the thread store is closed")
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._opened:
                return
            await self._index.open()
            self._opened = True
            if self._index.created and self._backfill_enabled:
                self._first_batch = asyncio.Event()
                self._backfill = asyncio.create_task(
                    self._rebuild(only_missing=True, first_batch=self._first_batch),
                    name="threadline-index-backfill",
                )

    async def wait_ready(self) -> ReindexReport | None:
        """Wait for the first-start backfill, if one is running; returns its report."""
        await self.open()
        task = self._backfill
        if task is None:
            return None
        return await asyncio.shield(task)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._backfill = self._backfill, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._opened:
            await self._index.close()
        async with self._recheck:  # not while a look runs
            self._appends.close()

    async def __aenter__(self) -> LocalThreadStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _io(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.to_thread(fn)

    # -- live threads ------------------------------------------------------------------------
    def create_thread(
        self, meta: SessionMeta, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return rollouts.create_writer(
            self._home, meta, extended_history=extended_history, fsync=fsync
        )

    async def resume_thread(
        self, stored: StoredThread, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        return await rollouts.resume_writer(stored, extended_history=extended_history, fsync=fsync)

    async def fork_source(self, stored: StoredThread, *, interrupted_marker: str) -> ForkSource:
        return await rollouts.fork_source(stored, interrupted_marker=interrupted_marker)

    async def fork_thread(
        self, meta: SessionMeta, source: ForkSource, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        writer = rollouts.create_writer(
            self._home, meta, extended_history=extended_history, fsync=fsync
        )
        await writer.materialize()
        await writer.append(source.lines)
        await writer.flush()
        return writer

    # -- stored histories --------------------------------------------------------------------
    async def locate(self, thread_id: str | None = None, *, path: str | None = None) -> StoredRef:
        """By ``path``: an absolute ``.jsonl`` regular file inside the sessions directories.
        By id: the indexed (or found) rollout, refused unless a regular file inside them."""
        home = self._home
        if path:
            found = await self._io(lambda: rollouts.check_rollout_path(home, path))
            return StoredRef(None, found, archived=rollouts.is_archived(home, found))
        if not thread_id:
            raise StoreError("a stored thread is located by its id or its path")
        canonical = thread_id
        located = await self.find_rollout(canonical)
        if located is None or not located.exists():
            raise await self._io(lambda: rollouts.missing_rollout(home, canonical))
        refused = await self._io(lambda: rollouts.refused_rollout(home, located, canonical))
        if refused is not None:
            raise refused
        return StoredRef(canonical, located, archived=rollouts.is_archived(home, located))

    async def load_history(
        self,
        ref: StoredRef,
        *,
        live: bool = False,
        for_resume: bool = False,
        with_turns: bool = True,
    ) -> StoredThread:
        home = self._home if for_resume else None
        return await rollouts.load_history(ref, live=live, resume_home=home, turns=with_turns)

    async def turn_ids(self, ref: StoredRef) -> list[str]:
        return await rollouts.turn_ids(self._home, ref)

    async def read_turns(self, ref: StoredRef, positions: Sequence[int]) -> list[Turn]:
        return await rollouts.read_turns(self._home, ref, positions)

    async def all_turns(self, ref: StoredRef) -> list[Turn]:
        return await turns_read.all_turns(ref)

    async def changed_since(self, stored: StoredThread) -> bool:
        return await rollouts.changed_since(stored)

    async def read_meta(self, ref: StoredRef) -> SessionMeta:
        return await rollouts.read_meta(ref)

    async def append_items(
        self, ref: StoredRef, items: Sequence[RolloutItem], *, durable: bool = False
    ) -> None:
        await rollouts.append_items(ref, list(items), durable=durable)

    def writable_problem(self, ref: StoredRef | None = None, change: Change = "write") -> str | None:
        return rollouts.writable_problem(self._home, ref, change)

    # -- rows --------------------------------------------------------------------------------
    async def upsert(self, record: ThreadRecord) -> None:
        await self.open()
        (record,) = await self._with_git_edits([record])
        await self._index.upsert(record)

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
        await self.open()
        fields = {
            "updated_at_ms": updated_at_ms,
            "preview": preview,
            "tokens_used": tokens_used,
            "model": model,
            "reasoning_effort": reasoning_effort,
        }
        if await self._index.note_activity(thread_id, **fields):  # type: ignore[arg-type]
            return
        # No row yet (e.g. the index was rebuilt meanwhile): repair it, then apply.
        if await self.get(thread_id) is not None:
            await self._index.note_activity(thread_id, **fields)  # type: ignore[arg-type]

    async def get(self, thread_id: str, *, repair: bool = True) -> ThreadRecord | None:
        await self.open()
        thread_id = thread_id.lower()
        record = await self._index.get(thread_id)
        if not repair:
            return record
        if record is not None and await self._io(lambda: self._usable(record.rollout_path)):
            return record
        return await self._repair(thread_id, record)

    def _usable(self, path: Path) -> bool:
        """A row's rollout is trusted only while it is a regular file (not a link, FIFO,
        ...) inside this home's sessions directories; otherwise the row is repaired."""
        return rollout_file_problem(path) is None and is_inside(self._home, path)

    async def _repair(
        self, thread_id: str, stale: ThreadRecord | None, *, known: Path | None = None
    ) -> ThreadRecord | None:
        """Rebuild the row from the rollout: ``known`` when it is still a usable file of
        this thread (the row's own path), else the one found by id."""
        if not is_valid_thread_id(thread_id):
            return None

        def locate() -> Path | None:
            if known is not None and known.name.endswith(f"{thread_id}.jsonl") and self._usable(known):
                return known
            return find_rollout_path(self._home, thread_id)

        path = await self._io(locate)
        if path is None:
            if stale is not None:
                log.info("dropping index row of %s: its rollout is gone", thread_id)
                await self._index.delete([thread_id])
            return None

        def build() -> ThreadRecord | None:
            names = read_session_names(self._home)
            return record_from_rollout(
                path, locate=lambda tid: find_rollout_path(self._home, tid), names=names,
                require_user_message=False,
            )

        record = await self._io(build)
        if record is None or record.id != thread_id:
            return None
        if stale is not None:
            record = replace(
                record, name=record.name if record.name is not None else stale.name,
                memory_mode=record.memory_mode or stale.memory_mode,
                reasoning_effort=record.reasoning_effort or stale.reasoning_effort,
                tokens_used=record.tokens_used or stale.tokens_used,
                updated_at_ms=max(record.updated_at_ms, stale.updated_at_ms),
            )
        record = (await self._with_git_edits([record]))[0]
        if record != stale:  # the same row again is no write (nor a stale cached read)
            await self._index.upsert(record)
        return record

    async def _with_git_edits(self, records: Sequence[ThreadRecord]) -> list[ThreadRecord]:
        return await thread_state.with_git_edits(self.state, records)

    async def find_rollout(self, thread_id: str) -> Path | None:
        record = await self.get(thread_id)
        return record.rollout_path if record is not None else None

    async def list(self, query: ListQuery) -> ListPage:
        """A page from the index. During the first-start backfill this waits only for the
        first batch (the newest rollouts by name, i.e. by creation), so the default
        newest-first listing is right at once and deeper pages fill in as indexing goes on."""
        await self.open()
        first, task = self._first_batch, self._backfill
        if first is not None and task is not None and not task.done():
            waiter = asyncio.ensure_future(first.wait())
            try:
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        if not query.archived:
            await self._notice_appends_now_and_then()
        return await self._index.list(query)

    async def _notice_appends_now_and_then(self) -> None:
        """:meth:`_notice_appends`, at most once per :attr:`RECHECK_INTERVAL_S` (a burst
        of lists shares one sweep; concurrent lists wait for the running one)."""
        async with self._recheck:
            if time.monotonic() - self._rechecked_at < self.RECHECK_INTERVAL_S:
                return
            try:
                await self._notice_appends()
            except (sqlite3.Error, OSError, StoreError) as exc:
                # Best effort: a full disk or a read-only database must not fail the listing
                # itself (the rows it serves are read, not written); the next list retries.
                log.warning("could not re-check rollouts for outside appends: %s", exc)
            finally:
                self._rechecked_at = time.monotonic()

    async def _notice_appends(self) -> None:
        """Re-read the rows whose rollout another program (Codex) appended to: its size or
        mtime differs from the last look, or it is newer than a row never looked at
        (``AppendWatch`` picks what to ``stat``); a changed one costs a head and tail read."""
        if self._stats is None:  # first: this may make the state tables (a change)
            self._stats = await self.state.rollout_stats()
        rows = await self._index.live_paths()
        known = self._stats
        changed, seen = await self._io(lambda: self._appends.look(rows, known))
        for thread_id in changed:
            stale = await self._index.get(thread_id)
            if stale is not None:
                await self._repair(thread_id, stale, known=stale.rollout_path)
        if seen:
            known.update(seen)
            await self.state.set_rollout_stats(seen)

    async def _require(self, thread_id: str) -> ThreadRecord:
        record = await self.get(thread_id)
        if record is None:
            raise StoreThreadNotFound(thread_id)
        return record

    async def set_name(self, thread_id: str, name: str | None) -> None:
        record = await self._require(thread_id)
        cleaned = name if name else None
        start = await self._io(lambda: append_session_name(self._home, record.id, cleaned))
        try:
            await self._index.update(record.id, name=cleaned)
        except BaseException:
            # Not renamed after all: the session index must not name it on the next rebuild.
            try:
                await self._io(lambda: discard_session_names(self._home, start))
            except OSError:
                log.exception("could not take back the new name of %s", record.id)
            raise

    async def set_memory_mode(self, thread_id: str, mode: str) -> None:
        record = await self._require(thread_id)
        await self._index.update(record.id, memory_mode=mode)

    # -- archive -----------------------------------------------------------------------------
    async def archive(self, thread_id: str) -> ThreadRecord:
        record = await self._require(thread_id)
        source = record.rollout_path
        if not is_inside(self._home, source, (SESSIONS_SUBDIR,)):
            raise StoreError(f"thread {record.id} is already archived")
        if not source.name.endswith(f"{record.id}.jsonl"):
            raise StoreError(f"rollout `{source}` does not belong to thread {record.id}")
        target = archived_path_for(self._home, source.name)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)

        await self._io(move)
        now = now_ms()
        await self._index.update(
            record.id, rollout_path=str(target), archived=1, archived_at_ms=now
        )
        return replace(record, rollout_path=target, archived=True, archived_at_ms=now)

    async def unarchive(self, thread_id: str) -> ThreadRecord:
        record = await self._require(thread_id)
        source = record.rollout_path
        if not is_inside(self._home, source, (ARCHIVED_SESSIONS_SUBDIR,)):
            raise StoreError(f"thread {record.id} is not archived")
        target = unarchived_path_for(self._home, source.name)
        if target is None or not source.name.endswith(f"{record.id}.jsonl"):
            raise StoreError(f"rollout `{source}` does not belong to thread {record.id}")
        now = now_ms()

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            os.utime(target, ns=(now * 1_000_000, now * 1_000_000))

        await self._io(move)
        await self._index.update(
            record.id, rollout_path=str(target), archived=0, archived_at_ms=None,
            updated_at_ms=now,
        )
        return replace(
            record, rollout_path=target, archived=False, archived_at_ms=None, updated_at_ms=now
        )

    # -- delete ------------------------------------------------------------------------------
    async def delete_thread(self, thread_id: str) -> int:
        """Unlink every rollout of the thread (live and archived; only regular files
        inside this home), then its row and state rows."""
        canonical = thread_id.lower()
        if not is_valid_thread_id(canonical):
            raise StoreThreadNotFound(canonical)
        await self.open()
        record = await self._index.get(canonical)
        home = self._home

        def unlink_all() -> int:
            removed = 0
            first = record.rollout_path if record is not None else None
            if first is not None and self._usable(first) and first.name.endswith(
                f"{canonical}.jsonl"
            ):
                first.unlink()
                removed += 1
            for _ in range(16):  # a live and an archived copy, at most a few
                path = find_rollout_path(home, canonical)
                if path is None:
                    break
                path.unlink()
                removed += 1
            return removed

        removed = await self._io(unlink_all)
        await self._index.delete([canonical])
        await self.state.forget(canonical)
        return removed

    # -- writer lease ------------------------------------------------------------------------
    def lock_thread(self, thread_id: str) -> ThreadLease:
        """An ``flock`` under ``<home>/locks/`` (see :mod:`threadline.store.locks`)."""
        return locks.acquire_thread_lock(self._home / locks.LOCKS_SUBDIR, thread_id.lower())

    # -- rebuild -----------------------------------------------------------------------------
    async def reindex(self) -> ReindexReport:
        await self.open()
        task = self._backfill
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return await self._rebuild(only_missing=False)

    async def _rebuild(
        self, *, only_missing: bool, first_batch: asyncio.Event | None = None
    ) -> ReindexReport:
        """Index every rollout, in batches, reading heads and tails only.

        ``only_missing`` (the first-start backfill) never replaces a row that core
        wrote meanwhile and never deletes rows.
        """
        started = time.perf_counter()
        found = await self._io(lambda: _scan_rollouts(self._home))
        names = await self._io(lambda: read_session_names(self._home))
        paths = sorted(found.values(), key=lambda p: p.name, reverse=True)  # newest first
        indexed = skipped = 0
        for start in range(0, len(paths), _BATCH):
            chunk = paths[start : start + _BATCH]
            records, bad = await self._io(lambda c=chunk: _build_records(c, found.get, names))  # type: ignore[misc]
            skipped += bad
            if records:
                records = await self._with_git_edits(records)
                await self._index.upsert_many(records, only_missing=only_missing)
            indexed += len(records)
            if first_batch is not None:
                first_batch.set()
        removed = 0
        if not only_missing:
            existing = await self._index.paths()
            gone = [tid for tid in existing if tid not in found]
            if gone:
                removed = await self._index.delete(gone)
        if first_batch is not None:
            first_batch.set()
        log.info(
            "indexed %d rollouts (%d skipped, %d rows removed) in %.0f ms",
            indexed, skipped, removed, (time.perf_counter() - started) * 1000,
        )
        return ReindexReport(indexed=indexed, skipped=skipped, removed=removed)
