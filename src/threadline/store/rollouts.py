"""The local store's histories: locating, loading, forking and appending rollout files.

`LocalThreadStore` delegates its history operations here. Every check a rollout
must pass before it is opened lives in this module: a thread's rollout is only a
regular file inside the home's sessions directories (a symbolic link, wherever it
points, a FIFO, a socket, a device or a directory with a rollout's name is refused
with a message that says so), and a client-supplied ``path`` must be an absolute
``.jsonl`` file there. Errors are :class:`StoreError` with the message a client sees.
All functions are blocking unless ``async``; those run their file work off the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from threadline.protocol.clock import parse_timestamp
from threadline.protocol.items import dump_response_item, user_text_message
from threadline.protocol.rollout import (
    RolloutItem,
    RolloutLine,
    SessionMeta,
    dump_line_json,
    format_rollout_timestamp,
    line_from_item,
)
from threadline.protocol.v2.turn import Turn
from threadline.rollout.files import rollout_file_problem, unmovable_reason, unwritable_reason
from threadline.rollout.gc_pause import gc_paused, pause_gc, paused, thaw
from threadline.rollout.history import Reconstruction, history_start, reconstruct
from threadline.rollout.lines import restamped
from threadline.rollout.offsets import OffsetIndex, model_cut, render_turns
from threadline.rollout.offsets_cache import current_header, current_index
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
from threadline.rollout.reader import (
    SKIPPED_RESPONSE,
    RolloutFile,
    read_head,
    read_rollout,
    read_rollout_from_cut,
)
from threadline.rollout.resume_stream import stream_for_resume
from threadline.rollout.seek import resume_from_index
from threadline.rollout.writer import RolloutWriter, append_synced, append_to_rollout
from threadline.store.base import Change, ForkSource, StoredRef, StoredThread, StoreError
from threadline.store.turns_read import off_loop

__all__ = [
    "append_items",
    "check_rollout_path",
    "create_writer",
    "file_state",
    "fork_source",
    "is_archived",
    "load_history",
    "missing_rollout",
    "offset_index",
    "pause_gc",
    "paused",
    "read_meta",
    "read_turns",
    "refused_rollout",
    "resume_writer",
    "thaw",
    "turn_ids",
    "writable_problem",
]


def is_archived(home: Path, path: Path) -> bool:
    return path.parent == home / ARCHIVED_SESSIONS_SUBDIR


def check_rollout_path(home: Path, raw: str) -> Path:
    """A client-supplied rollout path must be a ``.jsonl`` file under our sessions dirs."""
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise StoreError(f"rollout path must be absolute: {raw}")
    if not is_inside(home, path, follow_final=False):
        raise StoreError(f"rollout path `{raw}` is outside the sessions directories of {home}")
    if path.suffix != ".jsonl":
        raise StoreError(f"rollout path `{raw}` is not a .jsonl rollout file")
    problem = rollout_file_problem(path)
    if problem is not None and problem != "no such file":  # a missing file: the caller says so
        raise StoreError(f"failed to load rollout `{raw}`: {problem}")
    if not path.exists():
        raise StoreError(f"failed to load rollout `{raw}`: no such file")
    return path


def refused_rollout(home: Path, path: Path, thread_id: str) -> StoreError | None:
    """The error for a located rollout that must not be opened, or None."""
    if not is_inside(home, path, follow_final=False):
        problem: str | None = f"it is outside the sessions directories of {home}"
    else:
        problem = rollout_file_problem(path)
    if problem is None:
        return None
    return StoreError(f"refusing rollout `{path}` of thread {thread_id}: {problem}")


def missing_rollout(home: Path, thread_id: str) -> StoreError:
    """The error for a thread without a usable rollout; names a refused look-alike."""
    rejected = find_rejected_rollout(home, thread_id)
    if rejected is None:
        return StoreError(f"no rollout found for thread id {thread_id}")
    problem = rollout_file_problem(rejected) or "it changed while being checked"
    return StoreError(f"refusing rollout `{rejected}` of thread {thread_id}: {problem}")


def file_state(path: Path) -> tuple[int, int, int] | None:
    """What tells a rollout changed: inode, size, modification time (None when gone)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def _ms_of_timestamp(value: str | None, fallback: float) -> int:
    if value:
        try:
            return int(parse_timestamp(value).timestamp() * 1000)
        except ValueError:
            pass
    return int(fallback * 1000)


