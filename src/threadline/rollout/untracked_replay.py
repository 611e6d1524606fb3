"""The model-history replay of a file with no rollback: shared by the whole-file resume
stream (``rollout.resume_stream``) and the ``excludeTurns`` read (``rollout.seek``).

:class:`~threadline.rollout.history.HistoryReplay` keeps the turn boundaries of the history
(``units``) because a ``thread_rolled_back`` event drops whole user turns; telling a user
message apart costs a test per item. When the offset index says the file has no rollback,
:class:`UntrackedReplay` appends each model item as it is and keeps no boundaries; should a
rollback event reach it after all (the file grew since it was indexed) it raises
:class:`RolledBack`, and the caller reads again with the boundaries tracked.
"""

from __future__ import annotations

import logging
from typing import Any

from threadline.protocol.items import parse_response_item, validates_as_item
from threadline.rollout.history import HistoryReplay

__all__ = ["RolledBack", "UntrackedReplay"]

log = logging.getLogger(__name__)


class RolledBack(Exception):
    """A rollback in a file replayed as if it had none (see :class:`UntrackedReplay`)."""


class UntrackedReplay(HistoryReplay):
    """A history replay that keeps no turn boundaries (the module docstring says when)."""

    __slots__ = ()
    EVENTS = ("thread_rolled_back",)

    def payload(self, item: Any) -> None:
        if not validates_as_item(item):
            try:
                item = parse_response_item(item)
            except ValueError:
                log.warning("skipping response_item that does not validate")
                return
        self.history.append(item)

    def event_payload(self, payload: Any, event: object) -> None:
        if event == "thread_rolled_back":
            raise RolledBack
