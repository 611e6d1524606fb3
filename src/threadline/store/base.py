"""The storage interface core depends on.

`ThreadStore` is everything `core` needs from persistence besides the per-thread
rollout writer: the index behind ``thread/list`` (kept current on every write and
rebuildable from the rollouts), lookup of a thread's rollout file, and the
archive / name / memory-mode bookkeeping. Implementations: `LocalThreadStore`
(rollouts under ``$THREADLINE_HOME`` plus ``state.sqlite``) and
`MemoryThreadStore` (nothing on disk; for ephemeral use and tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

SortKey = Literal["created_at", "updated_at"]
SortDirection = Literal["asc", "desc"]

PREVIEW_MAX_CHARS = 200
"""The preview column keeps at most this many characters of the first user message."""

DEFAULT_LIST_LIMIT = 25
MAX_LIST_LIMIT = 100


class StoreError(Exception):
    """A store operation failed; ``message`` is safe to show a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StoreThreadNotFound(StoreError):
    """No rollout (live or archived) exists for the thread id."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"no rollout found for thread id {thread_id}")
        self.thread_id = thread_id


class ThreadInUse(StoreError):
    """Another process holds the writer lock of the thread (it has the thread loaded)."""

    def __init__(self, thread_id: str, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"thread {thread_id} is in use by another threadline process ({holder})")
        self.thread_id = thread_id
        self.pid = pid


class InvalidCursor(StoreError):
    """A ``thread/list`` cursor that this store did not produce."""

    def __init__(self, cursor: str) -> None:
        super().__init__(f"invalid cursor: {cursor}")


class ThreadLease(Protocol):
    """The exclusive right to write one thread's rollout, held while the thread is loaded."""

    @property
    def thread_id(self) -> str: ...

    @property
    def held(self) -> bool: ...

    def release(self) -> None:
        """Give the lease up (idempotent). A crashed holder releases it implicitly."""


@dataclass(frozen=True, slots=True)
class GitRecord:
    sha: str | None = None
    branch: str | None = None
    origin_url: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    """One row of the index: what ``thread/list`` shows without opening the rollout."""

    id: str
    rollout_path: Path
    created_at_ms: int
    updated_at_ms: int
    source: str
    """Session source as Codex writes it in ``session_meta`` ("vscode", "cli", "exec", ...)."""
    model_provider: str
    cwd: str
    cli_version: str = ""
    originator: str = ""
    name: str | None = None
    preview: str = ""
    archived: bool = False
    archived_at_ms: int | None = None
    forked_from_id: str | None = None
    memory_mode: str | None = None
    tokens_used: int = 0
    model: str | None = None
    reasoning_effort: str | None = None
    git: GitRecord | None = None


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int = DEFAULT_LIST_LIMIT
    cursor: str | None = None
    sort_key: SortKey = "created_at"
    sort_direction: SortDirection = "desc"
    model_providers: tuple[str, ...] | None = None
    source_kinds: tuple[str, ...] | None = None
    """Session source values to keep ("vscode", "cli", "exec", "appServer", "subAgent...")."""
    archived: bool = False
    cwds: tuple[str, ...] | None = None
    search_term: str | None = None
    excluded_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ListPage:
    records: list[ThreadRecord] = field(default_factory=list)
    next_cursor: str | None = None
    """Pass back as ``cursor`` (same sort key and direction) for the next page; None at the end."""
    backwards_cursor: str | None = None
    """Pass as ``cursor`` with the opposite direction to walk back from this page's first row
    (inclusive of its timestamp, like Codex's ``backwardsCursor``); None for an empty page."""


@dataclass(frozen=True, slots=True)
class ReindexReport:
    indexed: int
    skipped: int
    """Files that could not be indexed (no session_meta, unreadable)."""
    removed: int
    """Rows dropped because their rollout no longer exists."""


class ThreadStore(Protocol):
    """Persistence as core sees it. Every method is safe to call from the event loop."""

    @property
    def home(self) -> Path: ...

    async def upsert(self, record: ThreadRecord) -> None:
        """Insert or replace the row for ``record.id``."""

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
        """Bump ``updated_at`` (and the given columns) after the rollout grew.

        ``preview`` only fills an empty preview; it never replaces the first message.
        """

    async def get(self, thread_id: str, *, repair: bool = True) -> ThreadRecord | None:
        """The row for ``thread_id``; with ``repair``, a missing or stale row is rebuilt
        from the rollout file if one exists."""

    async def find_rollout(self, thread_id: str) -> Path | None:
        """The rollout path (live or archived) for ``thread_id``, or None."""

    async def list(self, query: ListQuery) -> ListPage: ...

    async def set_name(self, thread_id: str, name: str | None) -> None: ...

    async def set_memory_mode(self, thread_id: str, mode: str) -> None: ...

    async def archive(self, thread_id: str) -> ThreadRecord:
        """Move the rollout into ``archived_sessions/`` and mark the row archived."""

    async def unarchive(self, thread_id: str) -> ThreadRecord:
        """Move the rollout back under ``sessions/YYYY/MM/DD`` and clear the flag."""

    async def reindex(self) -> ReindexReport:
        """Rebuild every row from the rollout files."""

    def lock_thread(self, thread_id: str) -> ThreadLease:
        """Take the thread's writer lease, or raise :class:`ThreadInUse` naming the holder.

        Never waits for a holder: a handful of non-blocking system calls, so it may be
        called from the event loop. One lease per thread across every process sharing
        the store; the same process must not ask twice for a thread it holds.
        """

    async def close(self) -> None: ...
