"""``thread/*`` handlers for threads loaded or not: read, name, archive, unarchive (the
list, a client's usual first request, is ``thread_list.py``'s, with fewer wire types)."""

from __future__ import annotations

from threadline.core.errors import InvalidRequest
from threadline.core.stored import pause_collector
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.thread import NotLoadedThreadStatus
from threadline.protocol.v2.thread_meta import (
    ThreadArchivedNotification,
    ThreadArchiveParams,
    ThreadArchiveResponse,
    ThreadNameUpdatedNotification,
    ThreadReadParams,
    ThreadReadResponse,
    ThreadSetNameParams,
    ThreadSetNameResponse,
    ThreadStatusChangedNotification,
    ThreadUnarchivedNotification,
    ThreadUnarchiveParams,
    ThreadUnarchiveResponse,
)
from threadline.server.dispatch import RequestContext
from threadline.server.handlers.common import Runtime, wire_record
from threadline.server.handlers.sections import with_sections

__all__ = [
    "MAX_THREAD_NAME_CHARS",
    "check_thread_name",
    "thread_archive",
    "thread_name_set",
    "thread_read",
    "thread_unarchive",
]

MAX_THREAD_NAME_CHARS = 1024
"""Longest accepted ``thread/name/set`` name, in characters, after trimming.

Codex 0.169 sets no limit; a name is a title shown in thread lists, and every rename
is appended to the rollout and to ``session_index.jsonl``, so an unbounded one would
let a client grow both by megabytes per request."""

def check_thread_name(name: str) -> str:
    """The name ``thread/name/set`` stores: trimmed, not empty (Codex's own check and
    wording), without NUL characters and at most :data:`MAX_THREAD_NAME_CHARS` long.
    Anything else is ``-32600`` naming the field."""
    clean = name.strip()
    if not clean:
        raise InvalidRequest("thread name must not be empty")
    if "\x00" in clean:
        raise InvalidRequest("Invalid request: `name` must not contain NUL (U+0000) characters")
    if len(clean) > MAX_THREAD_NAME_CHARS:
        raise InvalidRequest(
            f"Invalid request: `name` is {len(clean)} characters long; "
            f"at most {MAX_THREAD_NAME_CHARS} are allowed"
        )
    return clean


async def thread_read(rt: Runtime, ctx: RequestContext, p: ThreadReadParams) -> ThreadReadResponse:
    if not p.include_turns:
        return await _read(rt, p)
    release = pause_collector()  # until the answer is serialized (see pause_collector)
    try:
        response = await _read(rt, p)
    except BaseException:
        release()
        raise
    ctx.after_response(release)
    return response


async def _read(rt: Runtime, p: ThreadReadParams) -> ThreadReadResponse:
    record, turns = await rt.manager.read_thread(p.thread_id, include_turns=bool(p.include_turns))
    loaded = rt.manager.find(record.id)
    wire = wire_record(record, loaded).model_copy(
        update={
            "turns": turns,
            "forked_from_id": loaded.forked_from_id if loaded else record.forked_from_id,
        }
    )
    [wire] = await with_sections(rt, [wire])
    return ThreadReadResponse(thread=wire)


async def thread_name_set(
    rt: Runtime, ctx: RequestContext, p: ThreadSetNameParams
) -> ThreadSetNameResponse:
    name = check_thread_name(p.name)
    await rt.manager.set_thread_name(p.thread_id, name)
    updated = dump_wire(ThreadNameUpdatedNotification(thread_id=p.thread_id, thread_name=name))
    ctx.after_response(lambda: rt.broadcast("thread/name/updated", updated))
    return ThreadSetNameResponse()


async def thread_archive(
    rt: Runtime, ctx: RequestContext, p: ThreadArchiveParams
) -> ThreadArchiveResponse:
    if rt.manager.find(p.thread_id) is not None:
        unloaded = ThreadStatusChangedNotification(
            thread_id=p.thread_id, status=NotLoadedThreadStatus()
        )
        rt.broadcast("thread/status/changed", dump_wire(unloaded))
    await rt.manager.archive_thread(p.thread_id)
    rt.router.detach(p.thread_id)
    archived = dump_wire(ThreadArchivedNotification(thread_id=p.thread_id))
    ctx.after_response(lambda: rt.broadcast("thread/archived", archived))
    return ThreadArchiveResponse()


async def thread_unarchive(
    rt: Runtime, ctx: RequestContext, p: ThreadUnarchiveParams
) -> ThreadUnarchiveResponse:
    record = await rt.manager.unarchive_thread(p.thread_id)
    unarchived = dump_wire(ThreadUnarchivedNotification(thread_id=p.thread_id))
    ctx.after_response(lambda: rt.broadcast("thread/unarchived", unarchived))
    return ThreadUnarchiveResponse(thread=wire_record(record, None))

