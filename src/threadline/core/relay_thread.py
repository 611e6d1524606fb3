"""``RelayedThread``: on this server, a thread that another server owns and runs.

It is a :class:`~threadline.core.thread.Thread` for the server (same listeners, flow
gates, status, settings, turns), with nothing of its own running: its events are the
owner's, read in order from the relay (``core.relay``), and what a client asks of it
(start or steer a turn, interrupt, answer a question) is sent to the owner, which runs
it and answers as it would answer its own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.core.errors import InvalidRequest
from threadline.core.session import FlowGate, Listener
from threadline.core.thread import Thread
from threadline.protocol import events as ev
from threadline.protocol.ops import ExecApproval, Interrupt, Op, ResolveAsk, Shutdown, UserTurn
from threadline.protocol.rollout import RolloutItem
from threadline.protocol.v2.item import UserInput

if TYPE_CHECKING:
    from threadline.core.relay import RelayHub

__all__ = ["FollowSink", "RelayedThread", "start_turn", "steer_input"]

log = logging.getLogger(__name__)

def _elsewhere(thread_id: str) -> str:
    return f"thread {thread_id} is running on another server"


class FollowSink:
    """The history of a thread another server writes: shown (its path), never written here."""

    def __init__(self, thread_id: str, path: Path | None) -> None:
        self._id = thread_id
        self._path = path

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def materialized(self) -> bool:
        return False  # nothing of it is written from this server

    async def append(self, items: Sequence[RolloutItem]) -> None:
        raise InvalidRequest(f"{_elsewhere(self._id)}; it records its own history")

    async def append_or_discard(self, items: Sequence[RolloutItem]) -> None:
        await self.append(items)

    async def materialize(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RelayedThread(Thread):
    """A thread owned by another server, followed through the relay. Built by
    :meth:`RelayHub.follow`; ``snapshot`` is the owner's answer to the watch."""

    def __init__(self, hub: RelayHub, snapshot: dict[str, Any], **kwargs: Any) -> None:
        self._hub = hub
        self._named = False
        self._name: str | None = None
        super().__init__(**kwargs)
        self._named = True
        self.seq = int(snapshot.get("seq") or 0)
        """The last relayed event delivered here."""
        self.fetched = self.seq
        """The last relayed event read from the table (delivered, or waiting in the inbox)."""
        self._inbox: deque[tuple[int, str]] = deque()
        self._holds = 0
        self._delivering = asyncio.Lock()
        self.lost = 0
        """Events that were pruned before this watcher read them (0 unless it fell far behind)."""
        self.owner_active_turn: str | None = snapshot.get("active")
        self.wake = asyncio.Event()
        self._gates: tuple[FlowGate, ...] = ()
        self.extra_listeners: list[Listener] = []
        self.extra_gates: list[FlowGate] = []
        """What the server attached (handed to the thread that replaces this one on a takeover)."""
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._stopped = False
        status = str(snapshot.get("status") or "idle")
        if status != "idle":
            self.session.set_status(status, list(snapshot.get("flags") or []))

    @property  # type: ignore[override]
    def name(self) -> str | None:
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        """A rename here (``thread/name/set``: the index row is already written) is sent
        to the owner, which writes the history line and keeps the name for its own
        index writes."""
        changed = self._named and value != self._name
        self._name = value
        if changed:
            self._hub.send_quietly(self.id, {"k": "name", "name": value})

    # ---- what the server attaches --------------------------------------------------

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        self.extra_listeners.append(listener)
        remove = super().add_listener(listener)

        def removed() -> None:
            with contextlib.suppress(ValueError):
                self.extra_listeners.remove(listener)
            remove()

        return removed

    def add_flow_gate(self, gate: FlowGate) -> Callable[[], None]:
        self.extra_gates.append(gate)
        self._gates = (*self._gates, gate)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self.extra_gates.remove(gate)
            self._gates = tuple(g for g in self._gates if g is not gate)

        return remove

    def _on_event(self, event: ev.Event) -> None:
        """The owner sends its own read-state changes; none are made here."""

    # ---- the pump ------------------------------------------------------------------

    def begin(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._pump(), name=f"relay-follow-{self.id}"
        )

    def push(self, seq: int, text: str) -> None:
        """An event the hub read from the table (in order; delivered by :meth:`_pump`)."""
        if seq <= self.fetched:
            return
        if seq != self.fetched + 1:
            self.lost += seq - self.fetched - 1
            log.warning("relay: %s: %d event(s) pruned before read", self.id, seq - self.fetched - 1)
        self.fetched = seq
        self._inbox.append((seq, text))
        self.wake.set()

    async def _pump(self) -> None:
        """Deliver what the hub read, in order, holding back for slow clients (the
        server's flow gates) without holding back the owner or the other followers.
        While a request waits for the owner's answer, nothing is delivered but what the
        owner had sent before answering (:meth:`_ordered_call`)."""
        while not self._stopped:
            await self.wake.wait()
            self.wake.clear()
            while self._inbox and not self._stopped and not self._holds:
                async with self._delivering:
                    await self._deliver_next()

    async def _deliver_next(self) -> None:
        seq, text = self._inbox.popleft()
        self.seq = seq
        try:
            event = self._hub.decode(text)
        except Exception:
            log.exception("relay: %s: unreadable event %d", self.id, seq)
            return
        self._apply(event)
        for gate in self._gates:
            waiter = gate()
            if waiter is not None:
                await waiter

    async def _ordered_call(self, body: dict[str, Any]) -> Any:
        """Ask the owner, and answer in the owner's order: the events its clients got
        before its answer are delivered before this returns, the later ones after the
        caller's next step (the response goes out first, as on the owner)."""
        self._holds += 1
        try:
            answer = await self._hub.call_raw(self.id, body)
            until = int(answer.get("seq") or 0)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5.0
            while self.fetched < until and not self._stopped and loop.time() < deadline:
                self._hub.nudge(self)
                await asyncio.sleep(0.002)
            async with self._delivering:
                while self._inbox and self._inbox[0][0] <= until and not self._stopped:
                    await self._deliver_next()
            return self._hub.value_of(answer)
        finally:
            asyncio.get_running_loop().call_soon(self._release)

    def _release(self) -> None:
        self._holds -= 1
        self.wake.set()

    async def delivered(self) -> None:
        """Wait until everything read so far is delivered."""
        while self._inbox and not self._stopped:
            await asyncio.sleep(0.005)

    def _apply(self, event: ev.Event) -> None:
        """Keep the state the server reads (status, turns, usage) as the owner's, then
        deliver the event as the owner delivered it."""
        msg = event.msg
        session = self.session
        if isinstance(msg, ev.StatusChanged):
            session.set_status(msg.status, list(msg.active_flags))  # delivers it
            return
        if isinstance(msg, ev.TurnStartedEvent):
            self.owner_active_turn = msg.turn.id
            if all(t.id != msg.turn.id for t in session.turns):
                session.turns.append(msg.turn)
        elif isinstance(msg, ev.TurnCompletedEvent):
            if self.owner_active_turn == msg.turn.id:
                self.owner_active_turn = None
            for n, turn in enumerate(session.turns):
                if turn.id == msg.turn.id:
                    session.turns[n] = msg.turn
                    break
            else:
                session.turns.append(msg.turn)
        elif isinstance(msg, ev.TokenUsageUpdated):
            session.token_info = msg.info
        elif isinstance(msg, ev.ThreadNameUpdated):
            self._name = msg.thread_name
        session.deliver(event)

    # ---- operations, sent to the owner ---------------------------------------------

    async def start_turn_relayed(self, op: UserTurn, output_schema: Any = None) -> tuple[str, bool]:
        if not op.items:
            self.session.start_turn(op)  # raises the owner's error for empty input
        answer = await self._ordered_call(self._hub.codec_start(op, output_schema))
        turn_id, started = answer
        return str(turn_id), bool(started)

    async def steer_relayed(
        self, items: Sequence[UserInput], expected_turn_id: str | None, metadata: str | None
    ) -> str:
        body = {
            "k": "steer",
            "items": self._hub.codec_items(items),
            "expected": expected_turn_id,
            "meta": metadata,
        }
        return str(await self._ordered_call(body))

    def start_turn(self, op: UserTurn, output_schema: Any = None) -> tuple[str, bool]:
        raise InvalidRequest(f"{_elsewhere(self.id)}; start turns through turn/start")

    def steer_input(
        self,
        items: Sequence[UserInput],
        expected_turn_id: str | None,
        metadata: str | None = None,
    ) -> str:
        raise InvalidRequest(f"{_elsewhere(self.id)}; steer it through turn/steer")

    async def interrupt(self, expected_turn_id: str | None = None) -> str:
        return str(await self._ordered_call({"k": "interrupt", "expected": expected_turn_id}))

    def submit(self, op: Op) -> str:
        if isinstance(op, ResolveAsk):
            self._hub.send_quietly(self.id, {"k": "resolve", "id": op.approval_id, "answer": op.answer})
            return op.approval_id
        if isinstance(op, ExecApproval):
            self._hub.send_quietly(self.id, {"k": "resolve", "id": op.approval_id, "answer": op.decision})
            return op.approval_id
        if isinstance(op, Interrupt):
            self._hub.send_quietly(self.id, {"k": "interrupt", "expected": None})
            return self.owner_active_turn or ""
        if isinstance(op, Shutdown):
            self._closing = asyncio.ensure_future(self.shutdown_and_wait())
            return self.session.new_id()
        raise InvalidRequest(f"{_elsewhere(self.id)}; {type(op).__name__} is not relayed")

    def start_review(self, request: Any) -> str:
        raise InvalidRequest(f"{_elsewhere(self.id)}; start the review there")

    def compact(self) -> str:
        raise InvalidRequest(f"{_elsewhere(self.id)}; compact it there")

    async def inject_response_items(self, items: Sequence[Any]) -> None:
        raise InvalidRequest(f"{_elsewhere(self.id)}; inject items there")

    async def wait_turn(self) -> None:
        return None

    # ---- the end -------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop following (the pump ends; nothing more is delivered)."""
        self._stopped = True
        self.wake.set()
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def shutdown_and_wait(self) -> None:
        if self._stopped and self._task is None:
            return
        await self.stop()
        self._hub.forget(self)
        self.session.deliver(ev.Event(id="", msg=ev.ShutdownComplete()))


async def start_turn(thread: Thread, op: UserTurn, output_schema: Any = None) -> tuple[str, bool]:
    """Start a turn on any loaded thread, or steer its running one (``Thread.start_turn``):
    a thread another server runs is asked through the relay."""
    if isinstance(thread, RelayedThread):
        return await thread.start_turn_relayed(op, output_schema)
    return thread.start_turn(op, output_schema)


async def steer_input(
    thread: Thread, items: Sequence[UserInput], expected_turn_id: str | None, metadata: str | None
) -> str:
    """``Thread.steer_input`` for any loaded thread (relayed when another server runs it)."""
    if isinstance(thread, RelayedThread):
        return await thread.steer_relayed(items, expected_turn_id, metadata)
    return thread.steer_input(items, expected_turn_id, metadata)
