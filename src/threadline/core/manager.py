"""ThreadManager: owns every loaded thread (start, resume, fork, get, unload)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from threadline import __version__
from threadline.core.config import Config
from threadline.core.errors import InvalidRequest, NotWritable, ThreadNotFound, storing
from threadline.core.gitinfo import git_info
from threadline.core.persistence import (
    IndexKeeper,
    Restored,
    check_rollout_path,
    check_thread_id,
    fork_lines,
    load_rollout,
    ms_of_timestamp,
    record_for,
)
from threadline.core.recorder import NullSink, RolloutSink
from threadline.core.settings import DEFAULT_BASE_INSTRUCTIONS, ThreadSettings
from threadline.core.thread import Thread
from threadline.model.base import ModelClient, ModelError
from threadline.protocol.items import ResponseItem
from threadline.protocol.rollout import (
    BaseInstructions,
    EventMsg,
    GitInfo,
    RolloutLine,
    SessionMeta,
    dump_line_json,
    format_rollout_timestamp,
)
from threadline.protocol.v2.turn import Turn
from threadline.rollout.files import rollout_file_problem, unmovable_reason, unwritable_reason
from threadline.rollout.history import reconstruct
from threadline.rollout.paths import (
    ARCHIVED_SESSIONS_SUBDIR,
    archived_path_for,
    find_rejected_rollout,
    is_inside,
    new_thread_id,
    rollout_path_for,
    unarchived_path_for,
)
from threadline.rollout.policy import PersistencePolicy
from threadline.rollout.reader import read_head, read_rollout
from threadline.rollout.writer import RolloutWriter, append_synced, append_to_rollout
from threadline.store.base import (
    GitRecord,
    ListPage,
    ListQuery,
    ReindexReport,
    StoreError,
    ThreadLease,
    ThreadRecord,
    ThreadStore,
)
from threadline.tools.plan import UpdatePlanTool
from threadline.tools.registry import ToolRegistry
from threadline.tools.shell import ExecCommandTool

log = logging.getLogger(__name__)

ClientFactory = Callable[[Config, str], ModelClient]
"""Builds the model client for ``(config, provider_id)``."""


@dataclass(frozen=True, slots=True)
class StartOptions:
    """What ``thread/start`` (or ``threadline exec``) may set for a new thread."""

    cwd: str | None = None
    model: str | None = None
    model_provider: str | None = None
    approval_policy: str | None = None
    approvals_reviewer: str | None = None
    sandbox_mode: str | None = None
    reasoning_effort: str | None = None
    personality: str | None = None
    service_tier: str | None = None
    base_instructions: str | None = None
    developer_instructions: str | None = None
    ephemeral: bool = False
    persist_extended_history: bool = False
    source: str = "vscode"
    originator: str = "threadline"


def _default_client_factory(config: Config, provider_id: str) -> ModelClient:
    from threadline.core.providers import build_model_client

    return build_model_client(config.with_overrides(model_provider=provider_id))


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
            from threadline.core.config import load_config

            config = load_config()
        self.config = config
        self.home: Path = config.home
        self._client_factory = client_factory or _default_client_factory
        self._clients: dict[str, ModelClient] = {}
        self._threads: dict[str, Thread] = {}
        self._on_loaded: list[Callable[[Thread], None]] = []
        if store is None:
            from threadline.store.local import LocalThreadStore

            store = LocalThreadStore(self.home)
        self.store: ThreadStore = store
        self._index = IndexKeeper(store, __version__)
        self._usage_owner: dict[str, str | None] = {}
        self._leases: dict[str, ThreadLease] = {}
        self._resuming: dict[str, asyncio.Lock] = {}

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

    # ---- settings ---------------------------------------------------------------------

    def default_provider_id(self) -> str:
        if self.config.model_provider:
            return self.config.model_provider
        from threadline.core.providers import resolve_provider

        try:
            return resolve_provider(self.config).id
        except ModelError as exc:
            raise InvalidRequest(exc.message) from exc

    def default_model(self, provider_id: str) -> str:
        from threadline.core.providers import effective_model

        try:
            return effective_model(self.config.with_overrides(model_provider=provider_id))
        except ModelError as exc:
            raise InvalidRequest(exc.message) from exc

    def client_for(self, provider_id: str) -> ModelClient:
        """The shared client for ``provider_id``, built lazily (see :class:`LazyModelClient`)."""
        client = self._clients.get(provider_id)
        if client is None:
            from threadline.core.providers import LazyModelClient, resolve_provider

            factory = self._client_factory
            config = self.config
            if factory is _default_client_factory:
                try:  # unknown providers and missing keys fail here, not at the first turn
                    resolve_provider(config.with_overrides(model_provider=provider_id))
                except ModelError as exc:
                    raise InvalidRequest(exc.message) from exc
            client = LazyModelClient(provider_id, lambda: factory(config, provider_id))
            self._clients[provider_id] = client
        return client

    def settings_for(self, opts: StartOptions) -> ThreadSettings:
        cfg = self.config
        provider = opts.model_provider or self.default_provider_id()
        approval = opts.approval_policy or cfg.approval_policy
        if approval == "on-failure":
            approval = "on-request"
        return ThreadSettings(
            model=opts.model or self.default_model(provider),
            model_provider=provider,
            cwd=str(Path(opts.cwd or os.getcwd()).resolve()),
            approval_policy=approval,
            approvals_reviewer=opts.approvals_reviewer or "user",
            sandbox_mode=opts.sandbox_mode or cfg.sandbox_mode,
            reasoning_effort=opts.reasoning_effort or cfg.model_reasoning_effort,
            reasoning_summary=cfg.model_reasoning_summary,
            personality=opts.personality,
            service_tier=opts.service_tier,
            base_instructions=opts.base_instructions or cfg.instructions or DEFAULT_BASE_INSTRUCTIONS,
            developer_instructions=opts.developer_instructions or cfg.developer_instructions,
            ephemeral=opts.ephemeral,
            persist_extended_history=opts.persist_extended_history or cfg.persist_extended_history,
            session_source=opts.source,
            originator=opts.originator,
            model_context_window=cfg.model_context_window,
        )

    def tools_for(self, settings: ThreadSettings) -> ToolRegistry:
        swr = self.config.sandbox_workspace_write
        shell = ExecCommandTool(
            writable_roots=tuple(swr.writable_roots),
            network_access=swr.network_access,
            env_policy=self.config.shell_environment_policy,
            secret_env_names=self.config.provider_env_keys(),
            max_processes=self.config.sandbox_limits.max_processes,
            timeout_s=self.config.sandbox_limits.command_timeout_sec,
        )
        return ToolRegistry([shell, UpdatePlanTool()])

    # ---- start ------------------------------------------------------------------------

    def start_thread(self, opts: StartOptions) -> Thread:
        """Create a new thread. Its rollout file appears with the first user message."""
        if not opts.ephemeral:
            self._require_writable_sessions("start a thread")
        settings = self.settings_for(opts)
        client = self.client_for(settings.model_provider)
        thread_id = new_thread_id()
        now = datetime.now(UTC)
        sink: RolloutSink = NullSink()
        lease = None if settings.ephemeral else self._lock(thread_id)
        try:
            if not settings.ephemeral:
                sink = self._new_writer(thread_id, settings, now)
            thread = Thread(
                thread_id=thread_id,
                settings=settings,
                client=client,
                sink=sink,
                tools=self.tools_for(settings),
                features=dict(self.config.features),
                created_at=now.timestamp(),
            )
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        self._register(thread, _git_of(sink), lease)
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

    def _new_writer(
        self,
        thread_id: str,
        settings: ThreadSettings,
        now: datetime,
        *,
        forked_from_id: str | None = None,
    ) -> RolloutWriter:
        """The rollout writer of a new thread; its first line will be this ``session_meta``."""
        meta = SessionMeta(
            id=thread_id,
            timestamp=format_rollout_timestamp(now),
            cwd=settings.cwd,
            originator=settings.originator,
            cli_version=__version__,
            source=settings.session_source,
            model_provider=settings.model_provider,
            base_instructions=BaseInstructions(text=settings.base_instructions),
            forked_from_id=forked_from_id,
            git=git_info(settings.cwd),
        )
        return RolloutWriter.create(
            rollout_path_for(self.home, thread_id, now.astimezone()),
            meta,
            policy=PersistencePolicy(extended=settings.persist_extended_history),
            fsync=self.config.rollout_fsync,
        )

    def _register(
        self, thread: Thread, git: GitInfo | None = None, lease: ThreadLease | None = None
    ) -> None:
        self._threads[thread.id] = thread
        if lease is not None:
            self._leases[thread.id] = lease
        self._index.attach(thread, git=_git_record(git))
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
            self._resuming.pop(thread_id, None)

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
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()
        await asyncio.sleep(0)

    # ---- persistence: resume / fork ---------------------------------------------------

    def usage_owner(self, thread_id: str) -> str | None:
        """The turn the restored token usage belongs to (set by resume and fork)."""
        return self._usage_owner.get(thread_id)

    async def locate_rollout(self, thread_id: str) -> Path:
        """The rollout of ``thread_id`` (validated), or the reference errors.

        Only a regular file inside the home's sessions directories is a rollout: a
        symbolic link (wherever it points), a FIFO, a socket, a device or a directory
        with a rollout's name is refused with a message that says so.
        """
        canonical = check_thread_id(thread_id)
        path = await self.store.find_rollout(canonical)
        if path is None or not path.exists():
            raise await self._missing_rollout(canonical)
        home = self.home

        def problem_of() -> str | None:
            if not is_inside(home, path, follow_final=False):
                return f"it is outside the sessions directories of {home}"
            return rollout_file_problem(path)

        problem = await asyncio.to_thread(problem_of)
        if problem is not None:
            raise InvalidRequest(f"refusing rollout `{path}` of thread {canonical}: {problem}")
        return path

    async def _missing_rollout(self, canonical: str) -> InvalidRequest:
        """The error for a thread without a usable rollout; names a refused look-alike."""
        rejected = await asyncio.to_thread(find_rejected_rollout, self.home, canonical)
        if rejected is None:
            return InvalidRequest(f"no rollout found for thread id {canonical}")
        problem = rollout_file_problem(rejected) or "it changed while being checked"
        return InvalidRequest(f"refusing rollout `{rejected}` of thread {canonical}: {problem}")

    def _require_writable_sessions(self, action: str) -> None:
        """A new rollout must be creatable under ``sessions/`` (not so in a read-only home)."""
        reason = unwritable_reason(rollout_path_for(self.home, new_thread_id()))
        if reason is not None:
            raise InvalidRequest(
                f"cannot {action}: {reason}, so no rollout can be written there "
                "(use an ephemeral thread, or a writable THREADLINE_HOME)"
            )

    def _require_writable_rollout(self, path: Path, thread_id: str | None) -> None:
        reason = unwritable_reason(path)
        if reason is not None:
            raise InvalidRequest(
                f"cannot resume thread {thread_id or path.name}: {reason}, so its rollout "
                "cannot record new turns (thread/read works without resuming)"
            )

    @staticmethod
    async def _require_writable(action: str, path: Path | None, target: Path | None = None) -> None:
        """Refuse a change up front when ``path`` cannot be written (moved to ``target``,
        when given), as in a read-only home: nothing is touched then."""
        if path is None:
            return
        if target is None:
            reason = await asyncio.to_thread(unwritable_reason, path)
        else:
            reason = await asyncio.to_thread(unmovable_reason, path, target)
        if reason is not None:
            raise NotWritable(action, reason)

    def _is_archived(self, path: Path) -> bool:
        return path.parent == self.home / ARCHIVED_SESSIONS_SUBDIR

    async def resume_thread(
        self,
        thread_id: str | None = None,
        *,
        path: str | None = None,
        history: list[ResponseItem] | None = None,
        overrides: StartOptions | None = None,
    ) -> Thread:
        """Load a thread from its rollout (cold resume). Precedence: history > path > id.

        A thread that is already loaded is returned as it is (rejoin); callers that
        must reject a mismatched ``path`` or a ``history`` check :meth:`find` first.
        """
        opts = overrides or StartOptions()
        if history is not None:
            if not history:
                raise InvalidRequest("history must not be empty")
            thread = self.start_thread(opts)
            await thread.inject_response_items(history)
            return thread
        if path:
            rollout_path = check_rollout_path(self.home, path)
            if not rollout_path.exists():
                raise InvalidRequest(f"failed to load rollout `{path}`: no such file")
        elif thread_id:
            existing = self._threads.get(thread_id)
            if existing is not None:
                return existing
            rollout_path = await self.locate_rollout(thread_id)
        else:
            raise InvalidRequest("thread/resume needs a threadId, a path or a history")
        if self._is_archived(rollout_path):
            raise InvalidRequest(
                f"thread {thread_id or rollout_path.name} is archived; unarchive it before resuming"
            )
        await asyncio.to_thread(self._require_writable_rollout, rollout_path, thread_id)
        seen = await asyncio.to_thread(_file_state, rollout_path)
        restored = await load_rollout(rollout_path)
        canonical = restored.thread_id
        # One resume per thread at a time in this process; later ones rejoin the first.
        async with self._resuming.setdefault(canonical, asyncio.Lock()):
            loaded = self._threads.get(canonical)
            if loaded is not None:
                return loaded
            lease = self._lock(canonical)
            try:
                if await asyncio.to_thread(_file_state, rollout_path) != seen:
                    # Written since we read it (by a holder that has just let go): read again.
                    restored = await load_rollout(rollout_path)
                return await self._spawn_restored(restored, opts, lease)
            except BaseException:
                if self._leases.get(canonical) is not lease:
                    lease.release()
                raise

    async def _spawn_restored(
        self, restored: Restored, opts: StartOptions, lease: ThreadLease | None = None
    ) -> Thread:
        recon = restored.recon
        meta = recon.meta
        assert meta is not None
        record = await self.store.get(meta.id, repair=False)
        settings = self._restored_settings(restored, opts, record)
        client = self.client_for(settings.model_provider)
        sink = RolloutWriter.resume(
            restored.path,
            policy=PersistencePolicy(extended=settings.persist_extended_history),
            fsync=self.config.rollout_fsync,
        )
        await sink.open()
        mtime = restored.path.stat().st_mtime
        created = ms_of_timestamp(meta.timestamp, mtime) / 1000
        thread = Thread(
            thread_id=meta.id,
            settings=settings,
            client=client,
            sink=sink,
            tools=self.tools_for(settings),
            history=recon.history,
            token_info=recon.token_info,
            turns=recon.turns,
            features=dict(self.config.features),
            created_at=created,
            name=recon.name or (record.name if record else None),
            forked_from_id=meta.forked_from_id,
            preview=recon.preview,
        )
        thread.updated_at = mtime
        self._usage_owner[thread.id] = recon.usage_turn_id
        if record is None or record.rollout_path != restored.path:
            await self.store.upsert(
                record_for(
                    thread, restored.path, cli_version=meta.cli_version, git=_git_record(meta.git)
                )
            )
        self._register(thread, meta.git, lease)
        return thread

    def _restored_settings(
        self, restored: Restored, opts: StartOptions, record: ThreadRecord | None
    ) -> ThreadSettings:
        meta = restored.recon.meta
        assert meta is not None
        merged = opts
        if opts.cwd is None and meta.cwd:
            merged = replace(merged, cwd=meta.cwd if Path(meta.cwd).is_dir() else None)
        if opts.source == "vscode" and isinstance(meta.source, str):
            merged = replace(merged, source=meta.source)
        provider = opts.model_provider or self.default_provider_id()
        same_provider = meta.model_provider in (None, provider)
        if opts.model is None and opts.model_provider is None and same_provider:
            persisted = restored.recon.model or (record.model if record else None)
            if persisted:
                merged = replace(merged, model=persisted)
            effort = record.reasoning_effort if record else None
            if opts.reasoning_effort is None and effort:
                merged = replace(merged, reasoning_effort=effort)
        settings = self.settings_for(merged)
        memory_mode = (record.memory_mode if record else None) or meta.memory_mode
        if memory_mode:
            settings = replace(settings, memory_mode=memory_mode)
        return settings

    async def fork_thread(
        self,
        thread_id: str | None = None,
        *,
        path: str | None = None,
        overrides: StartOptions | None = None,
        ephemeral: bool = False,
    ) -> Thread:
        """A new thread whose history is a copy of the source's persisted history.

        The source is read from disk, so a running source keeps going undisturbed.
        A source that ends mid-turn is copied with an interruption marker.
        """
        opts = replace(overrides or StartOptions(), ephemeral=ephemeral)
        if not ephemeral:
            self._require_writable_sessions("fork a thread")
        if path:
            source_path = check_rollout_path(self.home, path)
            if not source_path.exists():
                raise InvalidRequest(f"failed to load rollout `{path}`: no such file")
        elif thread_id:
            source_path = await self.locate_rollout(thread_id)
        else:
            raise InvalidRequest("thread/fork needs a threadId or a path")
        source = await load_rollout(source_path)
        lines, marked = fork_lines(source)
        parent = source.recon.meta
        assert parent is not None
        opts_cwd = opts if opts.cwd is not None else replace(opts, cwd=parent.cwd or None)
        if opts_cwd.cwd is not None and not Path(opts_cwd.cwd).is_dir():
            opts_cwd = replace(opts_cwd, cwd=None)
        settings = self.settings_for(opts_cwd)
        client = self.client_for(settings.model_provider)
        new_id = new_thread_id()
        now = datetime.now(UTC)
        sink: RolloutSink
        lease = None if settings.ephemeral else self._lock(new_id)
        try:
            if settings.ephemeral:
                sink = NullSink()
            else:
                writer = self._new_writer(new_id, settings, now, forked_from_id=parent.id)
                await writer.materialize()
                await writer.append(lines)
                await writer.flush()
                sink = writer
            recon = source.recon
            if marked:  # the interruption marker changes history and the last turn
                copied = replace(source.rollout, lines=lines, own_start=0)
                recon = await asyncio.to_thread(reconstruct, copied)
        except BaseException:
            if lease is not None:
                lease.release()
            raise
        thread = Thread(
            thread_id=new_id,
            settings=settings,
            client=client,
            sink=sink,
            tools=self.tools_for(settings),
            history=recon.history,
            token_info=recon.token_info,
            turns=recon.turns,
            features=dict(self.config.features),
            created_at=now.timestamp(),
            name=None,
            forked_from_id=parent.id,
            preview=recon.preview,
        )
        self._usage_owner[new_id] = recon.usage_turn_id
        self._register(thread, _git_of(sink), lease)
        if not settings.ephemeral and sink.path is not None:
            await self.store.upsert(record_for(thread, sink.path, cli_version=__version__))
        return thread

    # ---- persistence: list / read / name / archive ------------------------------------

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
            raise await self._missing_rollout(canonical)
        if not include_turns:
            return record, []
        if loaded is not None:
            return record, list(loaded.turns)
        restored = await load_rollout(record.rollout_path)
        return record, restored.recon.turns

    async def latest_thread_id(self, cwd: str | None = None) -> str | None:
        page = await self.store.list(
            ListQuery(limit=1, sort_key="updated_at", cwds=(cwd,) if cwd else None)
        )
        return page.records[0].id if page.records else None

    async def set_thread_name(self, thread_id: str, name: str | None) -> None:
        """Rename a thread; ``None`` or a blank name clears it.

        The new name is applied in memory only once it is on disk: first the rollout's
        ``thread_name_updated`` line (synced; when the write fails it is dropped, never
        retried by a later flush), then the session index and the index row. If those
        fail after the rollout line was written, a line restoring the previous name
        follows it, so a rename that failed never takes effect later, not even when the
        index is rebuilt from the rollouts.
        """
        canonical = check_thread_id(thread_id)
        clean = name.strip() if name is not None else None
        if clean == "":
            clean = None
        loaded = self._threads.get(canonical)
        path: Path | None = None
        if loaded is not None:
            previous = loaded.name
        else:
            path = await self.locate_rollout(canonical)
            record = await self.store.get(canonical)
            previous = record.name if record is not None else None
        action = f"rename thread {canonical}"
        await self._require_writable(action, path)
        with storing(action):
            written = await self._write_name(canonical, clean, loaded, path)
        try:
            with storing(action):
                await self.store.set_name(canonical, clean)
        except BaseException:
            if written:
                try:
                    await self._write_name(canonical, previous, loaded, path)
                except Exception:
                    log.exception(
                        "renaming %s failed, and its rollout still names it %r", canonical, clean
                    )
            raise
        if loaded is not None:
            loaded.name = clean

    async def _write_name(
        self, thread_id: str, name: str | None, loaded: Thread | None, path: Path | None
    ) -> bool:
        """Append the rename to the rollout, synced or not at all; False when there is no
        rollout file yet (a loaded thread before its first turn)."""
        event = EventMsg.model_validate(
            {"type": "thread_name_updated", "thread_id": thread_id, "thread_name": name}
        )
        if loaded is not None:
            if not loaded.rollout_materialized:
                return False
            await loaded.record_rollout_items_or_discard([event])
            return True
        assert path is not None
        line = RolloutLine(
            timestamp=format_rollout_timestamp(datetime.now(UTC)),
            type="event_msg",
            payload=event.dump(),
        )
        data = (dump_line_json(line) + "\n").encode("utf-8")
        await asyncio.to_thread(append_synced, path, data)
        return True

    async def set_memory_mode(self, thread_id: str, mode: str) -> None:
        """Record the mode as Codex does: a copy of ``session_meta`` carrying it is appended."""
        if mode not in ("enabled", "disabled"):
            raise InvalidRequest(f"unknown memory mode {mode!r}; expected enabled or disabled")
        canonical = check_thread_id(thread_id)
        loaded = self._threads.get(canonical)
        if loaded is not None:
            await loaded.set_thread_memory_mode(mode)
            path = loaded.rollout_path() if loaded.rollout_materialized else None
        else:
            path = await self.locate_rollout(canonical)
        if path is None:
            return  # nothing on disk yet; the index row appears with the first turn
        action = f"set the memory mode of thread {canonical}"
        await self._require_writable(action, path)
        head = await asyncio.to_thread(read_head, path)
        if head.meta is None:
            raise InvalidRequest(f"failed to load rollout `{path}`: no session_meta line")
        meta = head.meta.model_copy(update={"memory_mode": mode})
        if loaded is not None:
            await loaded.record_rollout_items([meta])
        else:
            line = RolloutLine(
                timestamp=format_rollout_timestamp(datetime.now(UTC)),
                type="session_meta",
                payload=meta.dump(),
            )
            with storing(action):
                await asyncio.to_thread(_append_line, path, line)
        await self.store.set_memory_mode(canonical, mode)

    async def archive_thread(self, thread_id: str) -> ThreadRecord:
        canonical = check_thread_id(thread_id)
        path = await self.locate_rollout(canonical)
        if self._is_archived(path):
            raise InvalidRequest(f"thread {canonical} is already archived")
        action = f"archive thread {canonical}"
        await self._require_writable(action, path, archived_path_for(self.home, path.name))
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
        path = await self.locate_rollout(canonical)
        if not self._is_archived(path):
            raise InvalidRequest(f"thread {canonical} is not archived")
        action = f"unarchive thread {canonical}"
        target = unarchived_path_for(self.home, path.name)
        if target is not None:  # else the store names what is wrong with the file name
            await self._require_writable(action, path, target)
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
        event = EventMsg.model_validate({"type": "thread_rolled_back", "num_turns": num_turns})
        await thread.record_rollout_items([event])
        rollout = await asyncio.to_thread(read_rollout, path)
        recon = await asyncio.to_thread(reconstruct, rollout)
        thread.replace_history(recon.history, recon.turns)
        return thread

    async def reindex(self) -> ReindexReport:
        return await self.store.reindex()

    async def drain_index(self) -> None:
        await self._index.drain()


def _append_line(path: Path, line: RolloutLine) -> None:
    append_to_rollout(path, (dump_line_json(line) + "\n").encode("utf-8"))


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """What tells a rollout changed: inode, size, modification time (None when gone)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _git_of(sink: RolloutSink) -> GitInfo | None:
    if isinstance(sink, RolloutWriter) and sink.meta is not None:
        return sink.meta.git
    return None


def _git_record(git: GitInfo | None) -> GitRecord | None:
    if git is None:
        return None
    return GitRecord(sha=git.commit_hash, branch=git.branch, origin_url=git.repository_url)
