"""The collector pause of a big load, for core (which reaches ``rollout`` only through the
store): ``rollout.gc_pause``'s functions without ``store.rollouts`` (the reader, writer and
turn builder), so a start that never loads a rollout does not import them."""

from __future__ import annotations

from threadline.rollout.gc_pause import free_after_pause, gc_paused, pause_gc, paused, thaw

__all__ = ["free_after_pause", "gc_paused", "pause_gc", "paused", "thaw"]
