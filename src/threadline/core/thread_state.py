"""Thread state beside the history: goals, sections, attachments, Git metadata edits,
and the two operations that change a stored thread as a whole, delete and revert.

:class:`ThreadStateService` is the manager's (``manager.thread_state``). The state
itself is the store's (``ThreadStore.state``, in ``state.sqlite``); this module decides
what each change means: which thread must exist, what a goal's transitions are,
what the client or the model is told. Observers (the server) learn of goal changes made
by the model's tools through :meth:`ThreadStateService.on_goal_changed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from threadline.core.errors import InvalidRequest, storing
from threadline.core.ids import check_thread_id, new_thread_id
from threadline.protocol.clock import now_ms
from threadline.store.base import GitRecord, StoredRef, StoreError, ThreadRecord
from threadline.store.thread_state import (
    GIT_FIELDS,
    AttachmentRecord,
    GoalRecord,
    Page,
    Placement,
    SectionRecord,
    ThreadState,
)
from threadline.tools.goal_error import GoalError

if TYPE_CHECKING:
    from threadline.core.manager import ThreadManager
    from threadline.core.thread import Thread
    from threadline.protocol import events as ev

__all__ = [
    "GOAL_STATUSES",
    "MAX_OBJECTIVE_CHARS",
    "AttachmentRecord",
    "GoalChange",
    "GoalRecord",
    "Page",
    "Placement",
    "SectionRecord",
    "ThreadStateService",
]

log = logging.getLogger(__name__)

MAX_OBJECTIVE_CHARS = 16_000
"""Longest goal objective kept (Codex sets none; the objective is shown to the model)."""

GOAL_STATUSES = ("active", "paused", "blocked", "usageLimited", "budgetLimited", "complete")


@dataclass(frozen=True, slots=True)
class GoalChange:
    thread_id: str
    turn_id: str | None
    goal: GoalRecord | None
    """None: the goal was cleared."""


GoalListener = Callable[[GoalChange], None]


def goal_json(goal: GoalRecord) -> dict[str, Any]:
    """What the model's goal tools answer."""
    remaining = (
        max(0, goal.token_budget - goal.tokens_used) if goal.token_budget is not None else None
    )
    return {
        "objective": goal.objective,
        "status": goal.status,
        "token_budget": goal.token_budget,
        "tokens_used": goal.tokens_used,
        "remaining_tokens": remaining,
        "time_used_seconds": goal.time_used_seconds,
    }


