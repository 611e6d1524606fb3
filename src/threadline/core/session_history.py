"""A session's model-visible history, which a resumed thread may hold unbuilt at first.

A resume replays the stored history (compactions, rollbacks) but leaves its items as
the payloads it decoded (``protocol.items.DeferredItems``): the answer to
``thread/resume`` never shows them, and the model sees them only with the thread's first
request. :class:`HistorySlot` is the ``Session.history`` attribute: it holds such a
history as it is and builds it on the first read, so every reader sees the list of
items it always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from threadline.protocol.items import DeferredItems, ResponseItem

__all__ = ["HistorySlot", "history_length", "history_pending"]


class HistorySlot:
    """A data descriptor: reads give a ``list[ResponseItem]`` (a deferred history is
    built then, once); writes take any sequence of items (copied into a new list, as
    ``list(history)`` did) or a :class:`DeferredItems`, kept unbuilt."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._key = f"_{name}_slot"

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> HistorySlot: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> list[ResponseItem]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self._key]
        if isinstance(value, DeferredItems):
            value = obj.__dict__[self._key] = value.build()
        return value

    def __set__(self, obj: object, value: Sequence[ResponseItem]) -> None:
        obj.__dict__[self._key] = value if isinstance(value, DeferredItems) else list(value)


def history_pending(obj: object) -> int:
    """How many items of ``obj``'s history (a :class:`HistorySlot` named ``history``)
    wait to be built: 0 once built, or for any other object."""
    value = getattr(obj, "__dict__", {}).get("_history_slot")
    return value.pending if isinstance(value, DeferredItems) else 0


def history_length(host: Any) -> int:
    """``len(host.history)``, without building a history that waits to be (each entry
    of a deferred one becomes exactly one item)."""
    value = getattr(host, "__dict__", {}).get("_history_slot")
    return len(value) if isinstance(value, DeferredItems) else len(host.history)