def _read_for_resume(home: Path, path: Path, *, turns: bool) -> tuple[RolloutFile, int]:
    """The rollout as a resume needs it, and how many leading turns it leaves without
    items. The ``response_item`` lines the newest compaction replaced are not decoded
    (``offsets.model_cut``); without ``turns`` (``excludeTurns``) neither are the events
    that only add items to the turns before the last one, when every turn is explicit
    and nothing was rolled back. Whatever the index cannot vouch for is read whole."""
    try:
        index = current_index(path, home / OFFSETS_CACHE_SUBDIR)
        cut = model_cut(index) or 0
    except (OSError, ValueError):
        return read_rollout(path), 0
    spans = index.visible()
    items_from = 0
    if not turns and len(spans) > 1 and index.rolled_back is None and index.unsupported is None:
        if all(span.explicit for span in spans):
            items_from = spans[-1].start
            if index.last_started is not None:
                items_from = min(items_from, index.last_started)
    if cut == 0 and items_from == 0:
        return read_rollout(path), 0
    rollout = read_rollout_from_cut(path, cut, items_from=items_from)
    if cut:
        start = history_start(rollout.lines)
        skipped_after = any(line.payload is SKIPPED_RESPONSE for line in rollout.lines[start:])
        if start == 0 or skipped_after:
            return read_rollout(path), 0  # the file changed under the index: be exact
    return rollout, (len(spans) - 1 if items_from else 0)


def _resume_plan(home: Path, path: Path) -> tuple[bool, bool]:
    """Whether a resume with turns reads from the newest compaction on
    (:func:`_read_for_resume`), not the whole file (which :func:`stream_for_resume` does
    one line at a time), and whether the offset index saw a rollback in the file (when
    it did not, the stream need not track what only a rollback reads)."""
    try:
        index = current_header(path, home / OFFSETS_CACHE_SUBDIR)
        return bool(model_cut(index)), index.rolled_back is not None
    except (OSError, ValueError):
        return False, True


def _seek_for_resume(
    home: Path, path: Path, *, live: bool
) -> tuple[RolloutFile, Reconstruction] | None:
    """A turn-less resume that reads only the file's tail (``rollout.seek``), or None."""
    try:
        return resume_from_index(current_index(path, home / OFFSETS_CACHE_SUBDIR), live=live)
    except (OSError, ValueError):
        return None


def _stub(recon: Reconstruction, count: int, index: OffsetIndex, *, live: bool) -> bool:
    """Mark the first ``count`` turns as not loaded and rebuild the last from its own
    byte range (its item ids continue from the counter the index kept); False when the
    turns are not those the index has (the file changed under it)."""
    spans = index.visible()
    if [t.id for t in recon.turns] != [s.id for s in spans] or len(spans) != count + 1:
        return False
    last = render_turns(index, spans[-1:], live=live)
    if len(last) != 1:
        return False
    recon.turns[:count] = [t.model_copy(update={"items": [], "items_view": "notLoaded"})
                           for t in recon.turns[:count]]
    recon.turns[-1] = last[0]
    recon.stubbed_turns = count
    return True


