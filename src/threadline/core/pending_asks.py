"""Questions to the client that survive a restart (the session's side of ``protocol.asks``).

While a turn waits on the client, its rollout holds a ``client_ask_opened`` line; the
answer is written as ``client_ask_answered`` and synced before the asking tool acts on
it. When the server dies in between, a resume finds the turn cut off
(``Reconstruction.cut_off``, built by ``rollout.pending``) and the thread continues it
once the resuming client has its answer: the turn keeps its id and its items, the
interrupted call is run again under its call id (so the tool asks the client again, the
same server request for the same item), and the turn goes on to the model. A call
whose answer was already recorded is not run again: the model is told its outcome is
unknown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from threadline.core.errors import ElicitationCountError
from threadline.core.recorder import RolloutSink
from threadline.protocol.asks import CutOffTurn, ask_answered_payload, ask_opened_payload
from threadline.protocol.rollout import EventMsg
from threadline.protocol.v2.turn import Turn

if TYPE_CHECKING:
    from threadline.core.turn import ActiveTurn
    from threadline.protocol import events as ev

__all__ = ["ElicitationPause", "mark_continuing", "opened_record", "record_answer", "reopen_turn"]

log = logging.getLogger(__name__)


def opened_record(request: ev.ClientAsk) -> EventMsg:
    """The ``client_ask_opened`` line for a question about to be sent."""
    return EventMsg.model_validate(
        ask_opened_payload(request.turn_id, request.approval_id, request.item_id, request.payload())
    )


async def record_answer(sink: RolloutSink, request: ev.ClientAsk, answer: Any) -> None:
    """Write the ``client_ask_answered`` line for ``answer`` and sync it, before the asking
    tool acts on the answer (a failure is logged: the tool still gets its answer)."""
    line = EventMsg.model_validate(
        ask_answered_payload(request.turn_id, request.approval_id, request.item_id, answer)
    )
    try:
        await sink.append_or_discard([line])
    except Exception as exc:
        log.error("the answer to %s was not recorded: %s", request.approval_id, exc)


def mark_continuing(turns: list[Turn], cut: CutOffTurn | None) -> None:
    """Show the cut-off turn in progress (not interrupted) to the resuming client, since
    it goes on right after the resume is answered."""
    if cut is None:
        return
    for index, existing in enumerate(turns):
        if existing.id == cut.turn_id:
            turns[index] = existing.model_copy(update={"status": "inProgress"})


def reopen_turn(turns: list[Turn], cut: CutOffTurn) -> tuple[ActiveTurn, Turn]:
    """The running turn that continues ``cut`` (its id, start time and items so far), put
    in progress in ``turns``, and the snapshot ``turn/started`` announces (no items, as for
    any turn that starts)."""
    stored = next((t for t in turns if t.id == cut.turn_id), None)
    started = cut.started_at or (stored.started_at if stored is not None else None)
    from threadline.core.turn import ActiveTurn  # loaded with the turn it reopens

    turn = ActiveTurn(id=cut.turn_id, started_at=float(started or time.time()))
    if stored is not None:
        turn.items = list(stored.items)
    live = Turn(
        id=turn.id,
        root_turn_id=turn.id,
        items=list(turn.items),
        items_view="full",
        status="inProgress",
        started_at=int(turn.started_at),
    )
    for index, existing in enumerate(turns):
        if existing.id == turn.id:
            turns[index] = live
            break
    else:
        turns.append(live)
    log.info("continuing turn %s cut off by a restart (%d call(s))", turn.id, len(cut.calls))
    return turn, live.model_copy(update={"items": [], "items_view": "notLoaded"})


_MAX_ELICITATIONS = 2**31 - 1


class ElicitationPause:
    """The session's out-of-band elicitation count (``thread/increment_elicitation``):
    while a client asks its user something for an MCP server, the turn waits."""

    def __init__(self) -> None:
        self._elicitations = 0
        self._unpaused = asyncio.Event()
        self._unpaused.set()

    def increment_elicitation(self) -> int:
        if self._elicitations >= _MAX_ELICITATIONS:
            raise ElicitationCountError("out-of-band elicitation count overflowed")
        self._elicitations += 1
        if self._elicitations == 1:
            self._unpaused.clear()
        return self._elicitations

    def decrement_elicitation(self) -> int:
        if self._elicitations == 0:
            raise ElicitationCountError("out-of-band elicitation count is already zero")
        self._elicitations -= 1
        if self._elicitations == 0:
            self._unpaused.set()
        return self._elicitations

    @property
    def elicitation_count(self) -> int:
        return self._elicitations

    async def wait_unpaused(self) -> None:
        await self._unpaused.wait()