class ThreadStateService:
    """The thread-state operations of one :class:`ThreadManager`."""

    def __init__(self, manager: ThreadManager) -> None:
        self._manager = manager
        self._listeners: list[GoalListener] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def _state(self) -> ThreadState:
        return self._manager.store.state

    def on_goal_changed(self, listener: GoalListener) -> None:
        """Call ``listener`` after every goal change made by the model's tools."""
        self._listeners.append(listener)

    def _notify(self, change: GoalChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("goal listener failed")

    # -- threads -----------------------------------------------------------------------------
    async def find_record(self, thread_id: str) -> tuple[str, ThreadRecord | None, bool]:
        """``(canonical id, index row, loaded)``; raises for an id that is not a UUID."""
        canonical = check_thread_id(thread_id)
        loaded = self._manager.find(canonical) is not None
        record = await self._manager.store.get(canonical)
        return canonical, record, loaded

    async def require_thread(self, thread_id: str) -> str:
        """The canonical id of a thread that exists (loaded or stored); else
        ``thread not found: <id>``, Codex's wording."""
        canonical, record, loaded = await self.find_record(thread_id)
        if record is None and not loaded:
            raise InvalidRequest(f"thread not found: {canonical}")
        return canonical

    async def exists(self, thread_id: str) -> bool:
        _canonical, record, loaded = await self.find_record(thread_id)
        return record is not None or loaded

    # -- goals -------------------------------------------------------------------------------
    async def goal(self, thread_id: str) -> GoalRecord | None:
        canonical = await self.require_thread(thread_id)
        return await self._state.goal(canonical)

    async def set_goal(
        self,
        thread_id: str,
        *,
        objective: str | None,
        status: str | None,
        token_budget: int | None,
        budget_given: bool,
    ) -> GoalRecord:
        """``thread/goal/set``: a new objective starts a new goal (active unless
        ``status`` says otherwise); without one, the existing goal's status and budget
        change."""
        canonical = await self.require_thread(thread_id)
        self._refuse_ephemeral(canonical)
        if objective is not None and not objective.strip():
            raise InvalidRequest("goal objective must not be empty")
        if objective is not None and len(objective.strip()) > MAX_OBJECTIVE_CHARS:
            raise InvalidRequest(
                f"goal objective is {len(objective.strip())} characters long; "
                f"at most {MAX_OBJECTIVE_CHARS} are allowed"
            )
        if budget_given and token_budget is not None and token_budget <= 0:
            raise InvalidRequest("goal budgets must be positive when provided")
        if status is not None and status not in GOAL_STATUSES:
            raise InvalidRequest(f"unknown goal status `{status}`")
        current = await self._state.goal(canonical)
        now = now_ms()
        if objective is not None and (current is None or current.objective != objective.strip()):
            goal = GoalRecord(
                thread_id=canonical,
                goal_id=new_thread_id(),
                objective=objective.strip(),
                status=status or "active",
                token_budget=token_budget if budget_given else None,
                tokens_used=0,
                time_used_seconds=0,
                created_at_ms=now,
                updated_at_ms=now,
            )
        elif current is None:
            raise InvalidRequest(f"cannot update goal for thread {canonical}: no goal exists")
        else:
            goal = replace(
                current,
                status=status or current.status,
                token_budget=token_budget if budget_given else current.token_budget,
                updated_at_ms=now,
            )
        with storing(f"set the goal of thread {canonical}"):
            await self._state.put_goal(goal)
        return goal

    def _refuse_ephemeral(self, thread_id: str) -> None:
        loaded = self._manager.find(thread_id)
        if loaded is not None and loaded.settings.ephemeral:
            raise InvalidRequest(f"ephemeral thread does not support goals: {thread_id}")

    async def clear_goal(self, thread_id: str) -> bool:
        canonical = await self.require_thread(thread_id)
        with storing(f"clear the goal of thread {canonical}"):
            return await self._state.delete_goal(canonical)

    async def count_goal_usage(self, thread_id: str, *, tokens: int, seconds: int) -> None:
        """Charge a finished turn's tokens and time to the thread's active goal."""
        goal = await self._state.add_goal_usage(
            thread_id, tokens=max(0, tokens), seconds=max(0, seconds), now_ms=now_ms()
        )
        if goal is not None:
            self._notify(GoalChange(thread_id, None, goal))

    def watch(self, thread: Thread) -> Callable[[], None]:
        """Charge each finished turn of ``thread`` (its model responses' tokens, its
        duration) to the thread's active goal, as Codex accounts a goal's usage."""
        tokens: dict[str, int] = {}
        from threadline.protocol import events as ev  # with the first thread (a list needs none)

        def on_event(event: ev.Event) -> None:
            msg = event.msg
            if isinstance(msg, ev.TokenUsageUpdated):
                last = msg.info.last_token_usage.total_tokens
                tokens[msg.turn_id] = tokens.get(msg.turn_id, 0) + last
            elif isinstance(msg, ev.TurnCompletedEvent):
                turn_id = getattr(msg.turn, "id", None)
                spent = tokens.pop(turn_id, 0) if isinstance(turn_id, str) else 0
                duration_ms = getattr(msg.turn, "duration_ms", None) or 0
                if spent or duration_ms:
                    task = asyncio.get_running_loop().create_task(
                        self._charge(thread.id, spent, int(duration_ms) // 1000)
                    )
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

        return thread.add_listener(on_event)

    async def _charge(self, thread_id: str, tokens: int, seconds: int) -> None:
        try:
            await self.count_goal_usage(thread_id, tokens=tokens, seconds=seconds)
        except Exception:
            log.exception("could not charge a turn to the goal of %s", thread_id)

    # -- the model's tools (GoalBackend) ---------------------------------------------------
    async def get_goal(self, thread_id: str) -> dict[str, Any] | None:
        goal = await self._state.goal(thread_id)
        return goal_json(goal) if goal is not None else None

    async def create_goal(
        self, thread_id: str, turn_id: str, objective: str, token_budget: int | None
    ) -> dict[str, Any]:
        if len(objective) > MAX_OBJECTIVE_CHARS:
            raise GoalError(f"the objective must be at most {MAX_OBJECTIVE_CHARS} characters")
        try:
            self._refuse_ephemeral(thread_id)
        except InvalidRequest as exc:
            raise GoalError(exc.message) from exc
        current = await self._state.goal(thread_id)
        if current is not None and current.status != "complete":
            raise GoalError(
                f"this thread already has an unfinished goal ({current.status}): "
                f"{current.objective!r}; use update_goal to change its status"
            )
        now = now_ms()
        goal = GoalRecord(
            thread_id, new_thread_id(), objective, "active", token_budget, 0, 0, now, now
        )
        await self._tool_put(goal)
        self._notify(GoalChange(thread_id, turn_id, goal))
        return goal_json(goal)

    async def _tool_put(self, goal: GoalRecord) -> None:
        try:
            await self._state.put_goal(goal)
        except StoreError as exc:
            raise GoalError(exc.message) from exc
        except OSError as exc:
            raise GoalError(f"the goal could not be saved: {exc}") from exc

    async def update_goal(self, thread_id: str, turn_id: str, status: str) -> dict[str, Any]:
        current = await self._state.goal(thread_id)
        if current is None:
            raise GoalError("this thread has no goal; create_goal starts one")
        if current.status in ("budgetLimited", "usageLimited") and status == "paused":
            raise GoalError(f"the goal is {current.status}; a limit takes precedence over pausing")
        goal = replace(current, status=status, updated_at_ms=now_ms())
        await self._tool_put(goal)
        self._notify(GoalChange(thread_id, turn_id, goal))
        return goal_json(goal)

    # -- sections ----------------------------------------------------------------------------
    async def sections(self, limit: int, cursor: str | None) -> Page[SectionRecord]:
        return await self._state.sections(limit, cursor)

    async def section(self, section_id: str) -> SectionRecord | None:
        return await self._state.section(section_id)

    async def create_section(self, name: str, appearance: dict[str, Any] | None) -> SectionRecord:
        section = SectionRecord(new_thread_id(), name, appearance)
        with storing("create a thread section"):
            await self._state.put_section(section)
        return section

    async def update_section(self, section: SectionRecord) -> None:
        with storing(f"update thread section {section.id}"):
            await self._state.put_section(section)

    async def delete_section(self, section_id: str) -> bool:
        with storing(f"delete thread section {section_id}"):
            return await self._state.delete_section(section_id)

    async def move_to_section(
        self, thread_id: str, section_id: str | None, before: str | None
    ) -> str:
        canonical = await self.require_thread(thread_id)
        before_id = None
        if before is not None:
            try:
                before_id = check_thread_id(before)
            except InvalidRequest:
                raise InvalidRequest(
                    f"before thread {before} is not in section {section_id}"
                ) from None
        try:
            with storing(f"move thread {canonical}"):
                await self._state.move(canonical, section_id, before_id, now_ms=now_ms())
        except StoreError as exc:
            raise InvalidRequest(exc.message) from exc
        return canonical

    async def placements(self, thread_ids: Sequence[str]) -> dict[str, Placement]:
        return await self._state.placements(thread_ids)

    # -- attachments -------------------------------------------------------------------------
    async def add_attachment(
        self, thread_id: str, attachment_type: str, identity_key: str, payload: Any
    ) -> tuple[AttachmentRecord, bool]:
        canonical = await self.require_thread(thread_id)
        record = AttachmentRecord(
            new_thread_id(), canonical, attachment_type, identity_key, payload, now_ms()
        )
        with storing(f"attach to thread {canonical}"):
            return await self._state.add_attachment(record)

    async def attachments(
        self, thread_id: str, limit: int, cursor: str | None
    ) -> Page[AttachmentRecord]:
        canonical = await self.require_thread(thread_id)
        return await self._state.attachments(canonical, limit, cursor)

    async def remove_attachment(
        self, thread_id: str, attachment_type: str, identity_key: str
    ) -> AttachmentRecord | None:
        canonical = await self.require_thread(thread_id)
        with storing(f"remove an attachment of thread {canonical}"):
            return await self._state.remove_attachment(canonical, attachment_type, identity_key)

    async def attachment_owners(
        self,
        attachment_type: str,
        identity_key: str,
        limit: int,
        cursor: str | None,
        archived: bool | None,
    ) -> Page[tuple[str, bool]]:
        """Threads holding the attachment, with whether each is archived; ``archived``
        False keeps the live ones only. A thread whose history is gone is skipped."""
        found: list[tuple[str, bool]] = []
        after = cursor
        while True:
            page = await self._state.attachment_owners(attachment_type, identity_key, limit, after)
            for thread_id in page.items:
                record = await self._manager.store.get(thread_id)
                if record is None and self._manager.find(thread_id) is None:
                    continue
                is_archived = record.archived if record is not None else False
                if archived is False and is_archived:
                    continue
                found.append((thread_id, is_archived))
                if len(found) == limit:
                    more = thread_id != page.items[-1] or page.next_cursor is not None
                    return Page(found, thread_id if more else None)
            if page.next_cursor is None:
                return Page(found, None)
            after = page.next_cursor

    # -- metadata ----------------------------------------------------------------------------
    async def update_git(self, thread_id: str, changes: dict[str, str | None]) -> ThreadRecord:
        """``thread/metadata/update``: set or clear the stored Git fields; they stay in
        the state tables, so a rebuilt index row keeps them."""
        canonical = check_thread_id(thread_id)
        record = await self._manager.store.get(canonical)
        if record is None:
            raise InvalidRequest(f"no rollout found for thread id {canonical}")
        with storing(f"update the metadata of thread {canonical}"):
            await self._state.edit_git(canonical, changes)
            git = record.git or GitRecord()
            fields = {f: changes.get(f, getattr(git, f)) for f in GIT_FIELDS}
            updated = replace(
                record,
                git=None if all(v is None for v in fields.values()) else GitRecord(**fields),
            )
            await self._manager.store.upsert(updated)
        return updated

    # -- delete ------------------------------------------------------------------------------
    async def delete_thread(self, thread_id: str) -> tuple[str, bool, list[AttachmentRecord]]:
        """Unload the thread if loaded, then remove its histories, row and state.
        Returns ``(id, was loaded, the attachments it had)``; an id with no history is
        ``no rollout found for thread id <id>`` (Codex's error)."""
        canonical = check_thread_id(thread_id)
        manager = self._manager
        loaded = manager.find(canonical) is not None
        record = await manager.store.get(canonical)
        if record is None and not loaded:
            raise InvalidRequest(f"no rollout found for thread id {canonical}")
        problem = manager.store.writable_problem(
            StoredRef(canonical, record.rollout_path, record.archived) if record else None
        )
        if problem is not None:
            raise InvalidRequest(f"cannot delete thread {canonical}: {problem}")
        attachments = (await self._state.attachments(canonical, 1000, None)).items
        if loaded:
            await manager.unload(canonical)
        lease = manager.store.lock_thread(canonical)  # not while another process has it
        try:
            with storing(f"delete thread {canonical}"):
                await manager.store.delete_thread(canonical)
        finally:
            lease.release()
        return canonical, loaded, attachments

    # -- revert ------------------------------------------------------------------------------
    async def revert_thread(self, thread_id: str, before_turn_id: str) -> tuple[str, int]:
        """Drop ``before_turn_id`` and every later turn from the thread's history (not
        the files those turns changed), the way ``thread/rollback`` does: a
        ``thread_rolled_back`` marker is appended, so the history keeps its lines and a
        reader rebuilds the shorter one. Returns ``(id, turns dropped)``."""
        canonical = check_thread_id(thread_id)
        manager = self._manager
        thread = manager.find(canonical)
        if thread is not None:
            if thread.active is not None:
                raise InvalidRequest("cannot revert while a turn is running")
            turns = list(thread.turns)
        else:
            ref = await manager.store.locate(canonical)
            stored = await manager.store.load_history(ref)
            turns = list(stored.recon.turns)
        index = next((i for i, t in enumerate(turns) if t.id == before_turn_id), None)
        if index is None:
            raise InvalidRequest(f"turn not found: {before_turn_id}")
        dropped = len(turns) - index
        if thread is not None:
            await manager.rollback_thread(canonical, dropped)
            return canonical, dropped
        from threadline.protocol.rollout import EventMsg  # the rollout models: not for a list

        event = EventMsg.model_validate({"type": "thread_rolled_back", "num_turns": dropped})
        problem = manager.store.writable_problem(ref)
        if problem is not None:
            raise InvalidRequest(f"cannot revert thread {canonical}: {problem}")
        lease = manager.store.lock_thread(canonical)
        try:
            with storing(f"revert thread {canonical}"):
                await manager.store.append_items(ref, [event], durable=True)
        finally:
            lease.release()
        await manager.store.note_activity(canonical, updated_at_ms=now_ms())
        return canonical, dropped
