"""AppServer: the live connections of one ``threadline app-server`` process."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline import __version__
from threadline.protocol.jsonrpc import ErrorObject, JsonObject
from threadline.protocol.v2.initialize import InitializeParams, InitializeResponse
from threadline.server.connection import (
    DEFAULT_EGRESS_CAPACITY,
    DEFAULT_INGRESS_CAPACITY,
    Connection,
)
from threadline.server.dispatch import MethodTable, RequestContext
from threadline.server.identity import platform_family, platform_os, user_agent
from threadline.server.transports.base import MessageChannel
from threadline.server.transports.stdio import stdio_channel

if TYPE_CHECKING:  # the websocket stack loads with the first websocket listener
    from threadline.server.transports.websocket import ListenAddress

__all__ = ["SETTLE_FIRST_WAIT_S", "SETTLE_LATEST_S", "SETTLE_QUIET_S", "AppServer"]

logger = logging.getLogger("threadline.server")

SETTLE_QUIET_S = 0.01
"""``when_settled``: how long no request must be in flight after one was answered (its
answer is written meanwhile; a script's next request usually arrives sooner)."""
SETTLE_FIRST_WAIT_S = 0.1
"""``when_settled``: how long to wait for a first request that does not come."""
SETTLE_LATEST_S = 1.0
"""``when_settled``: the callback runs at the latest this long after it was registered."""


class AppServer:
    """Holds every live connection; serves stdio or websocket channels with one method table."""

    def __init__(
        self,
        method_table: MethodTable,
        *,
        home: Path,
        server_name: str = "threadline",
        version: str = __version__,
        ingress_capacity: int = DEFAULT_INGRESS_CAPACITY,
        egress_capacity: int = DEFAULT_EGRESS_CAPACITY,
    ) -> None:
        self.method_table = method_table
        self.home = home.expanduser().absolute()
        self.server_name = server_name
        self.version = version
        self.ingress_capacity = ingress_capacity
        self.egress_capacity = egress_capacity
        self.connections: set[Connection] = set()
        self._ids = itertools.count(1)
        self._connect_callbacks: list[Callable[[Connection], None]] = []
        self._stopping = asyncio.Event()
        self.readiness: Callable[[], Awaitable[str | None]] | None = None
        """Why the server cannot serve now (``/readyz``); set by ``build_app_server``."""
        self._in_flight = 0
        self._settle_quiet_s = SETTLE_QUIET_S
        self._settled: list[Callable[[], None]] = []
        self._settle_timer: asyncio.TimerHandle | None = None
        self._settle_deadline: asyncio.TimerHandle | None = None

    # -- identity ---------------------------------------------------------------

    def user_agent(self, client_name: str, client_version: str) -> str:
        """The ``userAgent`` of the initialize answer (see :func:`identity.user_agent`)."""
        return user_agent(self.server_name, self.version, client_name, client_version)

    def initialize_response(self, client_name: str, client_version: str) -> InitializeResponse:
        return InitializeResponse(
            user_agent=self.user_agent(client_name, client_version),
            codex_home=str(self.home),
            platform_family=platform_family(),
            platform_os=platform_os(),
        )

    def _initialize(self, params: InitializeParams) -> InitializeResponse:
        return self.initialize_response(params.client_info.name, params.client_info.version)

    # -- background work once the first requests are answered ----------------------

    def when_settled(
        self,
        callback: Callable[[], None],
        *,
        quiet_s: float = SETTLE_QUIET_S,
        first_wait_s: float = SETTLE_FIRST_WAIT_S,
        latest_s: float = SETTLE_LATEST_S,
    ) -> None:
        """Call ``callback`` once, on the running loop, when no request has been in flight
        for ``quiet_s`` after one was answered, or ``first_wait_s`` after this call when none
        arrives, or ``latest_s`` after this call in any case (a request that runs for
        minutes does not hold it back for ever).

        Background start-up work (the warm-up thread: model SDK imports, model builds)
        shares the interpreter with whatever request is running; started this way it
        neither delays a client's first requests (``thread/list``, ``thread/resume``
        right after ``initialize``) nor waits for a client that sends nothing.
        """
        self._settled.append(callback)
        loop = asyncio.get_running_loop()
        if self._settle_deadline is None:
            self._settle_deadline = loop.call_later(latest_s, self._settle_now)
        self._arm_settle(first_wait_s if self._in_flight == 0 else None)
        self._settle_quiet_s = quiet_s

    def _arm_settle(self, delay: float | None) -> None:
        if self._settle_timer is not None:
            self._settle_timer.cancel()
            self._settle_timer = None
        if delay is not None and self._settled:
            self._settle_timer = asyncio.get_running_loop().call_later(delay, self._settle_now)

    def _settle_now(self) -> None:
        for handle in (self._settle_timer, self._settle_deadline):
            if handle is not None:
                handle.cancel()
        self._settle_timer = None
        callbacks, self._settled = self._settled, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("start-up background work failed to start")

    async def _dispatch(
        self, ctx: RequestContext, params: JsonObject | None
    ) -> tuple[Any, ErrorObject | None]:
        """The method table's dispatch, counting the requests in flight (``when_settled``)."""
        if not self._settled:
            return await self.method_table.dispatch(ctx, params)
        self._in_flight += 1
        self._arm_settle(None)
        try:
            return await self.method_table.dispatch(ctx, params)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._arm_settle(self._settle_quiet_s)

    # -- connections ------------------------------------------------------------

    def on_connect(self, callback: Callable[[Connection], None]) -> None:
        """Call ``callback(connection)`` for each new connection (before it reads)."""
        self._connect_callbacks.append(callback)

    def initialized_connections(self) -> list[Connection]:
        return sorted(
            (c for c in self.connections if c.initialized and not c.closed), key=lambda c: c.id
        )

    def broadcast(self, method: str, params: Any) -> int:
        """Send a notification to every initialized connection; returns how many queued it."""
        return sum(1 for c in self.initialized_connections() if c.send_notification(method, params))

    async def serve_channel(self, channel: MessageChannel) -> None:
        """Serve one connection until it ends."""
        conn = Connection(
            channel,
            connection_id=next(self._ids),
            dispatch=self._dispatch,
            detached=self.method_table.is_detached,
            on_initialize=self._initialize,
            ingress_capacity=self.ingress_capacity,
            egress_capacity=self.egress_capacity,
        )
        self.connections.add(conn)
        for callback in self._connect_callbacks:
            callback(conn)
        logger.info("connection %d opened (%s)", conn.id, channel.peer)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
            logger.info("connection %d closed (%s)", conn.id, conn.close_reason or "eof")

    # -- transports -------------------------------------------------------------

    async def serve_stdio(self, *, reserve_stdout: bool = True) -> None:
        """Serve the single stdio connection until stdin ends or :meth:`shutdown`."""
        async with stdio_channel(reserve_stdout=reserve_stdout) as channel:
            serving = asyncio.ensure_future(self.serve_channel(channel))
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not serving.done():
                await channel.close("server shutting down")
                await asyncio.wait({serving}, timeout=5)
            stopping.cancel()

    async def serve_websocket(
        self,
        host: str,
        port: int,
        *,
        token_sha256: bytes | None = None,
        on_listening: Callable[[ListenAddress], None] | None = None,
    ) -> None:
        """Accept websocket connections until :meth:`shutdown`.

        With ``token_sha256`` (the SHA-256 digest of a capability token) only clients
        sending ``Authorization: Bearer <token>`` get past the handshake.
        """
        from threadline.server.transports.websocket import websocket_listener

        async with websocket_listener(
            self.serve_channel, host, port, token_sha256=token_sha256, ready=self.readiness
        ) as (
            server,
            address,
        ):
            if on_listening is not None:
                on_listening(address)
            await self._stopping.wait()
            server.close(close_connections=True)
            await asyncio.wait_for(server.wait_closed(), timeout=10)

    def shutdown(self) -> None:
        """Ask the serving loop to stop; open connections are closed."""
        self._stopping.set()
        for conn in list(self.connections):
            conn.abort("server shutting down")
