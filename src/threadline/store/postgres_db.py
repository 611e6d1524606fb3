"""The PostgreSQL store's connections: one ``psycopg_pool`` pool, migrated on first use.

Every query goes through :meth:`PgDatabase.connection`, which turns a driver failure
(the database down, a pool timeout, a lost connection) into a :class:`StoreError`
with a message a client can read, so a request fails clearly instead of hanging. The
pool reconnects by itself (with its own backoff) once the database is back; a pool
connection is checked before it is handed out, so one broken by a database restart
is replaced rather than failing a request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from threadline.protocol.text import without_surrogates
from threadline.store.base import StoreError
from threadline.store.postgres_schema import migrate

__all__ = [
    "DEFAULT_POOL_SIZE", "PgDatabase", "StoreUnavailable", "encodable", "redact_url", "unavailable",
]

log = logging.getLogger(__name__)

DEFAULT_POOL_SIZE = 10
DEFAULT_TIMEOUT_S = 10.0


class StoreUnavailable(StoreError):
    """The database could not be reached (or stopped answering) within the timeout."""


def encodable(values: Sequence[Any]) -> list[Any]:
    """Query parameters that always encode: PostgreSQL text is UTF-8, so a lone surrogate
    (a path's undecodable byte, as Python holds it) is replaced, as the rollout line and
    the wire replace it; psycopg would refuse the whole statement otherwise."""
    return [without_surrogates(v) if isinstance(v, str) else v for v in values]


def redact_url(url: str) -> str:
    """``url`` without its password (for messages and logs)."""
    head, at, rest = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, userinfo = head.partition("//")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}//{user}:***@{rest}"


def unavailable(exc: BaseException, url: str) -> StoreUnavailable:
    """The error a request gets while the database cannot be reached."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, PoolTimeout):
        detail += f" (is PostgreSQL up at {redact_url(url)}?)"
    return StoreUnavailable(f"the thread database is unavailable: {detail}")


class PgDatabase:
    def __init__(
        self, url: str, *, max_size: int = DEFAULT_POOL_SIZE, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.url = url
        self._max_size = max_size
        self._timeout = timeout
        self._pool: AsyncConnectionPool | None = None
        self._migrated = False
        self._lock = asyncio.Lock()
        self._closed = False

    async def _ensure(self) -> AsyncConnectionPool:
        if self._pool is not None and self._migrated:
            return self._pool
        async with self._lock:
            if self._closed:
                raise StoreError("the thread store is closed")
            if self._pool is None:
                pool = AsyncConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self._max_size,
                    kwargs={"autocommit": True},
                    check=AsyncConnectionPool.check_connection,
                    open=False,
                    timeout=self._timeout,
                    reconnect_timeout=0,  # keep trying for as long as the server runs
                    name="threadline-store",
                )
                await pool.open(wait=False)
                self._pool = pool
            if not self._migrated:
                try:
                    async with self._pool.connection(timeout=self._timeout) as conn:
                        ran = await migrate(conn)
                except (psycopg.Error, PoolTimeout) as exc:
                    raise self._unavailable(exc) from exc
                if ran:
                    log.info("store: applied %d migration(s) to %s", ran, redact_url(self.url))
                self._migrated = True
        return self._pool

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return unavailable(exc, self.url)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection (autocommit; use ``conn.transaction()`` for several statements)."""
        pool = await self._ensure()
        try:
            async with pool.connection(timeout=self._timeout) as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise self._unavailable(exc) from exc
        except psycopg.Error as exc:
            raise StoreError(f"the thread database refused the change: {exc}") from exc

    async def problem(self) -> str | None:
        """Why the database cannot serve now (for ``/readyz``); None when it answers."""
        try:
            async with self.connection() as conn:
                await conn.execute("SELECT 1")
        except StoreError as exc:
            return exc.message
        return None

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
