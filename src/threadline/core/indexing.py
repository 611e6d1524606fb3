"""Keeping the store's index rows current as live threads change.

:func:`record_for` describes a live thread as a ``ThreadRecord``;
:class:`IndexKeeper` writes that row whenever the thread's history grows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from threadline.store.base import GitRecord, ThreadRecord, ThreadStore

if TYPE_CHECKING:
    from threadline.core.thread import Thread
    from threadline.protocol.rollout import GitInfo

__all__ = ["IndexKeeper", "git_record", "record_for"]

log = logging.getLogger(__name__)


def git_record(git: GitInfo | None) -> GitRecord | None:
    if git is None:
        return None
    return GitRecord(sha=git.commit_hash, branch=git.branch, origin_url=git.repository_url)


def record_for(
    thread: Thread,
    path: Path,
    *,
    cli_version: str = "",
    git: GitRecord | None = None,
    archived: bool = False,
) -> ThreadRecord:
    """The index row describing a live thread."""
    s = thread.settings
    info = thread.token_usage_info()
    return ThreadRecord(
        id=thread.id,
        rollout_path=path,
        created_at_ms=int(thread.created_at * 1000),
        updated_at_ms=int(thread.updated_at * 1000),
        source=s.session_source,
        model_provider=s.model_provider,
        cwd=s.cwd,
        cli_version=cli_version,
        originator=s.originator,
        name=thread.name,
        preview=thread.preview,
        archived=archived,
        forked_from_id=thread.forked_from_id,
        memory_mode=thread.memory_mode,
        tokens_used=info.total_token_usage.total_tokens if info is not None else 0,
        model=s.model,
        reasoning_effort=s.reasoning_effort,
        git=git,
    )


class IndexKeeper:
    """Writes a thread's index row whenever its rollout changes, one write at a time.

    Attached as a thread listener: a user message (the file now exists), a
    finished turn, a rename or a memory-mode change each schedule an upsert.
    Writes for one thread are chained so an older row never overwrites a newer one.
    """

    def __init__(self, store: ThreadStore, cli_version: str) -> None:
        self._store = store
        self._cli_version = cli_version
        self._git: dict[str, GitRecord | None] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._all: set[asyncio.Task[None]] = set()

    def attach(self, thread: Thread, *, git: GitRecord | None = None) -> Callable[[], None]:
        self._git[thread.id] = git
        from threadline.protocol import events as ev  # with the first thread, not at start

        triggers = (ev.UserMessage, ev.TurnCompletedEvent)

        def on_event(event: ev.Event) -> None:
            if isinstance(event.msg, triggers):
                self.schedule(thread)

        return thread.add_listener(on_event)

    def forget(self, thread_id: str) -> None:
        self._git.pop(thread_id, None)
        self._tails.pop(thread_id, None)

    def schedule(self, thread: Thread) -> None:
        if thread.settings.ephemeral:
            return
        previous = self._tails.get(thread.id)
        task = asyncio.get_running_loop().create_task(self._write(thread, previous))
        self._tails[thread.id] = task
        self._all.add(task)
        task.add_done_callback(self._all.discard)

    async def _write(self, thread: Thread, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            try:
                await previous
            except Exception:
                pass
        path = thread.rollout_path()
        if path is None or not thread.rollout_materialized:
            return
        try:
            record = record_for(
                thread, path, cli_version=self._cli_version, git=self._git.get(thread.id)
            )
            await self._store.upsert(record)
        except Exception:
            log.exception("index update for thread %s failed", thread.id)

    async def rewrite(self, thread: Thread) -> None:
        """Write the row again after every write scheduled so far, and wait for it."""
        self.schedule(thread)
        task = self._tails.get(thread.id)
        if task is not None:
            await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait for every scheduled write (used at shutdown and by tests)."""
        while self._all:
            await asyncio.gather(*list(self._all), return_exceptions=True)
