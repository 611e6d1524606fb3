"""A thread let go (here: archived) is freed, even after a big load's collector pause froze
it (``rollout.gc_pause``: such a pause ends with ``gc.freeze``; a loaded thread holds
reference cycles around its history, which the collector never frees once frozen), and a
small pause freezes nothing."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

from tests.e2e.conftest import write_mock_config
from tests.support.memory_server import MemoryServerFactory
from tests.support.mock_model import MockModel

from threadline.rollout.gc_pause import FREEZE_MIN_OBJECTS, pause_gc, paused, thaw


async def _freed(ref: weakref.ref[object]) -> bool:
    for _ in range(50):
        gc.collect()
        if ref() is None:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_an_archived_thread_is_freed_after_its_resume(
    memory_server: MemoryServerFactory, tmp_path: Path
) -> None:
    with MockModel() as mock:
        home = tmp_path / "home"
        write_mock_config(home, mock.base_url)
        server = await memory_server(home=home)
        client = server.client
        started = await client.request("thread/start", {"cwd": str(tmp_path)})
        thread_id = started["thread"]["id"]
        await client.request(
            "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]}
        )
        await client.wait_for_notification("turn/completed", timeout=30)
        first = server.manager.find(thread_id)
        assert first is not None
        first_ref: weakref.ref[object] = weakref.ref(first)
        del first
        await client.request("thread/archive", {"threadId": thread_id})
        assert await _freed(first_ref), "the started thread outlived its archive"

        await client.request("thread/unarchive", {"threadId": thread_id})
        resumed = await client.request("thread/resume", {"threadId": thread_id})
        assert resumed["thread"]["id"] == thread_id
        assert not paused() and gc.isenabled()  # the resume's pause ended with its answer
        loaded = server.manager.find(thread_id)
        assert loaded is not None
        ref: weakref.ref[object] = weakref.ref(loaded)
        del loaded
        # A big load elsewhere (the store's loads pause the same way) ends while it is
        # loaded: its end freezes what is alive, the thread and its cycles too.
        release = pause_gc()
        big = [[n] for n in range(FREEZE_MIN_OBJECTS)]
        release()
        del big
        assert gc.get_freeze_count() >= FREEZE_MIN_OBJECTS
        await client.request("thread/archive", {"threadId": thread_id})
        assert await _freed(ref), "the resumed thread outlived its archive (frozen)"


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_a_thaw_during_a_pause_keeps_that_pause_from_freezing() -> None:
    assert gc.isenabled()
    release = pause_gc()
    node = _Node()  # a cycle made while the collector is paused...
    ref = weakref.ref(node)
    del node
    thaw()  # ...then given back: the pause's end must not freeze it again
    release()
    assert gc.isenabled() and not paused()
    gc.collect()
    assert ref() is None


def test_a_small_pause_freezes_nothing() -> None:
    """A cycle alive through a pause that allocated little (a small read's) is freed once
    it dies: the pause froze nothing."""
    assert gc.isenabled()
    gc.collect()
    node = _Node()
    ref = weakref.ref(node)
    release = pause_gc()
    release()
    del node
    gc.collect()
    assert ref() is None


def test_a_big_pause_still_freezes_what_it_loaded() -> None:
    gc.collect()
    release = pause_gc()
    loaded = [[n] for n in range(FREEZE_MIN_OBJECTS)]
    release()
    assert gc.get_freeze_count() >= len(loaded)
    thaw()
