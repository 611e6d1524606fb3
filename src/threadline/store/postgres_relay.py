"""The relay's database side: events out of a thread's owner, operations into it.

Servers sharing one database each own some threads (``postgres_lease``). A client on
another server follows such a thread through two tables and one ``LISTEN`` channel:

* ``tl_relay_events (thread_id, seq, event)``: the owner writes the core events of a
  watched thread here, a batch per statement, numbered per thread in the order its
  clients see them; the same statement notifies ``tl_relay`` with ``e <thread> <seq>``
  (the newest seq of the batch). A watcher reads ``seq > last`` on each notification
  and on a short poll, so a notification that is missed (or a listener that was
  reconnecting) loses nothing: the rows are the truth, the notification only a hint.
* ``tl_relay_ops (id, thread_id, op, taken, answer)``: a watcher's operation for the
  owner (start, steer, interrupt, answer an approval, watch); ``o <thread>`` wakes the
  owner, which claims its rows (``FOR UPDATE SKIP LOCKED``, so two claims never run one
  operation twice), runs them in id order and writes the answer, ``a <id>``.

Rows older than :data:`KEEP_MS` are pruned by the owners' writers (bounded tables). The
payloads are opaque JSON text to this module; ``core.relay`` gives them their meaning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import psycopg

from threadline.protocol.clock import now_ms
from threadline.store.postgres_db import PgDatabase
from threadline.store.postgres_lease import lease_key

__all__ = ["CHANNEL", "KEEP_MS", "PgRelay"]

log = logging.getLogger(__name__)

CHANNEL = "tl_relay"
KEEP_MS = 120_000
"""How long relayed events and answered operations are kept (a watcher further behind
than this has lost events, and says so)."""

_RECONNECT_S = (0.1, 0.5, 1.0, 2.0, 5.0)

_PUBLISH = (
    "WITH ins AS (INSERT INTO tl_relay_events (thread_id, seq, event, at_ms) "
    "SELECT t, s, e, %s FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS r(t, s, e) "
    "RETURNING thread_id, seq) "
    "SELECT pg_notify(%s, 'e ' || thread_id || ' ' || max(seq)) FROM ins GROUP BY thread_id"
)


def _lock_parts(thread_id: str) -> tuple[int, int]:
    """The ``pg_locks`` (classid, objid) of a thread's advisory lock (a bigint key is
    shown as its high and low 32 bits)."""
    key = lease_key(thread_id.lower()) & 0xFFFF_FFFF_FFFF_FFFF
    return key >> 32, key & 0xFFFF_FFFF


class PgRelay:
    """One per store. The listener connection opens on :meth:`listen`'s first call."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._callbacks: list[Callable[[str], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.connected = asyncio.Event()

    # ---- notifications ------------------------------------------------------------------

    def listen(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` for every notification of the channel; ``"!"`` after
        the listener (re)connects, when anything may have been missed."""
        self._callbacks.append(callback)
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="tl-relay")

    def _dispatch(self, payload: str) -> None:
        for cb in list(self._callbacks):
            try:
                cb(payload)
            except Exception:
                log.exception("relay: notification callback failed")

    async def _listen(self) -> None:
        attempt = 0
        while not self._closed:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._db.url, autocommit=True, connect_timeout=5
                )
            except psycopg.Error as exc:
                delay = _RECONNECT_S[min(attempt, len(_RECONNECT_S) - 1)]
                attempt += 1
                log.warning("relay: cannot listen (%s); again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            try:
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    attempt = 0
                    self.connected.set()
                    self._dispatch("!")
                    async for note in conn.notifies():
                        self._dispatch(note.payload)
            except psycopg.Error as exc:
                log.warning("relay: listener connection lost: %s", exc)
            finally:
                self.connected.clear()
            if not self._closed:
                await asyncio.sleep(_RECONNECT_S[0])

    # ---- events ---------------------------------------------------------------------------

    async def publish(self, rows: Sequence[tuple[str, int, str]]) -> None:
        """Store ``(thread_id, seq, event)`` rows and notify their watchers (one statement)."""
        if not rows:
            return
        tids = [r[0] for r in rows]
        seqs = [r[1] for r in rows]
        events = [r[2] for r in rows]
        async with self._db.connection() as conn:
            await conn.execute(_PUBLISH, (now_ms(), tids, seqs, events, CHANNEL))

    async def events_for(
        self, positions: Sequence[tuple[str, int]], limit: int = 5000
    ) -> list[tuple[str, int, str]]:
        """The events after each ``(thread_id, seq)``, in one query: ``(thread_id, seq,
        event)`` rows, each thread's in order (at most ``limit`` in all)."""
        if not positions:
            return []
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT e.thread_id, e.seq, e.event FROM unnest(%s::text[], %s::bigint[]) "
                "AS w(t, s) JOIN tl_relay_events e ON e.thread_id = w.t AND e.seq > w.s "
                "ORDER BY e.thread_id, e.seq LIMIT %s",
                ([p[0].lower() for p in positions], [p[1] for p in positions], limit),
            )
            return [(str(t), int(s), str(e)) for t, s, e in await cur.fetchall()]

    async def last_seq(self, thread_id: str) -> int:
        """The newest seq stored for the thread (0 when none): where a new owner goes on."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM tl_relay_events WHERE thread_id = %s",
                (thread_id.lower(),),
            )
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    # ---- operations -----------------------------------------------------------------------

    async def send_op(self, thread_id: str, op: str) -> int:
        """Queue ``op`` for the thread's owner; its id (the answer is keyed by it)."""
        tid = thread_id.lower()
        async with self._db.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO tl_relay_ops (thread_id, op, at_ms) VALUES (%s, %s, %s) RETURNING id",
                (tid, op, now_ms()),
            )
            row = await cur.fetchone()
            assert row is not None
            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"o {tid}"))
            return int(row[0])

    async def take_ops(self, thread_ids: Sequence[str]) -> list[tuple[int, str, str]]:
        """Claim the open operations of ``thread_ids`` (``(id, thread_id, op)``, oldest first)."""
        if not thread_ids:
            return []
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "WITH open AS (SELECT id FROM tl_relay_ops WHERE NOT taken "
                "AND thread_id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED) "
                "UPDATE tl_relay_ops o SET taken = TRUE FROM open WHERE o.id = open.id "
                "RETURNING o.id, o.thread_id, o.op",
                ([t.lower() for t in thread_ids],),
            )
            rows = [(int(i), str(t), str(op)) for i, t, op in await cur.fetchall()]
        return sorted(rows)

    async def answer_op(self, op_id: int, answer: str) -> None:
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute("UPDATE tl_relay_ops SET answer = %s WHERE id = %s", (answer, op_id))
            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"a {op_id}"))

    async def answer_of(self, op_id: int) -> str | None:
        async with self._db.connection() as conn:
            cur = await conn.execute("SELECT answer FROM tl_relay_ops WHERE id = %s", (op_id,))
            row = await cur.fetchone()
            return None if row is None or row[0] is None else str(row[0])

    async def drop_op(self, op_id: int) -> bool:
        """Withdraw an operation nobody took (a watcher that gave up); whether it was open."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM tl_relay_ops WHERE id = %s AND NOT taken RETURNING id", (op_id,)
            )
            return await cur.fetchone() is not None

    # ---- owners ---------------------------------------------------------------------------

    async def held(self, thread_ids: Sequence[str]) -> dict[str, int]:
        """Which of ``thread_ids`` some server holds now (their advisory lock is granted;
        one scan of ``pg_locks`` for all of them), each with the backend pid of the
        session holding it: a different pid is a different owner (one took it over)."""
        if not thread_ids:
            return {}
        wanted = {_lock_parts(t): t for t in thread_ids}
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT classid::bigint, objid::bigint, pid FROM pg_locks "
                "WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
            )
            rows = await cur.fetchall()
        return {
            wanted[(int(c), int(o))]: int(pid or 0)
            for c, o, pid in rows
            if (int(c), int(o)) in wanted
        }

    async def prune(self) -> None:
        """Drop events and answered operations older than :data:`KEEP_MS`."""
        cutoff = now_ms() - KEEP_MS
        async with self._db.connection() as conn:
            await conn.execute("DELETE FROM tl_relay_events WHERE at_ms < %s", (cutoff,))
            await conn.execute("DELETE FROM tl_relay_ops WHERE at_ms < %s", (cutoff,))

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
