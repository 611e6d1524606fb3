"""The relay: clients on any server, for threads one server owns (issue #16).

With a store shared by several servers (``store.base.relay_of``), each loaded thread is
owned by one of them (its lease). :class:`RelayHub` is both sides of the relay in one
server:

* **owner**: every thread this server runs publishes its core events, while some other
  server watches it, into the store's events table, numbered per thread in delivery
  order and written in batches (one statement per :data:`BATCH_S` at most, with a
  notification carrying the newest number); the operations other servers send for its
  threads (watch, start, steer, interrupt, answers to questions) are claimed, run on
  the local :class:`Thread` in the order they were sent, and answered with the result
  or the error this server's own client would get;
* **watcher**: ``thread/resume`` of a thread another server holds gives the server a
  :class:`~threadline.core.relay_thread.RelayedThread` (:meth:`follow`), which replays
  the owner's events from the table in order (woken by the notification, and on a short
  poll so a missed one loses nothing) and sends what its clients ask to the owner.

When the owner lets the thread go (it unloads, shuts down, or dies and its lock goes
with its database session), the watchers notice within :data:`OWNER_CHECK_S`
and one of them takes the thread over (a resume, as a client's would); the others
follow the new owner. The server's listeners move to the new thread, so its clients
stay subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from threadline.core.errors import InvalidRequest
from threadline.core.relay_codec import (
    decode_answer,
    decode_event,
    decode_user_turn,
    encode_error,
    encode_event,
    encode_user_turn,
)
from threadline.core.relay_thread import FollowSink, RelayedThread
from threadline.core.session import FlowGate, Listener
from threadline.core.setup import StartOptions
from threadline.core.thread import Thread
from threadline.protocol import events as ev
from threadline.protocol.ops import ResolveAsk, UserTurn
from threadline.protocol.v2.common import dump_wire
from threadline.protocol.v2.item import UserInput, user_input_adapter
from threadline.store.base import StoredThread, ThreadInUse, ThreadRelay, relay_of

if TYPE_CHECKING:
    from threadline.core.manager import ThreadManager

__all__ = ["RelayHub"]

log = logging.getLogger(__name__)

BATCH_S = 0.002
"""How long the owner gathers events before it writes them (one INSERT per batch)."""
WATCH_S = 30.0
"""A watch lapses unless renewed within this time (a watcher that vanished costs the
owner nothing after it)."""
OP_TIMEOUT_S = 15.0
"""How long a watcher waits for the owner's answer before failing the request."""
OPS_POLL_S = 1.0
PRUNE_S = 30.0
POLL_S = 0.5
"""A watcher reads the events of every thread it follows at least this often (a missed
notification costs at most this much delay, never an event)."""
OWNER_CHECK_S = 0.5
"""How often a watcher asks whether the owners still hold the threads it follows."""
WATCH_RENEW_S = 10.0
LOST_ANSWER_S = 2.0
"""How long a watcher still waits for the answer to an operation the owner had taken
when it let the thread go (a live owner answers within this; a dead one never does)."""


class _Owned:
    """An owned thread's publishing state."""

    __slots__ = ("asks", "queue", "seq", "thread", "watched_until", "worker")

    def __init__(self, thread: Thread) -> None:
        self.thread = thread
        self.asks: dict[str, str] = {}
        """The open questions (encoded ``ClientAsk`` events): a new watcher asks them too."""
        self.seq: int | None = None
        self.watched_until = 0.0
        self.queue: list[tuple[int, dict[str, Any]]] = []
        self.worker: asyncio.Task[None] | None = None


