"""Paged history: ``thread/turns/list`` and ``thread/items/list``, and the backwards
cursors ``thread/resume`` hands out.

Both methods page a thread's visible turns by position (oldest = 0), as
:meth:`ThreadManager.turn_history` gives them: a loaded thread's from memory (the
turns an ``excludeTurns`` resume left without items are read from the store), a stored
one's through the store's offset index, which reads only the turns on the page, so a
page of a huge thread costs what a page of a small one does. Items are located by
turn: an items page reads the turns it spans, a few at a time.

**Cursors** are opaque JSON strings, shaped like Codex's (``requestedThreadId``,
an anchor, ``includeAnchor``, a ``scope``): ``nextCursor`` continues after the last
entry in the same direction (the anchor excluded); ``backwardsCursor`` anchors the
first entry, included, for the opposite direction. An anchor names the turn (and
item) by id and position; the id wins when the position moved (a rollback).

**Answers checked against Codex 0.169** (driven over stdio): a cursor of another
thread, of the other method, malformed, or anchored at a turn that is gone is
``-32600 invalid cursor: <cursor>``; an item anchor without ``turnId`` is ``-32602
turnId is required when cursor is an item anchor``; an unknown ``turnId`` is an empty
page; ``limit: 0`` is served as 1; an unknown thread is ``thread not loaded: <id>``.
Turns come newest first with ``itemsView: "summary"`` (the turn's user messages and
its final agent message), items oldest first.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from threadline.core.errors import InvalidRequest
from threadline.core.stored import TurnHistory
from threadline.protocol import codes
from threadline.protocol.v2.thread_ops import (
    ItemThreadItemsListAnchor,
    ThreadItemEntry,
    ThreadItemsListParams,
    ThreadItemsListResponse,
    ThreadTurnsListParams,
    ThreadTurnsListResponse,
)
from threadline.protocol.v2.turn import Turn
from threadline.server.dispatch import RequestContext
from threadline.server.errors import RpcError
from threadline.server.handlers.common import Runtime

__all__ = [
    "DEFAULT_ITEMS_LIMIT",
    "DEFAULT_TURNS_LIMIT",
    "HANDLERS",
    "MAX_PAGE_LIMIT",
    "newest_cursors",
    "summary_view",
    "thread_items_list",
    "thread_turns_list",
]

DEFAULT_TURNS_LIMIT = 25
DEFAULT_ITEMS_LIMIT = 100
MAX_PAGE_LIMIT = 1000
"""Larger limits are served as this many entries (a client pages on with the cursor)."""

_READ_BATCH = 8
"""Turns read per store call while filling an items page."""

_TURNS = "turns"
_ITEMS = "items"


@dataclass(frozen=True, slots=True)
class _Anchor:
    turn_id: str
    turn_pos: int
    item_pos: int
    include: bool


def _encode(thread_id: str, scope: str, anchor: _Anchor) -> str:
    data: dict[str, Any] = {
        "requestedThreadId": thread_id,
        "turnId": anchor.turn_id,
        "turnPosition": anchor.turn_pos,
    }
    if scope == _ITEMS:
        data["itemPosition"] = anchor.item_pos
    data["includeAnchor"] = anchor.include
    data["scope"] = {"kind": scope}
    return json.dumps(data, separators=(",", ":"))


def _bad_cursor(raw: str) -> InvalidRequest:
    """Codex's answer to any cursor it cannot use: ``invalid cursor: <the cursor>``."""
    return InvalidRequest(f"invalid cursor: {raw}")


