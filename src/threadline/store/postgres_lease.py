"""One owner per thread across servers sharing a database: session advisory locks.

A server that loads a thread for writing takes ``pg_try_advisory_lock(key)`` (the key
is 64 bits of a hash of the thread id) on one dedicated connection it keeps open
while it runs, and records itself in ``tl_owners`` so a refused server can name the
holder. A second server asking for the same thread fails at once with
:class:`ThreadInUse`; it may take the thread as soon as the lock is free.

Why an advisory lock and not a lease row with a heartbeat:

* the lock belongs to the holder's database session, so it is released exactly when
  that session ends: on release, on exit, and when the process is SIGKILLed (the
  kernel closes its socket, the server backend sees the end of the stream at once and
  exits). A takeover after a crash therefore waits for nothing, where a heartbeat
  lease has to wait out its whole expiry;
* there is no clock to trust and no heartbeat task that a busy or paused event loop
  could starve into losing a lease it still uses;
* a holder whose machine vanishes (power, network partition) never closes its socket;
  TCP keepalives and ``tcp_user_timeout`` on both ends (set from ``expiry_s``, by
  default 10 s) make the database end that session, and the lock with it, within
  about ``expiry_s``.

A holder that loses its lease connection (the database restarted, a partition
outlived the keepalives) loses every lease with it; :attr:`PgThreadLease.held` asks
the database and turns false. Its live threads keep appending until another server
takes one over: the new holder's ``tl_owners`` row is the fence. Every append of a
live thread checks, in its transaction, that ``tl_owners`` does not name another
holder (``FOR SHARE``, so the new holder's claim waits for an append in flight and
then reads it); after the takeover the old holder's appends fail with a clear error
and nothing of it is interleaved with the new holder's lines.

The connection is synchronous on purpose: :meth:`ThreadStore.lock_thread` is
synchronous (it is called from the event loop and must not wait for a holder), and a
``pg_try_advisory_lock`` on an open local connection is one round trip.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time

import psycopg

from threadline.store.base import ThreadInUse
from threadline.store.postgres_db import unavailable
from threadline.store.postgres_schema import migrate_sync

__all__ = ["DEFAULT_LEASE_EXPIRY_S", "PgLeases", "PgThreadLease", "lease_key"]

log = logging.getLogger(__name__)

DEFAULT_LEASE_EXPIRY_S = 10.0


def lease_key(thread_id: str) -> int:
    """The advisory lock key of a thread: a signed 64-bit integer."""
    digest = hashlib.blake2b(thread_id.lower().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PgThreadLease:
    def __init__(self, leases: PgLeases, thread_id: str, session: int) -> None:
        self._leases = leases
        self._thread_id = thread_id
        self._session = session
        self._released = False

    @property
    def thread_id(self) -> str:
        return self._thread_id

    @property
    def held(self) -> bool:
        """Whether the lease is still ours (one round trip: a lost session is noticed)."""
        return not self._released and self._leases.probe(self._session)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._leases.release(self._thread_id, self._session)


class PgLeases:
    """The lease connection of one process and the leases it holds."""

    def __init__(self, url: str, *, expiry_s: float = DEFAULT_LEASE_EXPIRY_S) -> None:
        self._url = url
        self.expiry_s = max(1.0, float(expiry_s))
        self._conn: psycopg.Connection | None = None
        self._session = 0
        self._held: dict[str, int] = {}
        self._mutex = threading.Lock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def _connect(self) -> psycopg.Connection:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if self._held:
            log.warning("store: lease connection lost; %d lease(s) gone with it", len(self._held))
            self._held.clear()
        idle = max(1, int(self.expiry_s / 2))
        interval = max(1, int(self.expiry_s / 6))
        timeout_ms = int(self.expiry_s * 1000)
        server_options = (
            f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={interval} "
            f"-c tcp_keepalives_count=3 -c tcp_user_timeout={timeout_ms} "
            "-c application_name=threadline-leases"
        )
        try:
            self._conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=2,  # the event loop waits for this connect
                keepalives=1,
                keepalives_idle=idle,
                keepalives_interval=interval,
                keepalives_count=3,
                tcp_user_timeout=timeout_ms,
                options=server_options,
            )
            migrate_sync(self._conn)
        except psycopg.Error as exc:
            raise unavailable(exc, self._url) from exc
        self._session += 1
        return self._conn

    def session_alive(self, session: int) -> bool:
        conn = self._conn
        return session == self._session and conn is not None and not conn.closed and not conn.broken

    def probe(self, session: int) -> bool:
        """Whether ``session`` is the live lease session (asks the database)."""
        with self._mutex:
            if not self.session_alive(session):
                return False
            assert self._conn is not None
            try:
                self._conn.execute("SELECT 1")
            except psycopg.Error:
                return False
            return True

    def acquire(self, thread_id: str) -> PgThreadLease:
        thread_id = thread_id.lower()
        key = lease_key(thread_id)
        with self._mutex:
            if self._conn is not None and thread_id in self._held:
                try:  # a session that died since took this lease with it
                    self._conn.execute("SELECT 1")
                except psycopg.Error:
                    pass
            conn = self._connect()
            if thread_id in self._held:
                raise ThreadInUse(thread_id, os.getpid())
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if not (row and row[0]):
                    holder = conn.execute(
                        "SELECT pid FROM tl_owners WHERE thread_id = %s", (thread_id,)
                    ).fetchone()
                    raise ThreadInUse(thread_id, int(holder[0]) if holder else None)
                self._held[thread_id] = self._session
                conn.execute(
                    "INSERT INTO tl_owners (thread_id, owner, pid, since_ms) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id) DO UPDATE SET "
                    "owner = EXCLUDED.owner, pid = EXCLUDED.pid, since_ms = EXCLUDED.since_ms",
                    (thread_id, self.owner, os.getpid(), int(time.time() * 1000)),
                )
            except psycopg.Error as exc:
                raise unavailable(exc, self._url) from exc
            return PgThreadLease(self, thread_id, self._session)

    def release(self, thread_id: str, session: int) -> None:
        with self._mutex:
            if self._held.get(thread_id) != session or not self.session_alive(session):
                return
            del self._held[thread_id]
            conn = self._conn
            assert conn is not None
            try:
                conn.execute(
                    "DELETE FROM tl_owners WHERE thread_id = %s AND owner = %s",
                    (thread_id, self.owner),
                )
                conn.execute("SELECT pg_advisory_unlock(%s)", (lease_key(thread_id),))
            except psycopg.Error as exc:
                log.warning("store: releasing the lease of %s failed: %s", thread_id, exc)

    def close(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
            self._held.clear()
            if conn is not None and not conn.closed:
                conn.close()  # ends the session: every lock it held is released
