"""Paged history of a PostgreSQL thread: ``thread/turns/list`` and ``thread/items/list``
of a thread that is not loaded read the page's lines, not the whole history.

The turn boundaries come from the same pass the local store runs over a rollout file
(:func:`threadline.rollout.offsets.scan_lines`), fed the thread's lines by number, so
a turn's range is a range of ``tl_lines.seq`` and a page is one primary-key range scan
per turn, rebuilt with the same :class:`~threadline.rollout.turns.TurnBuilder` a whole
read uses (the turns and item ids are the ones a whole read gives).

The index is kept in ``tl_turn_index`` (migration 4), one row per thread that was paged,
tagged with the history's ``generation`` and how many lines it covers. A history that
only grew since is extended by reading only the new lines; one that was started again
(a new generation) is scanned afresh. Writing the row is best effort: a failure to save
costs the next request a scan, never a wrong answer.

Cost: one row per paged thread, about 100 bytes of JSON per turn, rewritten when a
paged read finds new lines; a page then reads the index row, the history's head, and
the page's turns' lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from psycopg import AsyncConnection

from threadline.protocol.v2 import Turn
from threadline.rollout.offsets import OffsetIndex, TurnSpan, scan_lines
from threadline.rollout.reader import parse_lines
from threadline.rollout.turns import TurnBuilder
from threadline.store.base import StoreError
from threadline.store.postgres_db import PgDatabase

__all__ = ["page_turn_ids", "page_turns", "render_spans", "turn_index"]

log = logging.getLogger(__name__)

_BATCH = 2000


async def _scan(conn: AsyncConnection, tid: str, index: OffsetIndex, count: int) -> OffsetIndex:
    """``index`` extended over the lines from ``index.scanned_to`` to ``count``."""
    start = index.scanned_to
    while start < count:
        cur = await conn.execute(
            "SELECT seq, line FROM tl_lines WHERE thread_id = %s AND seq >= %s AND seq < %s "
            "ORDER BY seq",
            (tid, start, min(count, start + _BATCH)),
        )
        rows = await cur.fetchall()
        if not rows:
            break
        index = scan_lines(((int(seq), str(line).encode()) for seq, line in rows), index)
        start = min(count, start + _BATCH)
    index.scanned_to = count
    return index


async def turn_index(db: PgDatabase, thread_id: str) -> OffsetIndex:
    """The current turn index of ``thread_id``'s history (built or extended as needed)."""
    tid = thread_id.lower()
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT h.line_count, h.generation, i.generation, i.scanned_to, i.body "
            "FROM tl_histories h LEFT JOIN tl_turn_index i ON i.thread_id = h.thread_id "
            "WHERE h.thread_id = %s",
            (tid,),
        )
        row = await cur.fetchone()
        if row is None:
            raise StoreError(f"no rollout found for thread id {thread_id}")
        count, generation, saved_generation, saved_to, body = row
        count, generation = int(count), int(generation)
        index: OffsetIndex | None = None
        if body is not None and saved_generation == generation and int(saved_to) <= count:
            index = OffsetIndex.from_json(str(body))
        if index is not None and index.scanned_to == count:
            return index
        index = await _scan(conn, tid, index or OffsetIndex(path=f"thread {tid}"), count)
        try:
            await conn.execute(
                "INSERT INTO tl_turn_index (thread_id, generation, scanned_to, body) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id) DO UPDATE SET "
                "generation = EXCLUDED.generation, scanned_to = EXCLUDED.scanned_to, "
                "body = EXCLUDED.body WHERE tl_turn_index.generation < EXCLUDED.generation "
                "OR tl_turn_index.scanned_to < EXCLUDED.scanned_to",
                (tid, generation, count, index.to_json()),
            )
        except psycopg.Error as exc:  # the index is a cache
            log.warning("store: could not save the turn index of %s: %s", tid, exc)
    return index


async def render_spans(
    db: PgDatabase, thread_id: str, index: OffsetIndex, spans: Sequence[TurnSpan]
) -> list[Turn]:
    """The turns of ``spans`` (in the order given), each rebuilt from its own lines."""
    tid = thread_id.lower()
    out: list[Turn] = []
    async with db.connection() as conn:
        for span in spans:
            start, end = index.range_of(span)
            cur = await conn.execute(
                "SELECT line FROM tl_lines WHERE thread_id = %s AND seq >= %s AND seq < %s "
                "ORDER BY seq",
                (tid, start, end),
            )
            texts = [str(r[0]) for r in await cur.fetchall()]
            lines, _ = parse_lines("\n".join(texts).encode(), source=f"thread {tid}")
            builder = TurnBuilder(item_counter=span.counter)
            for number, line in enumerate(lines):
                builder.feed(span.line + number, line)
            built = builder.finish(live=False)
            match = next((t for t in built if t.id == span.id), built[0] if built else None)
            if match is not None:
                out.append(match)
    return out


async def page_turn_ids(db: PgDatabase, thread_id: str) -> list[str] | None:
    """The ids of the visible turns, oldest first; None when the index cannot page this
    history (the caller reads it whole)."""
    index = await turn_index(db, thread_id)
    return None if index.unsupported is not None else [span.id for span in index.visible()]


async def page_turns(
    db: PgDatabase, thread_id: str, positions: Sequence[int]
) -> list[Turn] | None:
    """The visible turns at ``positions`` (in that order), reading only their lines;
    None when the index cannot page this history."""
    index = await turn_index(db, thread_id)
    if index.unsupported is not None:
        return None
    spans = index.visible()
    chosen = [spans[p] for p in positions if 0 <= p < len(spans)]
    return await render_spans(db, thread_id, index, chosen)
