"""Loading a big rollout allocates millions of small objects that all stay alive; the
cyclic garbage collector, triggered by those allocations, walks the growing heap again
and again and finds nothing to free (most of a load's time). :func:`gc_paused` turns it
off for the duration of a load. It is process-wide and loads may overlap (they run in
worker threads), so the pauses are counted: the collector comes back when the last one
ends, and only if it was on when the first began.

Before it comes back after a big load (:data:`FREEZE_MIN_OBJECTS`), the objects alive
then move to the permanent generation (``gc.freeze``): otherwise the first collections after the pause walk every object the
load kept (the young generation holds them all) and find nothing to free, about 0.5 s
after an 8,000-turn load. Frozen objects are still freed by reference counting; only a
reference cycle among them is never collected. A loaded history holds none, but a cycle
that other work of the process left unreachable while the collector was paused is frozen
too and stays (a small leak per pause: the price of not walking the history again).

What a pause froze while it was alive is not always acyclic: a loaded thread holds
reference cycles (its session, tasks, listeners) around its history. Frozen, it would never
be freed once unloaded; :func:`thaw` (called when a thread is unloaded) gives the frozen
objects back to the collector.

A load's working state (the turn builder's tables of a long thread: ~7 MB of small objects
after 8,000 turns) takes as long to free as to fill: 8 ms (46 MB rollout) to 35 ms (190 MB)
when the load returns, on the request's path. :func:`free_after_pause` hands it to the pause
instead: it is freed when the last pause ends (a resume's: once its answer and usage note
are written), just before the collector comes back."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["FREEZE_MIN_OBJECTS", "free_after_pause", "gc_paused", "pause_gc", "paused", "thaw"]

FREEZE_MIN_OBJECTS = 100_000
"""A pause ends with ``gc.freeze`` only when the young generation holds at least this
many objects (what a big load leaves; walking them takes a few ms): a small read's pause
would freeze, for nothing, whatever cycles the other work had alive then (a running
turn's: some 300 objects per ``thread/read`` during a turn, never freed once frozen)."""

_lock = threading.Lock()
_depth = 0
_was_enabled = False
_thaw_pending = False
_held: list[object] = []
"""What :func:`free_after_pause` keeps until the pauses end."""


def pause_gc() -> Callable[[], None]:
    """Pause the collector (counted, as :func:`gc_paused`) until the returned function is
    called; calling it again does nothing. For a pause that outlives one block: a
    request that loads a history and then serializes its answer."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    released = False

    def release() -> None:
        global _depth, _thaw_pending
        nonlocal released
        with _lock:
            if released:
                return
            released = True
            held = _take_held() if _depth == 1 else []
        held.clear()  # freed here, outside the lock, with the collector still off
        with _lock:
            _depth -= 1
            if _depth == 0:
                held = _take_held()  # handed over by a pause that ended alongside this one
                if _thaw_pending:  # something frozen became garbage meanwhile: no freeze
                    _thaw_pending = False
                    gc.unfreeze()
                elif _was_enabled and gc.get_count()[0] >= FREEZE_MIN_OBJECTS:
                    gc.freeze()
                if _was_enabled:
                    gc.enable()
        held.clear()

    return release


def _take_held() -> list[object]:
    held = _held[:]
    _held.clear()
    return held


def free_after_pause(garbage: object) -> None:
    """Keep ``garbage`` (what a load no longer needs but would take time to free) alive
    until the pause under way ends, and free it then, off the request's path; with no
    pause on, the caller's dropping it frees it now. The last pause to end frees it
    before the collector comes back (a pause lasts one request: see ``pause_gc``'s
    callers), so no cycle in it is frozen."""
    with _lock:
        if _depth > 0:
            _held.append(garbage)


def thaw() -> None:
    """Give what earlier pauses froze back to the collector (to its oldest generation,
    walked at its next full collection), so that reference cycles among objects that are
    no longer used (an unloaded thread) are freed: now, or when the pause under way ends
    (that pause then freezes nothing: the cycles would be frozen again with it)."""
    global _thaw_pending
    with _lock:
        if _depth == 0:
            gc.unfreeze()
        else:
            _thaw_pending = True


def paused() -> bool:
    """Whether a pause is on: a history is loading, or an answer built from one is being
    serialized (background work may wait for it to end)."""
    return _depth > 0


@contextmanager
def gc_paused() -> Iterator[None]:
    release = pause_gc()
    try:
        yield
    finally:
        release()
