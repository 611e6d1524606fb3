"""``gc_paused``: the collector is off while any load runs, back on after the last one,
and left off if it was off to begin with."""

from __future__ import annotations

import gc
import threading

from threadline.rollout.gc_pause import gc_paused


def test_overlapping_pauses_restore_the_collector_after_the_last() -> None:
    assert gc.isenabled()
    inner_started, outer_done = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other_load() -> None:
        with gc_paused():
            inner_started.set()
            outer_done.wait(5)
            seen.append(gc.isenabled())  # the first load ended; this one still runs

    worker = threading.Thread(target=other_load)
    with gc_paused():
        assert not gc.isenabled()
        worker.start()
        assert inner_started.wait(5)
    outer_done.set()
    worker.join(5)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
