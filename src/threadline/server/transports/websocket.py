"""Websocket listener: one JSON-RPC message per text frame, many connections at once.

HTTP rules applied before the websocket handshake:

* any request with an ``Origin`` header → ``403`` (browsers always send one; this
  server is for local tools, not web pages);
* ``GET /readyz`` and ``GET /healthz`` → ``200``;
* with a capability token configured, every other request (the websocket
  handshake, hence before ``initialize``) must carry ``Authorization: Bearer <token>``
  → else ``401``. Tokens are compared as SHA-256 digests with
  :func:`hmac.compare_digest`, so the time taken says nothing about the token.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from threadline.protocol.jsonrpc import MAX_MESSAGE_BYTES, JsonObject, decode_message, dumps
from threadline.protocol.net import is_loopback_host
from threadline.server.transports.base import Incoming, MessageChannel

logger = logging.getLogger("threadline.server.websocket")

HEALTH_PATHS = frozenset({"/readyz", "/healthz"})
_FRAME_LIMIT = MAX_MESSAGE_BYTES + (6 << 20)
"""Frames up to this size are read and answered with an error when over the message
limit; larger ones close the connection with code 1009."""


class WebSocketChannel:
    """One accepted websocket connection."""

    def __init__(self, ws: ServerConnection) -> None:
        self._ws = ws

    @property
    def peer(self) -> str:
        addr = self._ws.remote_address
        return f"ws:{addr[0]}:{addr[1]}" if addr else "ws"

    async def incoming(self) -> AsyncIterator[Incoming]:
        try:
            async for frame in self._ws:
                yield decode_message(frame)
        except ConnectionClosed:
            return

    async def send(self, message: JsonObject) -> None:
        await self._ws.send(dumps(message))

    async def close(self, reason: str = "") -> None:
        """Close code 1000 without a reason, 1001 on shutdown, else 1008 (policy)."""
        if not reason:
            code = 1000
        elif reason.startswith("server shutting down"):
            code = 1001
        else:
            code = 1008
        await self._ws.close(code, reason[:120])


@dataclass(frozen=True, slots=True)
class ListenAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}"

    @property
    def http_base(self) -> str:
        return "http" + self.url[2:]


def _text(connection: ServerConnection, status: HTTPStatus, body: str) -> Response:
    return connection.respond(status, body + "\n")


def token_digest(token: str) -> bytes:
    """What the server keeps of a capability token: its SHA-256 digest."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else ``None``."""
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


Readiness = Callable[[], Awaitable[str | None]]
"""Why the server cannot serve now (its store unreachable), or ``None`` when it can."""


def make_request_gate(
    token_sha256: bytes | None, ready: Readiness | None = None
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """The ``process_request`` hook applying the HTTP rules in the module docstring.

    ``token_sha256`` is the digest of the capability token (see :func:`token_digest`);
    ``None`` accepts every client. ``ready`` answers ``/readyz``: ``503`` with the reason
    while it names one (``/healthz`` only says the process is up).
    """

    async def gate(connection: ServerConnection, request: Request) -> Response | None:
        if "Origin" in request.headers:
            return _text(
                connection,
                HTTPStatus.FORBIDDEN,
                "Forbidden: requests with an Origin header are refused",
            )
        path = request.path.split("?", 1)[0]
        if path in HEALTH_PATHS:
            problem = await ready() if ready is not None and path == "/readyz" else None
            if problem is not None:
                return _text(connection, HTTPStatus.SERVICE_UNAVAILABLE, f"not ready: {problem}")
            return _text(connection, HTTPStatus.OK, "ok")
        if token_sha256 is not None:
            given = bearer_token(request.headers.get("Authorization"))
            # Always hash and compare, present or not, so every refusal costs the same.
            digest = token_digest(given if given is not None else "")
            if not (hmac.compare_digest(digest, token_sha256) and given is not None):
                logger.info("refused websocket client %s: bad or missing token", request.path)
                return _text(
                    connection,
                    HTTPStatus.UNAUTHORIZED,
                    "Unauthorized: a valid bearer token is required",
                )
        return None

    return gate


@contextlib.asynccontextmanager
async def websocket_listener(
    on_connection: Callable[[MessageChannel], Awaitable[None]],
    host: str,
    port: int,
    *,
    token_sha256: bytes | None = None,
    ready: Readiness | None = None,
) -> AsyncIterator[tuple[Server, ListenAddress]]:
    """Listen on ``host:port`` (``0`` = any free port); call ``on_connection`` per client.

    Refuses a non-loopback ``host`` unless a capability token is configured.
    """
    if not is_loopback_host(host) and token_sha256 is None:
        raise ValueError(
            f"refusing to listen on non-loopback address {host!r} without --ws-token-file"
        )

    async def handler(ws: ServerConnection) -> None:
        await on_connection(WebSocketChannel(ws))

    async with serve(
        handler,
        host,
        port,
        process_request=make_request_gate(token_sha256, ready),
        max_size=_FRAME_LIMIT,
        max_queue=64,
    ) as server:
        sockname = next(iter(server.sockets)).getsockname()
        yield server, ListenAddress(host=str(sockname[0]), port=int(sockname[1]))