def _decode(raw: str, thread_id: str, scope: str) -> _Anchor:
    """The anchor of a cursor of ``scope`` for ``thread_id``; any other string (not ours,
    another thread's, the other method's, malformed) is refused."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("requestedThreadId") != thread_id:
        raise _bad_cursor(raw)
    kind = data.get("scope", {}).get("kind") if isinstance(data.get("scope"), dict) else None
    turn_id, turn_pos = data.get("turnId"), data.get("turnPosition")
    item_pos = data.get("itemPosition", 0)
    include = data.get("includeAnchor")
    if kind != scope or not isinstance(turn_id, str) or not isinstance(include, bool):
        raise _bad_cursor(raw)
    if not isinstance(turn_pos, int) or not isinstance(item_pos, int):
        raise _bad_cursor(raw)
    if not _is_index(turn_pos) or not _is_index(item_pos):
        raise _bad_cursor(raw)
    return _Anchor(turn_id, turn_pos, item_pos, include)


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _resolve(history: TurnHistory, anchor: _Anchor, raw: str) -> int:
    """The anchor turn's current position (by id; the position only breaks ties). A
    turn that is gone (rolled back) makes the cursor invalid."""
    ids = history.ids
    if anchor.turn_pos < len(ids) and ids[anchor.turn_pos] == anchor.turn_id:
        return anchor.turn_pos
    try:
        return ids.index(anchor.turn_id)
    except ValueError:
        raise _bad_cursor(raw) from None


def _limit(value: int | None, default: int) -> int:
    if value is None:
        return default
    if value < 0:
        raise InvalidRequest("Invalid request: `limit` must not be negative")
    return max(1, min(MAX_PAGE_LIMIT, value))


def summary_view(turn: Turn) -> Turn:
    """A turn as Codex summarises it: its user messages and its final agent message."""
    last_agent = None
    for item in reversed(turn.items):
        if getattr(item, "type", None) == "agentMessage":
            last_agent = item
            break
    items = [
        item
        for item in turn.items
        if getattr(item, "type", None) == "userMessage" or item is last_agent
    ]
    return turn.model_copy(update={"items": items, "items_view": "summary"})


def _view(turn: Turn, view: str) -> Turn:
    if view == "full":
        return turn.model_copy(update={"items_view": "full"})
    if view == "notLoaded":
        return turn.model_copy(update={"items": [], "items_view": "notLoaded"})
    return summary_view(turn)


# -- thread/turns/list ----------------------------------------------------------------------


async def thread_turns_list(
    rt: Runtime, ctx: RequestContext, p: ThreadTurnsListParams
) -> ThreadTurnsListResponse:
    history = await rt.manager.turn_history(p.thread_id)
    limit = _limit(p.limit, DEFAULT_TURNS_LIMIT)
    descending = (p.sort_direction or "desc") == "desc"
    step = -1 if descending else 1
    count = len(history.ids)
    if p.cursor is not None:
        anchor = _decode(p.cursor, p.thread_id, _TURNS)
        at = _resolve(history, anchor, p.cursor)
        start = at if anchor.include else at + step
    else:
        start = count - 1 if descending else 0
    positions: list[int] = []
    pos = start
    while 0 <= pos < count and len(positions) < limit:
        positions.append(pos)
        pos += step
    turns = await history.read(positions)
    view = p.items_view or "summary"
    data = [_view(t, view) for t in turns]
    more = bool(positions) and 0 <= positions[-1] + step < count
    next_cursor = (
        _encode(p.thread_id, _TURNS, _Anchor(history.ids[positions[-1]], positions[-1], 0, False))
        if more
        else None
    )
    back = (
        _encode(p.thread_id, _TURNS, _Anchor(history.ids[positions[0]], positions[0], 0, True))
        if positions
        else None
    )
    return ThreadTurnsListResponse(data=data, next_cursor=next_cursor, backwards_cursor=back)


# -- thread/items/list ----------------------------------------------------------------------


def _entry(turn: Turn, item: Any) -> ThreadItemEntry:
    return ThreadItemEntry(
        item=item,
        turn_id=turn.id,
        started_at_ms=getattr(item, "started_at_ms", None),
        completed_at_ms=getattr(item, "completed_at_ms", None),
    )


async def thread_items_list(
    rt: Runtime, ctx: RequestContext, p: ThreadItemsListParams
) -> ThreadItemsListResponse:
    history = await rt.manager.turn_history(p.thread_id)
    limit = _limit(p.limit, DEFAULT_ITEMS_LIMIT)
    descending = (p.sort_direction or "asc") == "desc"
    step = -1 if descending else 1
    ids = history.ids
    only: int | None = None
    cursor = p.cursor
    if isinstance(cursor, ItemThreadItemsListAnchor) and not p.turn_id:
        raise RpcError(codes.INVALID_PARAMS, "turnId is required when cursor is an item anchor")
    if p.turn_id:
        if p.turn_id not in ids:  # as Codex: an unknown turn has no items
            return ThreadItemsListResponse(data=[], next_cursor=None, backwards_cursor=None)
        only = ids.index(p.turn_id)
    # (turn position, item position, whether that item itself is included)
    turn_pos: int
    item_pos: int | None = None
    include = True
    if isinstance(cursor, ItemThreadItemsListAnchor):
        assert only is not None
        (turn,) = await history.read([only])
        found = next(
            (i for i, it in enumerate(turn.items) if getattr(it, "id", None) == cursor.item_id),
            None,
        )
        if found is None:
            raise InvalidRequest(f"item {cursor.item_id} not found in turn {p.turn_id}")
        turn_pos, item_pos, include = only, found, False
    elif isinstance(cursor, str):
        anchor = _decode(cursor, p.thread_id, _ITEMS)
        turn_pos = _resolve(history, anchor, cursor)
        item_pos, include = anchor.item_pos, anchor.include
        if only is not None and turn_pos != only:
            raise _bad_cursor(cursor)
    else:
        turn_pos = (only if only is not None else len(ids) - 1) if descending else (only or 0)
    entries: list[tuple[int, int, ThreadItemEntry]] = []
    more = False
    pos = turn_pos
    first = True
    while 0 <= pos < len(ids) and (only is None or pos == only) and not more:
        batch: list[int] = []
        while 0 <= pos < len(ids) and len(batch) < _READ_BATCH and (only is None or pos == only):
            batch.append(pos)
            pos += step
        for at, turn in zip(batch, await history.read(batch), strict=False):
            n = len(turn.items)
            order = range(n - 1, -1, -1) if descending else range(n)
            for index in order:
                if first and item_pos is not None:
                    if descending and (index > item_pos or (index == item_pos and not include)):
                        continue
                    if not descending and (index < item_pos or (index == item_pos and not include)):
                        continue
                if len(entries) == limit:
                    more = True
                    break
                entries.append((at, index, _entry(turn, turn.items[index])))
            first = False
            if more:
                break
    next_cursor = back = None
    if entries:
        at, index, entry = entries[-1]
        if more:
            next_cursor = _encode(p.thread_id, _ITEMS, _Anchor(entry.turn_id, at, index, False))
        at, index, entry = entries[0]
        back = _encode(p.thread_id, _ITEMS, _Anchor(entry.turn_id, at, index, True))
    return ThreadItemsListResponse(
        data=[e for _, _, e in entries], next_cursor=next_cursor, backwards_cursor=back
    )


# -- resume -----------------------------------------------------------------------------------


async def newest_cursors(history: TurnHistory, thread_id: str) -> tuple[str | None, str | None]:
    """``(turnsBackwardsCursor, itemsBackwardsCursor)`` of a resume: anchored at the newest
    turn and the newest item, included (``None`` for a thread without them)."""
    if not history.ids:
        return None, None
    last = len(history.ids) - 1
    turns_cursor = _encode(thread_id, _TURNS, _Anchor(history.ids[last], last, 0, True))
    items_cursor = None
    pos = last
    while pos >= 0 and items_cursor is None:
        (turn,) = await history.read([pos])
        if turn.items:
            anchor = _Anchor(turn.id, pos, len(turn.items) - 1, True)
            items_cursor = _encode(thread_id, _ITEMS, anchor)
        pos -= 1
        if last - pos > _READ_BATCH:
            break  # a long run of empty turns: no items cursor rather than a long read
    return turns_cursor, items_cursor


HANDLERS: dict[str, Callable[..., Awaitable[BaseModel]]] = {
    "thread/turns/list": thread_turns_list,
    "thread/items/list": thread_items_list,
}
"""method -> ``async (rt: Runtime, ctx: RequestContext, params) -> response``."""