class RelayHub:
    """Owner and watcher sides of the relay for one :class:`ThreadManager`."""

    def __init__(self, manager: ThreadManager, register: Callable[[Thread], None]) -> None:
        self._manager = manager
        self._register = register
        self.relay: ThreadRelay | None = relay_of(manager.store)
        self._owned: dict[str, _Owned] = {}
        self._followed: dict[str, RelayedThread] = {}
        self._answers: dict[int, asyncio.Event] = {}
        self._rows: list[tuple[str, int, str]] = []
        self._writer: asyncio.Task[None] | None = None
        self._ops_task: asyncio.Task[None] | None = None
        self._ops_wake = asyncio.Event()
        self._listening = False
        self._woken: set[str] = set()
        self._lost: set[str] = set()
        """Followed threads whose owner let go (their calls fail rather than wait)."""
        self._gone_at: dict[str, float] = {}
        """When each followed thread's owner was last seen letting it go."""
        self._holders: dict[str, int] = {}
        """The owner (its lock's database session) each followed thread was seen held by."""
        self._orphans: dict[str, tuple[Sequence[Listener], Sequence[FlowGate]]] = {}
        """What the server attached to unloaded followers, by thread id (see :meth:`forget`)."""
        self._events_wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.published = 0

    # ---- plumbing -------------------------------------------------------------------

    def _listen(self) -> None:
        if self.relay is not None and not self._listening:
            self._listening = True
            self.relay.listen(self._on_notify)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_notify(self, payload: str) -> None:
        kind, _, rest = payload.partition(" ")
        if kind == "e":
            tid = rest.partition(" ")[0]
            if tid in self._followed:
                self._woken.add(tid)
                self._events_wake.set()
        elif kind == "o":
            if rest in self._owned:
                self._ops_wake.set()
        elif kind == "a":
            with contextlib.suppress(ValueError):
                waiting = self._answers.get(int(rest))
                if waiting is not None:
                    waiting.set()
        elif kind == "!":  # (re)connected: anything may have been missed
            self._ops_wake.set()
            self._woken.update(self._followed)
            self._events_wake.set()
            for waiting in self._answers.values():
                waiting.set()

    # ---- owner: publishing ----------------------------------------------------------

    def attach_owned(self, thread: Thread, lease: object | None = None) -> bool:
        """Called as ``thread`` loads: whether this server runs it (it is no follower of
        another server's thread). One it runs is published, while followed, for the
        followers on other servers (when the store is shared)."""
        if isinstance(thread, RelayedThread):
            return False
        if self.relay is not None and not thread.settings.ephemeral:
            self._owner_attach(thread)
        return True

    def _owner_attach(self, thread: Thread) -> None:
        if (known := self._owned.get(thread.id)) is not None and known.thread is thread:
            return
        owned = _Owned(thread)
        self._owned[thread.id] = owned
        tid = thread.id

        def on_event(event: ev.Event) -> None:
            msg = event.msg
            if isinstance(msg, ev.ClientAsk):
                owned.asks[msg.approval_id] = encode_event(event)
            elif isinstance(msg, ev.ApprovalResolved):
                owned.asks.pop(msg.approval_id, None)
            elif isinstance(msg, ev.ShutdownComplete):
                if self._owned.get(tid) is owned:
                    del self._owned[tid]
                return
            if owned.seq is None or owned.watched_until < asyncio.get_running_loop().time():
                return
            owned.seq += 1
            self._rows.append((tid, owned.seq, encode_event(event)))
            if self._writer is None:
                self._writer = asyncio.get_running_loop().create_task(self._write())

        thread.add_listener(on_event)
        self._listen()
        if self._ops_task is None:
            self._ops_task = asyncio.get_running_loop().create_task(self._serve_ops())

    async def _write(self) -> None:
        assert self.relay is not None
        try:
            while self._rows:
                await asyncio.sleep(BATCH_S)
                rows, self._rows = self._rows, []
                for attempt in range(3):
                    try:
                        await self.relay.publish(rows)
                        self.published += len(rows)
                        break
                    except Exception as exc:
                        log.warning("relay: publishing %d event(s) failed: %s", len(rows), exc)
                        await asyncio.sleep(0.2 * (attempt + 1))
        finally:
            self._writer = None

    # ---- owner: operations ----------------------------------------------------------

    async def _serve_ops(self) -> None:
        assert self.relay is not None
        loop = asyncio.get_running_loop()
        pruned = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ops_wake.wait(), OPS_POLL_S)
            self._ops_wake.clear()
            if not self._owned:
                continue
            try:
                taken = await self.relay.take_ops(list(self._owned))
                if loop.time() - pruned > PRUNE_S:
                    pruned = loop.time()
                    await self.relay.prune()
            except Exception as exc:
                log.warning("relay: reading operations failed: %s", exc)
                await asyncio.sleep(OPS_POLL_S)
                continue
            for op_id, tid, text in taken:
                owned = self._owned.get(tid)
                if owned is None:  # let go since: whoever follows it next is told so
                    self._spawn(self._answer(op_id, {"err": _gone(tid)}))
                    continue
                owned.queue.append((op_id, json.loads(text)))
                if owned.worker is None:
                    owned.worker = loop.create_task(self._run_ops(owned))

    async def _run_ops(self, owned: _Owned) -> None:
        try:
            while owned.queue:
                op_id, body = owned.queue.pop(0)
                try:
                    answer: dict[str, Any] = {"ok": await self._run_op(owned, body)}
                except Exception as exc:
                    answer = encode_error(exc)
                answer["seq"] = owned.seq or 0  # what its clients were sent before this answer
                await self._answer(op_id, answer)
        finally:
            owned.worker = None

    async def _answer(self, op_id: int, answer: dict[str, Any]) -> None:
        assert self.relay is not None
        try:
            await self.relay.answer_op(op_id, json.dumps(answer))
        except Exception as exc:
            log.warning("relay: answering operation %d failed: %s", op_id, exc)

    async def _run_op(self, owned: _Owned, body: dict[str, Any]) -> Any:
        thread, kind = owned.thread, body.get("k")
        if self._manager.find(thread.id) is not thread:
            raise InvalidRequest(_gone(thread.id)["message"])
        if kind == "watch":
            if owned.seq is None:
                assert self.relay is not None
                owned.seq = await self.relay.last_seq(thread.id)
            owned.watched_until = asyncio.get_running_loop().time() + WATCH_S
            active = thread.active
            return {
                "seq": owned.seq,
                "status": thread.agent_status(),
                "flags": thread.active_flags(),
                "active": active.id if active is not None else None,
                "asks": list(owned.asks.values()),
            }
        if kind == "start":
            op, schema = decode_user_turn(body)
            return list(thread.start_turn(op, schema))
        if kind == "steer":
            items = [user_input_adapter.validate_python(i) for i in body.get("items") or []]
            return thread.steer_input(items, body.get("expected"), body.get("meta"))
        if kind == "interrupt":
            return await thread.interrupt(body.get("expected"))
        if kind == "name":  # renamed on a follower's server: the history line and the name
            await self._manager.set_thread_name(thread.id, body.get("name"))
            return None
        if kind == "resolve":
            thread.submit(ResolveAsk(approval_id=str(body.get("id")), answer=body.get("answer")))
            return None
        raise InvalidRequest(f"unknown relayed operation {kind!r}")

    # ---- watcher: operations --------------------------------------------------------

    async def call(
        self,
        thread_id: str,
        body: dict[str, Any],
        timeout: float = OP_TIMEOUT_S,
        *,
        wait_when_lost: bool = False,
    ) -> Any:
        """Send ``body`` to the thread's owner and return its answer (its error raised)."""
        return decode_answer(await self.call_raw(thread_id, body, timeout, wait_when_lost))

    async def call_raw(
        self,
        thread_id: str,
        body: dict[str, Any],
        timeout: float = OP_TIMEOUT_S,
        wait_when_lost: bool = False,
    ) -> dict[str, Any]:
        """The owner's answer to ``body`` as sent: ``ok`` or ``err``, and ``seq``, the last
        event the owner's clients had been sent when it answered. While the thread's
        owner is known gone, an operation nobody took yet fails at once unless
        ``wait_when_lost`` (the watch of a takeover that found a new owner: it waits for
        that owner to claim it)."""
        relay = self.relay
        if relay is None:
            raise InvalidRequest(f"thread {thread_id} is not loaded here")
        self._listen()
        op_id = await relay.send_op(thread_id, json.dumps(body))
        waiting = self._answers[op_id] = asyncio.Event()
        loop = asyncio.get_running_loop()
        sent = loop.time()
        deadline = sent + timeout
        try:
            while True:
                text = await relay.answer_of(op_id)
                if text is not None:
                    answer: dict[str, Any] = json.loads(text)
                    return answer
                left = deadline - loop.time()
                if left <= 0:
                    break
                if not wait_when_lost and thread_id in self._lost and await relay.drop_op(op_id):
                    return {"err": _gone(thread_id)}  # nobody took it: it never ran
                gone_at = self._gone_at.get(thread_id)
                if gone_at is not None and gone_at >= sent and loop.time() - gone_at > LOST_ANSWER_S:
                    raise InvalidRequest(
                        f"the server running thread {thread_id} went away after taking this "
                        "request and before answering it (it may have run there)"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiting.wait(), min(left, 0.25))
                waiting.clear()
        finally:
            self._answers.pop(op_id, None)
        with contextlib.suppress(Exception):
            await relay.drop_op(op_id)
        raise InvalidRequest(
            f"the server running thread {thread_id} did not answer within {timeout:g} s"
        )

    def send_quietly(self, thread_id: str, body: dict[str, Any]) -> None:
        """Send an operation whose answer nobody waits for (logged when it fails)."""

        async def send() -> None:
            try:
                await self.call(thread_id, body)
            except Exception as exc:
                log.info("relay: %s for %s: %s", body.get("k"), thread_id, exc)

        self._spawn(send())

    def value_of(self, answer: dict[str, Any]) -> Any:
        return decode_answer(answer)

    def codec_start(self, op: UserTurn, output_schema: Any) -> dict[str, Any]:
        return encode_user_turn(op, output_schema)

    def codec_items(self, items: Sequence[UserInput]) -> list[Any]:
        return [dump_wire(i) if isinstance(i, BaseModel) else i for i in items]

    def decode(self, text: str) -> ev.Event:
        return decode_event(text)

    # ---- watcher: reading ---------------------------------------------------------

    async def _read_loop(self) -> None:
        """Read the events of the followed threads: those notified, in one query; all of
        them on a poll. Check the owners still hold them; renew the watches."""
        assert self.relay is not None
        loop = asyncio.get_running_loop()
        full = checked = renewed = loop.time()
        try:
            while self._followed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._events_wake.wait(), POLL_S)
                self._events_wake.clear()
                now = loop.time()
                woken, self._woken = self._woken, set()
                if now - full >= POLL_S:
                    full, woken = now, set(self._followed)
                try:
                    await self._fetch([m for t in woken if (m := self._followed.get(t)) is not None])
                    if now - renewed >= WATCH_RENEW_S:
                        renewed = now
                        for tid in list(self._followed):
                            self.send_quietly(tid, {"k": "watch"})
                    if now - checked >= OWNER_CHECK_S:
                        checked = now
                        held = await self.relay.held(list(self._followed))
                        # let go, or held by another session than before: taken over
                        gone = [
                            m
                            for t, m in list(self._followed.items())
                            if (pid := held.get(t)) is None
                            or self._holders.setdefault(t, pid) != pid
                        ]
                        if gone:
                            await self._fetch(gone)  # what the owners published before they let go
                            for followed in gone:
                                self.owner_gone(followed)
                except Exception as exc:  # the database is away: again on the next round
                    log.warning("relay: reading followed threads: %s", exc)
                    await asyncio.sleep(POLL_S)
        finally:
            self._reader = None

    async def _fetch(self, targets: Sequence[RelayedThread], limit: int = 5000) -> None:
        assert self.relay is not None
        while targets:
            rows = await self.relay.events_for([(m.id, m.fetched) for m in targets], limit)
            by_id = {m.id: m for m in targets}
            for tid, seq, text in rows:
                followed = by_id.get(tid)
                if followed is not None:
                    followed.push(seq, text)
            if len(rows) < limit:
                return

    # ---- watcher: following -----------------------------------------------------------

    async def follow(self, stored: StoredThread, refused: InvalidRequest) -> Thread:
        """The thread ``stored`` that another server holds, followed from this one; raises
        ``refused`` (the lease's refusal) when there is no relay or the owner does not
        answer the watch."""
        if self.relay is None or not isinstance(refused.__cause__, ThreadInUse):
            raise refused
        tid = stored.thread_id
        # who holds it before the watch is answered: whoever answers holds it then or
        # later, so a death (and takeover) right after the answer is still noticed
        holder = (await self.relay.held([tid])).get(tid)
        try:
            snapshot = await self.call(tid, {"k": "watch"}, timeout=5.0, wait_when_lost=True)
        except InvalidRequest as exc:
            log.info("relay: cannot follow %s: %s", tid, exc)
            raise refused from None
        manager = self._manager
        record = await manager.store.get(tid, repair=False)
        settings = manager.setup.restored_settings(stored, StartOptions(), record)
        recon = stored.recon
        thread = RelayedThread(
            self,
            snapshot,
            thread_id=tid,
            settings=settings,
            client=manager.client_for(settings.model_provider),
            sink=FollowSink(tid, stored.ref.path),
            history=recon.history,
            token_info=recon.token_info,
            turns=recon.turns,
            features=dict(manager.config.features),
            created_at=stored.created_at,
            name=recon.name or (record.name if record else None),
            forked_from_id=stored.meta.forked_from_id,
            preview=recon.preview,
            window=recon.window,
        )
        thread.updated_at = stored.updated_at
        self._followed[tid] = thread
        if holder is not None:
            self._holders[tid] = holder
        self._register(thread)
        self._adopt(thread)
        for text in snapshot.get("asks") or ():  # open before this server followed: ask here too
            thread.session.deliver(decode_event(text))
        thread.begin()
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        self._woken.add(tid)
        self._events_wake.set()
        return thread

    def nudge(self, followed: RelayedThread) -> None:
        """Read ``followed``'s events now (it waits for some)."""
        self._woken.add(followed.id)
        self._events_wake.set()

    def forget(self, followed: RelayedThread) -> None:
        """``followed`` is unloaded: no more reading for it. What the server had attached
        to it (and not removed) is kept for the thread that replaces it: the router
        attaches once per thread id, so its subscribers follow the next one."""
        if self._followed.get(followed.id) is followed:
            del self._followed[followed.id]
            self._holders.pop(followed.id, None)
            self._orphans[followed.id] = (list(followed.extra_listeners), list(followed.extra_gates))

    def _adopt(self, thread: Thread) -> None:
        listeners, gates = self._orphans.pop(thread.id, ((), ()))
        for listener in listeners:
            thread.add_listener(listener)
        for gate in gates:
            thread.add_flow_gate(gate)

    def owner_gone(self, followed: RelayedThread) -> None:
        """The owner let ``followed`` go: take it over here (or follow whoever did)."""
        self.forget(followed)
        self._lost.add(followed.id)
        self._gone_at[followed.id] = asyncio.get_running_loop().time()
        self._spawn(self._take_over(followed))

    async def _take_over(self, old: RelayedThread) -> None:
        try:
            await self._take_over_now(old)
        finally:
            self._lost.discard(old.id)

    async def _take_over_now(self, old: RelayedThread) -> None:
        tid = old.id
        await old.delivered()
        open_turn = old.owner_active_turn
        await old.stop()
        manager = self._manager
        if manager.find(tid) is old:
            await manager.unload(tid)
        try:
            thread = await manager.resume_thread(tid)
        except Exception as exc:
            log.warning("relay: taking %s over failed: %s", tid, exc)
            old.session.set_status("notLoaded")
            return
        self._adopt(thread)  # the server's subscriptions carry on with the new thread
        ended = next((t for t in thread.turns if t.id == open_turn), None)
        if ended is not None and ended.status != "inProgress":  # the old owner never said so
            thread.session.deliver(ev.Event(id=ended.id, msg=ev.TurnCompletedEvent(turn=ended)))
        status = ev.StatusChanged(status=thread.agent_status(), active_flags=thread.active_flags())
        thread.session.deliver(ev.Event(id="", msg=status))


def _gone(thread_id: str) -> dict[str, Any]:
    return {
        "kind": "core",
        "message": f"thread {thread_id} is no longer loaded on the server that ran it; "
        "resume it again",
        "data": None,
    }
