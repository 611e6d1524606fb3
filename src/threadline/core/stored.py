"""Core's side of the storage boundary: stored histories as ``ThreadManager`` uses them.

:class:`StoredThreads` wraps the :class:`ThreadStore` with what core adds: thread ids
validated as Codex does, a store's refusal answered as :class:`InvalidRequest` (the
store's message, unchanged), the up-front writability checks of a read-only home
(:class:`NotWritable`), and the two metadata changes that write to a thread's history
as well as to the index (rename, memory mode), for loaded and unloaded threads alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from threadline.core.errors import InvalidRequest, NotWritable, storing
from threadline.core.ids import check_thread_id
from threadline.protocol.lazy_module import lazy_attribute
from threadline.store.base import (
    Change,
    StoredRef,
    StoredThread,
    StoreError,
    ThreadStore,
    TurnsReader,
)
from threadline.store.gc_pause import gc_paused, pause_gc, paused, thaw

if TYPE_CHECKING:  # a loaded thread is passed in: core.thread loads with the first one
    from threadline.core.thread import Thread
    from threadline.protocol.rollout import EventMsg
    from threadline.protocol.v2.turn import Turn
else:  # the rollout models load with the first rename, not at start
    EventMsg = lazy_attribute("threadline.protocol.rollout", "EventMsg", around=gc_paused)

__all__ = [
    "StoredThreads", "TurnHistory", "as_invalid", "loading", "pause_collector", "thaw_collector",
]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def as_invalid() -> Iterator[None]:
    """A store's refusal (a missing, refused or unreadable history) answers the request
    as core's :class:`InvalidRequest`, with the store's message."""
    try:
        yield
    except StoreError as exc:
        raise InvalidRequest(exc.message) from exc


COLLECTOR_PAUSE_LIMIT_S = 30.0
"""The longest :func:`pause_collector` holds the collector off when nobody releases it."""


def pause_collector() -> Callable[[], None]:
    """Pause the cyclic garbage collector until the returned function is called (counted
    with the store's own pauses while it loads; calling it twice is harmless). A request
    that loads a big history holds it until its answer is serialized: that answer's
    objects would otherwise set off full collections that walk them all and free
    nothing. Whatever happens, the pause ends after :data:`COLLECTOR_PAUSE_LIMIT_S`."""
    release = pause_gc()
    with contextlib.suppress(RuntimeError):  # no running loop: the caller releases it
        asyncio.get_running_loop().call_later(COLLECTOR_PAUSE_LIMIT_S, release)
    return release


def thaw_collector() -> None:
    """A loaded thread was let go: what the collector's pauses froze while it was loaded
    (its reference cycles, its history) goes back to the collector, to be freed."""
    thaw()


def loading() -> bool:
    """Whether a big history is being loaded or answered now (the collector's pause is
    on): background work such as the warm-up may wait, it would slow that request."""
    return paused()


def label(ref: StoredRef) -> str:
    """How an error names a stored thread found by path."""
    return ref.path.name if ref.path is not None else str(ref.thread_id)


@dataclass(frozen=True, slots=True)
class TurnHistory:
    """A thread's visible turns for paging: their ids (oldest first) and a reader of the
    turns at given positions (a loaded thread's from memory, a stored one's from the
    store, which reads only those turns)."""

    ids: list[str]
    reader: Callable[[Sequence[int]], Awaitable[list[Turn]]]
    live: bool = False
    """Whether the turns are a loaded thread's (its last one may be running)."""

    async def read(self, positions: Sequence[int]) -> list[Turn]:
        return await self.reader(positions) if positions else []


class StoredThreads:
    """Locating, loading and changing stored threads through one ``ThreadStore``."""

    def __init__(self, store: ThreadStore) -> None:
        self.store = store

    async def locate(self, thread_id: str | None = None, *, path: str | None = None) -> StoredRef:
        """The stored thread by id (validated) or by the protocol's ``path``."""
        canonical = check_thread_id(thread_id) if thread_id and not path else None
        with as_invalid():
            return await self.store.locate(canonical, path=path)

    async def load(
        self, ref: StoredRef, *, for_resume: bool = False, with_turns: bool = True
    ) -> StoredThread:
        with as_invalid():
            return await self.store.load_history(
                ref, for_resume=for_resume, with_turns=with_turns
            )

    async def turns(self, ref: StoredRef) -> list[Turn]:
        """The visible turns of ``ref`` (``thread/read``): a store that can rebuild them
        alone (``TurnsReader``) does, any other loads the history whole."""
        with as_invalid():
            if isinstance(self.store, TurnsReader):
                return await self.store.all_turns(ref)
            return (await self.store.load_history(ref)).recon.turns

    async def turn_history(self, ref: StoredRef) -> TurnHistory:
        """The stored turns of ``ref`` for paging (see :class:`TurnHistory`)."""
        with as_invalid():
            ids = await self.store.turn_ids(ref)

        async def read(positions: Sequence[int]) -> list[Turn]:
            with as_invalid():
                return await self.store.read_turns(ref, positions)

        return TurnHistory(ids=ids, reader=read)

    # ---- writability (a read-only home) ------------------------------------------------

    def require_writable_sessions(self, action: str) -> None:
        """A new thread must be creatable (not so in a read-only home)."""
        reason = self.store.writable_problem()
        if reason is not None:
            raise InvalidRequest(
                f"cannot {action}: {reason}, so no rollout can be written there "
                "(use an ephemeral thread, or a writable THREADLINE_HOME)"
            )

    def require_resumable(self, ref: StoredRef, thread_id: str | None) -> None:
        reason = self.store.writable_problem(ref)
        if reason is not None:
            raise InvalidRequest(
                f"cannot resume thread {thread_id or label(ref)}: {reason}, so its rollout "
                "cannot record new turns (thread/read works without resuming)"
            )

    async def require_writable(
        self, action: str, ref: StoredRef | None, change: Change = "write"
    ) -> None:
        """Refuse a change up front when the store cannot make it, as in a read-only
        home: nothing is touched then."""
        if ref is None or ref.path is None:
            return
        reason = await asyncio.to_thread(self.store.writable_problem, ref, change)
        if reason is not None:
            raise NotWritable(action, reason)

    # ---- metadata that is also history --------------------------------------------------

    async def rename(self, canonical: str, clean: str | None, loaded: Thread | None) -> None:
        """Rename a thread; the new name is applied in memory only once it is stored.

        First the history's ``thread_name_updated`` line (durable; when the write fails it
        is dropped, never retried by a later flush), then the index's name. If that fails
        after the history line was written, a line restoring the previous name follows
        it, so a rename that failed never takes effect later, not even after a reindex.
        """
        ref: StoredRef | None = None
        if loaded is not None:
            previous = loaded.name
        else:
            ref = await self.locate(canonical)
            record = await self.store.get(canonical)
            previous = record.name if record is not None else None
        action = f"rename thread {canonical}"
        await self.require_writable(action, ref)
        with storing(action):
            written = await self._write_name(canonical, clean, loaded, ref)
        try:
            with storing(action):
                await self.store.set_name(canonical, clean)
        except BaseException:
            if written:
                try:
                    await self._write_name(canonical, previous, loaded, ref)
                except Exception:
                    log.exception(
                        "renaming %s failed, and its rollout still names it %r", canonical, clean
                    )
            raise
        if loaded is not None:
            loaded.name = clean

    async def _write_name(
        self, thread_id: str, name: str | None, loaded: Thread | None, ref: StoredRef | None
    ) -> bool:
        """Append the rename to the history, durably or not at all; False when there is
        no stored history yet (a loaded thread before its first turn)."""
        event = EventMsg.model_validate(
            {"type": "thread_name_updated", "thread_id": thread_id, "thread_name": name}
        )
        if loaded is not None:
            if not loaded.rollout_materialized:
                return False
            await loaded.record_rollout_items_or_discard([event])
            return True
        assert ref is not None
        await self.store.append_items(ref, [event], durable=True)
        return True

    async def set_memory_mode(self, canonical: str, mode: str, loaded: Thread | None) -> None:
        """Record the mode as Codex does: a copy of ``session_meta`` carrying it is appended."""
        ref: StoredRef | None
        if loaded is not None:
            await loaded.set_thread_memory_mode(mode)
            path = loaded.rollout_path() if loaded.rollout_materialized else None
            ref = StoredRef(canonical, path) if path is not None else None
        else:
            ref = await self.locate(canonical)
        if ref is None:
            return  # nothing stored yet; the index row appears with the first turn
        action = f"set the memory mode of thread {canonical}"
        await self.require_writable(action, ref)
        with as_invalid():
            head = await self.store.read_meta(ref)
        meta = head.model_copy(update={"memory_mode": mode})
        if loaded is not None:
            await loaded.record_rollout_items([meta])
        else:
            with storing(action):
                await self.store.append_items(ref, [meta])
        await self.store.set_memory_mode(canonical, mode)
