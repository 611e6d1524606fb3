"""``free_after_pause``: what a load hands over stays alive until the last collector pause
ends and is freed then, before the collector comes back; a resume's stream and a whole
read's reconstruction hand over their line pass (its turn builder's tables), so the
request that loaded them frees those after its answer, not on its path."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

from threadline.rollout.gc_pause import free_after_pause, gc_paused, pause_gc
from threadline.rollout.history import LinePass, reconstruct
from threadline.rollout.reader import read_rollout
from threadline.rollout.resume_stream import stream_for_resume

REF_ROLLOUTS = Path("/work/shared/reference/codex-0.169.0/rollouts")


class _Garbage:
    pass


def _line_passes() -> int:
    return sum(type(o) is LinePass for o in gc.get_objects())


def test_handed_garbage_lives_until_the_last_pause_ends() -> None:
    assert gc.isenabled()
    seen: list[bool] = []
    outer = pause_gc()
    with gc_paused():
        garbage = _Garbage()
        ref = weakref.ref(garbage, lambda _: seen.append(gc.isenabled()))
        free_after_pause(garbage)
        del garbage
        assert ref() is not None
    assert ref() is not None  # another pause (the request's) is still on
    outer()
    assert ref() is None and seen == [False]  # freed before the collector came back
    assert gc.isenabled()
    outer()  # a second call changes nothing
    assert gc.isenabled()


def test_without_a_pause_nothing_is_kept() -> None:
    garbage = _Garbage()
    ref = weakref.ref(garbage)
    free_after_pause(garbage)
    del garbage
    assert ref() is None


def test_a_resume_stream_and_a_whole_read_free_their_line_pass_after_the_pause() -> None:
    paths = sorted(REF_ROLLOUTS.rglob("rollout-*.jsonl"))
    assert paths, "reference rollouts"
    for path in paths[:3]:
        gc.collect()
        before = _line_passes()
        release = pause_gc()
        got = stream_for_resume(path)
        whole = reconstruct(read_rollout(path), release_lines=True)
        held = _line_passes() - before
        release()
        assert held == (2 if got is not None else 1), path.name
        assert _line_passes() == before, path.name
        if got is not None:
            assert got[1].turns == whole.turns  # what the request keeps is not touched
