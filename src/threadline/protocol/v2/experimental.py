"""Which notifications only connections that opted into the experimental API receive.

A leaf module (no wire models): the connection consults it for every notification it
sends, from the very first, and importing ``protocol.v2.turn`` for it would build the
turn and item models on a start that answers only ``initialize``.
"""

from __future__ import annotations

EXPERIMENTAL_NOTIFICATIONS = frozenset({"thread/settings/updated", "thread/readState/changed"})
"""Notifications Codex 0.169 sends only to connections that set ``experimentalApi``."""

__all__ = ["EXPERIMENTAL_NOTIFICATIONS"]
