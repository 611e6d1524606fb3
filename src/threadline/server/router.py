"""Routes each loaded thread's events to the connections that should see them.

Subscribers get turn and item notifications; every initialized connection
gets ``thread/status/changed``. A turn's questions (approvals, user input,
client-side tool calls: :mod:`threadline.server.requests`) become server→client
requests to every subscriber; the first answer wins and the others are told
through ``serverRequest/resolved``. When every asked client answers with an error,
the question's fallback answer is used so the turn does not wait forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from threadline.core.manager import ThreadManager
from threadline.protocol.v2.common import dump_wire
from threadline.server.connection import Connection
from threadline.server.errors import ConnectionClosedError

if TYPE_CHECKING:
    from threadline.core.thread import Thread
    from threadline.protocol import events as ev
    from threadline.server.requests import AskRoute
    from threadline.server.translate import Notification

log = logging.getLogger(__name__)

_translate: Callable[[str, ev.Event], list[Notification]] | None = None


def _translator() -> Callable[[str, ev.Event], list[Notification]]:
    """``server.translate.translate``, imported with the first event routed: the event
    table and the wire models of every notification (``server/events.py``) are not loaded
    by a process that only initializes and lists threads."""
    global _translate
    if _translate is None:
        from threadline.server.translate import translate

        _translate = translate
    return _translate

_DRAIN_TIMEOUT_S = 10.0
_DRAIN_POLL_S = 0.001


def _backlog(conn: Connection) -> int:
    return conn.outgoing_backlog


async def _drain(conns: list[Connection]) -> None:
    """Wait until every connection's backlog is down to a quarter of its capacity."""
    deadline = asyncio.get_running_loop().time() + _DRAIN_TIMEOUT_S
    for conn in conns:
        low = conn.outgoing_capacity // 4
        while not conn.closed and _backlog(conn) > low:
            if asyncio.get_running_loop().time() > deadline:
                log.warning(
                    "%r: still not reading after %.0fs; not waiting", conn, _DRAIN_TIMEOUT_S
                )
                return
            await asyncio.sleep(_DRAIN_POLL_S)


@dataclass(slots=True)
class _PendingApproval:
    thread_id: str
    request: ev.ClientAsk
    route: AskRoute
    asked: dict[int, tuple[Connection, Any]] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    """Connections that answered with a JSON-RPC error."""


Broadcast = Callable[[str, Any], int]
"""Sends a notification to every initialized connection (``AppServer.broadcast``)."""