async def load_history(
    ref: StoredRef,
    *,
    live: bool = False,
    resume_home: Path | None = None,
    turns: bool = True,
) -> StoredThread:
    """Read and rebuild the rollout at ``ref``; errors name the file and the problem.
    With ``resume_home`` (a resume: the lines are not copied) the model items before
    the newest compaction are skipped, not decoded; without ``turns`` as well the items
    of every turn but the last (see :func:`_read_for_resume`)."""
    path = ref.path
    assert path is not None

    def work() -> StoredThread:
        version = file_state(path)
        stubbed = 0
        sought: tuple[RolloutFile, Reconstruction] | None = None
        if resume_home is not None and not turns:
            sought = _seek_for_resume(resume_home, path, live=live)
        elif resume_home is not None:
            cut, rolled_back = _resume_plan(resume_home, path)
            if not cut:  # no line list held (or None)
                sought = stream_for_resume(path, live=live, rollbacks=rolled_back)
        if sought is not None:
            rollout = sought[0]
        elif resume_home is None:
            rollout = read_rollout(path)
        else:
            rollout, stubbed = _read_for_resume(resume_home, path, turns=turns)
        meta = rollout.meta
        if meta is None:
            if not rollout.lines:
                raise StoreError(f"failed to load rollout `{path}`: empty file")
            raise StoreError(
                f"failed to load rollout `{path}`: failed to parse thread ID from rollout file"
            )
        # Not a resume (a read, a rollback, a follower): the model history is built if
        # read (``thread/read`` never does: about 90 ms of an 8,000-turn read).
        recon = sought[1] if sought is not None else reconstruct(
            rollout, live=live, lazy_history=resume_home is None,
            release_lines=resume_home is not None,  # a resume keeps no lines (freed early)
        )
        if stubbed and resume_home is not None:
            index = current_index(path, resume_home / OFFSETS_CACHE_SUBDIR)
            if not _stub(recon, stubbed, index, live=live):
                rollout = read_rollout(path)
                recon = reconstruct(rollout, live=live)
        mtime = path.stat().st_mtime
        return StoredThread(
            ref=ref,
            meta=meta,
            recon=recon,
            lines=rollout.lines,
            created_at=_ms_of_timestamp(meta.timestamp, mtime) / 1000,
            updated_at=mtime,
            version=version,
            native=rollout,
        )

    def paused() -> StoredThread:
        with gc_paused():
            return work()

    return await off_loop(path, paused)


def _rollout_of(stored: StoredThread) -> RolloutFile:
    rollout = stored.native
    assert isinstance(rollout, RolloutFile)
    return rollout


async def changed_since(stored: StoredThread) -> bool:
    assert stored.ref.path is not None
    now = await asyncio.to_thread(file_state, stored.ref.path)
    return bool(now != stored.version)


def _restamp(lines: Sequence[RolloutLine], stamp: str) -> list[RolloutLine]:
    with gc_paused():
        return restamped(lines, stamp)


def _rebuild(rollout: RolloutFile) -> Reconstruction:
    with gc_paused():
        return reconstruct(rollout)


async def fork_source(stored: StoredThread, *, interrupted_marker: str) -> ForkSource:
    """The lines a fork copies, re-stamped; a source that ends mid-turn gets the marker
    (the user message and a ``turn_aborted`` event for the open turn) and is rebuilt."""
    stamp = format_rollout_timestamp(datetime.now(UTC))
    # Off the loop and with the collector paused: a copy of 64,000 lines makes as many
    # objects, which would set off collections that walk the whole heap (half its time).
    lines = await asyncio.to_thread(_restamp, stored.lines, stamp)
    open_turn = stored.recon.open_turn_id
    if open_turn is None:
        return ForkSource(parent=stored.meta, lines=lines, recon=stored.recon, marked=False)
    marker = user_text_message(interrupted_marker)
    lines.append(
        RolloutLine(timestamp=stamp, type="response_item", payload=dump_response_item(marker))
    )
    lines.append(
        RolloutLine(
            timestamp=stamp,
            type="event_msg",
            payload={"type": "turn_aborted", "turn_id": open_turn, "reason": "interrupted"},
        )
    )
    # the interruption marker changes history and the last turn
    copied = replace(_rollout_of(stored), lines=lines, own_start=0)
    recon = await asyncio.to_thread(_rebuild, copied)
    return ForkSource(parent=stored.meta, lines=lines, recon=recon, marked=True)


