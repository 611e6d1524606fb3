"""Per-connection state and the three loops that serve one client.

Loops (all inside :meth:`Connection.run`):

* **reader** — takes parsed messages off the transport. Responses and errors to
  server→client requests resolve their futures at once (never queued behind
  requests). Requests, notifications and malformed input (answered with
  ``-32700`` / ``-32600``) go to the ingress queue, so answers keep arrival order.
* **processor** — handles the ingress queue one message at a time, in arrival
  order. Handlers are expected to be quick; long work runs in its own tasks.
* **writer** — writes the outgoing queue to the transport.

Queue policy (bounded memory):

* ingress holds at most ``ingress_capacity`` messages. A request arriving when it
  is full is answered immediately with ``-32001 "Server overloaded; retry later."``;
  a notification arriving then is dropped (and logged).
* outgoing holds at most ``egress_capacity`` messages. A client that stops reading
  lets it fill; the next message that does not fit disconnects that client
  (websocket close code 1008; for stdio the process ends). Nothing is silently
  dropped on a live connection.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from threadline.protocol import codes
from threadline.protocol.clock import now_ms
from threadline.protocol.jsonrpc import (
    Encoded,
    ErrorObject,
    InvalidMessage,
    JsonObject,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    RequestId,
    encode_error,
    encode_notification,
    encode_request,
    encode_response,
    encode_response_line,
)
from threadline.protocol.v2.experimental import EXPERIMENTAL_NOTIFICATIONS
from threadline.protocol.v2.initialize import InitializeParams, InitializeResponse
from threadline.server.errors import ConnectionClosedError, RpcError, invalid_params
from threadline.server.transports.base import MessageChannel

__all__ = [
    "DEFAULT_EGRESS_CAPACITY",
    "DEFAULT_INGRESS_CAPACITY",
    "Connection",
    "ConnectionRequest",
    "Dispatch",
    "OnInitialize",
]

logger = logging.getLogger("threadline.server.connection")

DEFAULT_INGRESS_CAPACITY = 256
DEFAULT_EGRESS_CAPACITY = 8192

_STOP = None
_Inbound = JSONRPCRequest | JSONRPCNotification | InvalidMessage


_WRITE_BATCH = 256
"""Most messages written together when several are queued."""

BIG_ANSWER_BYTES = 1 << 20
"""An answer this big (a long thread's turns) holds the collector's pause
(``core.stored.pause_collector``) from when it is queued until it is written: that is
what background start-up work (the warm-up) waits for, and writing megabytes to a
client that reads them takes as long as building them; sharing the interpreter (and
the machine) meanwhile slows the answer."""


Dispatch = Callable[["ConnectionRequest", JsonObject | None], Awaitable[tuple[Any, ErrorObject | None]]]
"""Answers a request: ``(result, None)`` or ``(None, error)`` (``MethodTable.dispatch``)."""

OnInitialize = Callable[[InitializeParams], InitializeResponse]
"""The answer to a valid ``initialize`` (the server's identity)."""


def to_json(value: Any) -> Any:
    """Wire form of a params/result value (pydantic models dumped by alias, nulls kept)."""
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, mode="json")
    return value


class Connection:
    """One client: initialize gate, client identity, opt-outs, subscriptions, queues.

    The ``send_*`` methods never block: they queue the message (see the module
    docstring for what happens when the queue is full) and return whether it was
    queued. ``send_request`` returns a future resolved by the client's answer.
    """

    def __init__(
        self,
        channel: MessageChannel,
        *,
        connection_id: int,
        dispatch: Dispatch,
        on_initialize: OnInitialize,
        ingress_capacity: int = DEFAULT_INGRESS_CAPACITY,
        egress_capacity: int = DEFAULT_EGRESS_CAPACITY,
        detached: Callable[[str], bool] | None = None,
    ) -> None:
        self.channel = channel
        self._is_detached = detached
        """Which methods run in their own task (``MethodTable.is_detached``)."""
        self._detached_tasks: set[asyncio.Task[None]] = set()
        self._dispatch = dispatch
        self._on_initialize = on_initialize
        self.id = connection_id
        self.initialized = False
        """``initialize`` was answered; requests are now served."""
        self.client_initialized = False
        """The client sent the ``initialized`` notification after ``initialize``."""
        self.client_name: str | None = None
        self.client_title: str | None = None
        self.client_version: str | None = None
        self.experimental_api = False
        self.opt_out_notification_methods: frozenset[str] = frozenset()
        self.subscriptions: set[str] = set()
        """Thread ids whose events this connection receives."""
        self._ingress_capacity = ingress_capacity
        self._egress_capacity = egress_capacity
        self._egress_high_water = egress_capacity // 2
        self._ingress: asyncio.Queue[_Inbound | None] = asyncio.Queue()
        # Outgoing messages: a deque the writer drains in batches, woken through a future
        # only when it is idle (cheaper per message than an asyncio.Queue).
        self._egress: collections.deque[JsonObject | None] = collections.deque()
        self._egress_waiter: asyncio.Future[None] | None = None
        self._request_ids = itertools.count()
        self._pending: dict[RequestId, asyncio.Future[Any]] = {}
        self._close_callbacks: list[Callable[[Connection], None]] = []
        self._accepting = True
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: asyncio.Task[None] | None = None
        self.close_reason: str | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.channel.peer} client={self.client_name!r}>"

    @property
    def closed(self) -> bool:
        return self._closed

    # -- outgoing ---------------------------------------------------------------

    def _enqueue(self, message: JsonObject) -> bool:
        if not self._accepting:
            return False
        if len(self._egress) >= self._egress_capacity:
            logger.warning(
                "%r: outgoing queue full (%d); disconnecting", self, self._egress_capacity
            )
            self.abort("outgoing queue overflow: client is not reading")
            return False
        self._push(message)
        return True

    def _push(self, message: JsonObject | None) -> None:
        self._egress.append(message)
        waiter = self._egress_waiter
        if waiter is not None:
            self._egress_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    @property
    def outgoing_backlog(self) -> int:
        """Messages queued for this client but not yet written."""
        return len(self._egress)

    @property
    def congested(self) -> bool:
        """More than half the outgoing capacity is queued: producers should wait."""
        return len(self._egress) > self._egress_high_water

    @property
    def outgoing_capacity(self) -> int:
        """Backlog at which the client is considered stuck and disconnected."""
        return self._egress_capacity

    def send_notification(self, method: str, params: Any) -> bool:
        """Queue a notification (with ``emittedAtMs``) unless the client opted out of ``method``
        or it is one Codex sends only to ``experimentalApi`` clients and this is not one."""
        if method in self.opt_out_notification_methods:
            return False
        if method in EXPERIMENTAL_NOTIFICATIONS and not self.experimental_api:
            return False
        return self._enqueue(encode_notification(method, to_json(params), now_ms()))

    def send_response(self, request_id: RequestId, result: Any) -> bool:
        """Queue the answer to ``request_id``; a pydantic ``result`` is serialized now,
        straight to its frame's bytes (``encode_response_line``)."""
        if isinstance(result, BaseModel):
            encoded = encode_response_line(request_id, result)
            if encoded is not None:
                if len(encoded.body) >= BIG_ANSWER_BYTES:
                    from threadline.core.stored import pause_collector  # loaded by the handlers

                    encoded.on_written = pause_collector()
                queued = self._enqueue(encoded)
                if not queued:
                    encoded.written()
                return queued
        return self._enqueue(encode_response(request_id, to_json(result)))

    def send_error(
        self, request_id: RequestId | None, code: int, message: str, data: Any = None
    ) -> bool:
        return self._enqueue(encode_error(request_id, ErrorObject(code, message, data)))

    def send_request(self, method: str, params: Any) -> asyncio.Future[Any]:
        """Send a server→client request; the future gets the client's ``result``.

        Ids are integers from 0 per connection. A client error answer sets an
        :class:`RpcError`; a connection that closes first sets
        :class:`ConnectionClosedError`.
        """
        return self.send_request_with_id(method, params)[1]

    def send_request_with_id(
        self, method: str, params: Any
    ) -> tuple[int, asyncio.Future[Any]]:
        """:meth:`send_request`, also returning the JSON-RPC id the request was given."""
        request_id = next(self._request_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        future.add_done_callback(lambda _f: self._pending.pop(request_id, None))
        if not self._enqueue(encode_request(request_id, method, to_json(params))):
            future.set_exception(ConnectionClosedError(f"connection {self.id} is closed"))
        return request_id, future

    def add_close_callback(self, callback: Callable[[Connection], None]) -> None:
        """Call ``callback(connection)`` once when this connection ends."""
        self._close_callbacks.append(callback)

    # -- lifecycle --------------------------------------------------------------

    async def run(self) -> None:
        """Serve until the client disconnects (all queued work is finished first) or abort."""
        try:
            async with asyncio.TaskGroup() as group:
                self._tasks = [
                    group.create_task(self._read_loop()),
                    group.create_task(self._process_loop()),
                    group.create_task(self._write_loop()),
                ]
        finally:
            self._finish()

    def abort(self, reason: str) -> None:
        """Stop serving now (queued messages are discarded) and close the transport."""
        if self._closed or self.close_reason is not None:
            return
        self.close_reason = reason
        self._accepting = False
        for task in self._tasks:
            task.cancel()
        self._closing = asyncio.get_running_loop().create_task(self._close_channel(reason))

    async def _close_channel(self, reason: str) -> None:
        try:
            await self.channel.close(reason)
        except Exception:
            logger.debug("%r: error while closing", self, exc_info=True)

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._accepting = False
        for task in list(self._detached_tasks):
            task.cancel()
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(ConnectionClosedError(f"connection {self.id} closed"))
        self._pending.clear()
        for callback in self._close_callbacks:
            try:
                callback(self)
            except Exception:
                logger.exception("%r: close callback failed", self)

    # -- loops ------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            async for message in self.channel.incoming():
                self._on_incoming(message)
        except Exception:
            logger.exception("%r: transport read failed", self)
        finally:
            self._ingress.put_nowait(_STOP)

    def _on_incoming(self, message: object) -> None:
        if isinstance(message, JSONRPCResponse):
            self._resolve(message.id, result=message.result)
        elif isinstance(message, JSONRPCError):
            self._resolve(message.id, error=message.error)
        elif isinstance(message, JSONRPCRequest | JSONRPCNotification | InvalidMessage):
            if self._ingress.qsize() < self._ingress_capacity:
                self._ingress.put_nowait(message)
            elif isinstance(message, JSONRPCRequest):
                self.send_error(message.id, codes.SERVER_OVERLOADED, codes.OVERLOADED_MESSAGE)
            elif isinstance(message, InvalidMessage):
                self._reject(message)
            else:
                logger.warning("%r: ingress full, dropped notification %s", self, message.method)

    def _reject(self, message: InvalidMessage) -> None:
        logger.warning("%r: rejected input: %s", self, message.message)
        self.send_error(message.id, message.code, message.message)

    def _resolve(
        self, request_id: RequestId | None, *, result: Any = None, error: ErrorObject | None = None
    ) -> None:
        future = self._pending.pop(request_id, None) if request_id is not None else None
        if future is None:
            logger.warning("%r: answer to unknown server request id %r ignored", self, request_id)
            return
        if future.done():
            return
        if error is not None:
            future.set_exception(RpcError(error.code, error.message, error.data))
        else:
            future.set_result(result)

    async def _process_loop(self) -> None:
        try:
            while True:
                message = await self._ingress.get()
                if message is None:
                    return
                if isinstance(message, JSONRPCRequest):
                    if self._is_detached is not None and self._is_detached(message.method):
                        self._start_detached(message)
                        # One step of the loop: the handler runs up to its first wait
                        # (what it registers is there for the next request).
                        await asyncio.sleep(0)
                    else:
                        await self._handle_request(message)
                elif isinstance(message, InvalidMessage):
                    self._reject(message)
                else:
                    self._handle_notification(message)
        finally:
            self._accepting_stop()

    def _start_detached(self, request: JSONRPCRequest) -> None:
        # Answered when its handler returns; cancelled when the connection ends.
        task = asyncio.get_running_loop().create_task(self._handle_request(request))
        self._detached_tasks.add(task)
        task.add_done_callback(self._detached_tasks.discard)

    def _accepting_stop(self) -> None:
        # No more requests will be answered: let the writer drain and finish.
        if self._accepting:
            self._push(_STOP)
            self._accepting = False

    async def _write_loop(self) -> None:
        try:
            await self._write_queued()
        finally:  # what is left will never be written: its holds end now
            _written(self._egress)

    async def _write_queued(self) -> None:
        send_many = getattr(self.channel, "send_many", None)
        egress = self._egress
        loop = asyncio.get_running_loop()
        while True:
            if not egress:
                waiter = self._egress_waiter = loop.create_future()
                await waiter
                continue
            # Whatever is queued goes out in one write when the channel can (a streaming
            # turn queues deltas faster than one syscall each can carry them).
            room = 1 if send_many is None else min(len(egress), _WRITE_BATCH)
            batch: list[JsonObject] = []
            stop = False
            for _ in range(room):
                message = egress.popleft()
                if message is None:
                    stop = True
                    break
                batch.append(message)
            try:
                if len(batch) == 1 or send_many is None:
                    for message in batch:
                        await self.channel.send(message)
                elif batch:
                    await send_many(batch)
            except Exception as exc:
                logger.info("%r: write failed (%s); closing", self, exc)
                self.abort("write failed")
                return
            finally:
                _written(batch)
            if stop:
                return

    # -- handling ---------------------------------------------------------------

    def _handle_notification(self, message: JSONRPCNotification) -> None:
        if message.method == "initialized":
            if self.initialized:
                self.client_initialized = True
            else:
                logger.info("%r: `initialized` before `initialize` ignored", self)
            return
        logger.info("%r: unhandled client notification %s ignored", self, message.method)

    async def _handle_request(self, request: JSONRPCRequest) -> None:
        if request.method == "initialize":
            self._handle_initialize(request)
            return
        if not self.initialized:
            self.send_error(request.id, codes.INVALID_REQUEST, codes.NOT_INITIALIZED_MESSAGE)
            return
        ctx = ConnectionRequest(self, request.id, request.method, request.trace)
        result, error = await self._dispatch(ctx, request.params)
        if error is not None:
            self.send_error(request.id, error.code, error.message, error.data)
            return
        self.send_response(request.id, result)
        await ctx.run_after_response()

    def _handle_initialize(self, request: JSONRPCRequest) -> None:
        if self.initialized:
            self.send_error(request.id, codes.INVALID_REQUEST, codes.ALREADY_INITIALIZED_MESSAGE)
            return
        try:
            raw = request.params or {}
            params = InitializeParams.model_validate(raw)
        except ValidationError as exc:
            error = invalid_params(exc, raw)
            self.send_error(request.id, error.code, error.message, error.data)
            return
        info = params.client_info
        caps = params.capabilities
        self.client_name = info.name
        self.client_title = info.title
        self.client_version = info.version
        if caps is not None:
            self.experimental_api = caps.experimental_api
            self.opt_out_notification_methods = frozenset(caps.opt_out_notification_methods or ())
        self.initialized = True
        self.send_response(request.id, self._on_initialize(params))


def _written(messages: Iterable[JsonObject | None]) -> None:
    """End the holds of ``messages`` (``Encoded.on_written``): written, or never to be."""
    for message in messages:
        if isinstance(message, Encoded) and message.on_written is not None:
            try:
                message.written()
            except Exception:
                logger.exception("after-write callback failed")


@dataclass(eq=False)
class ConnectionRequest:
    """One request being served on a :class:`Connection` (the handlers' ``RequestContext``)."""

    connection: Connection
    request_id: RequestId
    method: str
    trace: dict[str, Any] | None = None
    _after: list[Callable[[], object]] = field(default_factory=list, repr=False)

    @property
    def connection_id(self) -> int:
        return self.connection.id

    @property
    def client_name(self) -> str | None:
        return self.connection.client_name

    @property
    def client_version(self) -> str | None:
        return self.connection.client_version

    def send_notification(self, method: str, params: Any) -> bool:
        return self.connection.send_notification(method, params)

    def send_request(self, method: str, params: Any) -> asyncio.Future[Any]:
        return self.connection.send_request(method, params)

    def after_response(self, callback: Callable[[], object]) -> None:
        self._after.append(callback)

    async def run_after_response(self) -> None:
        """Run the ``after_response`` callbacks (a failing one is logged, not raised)."""
        callbacks, self._after = self._after, []
        for callback in callbacks:
            try:
                outcome = callback()
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.exception("after-response callback of %s failed", self.method)
