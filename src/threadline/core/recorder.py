"""The sink a thread writes its history to: ``store``'s :class:`ThreadSink` (made by the
thread store; a :class:`NullSink` for ephemeral threads). Kept under its old names for
``core.thread`` and ``core.session``."""

from __future__ import annotations

from threadline.store.base import NullSink
from threadline.store.base import ThreadSink as RolloutSink

__all__ = ["NullSink", "RolloutSink"]