def create_writer(home: Path, meta: SessionMeta, *, extended_history: bool, fsync: bool) -> RolloutWriter:
    """The rollout writer of a new thread; its first line will be ``meta``; the file is
    named by ``meta``'s id and time (local wall clock, as Codex does)."""
    created = parse_timestamp(meta.timestamp)
    return RolloutWriter.create(
        rollout_path_for(home, meta.id, created.astimezone()),
        meta,
        policy=PersistencePolicy(extended=extended_history),
        fsync=fsync,
    )


async def resume_writer(stored: StoredThread, *, extended_history: bool, fsync: bool) -> RolloutWriter:
    assert stored.ref.path is not None
    writer = RolloutWriter.resume(
        stored.ref.path, policy=PersistencePolicy(extended=extended_history), fsync=fsync
    )
    await writer.open()
    return writer


async def read_meta(ref: StoredRef) -> SessionMeta:
    path = ref.path
    assert path is not None
    head = await asyncio.to_thread(read_head, path)
    if head.meta is None:
        raise StoreError(f"failed to load rollout `{path}`: no session_meta line")
    return head.meta


async def append_items(ref: StoredRef, items: list[RolloutItem], *, durable: bool) -> None:
    """One-off appends to a rollout no writer has open (synced or not at all when ``durable``)."""
    path = ref.path
    assert path is not None
    stamp = format_rollout_timestamp(datetime.now(UTC))
    data = "".join(dump_line_json(line_from_item(item, stamp)) + "\n" for item in items)
    write = append_synced if durable else append_to_rollout
    await asyncio.to_thread(write, path, data.encode("utf-8"))


def writable_problem(home: Path, ref: StoredRef | None, change: Change) -> str | None:
    if ref is None:
        return unwritable_reason(rollout_path_for(home, new_thread_id()))
    path = ref.path
    if path is None:
        return None
    if change == "archive":
        return unmovable_reason(path, archived_path_for(home, path.name))
    if change == "unarchive":
        target = unarchived_path_for(home, path.name)
        # without a target the store names what is wrong with the file name
        return unmovable_reason(path, target) if target is not None else None
    return unwritable_reason(path)


# --- paged history: the offset index of a rollout -------------------------------------------

OFFSETS_CACHE_SUBDIR = "cache/rollout-offsets"
"""Where the offset indexes of the home's rollouts are kept between processes: derived
data, keyed by the rollout's path and checked against its inode, size, modification
time and first bytes before use, so a stale or missing file costs one pass, never a
wrong page."""


def offset_index(home: Path, ref: StoredRef) -> OffsetIndex:
    """The current offset index of ``ref``'s rollout (see :mod:`threadline.rollout.offsets`)."""
    assert ref.path is not None
    try:
        return current_index(ref.path, home / OFFSETS_CACHE_SUBDIR)
    except OSError as exc:
        raise StoreError(f"failed to load rollout `{ref.path}`: {exc.strerror or exc}") from exc


async def turn_ids(home: Path, ref: StoredRef) -> list[str]:
    def work() -> list[str]:
        index = offset_index(home, ref)
        if index.unsupported is not None:
            return [turn.id for turn in _whole(ref).recon.turns]
        return [span.id for span in index.visible()]

    return await asyncio.to_thread(work)


async def read_turns(home: Path, ref: StoredRef, positions: Sequence[int]) -> list[Turn]:
    def work() -> list[Turn]:
        index = offset_index(home, ref)
        if index.unsupported is not None:
            turns = _whole(ref).recon.turns
            return [turns[p] for p in positions if 0 <= p < len(turns)]
        spans = index.visible()
        return render_turns(index, [spans[p] for p in positions if 0 <= p < len(spans)])

    return await asyncio.to_thread(work)


def _whole(ref: StoredRef) -> StoredThread:
    """A history the index cannot page (a paginated fork): read and rebuilt whole."""
    assert ref.path is not None
    rollout = read_rollout(ref.path)
    if rollout.meta is None:
        raise StoreError(f"failed to load rollout `{ref.path}`: no session_meta line")
    mtime = ref.path.stat().st_mtime
    return StoredThread(
        ref=ref, meta=rollout.meta, recon=reconstruct(rollout), lines=rollout.lines,
        created_at=mtime, updated_at=mtime, native=rollout,
    )
