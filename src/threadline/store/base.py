"""The storage interface core depends on.

`ThreadStore` is everything `core` needs from persistence, shaped like Codex's
``thread-store`` trait: creating a thread's history (a :class:`ThreadSink` the live
thread appends to), locating and loading a stored history for resume, fork, read
and rollback (:class:`StoredRef`, :class:`StoredThread`, :class:`ForkSource`),
appending to a thread that is not loaded, the metadata updates (name, memory mode,
archive, unarchive), the index behind ``thread/list`` (kept current on every write
and rebuildable from the stored histories), and the per-thread writer lease.

No method takes a file path except where the protocol itself has one: the
``path`` of ``thread/resume`` and ``thread/fork`` (:meth:`ThreadStore.locate`), and
``thread.path`` on the wire (:attr:`StoredRef.path`, ``ThreadRecord.rollout_path``,
:attr:`ThreadSink.path`), which a store without files leaves ``None`` where it can.
Implementations: `LocalThreadStore` (rollouts under ``$THREADLINE_HOME`` plus
``state.sqlite``) and `MemoryThreadStore` (nothing on disk; for tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from threadline.protocol.records import record

if TYPE_CHECKING:  # names of annotations only: a start loads none of them
    from threadline.protocol.rollout import RolloutItem, RolloutLine, SessionMeta
    from threadline.protocol.v2.turn import Turn
    from threadline.rollout.history import Reconstruction
    from threadline.store.thread_state import ThreadState

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


@record
class GitRecord:
    sha: str | None = None
    branch: str | None = None
    origin_url: str | None = None


@record
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


@record
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
    included_ids: tuple[str, ...] | None = None
    """Keep only these thread ids (0.171's ``includedThreadIds``); None keeps every id."""


@record
class ListPage:
    records: list[ThreadRecord] = field(default_factory=list)
    next_cursor: str | None = None
    """Pass back as ``cursor`` (same sort key and direction) for the next page; None at the end."""
    backwards_cursor: str | None = None
    """Pass as ``cursor`` with the opposite direction to walk back from this page's first row
    (inclusive of its timestamp, like Codex's ``backwardsCursor``); None for an empty page."""


@record
class ReindexReport:
    indexed: int
    skipped: int
    """Files that could not be indexed (no session_meta, unreadable)."""
    removed: int
    """Rows dropped because their rollout no longer exists."""


class ThreadSink(Protocol):
    """Where a live thread's history goes: created by :meth:`ThreadStore.create_thread`
    (or resumed, or forked); the thread appends to it until it is closed."""

    @property
    def path(self) -> Path | None:
        """``thread.path`` on the wire (None for an ephemeral thread)."""

    @property
    def materialized(self) -> bool:
        """Whether the history exists in the store yet (created lazily, with the first
        user message, as Codex does)."""

    async def append(self, items: Sequence[RolloutItem]) -> None:
        """Queue items, filtered by the persistence policy (kept in memory until materialized)."""

    async def append_or_discard(self, items: Sequence[RolloutItem]) -> None:
        """Store ``items`` now and durably, or not at all (a rename that fails is never
        retried by a later flush)."""

    async def materialize(self) -> None:
        """Create the history now: ``session_meta`` first, then anything buffered."""

    async def flush(self) -> None:
        """Write everything queued; raises the write error if the store refuses (the suffix is kept)."""

    async def close(self) -> None: ...


class NullSink:
    """Ephemeral threads: nothing is written, nothing is listed."""

    @property
    def path(self) -> Path | None:
        return None

    @property
    def materialized(self) -> bool:
        return False

    async def append(self, items: Sequence[RolloutItem]) -> None:
        return None

    async def append_or_discard(self, items: Sequence[RolloutItem]) -> None:
        return None

    async def materialize(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


@record
class StoredRef:
    """Where a stored thread is, as :meth:`ThreadStore.locate` found it (nothing read yet)."""

    thread_id: str | None
    """Known when located by id; a ``path`` reference learns it by loading."""
    path: Path | None
    """``thread.path`` on the wire; None for a store without files."""
    archived: bool = False


@record
class StoredThread:
    """A stored history, loaded and rebuilt (for resume, fork, read and rollback)."""

    ref: StoredRef
    meta: SessionMeta
    """The first ``session_meta`` (the thread's identity and creation settings)."""
    recon: Reconstruction
    """Model history, turns, token usage, name, preview, model, the open turn."""
    lines: Sequence[RolloutLine]
    """Every line of the history (a fork copies them)."""
    created_at: float
    """Seconds since the epoch: ``session_meta.timestamp`` (else when it was stored)."""
    updated_at: float
    """Seconds since the epoch: when the history last grew."""
    version: Any = None
    """Opaque to core: what :meth:`ThreadStore.changed_since` compares."""
    native: Any = None
    """Opaque to core: the store's own form of the history (the local store's parsed
    rollout file), for :meth:`ThreadStore.fork_source`."""

    @property
    def thread_id(self) -> str:
        return self.meta.id


@record
class ForkSource:
    """What a fork copies: the source's lines re-stamped (plus the interruption marker
    when the source ends mid-turn) and the history rebuilt from them."""

    parent: SessionMeta
    lines: Sequence[RolloutLine]
    recon: Reconstruction
    marked: bool
    """Whether an interruption marker was added."""


@dataclass
class ImportReport:
    """What an import of rollout files into a store did."""

    imported: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(file, why) for every file that was not imported."""


Change = Literal["write", "archive", "unarchive"]


class ThreadRelay(Protocol):
    """The channel between servers sharing a store, for threads another server owns
    (``core.relay`` gives the payloads their meaning; ``store.postgres_relay`` has the
    implementation). Only a store shared by several processes has one: see :func:`relay_of`."""

    def listen(self, callback: Any) -> None:
        """Call ``callback(payload: str)`` for each notification (``"!"``: maybe missed some)."""

    async def publish(self, rows: Sequence[tuple[str, int, str]]) -> None: ...

    async def events_for(
        self, positions: Sequence[tuple[str, int]], limit: int = ...
    ) -> list[tuple[str, int, str]]: ...

    async def last_seq(self, thread_id: str) -> int: ...

    async def send_op(self, thread_id: str, op: str) -> int: ...

    async def take_ops(self, thread_ids: Sequence[str]) -> list[tuple[int, str, str]]: ...

    async def answer_op(self, op_id: int, answer: str) -> None: ...

    async def answer_of(self, op_id: int) -> str | None: ...

    async def drop_op(self, op_id: int) -> bool: ...

    async def held(self, thread_ids: Sequence[str]) -> dict[str, int]: ...

    async def prune(self) -> None: ...


def relay_of(store: object) -> ThreadRelay | None:
    """The store's :class:`ThreadRelay` (its optional ``relay()`` method); ``None`` for the
    stores of one process (local files, memory)."""
    relay = getattr(store, "relay", None)
    return relay() if callable(relay) else None


@runtime_checkable
class TurnsReader(Protocol):
    """A store that rebuilds a history's turns alone for less than a whole load (the
    local store: ``thread/read`` decodes only the lines turns are made of)."""

    async def all_turns(self, ref: StoredRef) -> list[Turn]:
        """Every visible turn of the history at ``ref``, as ``load_history`` rebuilds
        them (``live`` off)."""


class ThreadStore(Protocol):
    """Persistence as core sees it. Every async method is safe to call from the event
    loop; the synchronous ones do a handful of system calls at most."""

    @property
    def home(self) -> Path: ...

    # -- live threads ------------------------------------------------------------------------
    def create_thread(
        self, meta: SessionMeta, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        """The sink of a new thread; its history starts with ``meta`` and is created
        lazily (see :attr:`ThreadSink.materialized`)."""

    async def resume_thread(
        self, stored: StoredThread, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        """Reopen ``stored`` for appends (the caller holds its lease)."""

    async def fork_source(self, stored: StoredThread, *, interrupted_marker: str) -> ForkSource:
        """What a fork of ``stored`` copies. A source that ends mid-turn gets the marker a
        real interrupt writes: a user message ``interrupted_marker`` and a ``turn_aborted``
        event for the open turn."""

    async def fork_thread(
        self, meta: SessionMeta, source: ForkSource, *, extended_history: bool, fsync: bool
    ) -> ThreadSink:
        """A new thread whose history is ``meta`` then ``source.lines``, stored at once."""

    # -- stored histories --------------------------------------------------------------------
    async def locate(self, thread_id: str | None = None, *, path: str | None = None) -> StoredRef:
        """The stored thread ``thread_id`` (canonical), or the one at the protocol's
        ``path``; raises :class:`StoreError` naming what is missing or refused."""

    async def load_history(
        self,
        ref: StoredRef,
        *,
        live: bool = False,
        for_resume: bool = False,
        with_turns: bool = True,
    ) -> StoredThread:
        """Read and rebuild the history at ``ref``; ``live`` keeps an unfinished last
        turn ``inProgress`` (else it reads ``interrupted``). ``for_resume``: the result
        only seeds a resumed thread (its ``lines`` are not copied), so a store may leave
        out what the newest compaction made irrelevant to the model history; without
        ``with_turns`` (a resume that returns no turns) it may also return the turns
        before the last without their items (``Reconstruction.stubbed_turns``)."""

    async def turn_ids(self, ref: StoredRef) -> list[str]:
        """The ids of the stored thread's visible turns, oldest first: what the positions
        of :meth:`read_turns` refer to. A store finds them without rebuilding the turns
        (the local store keeps an offset index of each rollout)."""

    async def read_turns(
        self, ref: StoredRef, positions: Sequence[int]
    ) -> list[Turn]:
        """The visible turns at ``positions`` (indexes into :meth:`turn_ids`), in the
        order given, reading only what those turns need."""

    async def changed_since(self, stored: StoredThread) -> bool:
        """Whether the history grew or was replaced since ``stored`` was loaded."""

    async def read_meta(self, ref: StoredRef) -> SessionMeta:
        """The first ``session_meta`` of the history at ``ref`` (read cheaply)."""

    async def append_items(
        self, ref: StoredRef, items: Sequence[RolloutItem], *, durable: bool = False
    ) -> None:
        """Append to the history of a thread that is not loaded (a rename, a memory mode);
        ``durable``: synced, or not written at all."""

    def writable_problem(self, ref: StoredRef | None = None, change: Change = "write") -> str | None:
        """Why the store cannot make ``change`` to ``ref`` now (a new thread when ``ref``
        is None), naming what is read-only; None when it can. Touches nothing."""

    # -- index and metadata ------------------------------------------------------------------
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

    async def delete_thread(self, thread_id: str) -> int:
        """Remove the thread's history (live and archived copies), its row and its state
        (:attr:`state`); returns how many histories were removed (0: none existed)."""

    @property
    def state(self) -> ThreadState:
        """Goals, sections, attachments, Git metadata edits: kept apart from what a
        reindex rebuilds (see :mod:`threadline.store.thread_state`)."""

    def lock_thread(self, thread_id: str) -> ThreadLease:
        """Take the thread's writer lease, or raise :class:`ThreadInUse` naming the holder.

        Never waits for a holder: a handful of non-blocking system calls, so it may be
        called from the event loop. One lease per thread across every process sharing
        the store; the same process must not ask twice for a thread it holds.
        """

    async def close(self) -> None: ...