class ThreadRouter:
    """Keeps thread → subscriber sets and forwards translated events.

    Connections are known by id: the server reports each new one through
    :meth:`connection_opened`; handlers subscribe by the id of their request's connection.
    """

    def __init__(self, manager: ThreadManager, broadcast: Broadcast) -> None:
        self.manager = manager
        self.broadcast = broadcast
        self._connections: dict[int, Connection] = {}
        self._subs: dict[str, dict[int, Connection]] = {}
        self._listeners: dict[str, Any] = {}
        self._approvals: dict[str, _PendingApproval] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        manager.on_thread_loaded(self.attach)

    def connection_opened(self, conn: Connection) -> None:
        """Follow ``conn`` until it closes (then its subscriptions end)."""
        self._connections[conn.id] = conn
        conn.add_close_callback(self._connection_closed)

    # ---- subscriptions ------------------------------------------------------------

    def attach(self, thread: Thread) -> None:
        if thread.id in self._listeners:
            return
        # ``_route`` names the event types; they load with the first thread (a start
        # that only initializes and lists threads loads neither them nor the ops).
        global ev
        from threadline.protocol import events as ev

        tid = thread.id
        remove_listener = thread.add_listener(lambda event: self._route(tid, event))
        remove_gate = thread.add_flow_gate(lambda: self._flow_gate(tid))

        def remove() -> None:
            remove_listener()
            remove_gate()

        self._listeners[tid] = remove

    def detach(self, thread_id: str) -> None:
        remove = self._listeners.pop(thread_id, None)
        if remove is not None:
            remove()
        for conn in self._subs.pop(thread_id, {}).values():
            conn.subscriptions.discard(thread_id)

    def subscribe(self, connection_id: int, thread_id: str) -> None:
        """Send ``thread_id``'s events to the connection (a closed one is not subscribed)."""
        conn = self._connections.get(connection_id)
        if conn is None:
            return
        self._subs.setdefault(thread_id, {})[conn.id] = conn
        conn.subscriptions.add(thread_id)

    def unsubscribe(self, connection_id: int, thread_id: str) -> bool:
        """Stop sending ``thread_id``'s events to the connection; whether it was subscribed."""
        conn = self._connections.get(connection_id)
        if conn is not None:
            conn.subscriptions.discard(thread_id)
        subs = self._subs.get(thread_id)
        if not subs or connection_id not in subs:
            return False
        del subs[connection_id]
        return True

    def subscribers(self, thread_id: str) -> list[Connection]:
        return list(self._subs.get(thread_id, {}).values())

    def _connection_closed(self, conn: Connection) -> None:
        for thread_id in list(conn.subscriptions):
            self.unsubscribe(conn.id, thread_id)
        self._connections.pop(conn.id, None)

    # ---- routing ------------------------------------------------------------------

    def _route(self, thread_id: str, event: ev.Event) -> None:
        msg = event.msg
        if isinstance(msg, ev.ClientAsk):
            self._ask_approval(thread_id, msg)
            return
        if isinstance(msg, ev.ApprovalResolved):
            self._approval_resolved(msg.approval_id)
            return
        notes = (_translate or _translator())(thread_id, event)
        if not notes:
            return
        subs = self._subs.get(thread_id)
        for method, params, scope in notes:
            if scope == "all":
                self.broadcast(method, params)
            elif subs:
                for conn in list(subs.values()):
                    conn.send_notification(method, params)

    # ---- backpressure -------------------------------------------------------------

    def _flow_gate(self, thread_id: str) -> Awaitable[None] | None:
        """Hold the thread's turn loop while a subscriber's outgoing queue is over half full.

        A client that reads slower than the model streams then slows the turn down
        instead of overflowing its queue (which would disconnect it). A client that
        stops reading altogether is waited for at most ``_DRAIN_TIMEOUT_S`` per event;
        after that the connection's overflow policy applies.
        """
        subs = self._subs.get(thread_id)
        if not subs:
            return None
        for conn in subs.values():
            if conn.congested:
                return _drain([c for c in subs.values() if c.congested])
        return None

    # ---- approvals ----------------------------------------------------------------

    def _ask_approval(self, thread_id: str, req: ev.ClientAsk) -> None:
        from threadline.server.requests import route_for

        route = route_for(req)
        if route is None:  # a core ask without a table line is a programming error
            log.error("no server request for %s; answering with None", type(req).__name__)
            self._answer(thread_id, req.approval_id, None)
            return
        pending = _PendingApproval(thread_id, req, route)
        self._approvals[req.approval_id] = pending
        for conn in self.subscribers(thread_id):
            self._ask_one(pending, conn)

    def _ask_one(self, pending: _PendingApproval, conn: Connection) -> None:
        params = dump_wire(pending.route.params(pending.thread_id, pending.request))
        request_id, fut = conn.send_request_with_id(pending.route.method, params)
        pending.asked[conn.id] = (conn, request_id)
        task = asyncio.ensure_future(self._await_decision(pending, conn, fut))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _await_decision(
        self, pending: _PendingApproval, conn: Connection, fut: asyncio.Future[Any]
    ) -> None:
        approval_id = pending.request.approval_id
        try:
            result = await fut
        except ConnectionClosedError as exc:
            # Kept open: the thread's next subscriber is asked again.
            log.info("request %s on connection %d ended: %s", approval_id, conn.id, exc)
            return
        except Exception as exc:
            log.info("connection %d could not answer %s: %s", conn.id, approval_id, exc)
            pending.failed.add(conn.id)
            if approval_id in self._approvals and pending.failed >= set(pending.asked):
                self._answer(pending.thread_id, approval_id, pending.route.fallback)
            return
        if approval_id not in self._approvals:
            return
        try:
            answer = pending.route.answer(result)
        except Exception as exc:
            log.info("unreadable answer to %s from connection %d: %s", approval_id, conn.id, exc)
            answer = pending.route.fallback
        self._answer(pending.thread_id, approval_id, answer)

    def _answer(self, thread_id: str, approval_id: str, answer: Any) -> None:
        thread = self.manager.find(thread_id)
        if thread is None:
            return
        from threadline.protocol.ops import ResolveAsk

        try:
            thread.submit(ResolveAsk(approval_id=approval_id, answer=answer))
        except Exception as exc:
            log.info("late answer ignored: %s", exc)

    def _approval_resolved(self, approval_id: str) -> None:
        pending = self._approvals.pop(approval_id, None)
        if pending is None or not pending.route.announces_resolution:
            return
        for conn, request_id in pending.asked.values():
            conn.send_notification(
                "serverRequest/resolved",
                {"threadId": pending.thread_id, "requestId": request_id},
            )

    def resend_pending_approvals(self, connection_id: int, thread_id: str) -> None:
        """A connection rejoined a thread: ask it too about every open approval."""
        conn = self._connections.get(connection_id)
        if conn is None:
            return
        for pending in list(self._approvals.values()):
            if pending.thread_id == thread_id and conn.id not in pending.asked:
                self._ask_one(pending, conn)
