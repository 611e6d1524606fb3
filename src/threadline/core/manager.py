"""ThreadManager: owns every loaded thread (start, resume, fork, get, unload).

Storage is reached only through the :class:`ThreadStore` (create, locate, load,
fork, append, metadata, list, the writer lease); settings, model clients, tools and
the construction of a :class:`Thread` are :class:`ThreadSetup`'s. What is left here
is the live map and the order in which those are called.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline import __version__
from threadline.core.config import Config, load_config
from threadline.core.errors import InvalidRequest, ThreadNotFound, storing
from threadline.core.ids import check_thread_id, new_thread_id
from threadline.core.indexing import IndexKeeper, git_record, record_for
from threadline.core.provider_choice import default_provider_id
from threadline.core.recorder import NullSink, RolloutSink
from threadline.core.session_meta import new_session_meta
from threadline.core.stored import StoredThreads, TurnHistory, as_invalid, label, thaw_collector
from threadline.store.base import ListQuery, StoredRef, StoreError

if TYPE_CHECKING:  # the thread web (core.setup, core.thread, tools) loads with the first thread
    from threadline.core.relay import RelayHub
    from threadline.core.settings import ThreadSettings
    from threadline.core.setup import ClientFactory, StartOptions, ThreadSetup
    from threadline.core.thread import Thread
    from threadline.core.thread_state import ThreadStateService
    from threadline.model.base import ModelClient
    from threadline.protocol.items import ResponseItem
    from threadline.protocol.rollout import GitInfo, SessionMeta
    from threadline.protocol.v2.turn import Turn
    from threadline.store.base import (
        ListPage,
        ReindexReport,
        StoredThread,
        ThreadLease,
        ThreadRecord,
        ThreadStore,
    )
    from threadline.tools.registry import ToolRegistry

__all__ = ["ClientFactory", "StartOptions", "ThreadManager"]


def __getattr__(name: str) -> Any:  # the re-exports load core.setup when first asked for
    if name in ("ClientFactory", "StartOptions"):
        from threadline.core import setup
        return getattr(setup, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger(__name__)
READY_PROBE_S = 2.0
"""How long ``/readyz`` waits for the store to answer before calling it not ready."""


class ThreadManager:
    """The live-thread map and the factory for new, resumed and forked threads."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        client_factory: ClientFactory | None = None,
        store: ThreadStore | None = None,
    ) -> None:
        if config is None:
            config = load_config()
        self.config = config
        self.home: Path = config.home
        self._client_factory = client_factory
        self._threads: dict[str, Thread] = {}
        self._on_loaded: list[Callable[[Thread], None]] = []
        if store is None:
            from threadline.core.store_config import open_store

            store = open_store(config)
        self.store: ThreadStore = store
        self._stored = StoredThreads(store)
        self._index = IndexKeeper(store, __version__)
        self._usage_owner: dict[str, str | None] = {}
        self._stubbed: dict[str, int] = {}
        """Threads resumed with ``excludeTurns``: how many leading turns have no items."""
        self._leases: dict[str, ThreadLease] = {}
        self._resuming: dict[str, asyncio.Lock] = {}

    @cached_property  # built on first need (a list or a read needs none of the three)
    def setup(self) -> ThreadSetup:
        """Settings, model clients, tools and the construction of a :class:`Thread`."""
        from threadline.core.setup import ThreadSetup, default_client_factory

        setup = ThreadSetup(self.config, self._client_factory or default_client_factory)
        setup.goal_backend = self.thread_state
        return setup

    @cached_property
    def thread_state(self) -> ThreadStateService:
        """Goals, sections, attachments, metadata edits, delete and revert."""
        from threadline.core.thread_state import ThreadStateService
        return ThreadStateService(self)

    @cached_property
    def relay(self) -> RelayHub:
        """The threads other servers run (core.relay)."""
        from threadline.core.relay import RelayHub
        return RelayHub(self, self._register)

    # ---- lookup ---------------------------------------------------------------------

    def list_loaded(self) -> list[str]:
        """Ids of every thread loaded in this process, oldest first."""
        return list(self._threads)

    def get(self, thread_id: str) -> Thread:
        thread = self._threads.get(thread_id)
        if thread is None:
            raise ThreadNotFound(thread_id)
        return thread

    def find(self, thread_id: str) -> Thread | None:
        return self._threads.get(thread_id)

    def on_thread_loaded(self, callback: Callable[[Thread], None]) -> None:
        """Call ``callback(thread)`` whenever a thread becomes loaded (start, resume, fork)."""
        self._on_loaded.append(callback)

    def usage_owner(self, thread_id: str) -> str | None:
        """The turn the restored token usage belongs to (set by resume and fork)."""
        return self._usage_owner.get(thread_id)

    # ---- settings (see ThreadSetup) ---------------------------------------------------

    def default_provider_id(self) -> str:
        return default_provider_id(self.config)  # without the thread web (a list needs it)

    def default_model(self, provider_id: str) -> str:
        return self.setup.default_model(provider_id)

    def client_for(self, provider_id: str) -> ModelClient:
        return self.setup.client_for(provider_id)

    def settings_for(self, opts: StartOptions) -> ThreadSettings:
        return self.setup.settings_for(opts)

    def tools_for(self, settings: ThreadSettings) -> ToolRegistry:
        return self.setup.tools_for(settings)

    # ---- start ------------------------------------------------------------------------

    def start_thread(self, opts: StartOptions) -> Thread:
        """Create a new thread. Its rollout file appears with the first user message."""
        if not opts.ephemeral:
            self._stored.require_writable_sessions("start a thread")
        settings = self.settings_for(opts)
        client = self.client_for(settings.model_provider)
        thread_id = new_thread_id()
        now = datetime.now(UTC)
        sink: RolloutSink = NullSink()
        meta: SessionMeta | None = None
        lease = None if settings.ephemeral else self._lock(thread_id)
        try:
            if not settings.ephemeral:
                meta = new_session_meta(thread_id, settings, now)
                sink = self.store.create_thread(
                    meta,
                    extended_history=settings.persist_extended_history,
                    fsync=self.config.rollout_fsync,
                )
            thread = self.setup.build_thread(
                thread_id, settings, client, sink, created_at=now.timestamp()
            )
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        self._register(thread, meta.git if meta is not None else None, lease)
        return thread

    # ---- writer leases ----------------------------------------------------------------

    def _lock(self, thread_id: str) -> ThreadLease:
        """This process's writer lease on ``thread_id`` (see ``ThreadStore.lock_thread``)."""
        try:
            return self.store.lock_thread(thread_id)
        except StoreError as exc:
            raise InvalidRequest(exc.message) from exc

    def _release(self, thread_id: str) -> None:
        lease = self._leases.pop(thread_id, None)
        if lease is not None:
            lease.release()

    def _register(
        self, thread: Thread, git: GitInfo | None = None, lease: ThreadLease | None = None
    ) -> None:
        self._threads[thread.id] = thread
        if lease is not None:
            self._leases[thread.id] = lease
        self._index.attach(thread, git=git_record(git))
        if self.relay.attach_owned(thread, lease):  # this server runs it (core.relay)
            self.thread_state.watch(thread)
        for cb in list(self._on_loaded):
            try:
                cb(thread)
            except Exception:
                log.exception("on_thread_loaded callback failed")

    # ---- unload / shutdown ------------------------------------------------------------

    async def unload(self, thread_id: str) -> None:
        thread = self._threads.pop(thread_id, None)
        if thread is not None:
            try:
                await thread.shutdown_and_wait()
            finally:  # the rollout is closed (or cannot be): another process may take it
                self._release(thread_id)
            self._index.schedule(thread)
            await self._index.drain()
            self._index.forget(thread_id)
            self._usage_owner.pop(thread_id, None)
            self._stubbed.pop(thread_id, None)
            self._resuming.pop(thread_id, None)
            thaw_collector()  # a resume's collector pause froze it (cycles, history): free it

    async def store_problem(self) -> str | None:
        """Why the thread store cannot serve now (a database store that does not answer),
        or ``None``; the file store always can."""
        probe = getattr(self.store, "problem", None)
        if probe is None:
            return None
        try:  # a probe must answer quickly: a database that hangs is not ready either
            problem: str | None = await asyncio.wait_for(probe(), READY_PROBE_S)
        except TimeoutError:
            return f"the thread store did not answer within {READY_PROBE_S:g} s"
        return problem

    async def shutdown(self) -> None:
        threads = list(self._threads.values())
        self._threads.clear()
        for thread in threads:
            with contextlib.suppress(Exception):
                await thread.shutdown_and_wait()
            self._release(thread.id)
            self._index.schedule(thread)
        for thread_id in list(self._leases):
            self._release(thread_id)
        with contextlib.suppress(Exception):
            await self._index.drain()
        with contextlib.suppress(Exception):
            await self.store.close()
        if "setup" in self.__dict__:  # built: it may hold model clients
            await self.setup.close_clients()
        await asyncio.sleep(0)

    # ---- resume / fork ----------------------------------------------------------------

    async def resume_thread(
        self,
        thread_id: str | None = None,
        *,
        path: str | None = None,
        history: list[ResponseItem] | None = None,
        overrides: StartOptions | None = None,
        exclude_turns: bool = False,
    ) -> Thread:
        """Load a thread from its rollout (cold resume). Precedence: history > path > id.

        A thread that is already loaded is returned as it is (rejoin); callers that
        must reject a mismatched ``path`` or a ``history`` check :meth:`find` first.
        With ``exclude_turns`` the store may leave the items of all but the last turn
        unread (they are read when asked for: :meth:`turn_history`, :meth:`full_turns`).
        """
        from threadline.core.setup import StartOptions

        opts = overrides or StartOptions()
        if history is not None:
            if not history:
                raise InvalidRequest("history must not be empty")
            thread = self.start_thread(opts)
            await thread.inject_response_items(history)
            return thread
        if path:
            ref = await self._stored.locate(path=path)
        elif thread_id:
            existing = self._threads.get(thread_id)
            if existing is not None:
                return existing
            ref = await self._stored.locate(thread_id)
        else:
            raise InvalidRequest("thread/resume needs a threadId, a path or a history")
        if ref.archived:
            raise InvalidRequest(
                f"thread {thread_id or label(ref)} is archived; unarchive it before resuming"
            )
        await asyncio.to_thread(self._stored.require_resumable, ref, thread_id)
        with_turns = not exclude_turns
        stored = await self._stored.load(ref, for_resume=True, with_turns=with_turns)
        canonical = stored.thread_id
        # One resume per thread at a time in this process; later ones rejoin the first.
        async with self._resuming.setdefault(canonical, asyncio.Lock()):
            loaded = self._threads.get(canonical)
            if loaded is not None:
                return loaded
            try:
                lease = self._lock(canonical)
            except InvalidRequest as refused:  # held by another server: followed from here
                return await self.relay.follow(stored, refused)
            try:
                if await self.store.changed_since(stored):
                    # Written since we read it (by a holder that has just let go): read again.
                    stored = await self._stored.load(ref, for_resume=True, with_turns=with_turns)
                return await self._spawn_restored(stored, opts, lease)
            except BaseException:
                if self._leases.get(canonical) is not lease:
                    lease.release()
                raise

    async def _spawn_restored(
        self, stored: StoredThread, opts: StartOptions, lease: ThreadLease | None = None
    ) -> Thread:
        recon, meta = stored.recon, stored.meta
        record = await self.store.get(meta.id, repair=False)
        settings = self.setup.restored_settings(stored, opts, record)
        client = self.client_for(settings.model_provider)
        sink = await self.store.resume_thread(
            stored,
            extended_history=settings.persist_extended_history,
            fsync=self.config.rollout_fsync,
        )
        thread = self.setup.build_thread(
            meta.id,
            settings,
            client,
            sink,
            created_at=stored.created_at,
            restored=stored,
            name=recon.name or (record.name if record else None),
            forked_from_id=meta.forked_from_id,
        )
        thread.updated_at = stored.updated_at
        cut = recon.cut_off
        if cut is not None:  # the turn's own policy, unless this resume sets one
            cut = replace(
                cut,
                approval_policy=None if opts.approval_policy else cut.approval_policy,
                sandbox_mode=None if opts.sandbox_mode else cut.sandbox_mode,
            )
        thread.session.cut_off = cut  # continued by continue_cut_off_turn
        from threadline.core.pending_asks import mark_continuing

        mark_continuing(thread.session.turns, cut)
        self._usage_owner[thread.id] = recon.usage_turn_id
        if recon.stubbed_turns:
            self._stubbed[thread.id] = recon.stubbed_turns
        path = sink.path
        if path is not None and (record is None or record.rollout_path != path):
            await self.store.upsert(
                record_for(thread, path, cli_version=meta.cli_version, git=git_record(meta.git))
            )
        self._register(thread, meta.git, lease)
        return thread

    def continue_cut_off_turn(self, thread: Thread) -> str | None:
        """Continue the turn a restart cut off while it waited on the client (once, after
        the resuming connection subscribed: it is asked again). Its id, or ``None``."""
        return thread.session.continue_cut_off()

    async def fork_thread(
        self,
        thread_id: str | None = None,
        *,
        path: str | None = None,
        overrides: StartOptions | None = None,
        ephemeral: bool = False,
    ) -> Thread:
        """A new thread whose history is a copy of the source's persisted history.

        The source is read from the store, so a running source keeps going undisturbed.
        A source that ends mid-turn is copied with an interruption marker.
        """
        from threadline.core.setup import StartOptions
        from threadline.core.turn import TURN_ABORTED_MESSAGE

        opts = replace(overrides or StartOptions(), ephemeral=ephemeral)
        if not ephemeral:
            self._stored.require_writable_sessions("fork a thread")
        if path:
            ref = await self._stored.locate(path=path)
        elif thread_id:
            ref = await self._stored.locate(thread_id)
        else:
            raise InvalidRequest("thread/fork needs a threadId or a path")
        stored = await self._stored.load(ref)
        with as_invalid():
            source = await self.store.fork_source(stored, interrupted_marker=TURN_ABORTED_MESSAGE)
        parent = source.parent
        opts_cwd = opts if opts.cwd is not None else replace(opts, cwd=parent.cwd or None)
        if opts_cwd.cwd is not None and not Path(opts_cwd.cwd).is_dir():
            opts_cwd = replace(opts_cwd, cwd=None)
        if opts_cwd.dynamic_tools is None and parent.dynamic_tools:  # kept, as Codex keeps them
            opts_cwd = replace(opts_cwd, dynamic_tools=tuple(parent.dynamic_tools))
        settings = self.settings_for(opts_cwd)
        client = self.client_for(settings.model_provider)
        new_id = new_thread_id()
        now = datetime.now(UTC)
        sink: RolloutSink = NullSink()
        meta: SessionMeta | None = None
        lease = None if settings.ephemeral else self._lock(new_id)
        try:
            if not settings.ephemeral:
                meta = new_session_meta(new_id, settings, now, forked_from_id=parent.id)
                sink = await self.store.fork_thread(
                    meta,
                    source,
                    extended_history=settings.persist_extended_history,
                    fsync=self.config.rollout_fsync,
                )
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        thread = self.setup.build_thread(
            new_id,
            settings,
            client,
            sink,
            created_at=now.timestamp(),
            restored=source,
            forked_from_id=parent.id,
        )
        self._usage_owner[new_id] = source.recon.usage_turn_id
        self._register(thread, meta.git if meta is not None else None, lease)
        if not settings.ephemeral and sink.path is not None:
            await self.store.upsert(record_for(thread, sink.path, cli_version=__version__))
        return thread

    # ---- list / read / name / archive -------------------------------------------------

    async def list_threads(self, query: ListQuery) -> ListPage:
        return await self.store.list(query)

    async def read_thread(
        self, thread_id: str, *, include_turns: bool = True
    ) -> tuple[ThreadRecord, list[Turn]]:
        """The index row and (optionally) the turns of a thread, loaded or not."""
        canonical = check_thread_id(thread_id)
        loaded = self._threads.get(canonical)
        if loaded is not None and loaded.settings.ephemeral:
            if include_turns:
                raise InvalidRequest("ephemeral threads do not support includeTurns")
            raise InvalidRequest(f"thread {canonical} is ephemeral and has no rollout")
        record = await self.store.get(canonical)
        if record is None:
            if loaded is not None:
                path = loaded.rollout_path()
                assert path is not None
                return record_for(loaded, path, cli_version=__version__), (
                    list(loaded.turns) if include_turns else []
                )
            await self._stored.locate(canonical)  # raises the error naming what is missing
            raise InvalidRequest(f"no rollout found for thread id {canonical}")
        if not include_turns:
            return record, []
        if loaded is not None:
            return record, await self.full_turns(loaded)
        ref = StoredRef(record.id, record.rollout_path, record.archived)
        return record, await self._stored.turns(ref)  # no more than the turns need

    async def turn_history(self, thread_id: str) -> TurnHistory:
        """A thread's turns for ``thread/turns/list`` and ``thread/items/list``: a loaded
        thread's from memory, a stored one's through the store's offset index."""
        canonical = check_thread_id(thread_id)
        loaded = self._threads.get(canonical)
        if loaded is not None:
            turns = list(loaded.turns)
            stubs = self._stubbed.get(canonical, 0)

            async def read(positions: Sequence[int]) -> list[Turn]:
                wanted = [p for p in positions if 0 <= p < len(turns)]
                return await self._with_items(loaded, turns, wanted, stubs)

            return TurnHistory(ids=[t.id for t in turns], reader=read, live=True)
        try:
            ref = await self._stored.locate(canonical)
        except InvalidRequest as exc:
            if str(exc).startswith("no rollout found"):
                raise InvalidRequest(f"thread not loaded: {canonical}") from None  # Codex's words
            raise
        return await self._stored.turn_history(ref)

    async def _with_items(
        self, thread: Thread, turns: list[Turn], positions: list[int], stubs: int
    ) -> list[Turn]:
        """``turns[p]`` for each position, the turns a resume left without items read
        from the store (the first ``stubs`` of them, as long as their ids still match)."""
        missing = [p for p in positions if p < stubs and turns[p].items_view == "notLoaded"]
        found: dict[int, Turn] = {}
        path = thread.rollout_path()
        if missing and path is not None:
            history = await self._stored.turn_history(StoredRef(thread.id, path))
            read = zip(missing, await history.read(missing), strict=False)
            found = {p: turn for p, turn in read if turn.id == turns[p].id}
        return [found.get(p, turns[p]) for p in positions]

    async def full_turns(self, thread: Thread) -> list[Turn]:
        """A loaded thread's turns with their items (read from the store for those a
        resume left unread)."""
        turns = list(thread.turns)
        stubs = self._stubbed.get(thread.id, 0)
        if not stubs:
            return turns
        return await self._with_items(thread, turns, list(range(len(turns))), stubs)

    async def latest_thread_id(self, cwd: str | None = None) -> str | None:
        page = await self.store.list(
            ListQuery(limit=1, sort_key="updated_at", cwds=(cwd,) if cwd else None)
        )
        return page.records[0].id if page.records else None

    async def set_thread_name(self, thread_id: str, name: str | None) -> None:
        """Rename a thread; ``None`` or a blank name clears it (see ``StoredThreads.rename``).

        A loaded thread's index row is written again once the name is stored: an index
        write already in flight carries the old name and may commit after the rename.
        """
        canonical = check_thread_id(thread_id)
        clean = name.strip() if name is not None else None
        loaded = self._threads.get(canonical)
        await self._stored.rename(canonical, clean or None, loaded)
        if loaded is not None:
            await self._index.rewrite(loaded)

    async def set_memory_mode(self, thread_id: str, mode: str) -> None:
        """Record the mode as Codex does: a copy of ``session_meta`` carrying it is appended."""
        if mode not in ("enabled", "disabled"):
            raise InvalidRequest(f"unknown memory mode {mode!r}; expected enabled or disabled")
        canonical = check_thread_id(thread_id)
        await self._stored.set_memory_mode(canonical, mode, self._threads.get(canonical))

    async def archive_thread(self, thread_id: str) -> ThreadRecord:
        canonical = check_thread_id(thread_id)
        ref = await self._stored.locate(canonical)
        if ref.archived:
            raise InvalidRequest(f"thread {canonical} is already archived")
        action = f"archive thread {canonical}"
        await self._stored.require_writable(action, ref, "archive")
        if canonical in self._threads:
            await self.unload(canonical)
        lease = self._lock(canonical)  # not while another process has it loaded
        try:
            with storing(action):
                return await self.store.archive(canonical)
        finally:
            lease.release()

    async def unarchive_thread(self, thread_id: str) -> ThreadRecord:
        canonical = check_thread_id(thread_id)
        ref = await self._stored.locate(canonical)
        if not ref.archived:
            raise InvalidRequest(f"thread {canonical} is not archived")
        action = f"unarchive thread {canonical}"
        await self._stored.require_writable(action, ref, "unarchive")
        with storing(action):
            return await self.store.unarchive(canonical)

    async def rollback_thread(self, thread_id: str, num_turns: int) -> Thread:
        """Drop the newest ``num_turns`` user turns from the model history (marker persisted)."""
        thread = self.get(thread_id)
        if num_turns < 1:
            raise InvalidRequest("numTurns must be >= 1")
        if thread.active is not None:
            raise InvalidRequest("cannot roll back while a turn is running")
        path = thread.rollout_path()
        if path is None or not thread.rollout_materialized:
            raise InvalidRequest(f"thread {thread.id} has no persisted turns to roll back")
        from threadline.protocol.rollout import EventMsg
        event = EventMsg.model_validate({"type": "thread_rolled_back", "num_turns": num_turns})
        await thread.record_rollout_items([event])
        stored = await self._stored.load(StoredRef(thread.id, path))
        thread.replace_history(stored.recon.history, stored.recon.turns)
        self._stubbed.pop(thread.id, None)
        return thread

    async def reindex(self) -> ReindexReport:
        return await self.store.reindex()

    async def drain_index(self) -> None:
        await self._index.drain()

