"""``core.warm_up``: bottom-up model builds, the yielding warm-up's idle check and its
gated imports, on real pydantic models, a real event loop and real module imports."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from threadline.core import warm_up
from threadline.protocol.v2 import item as v2_item
from threadline.protocol.v2 import thread as v2_thread
from threadline.protocol.v2 import turn as v2_turn

_MODELS = """
from __future__ import annotations
from pydantic import BaseModel, ConfigDict, Field
from typing import Annotated, Literal

class _Base(BaseModel):
    model_config = ConfigDict(defer_build=True)

class Leaf(_Base):
    type: Literal["leaf"] = "leaf"
    n: int

class Other(_Base):
    type: Literal["other"] = "other"
    s: str

Item = Annotated[Leaf | Other, Field(discriminator="type")]

class Holder(_Base):
    items: list[Item]
    first: Item | None = None
    by_name: dict[str, Leaf] = {}

class Top(_Base):
    holder: Holder
    later: Later | None = None

class Later(_Base):
    x: int
"""


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> object:
    name = f"tl_warm_models_{time.monotonic_ns()}"
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return __import__(name)


def test_build_bottom_up_builds_the_named_models_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = _module(tmp_path, monkeypatch, _MODELS)
    top, holder, leaf, other = mod.Top, mod.Holder, mod.Leaf, mod.Other  # type: ignore[attr-defined]
    order: list[str] = []
    for cls in (top, holder, leaf, other):
        assert not cls.__pydantic_complete__

    def note() -> None:
        order.append("step")

    built = warm_up.build_bottom_up([top], note)
    assert all(cls.__pydantic_complete__ for cls in (top, holder, leaf, other))
    assert built == len(order) >= 4
    # Built this way, the members keep their own validators (a top-down build would not).
    assert leaf.model_validate({"n": 2}).n == 2
    value = top.model_validate({"holder": {"items": [{"type": "other", "s": "a"}]},
                                "later": {"x": 1}})
    assert value.holder.items[0].s == "a" and value.later.x == 1
    assert warm_up.build_bottom_up([top]) == 0  # nothing left


def test_build_bottom_up_shared_with_builds_alone_only_what_two_models_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = _module(tmp_path, monkeypatch, _MODELS + (
        "\nclass Part(_Base):\n    v: int\n"
        "class OnlyHere(_Base):\n    part: Part\n"
        "class Notice(_Base):\n    item: Item\n"
        "class Root(_Base):\n    items: list[Item]\n    only: OnlyHere\n"
    ))
    root, notice, leaf, other, only, part = (
        mod.Root, mod.Notice, mod.Leaf, mod.Other, mod.OnlyHere, mod.Part  # type: ignore[attr-defined]
    )
    assert warm_up.shared_models([root, notice]) == {leaf, other}
    assert warm_up.build_bottom_up([root], shared_with=[notice]) == 3  # Leaf, Other, Root
    assert root.__pydantic_complete__ and leaf.__pydantic_complete__ and other.__pydantic_complete__
    # Named by Root alone: its schema went into Root's; the model itself is built on first use.
    assert not only.__pydantic_complete__ and not part.__pydantic_complete__
    assert root.model_validate({"items": [{"type": "leaf", "n": 1}], "only": {"part": {"v": 2}}}).only.part.v == 2
    assert not notice.__pydantic_complete__
    assert notice.model_validate({"item": {"type": "other", "s": "x"}}).item.s == "x"


def test_build_bottom_up_skips_what_fails_and_builds_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = _module(tmp_path, monkeypatch, _MODELS + "\nclass Broken(_Base):\n    y: Missing\n")
    broken, leaf = mod.Broken, mod.Leaf  # type: ignore[attr-defined]
    assert warm_up.build_bottom_up([broken, leaf]) == 1
    assert leaf.__pydantic_complete__ and not broken.__pydantic_complete__


def test_models_named_resolves_names_and_skips_unknown_ones() -> None:
    found = warm_up.models_named([
        "threadline.protocol.v2.thread:Thread", "threadline.protocol.v2.thread:NoSuchModel",
        "tl_no_such_module:Thing", "threadline.core.warm_up:THREAD_MODEL",
    ])
    assert found == [v2_thread.Thread]
    every = [*warm_up.FIRST_TURN_MODELS, *warm_up.FIRST_ANSWER_MODELS]
    assert len(warm_up.models_named(every)) == len(every)  # the lists name real models


def test_build_thread_models_leaves_turn_and_items_built() -> None:
    warm_up.build_thread_models()
    for cls in (v2_thread.Thread, v2_turn.Turn, v2_item.UserMessageThreadItem,
                v2_item.AgentMessageThreadItem):
        assert cls.__pydantic_complete__


def _run_loop_in_thread() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(started.set)
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    return loop, thread


def test_yielder_sees_the_loop_idle_and_busy() -> None:
    loop, thread = _run_loop_in_thread()
    try:
        yielder = warm_up.Yielder(
            thread.ident, poll_s=0.001, max_poll_s=0.005, settle_s=0.05, max_wait_s=5
        )
        deadline = time.monotonic() + 5
        while not yielder.loop_idle():  # the loop reaches its wait for events
            assert time.monotonic() < deadline
            time.sleep(0.001)
        busy = threading.Event()
        release = threading.Event()
        released_at: list[float] = []

        def spin() -> None:  # a request that keeps the loop's thread running Python code
            busy.set()
            while not release.is_set():
                sum(range(100))
            released_at.append(time.monotonic())

        loop.call_soon_threadsafe(spin)
        assert busy.wait(5)
        assert not yielder.loop_idle()
        threading.Timer(0.05, release.set).start()
        started = time.monotonic()
        yielder.wait()  # returns once the loop has been idle for settle_s, before max_wait_s
        returned = time.monotonic()
        assert release.is_set() and returned - started < 4
        # Idle for settle_s since it was last seen busy (one poll, at most 5 ms, before).
        assert returned - released_at[0] >= 0.05 - 0.005 - 0.001
        assert yielder.loop_idle()
        started = time.monotonic()
        yielder.wait()  # idle for long enough already: no wait
        assert time.monotonic() - started < 0.04
        yielder.close()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_yielder_moves_on_after_max_wait() -> None:
    loop, thread = _run_loop_in_thread()
    release = threading.Event()
    try:
        busy = threading.Event()

        def spin() -> None:
            busy.set()
            while not release.is_set():
                sum(range(100))

        loop.call_soon_threadsafe(spin)
        assert busy.wait(5)
        yielder = warm_up.Yielder(thread.ident, poll_s=0.001, max_wait_s=0.05)
        started = time.monotonic()
        yielder.wait()
        assert not release.is_set()
        assert 0.04 <= time.monotonic() - started < 3
        assert yielder.waited_s >= 0.04
    finally:
        release.set()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_import_yielding_waits_before_every_module_it_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stem = f"tl_warm_pkg_{time.monotonic_ns()}"
    (tmp_path / f"{stem}_inner.py").write_text("VALUE = 3\n", encoding="utf-8")
    (tmp_path / f"{stem}_outer.py").write_text(
        f"import {stem}_inner\nVALUE = {stem}_inner.VALUE + 1\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    calls: list[int] = []
    meta_path = list(sys.meta_path)
    warm_up.import_yielding(
        ["tl_no_such_module_for_warm_up", f"{stem}_outer"],
        lambda: calls.append(threading.get_ident()),
    )
    outer = sys.modules[f"{stem}_outer"]
    assert outer.VALUE == 4
    # One wait before each module that runs, the nested one too; none for the missing one.
    assert len(calls) == 2 and set(calls) == {threading.get_ident()}
    assert sys.meta_path == meta_path  # the gate is gone again
    # The modules keep their real loaders.
    for module in (outer, sys.modules[f"{stem}_inner"]):
        assert type(module.__loader__).__name__ == "SourceFileLoader"
        assert module.__spec__.loader is module.__loader__
        assert module.__loader__.get_source(module.__name__).startswith(("import", "VALUE"))


def test_import_gate_never_changes_a_meta_path_list_another_import_may_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An import in another thread walks the sys.meta_path list it found. Taking the gate
    # off that very list under the walk shifted the finders after it, so the walk skipped
    # one, the path finder included ("No module named 'h11._state'" in a turn's import).
    stem = f"tl_warm_walk_{time.monotonic_ns()}"
    (tmp_path / f"{stem}.py").write_text("A = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = sys.meta_path
    before_items = list(before)
    walked: list[tuple[list[Any], list[Any]]] = []  # the lists an import would walk, then
    warm_up.import_yielding([stem], lambda: walked.append((sys.meta_path, list(sys.meta_path))))
    assert len(walked) == 1 and len(walked[0][1]) == len(before_items) + 1  # gate in place
    for found, items in walked:
        assert found == items  # still what a walk found there
    assert before == before_items and sys.meta_path == before_items


def test_import_gate_lets_other_threads_import_without_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stem = f"tl_warm_other_{time.monotonic_ns()}"
    (tmp_path / f"{stem}_a.py").write_text("A = 1\n", encoding="utf-8")
    (tmp_path / f"{stem}_b.py").write_text("B = 2\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[int] = []
    other: dict[str, object] = {}

    def before_each() -> None:
        seen.append(threading.get_ident())
        if len(seen) == 1:  # while the gate is in place, another thread imports
            worker = threading.Thread(target=lambda: other.update(m=__import__(f"{stem}_b")))
            worker.start()
            worker.join(10)

    warm_up.import_yielding([f"{stem}_a"], before_each)
    assert set(seen) == {threading.get_ident()}
    assert getattr(other["m"], "B", None) == 2


def test_yielder_lowers_the_switch_interval_while_working_only() -> None:
    default = sys.getswitchinterval()
    loop, thread = _run_loop_in_thread()
    release = threading.Event()
    seen: list[float] = []
    try:
        yielder = warm_up.Yielder(
            thread.ident, poll_s=0.001, max_wait_s=30, step_switch_interval_s=0.0002
        )
        assert sys.getswitchinterval() == pytest.approx(0.0002)
        busy = threading.Event()

        def spin() -> None:
            busy.set()
            while not release.is_set():
                sum(range(100))

        loop.call_soon_threadsafe(spin)
        assert busy.wait(5)
        # While it waits for the loop the default holds; a timer samples it meanwhile, then
        # lets the loop go idle.
        def sample_then_release() -> None:
            seen.append(sys.getswitchinterval())
            release.set()

        threading.Timer(0.02, sample_then_release).start()
        yielder.wait()
        assert seen == [pytest.approx(default)]
        assert sys.getswitchinterval() == pytest.approx(0.0002)  # working again
        yielder.close()
        assert sys.getswitchinterval() == pytest.approx(default)
    finally:
        release.set()
        sys.setswitchinterval(default)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_import_yielding_stops_gating_once_until_is_true(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stem = f"tl_warm_until_{time.monotonic_ns()}"
    (tmp_path / f"{stem}_c.py").write_text("C = 1\n", encoding="utf-8")
    (tmp_path / f"{stem}_b.py").write_text(f"import {stem}_c\nB = 1\n", encoding="utf-8")
    (tmp_path / f"{stem}_a.py").write_text(f"import {stem}_b\nA = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    calls: list[str] = []
    wanted = threading.Event()

    def before_each() -> None:
        calls.append("wait")
        wanted.set()  # from now on a turn waits for these modules

    warm_up.import_yielding([f"{stem}_a"], before_each, until=wanted.is_set)
    assert calls == ["wait"]  # a waited; b and c, imported after, did not
    assert all(sys.modules[f"{stem}_{x}"].__name__ for x in "abc")


def test_yielder_hold_and_stop() -> None:
    loop, thread = _run_loop_in_thread()
    try:
        held = warm_up.Yielder(thread.ident, poll_s=0.001, max_wait_s=0.1, hold=lambda: True)
        deadline = time.monotonic() + 5
        while not held.loop_idle():
            assert time.monotonic() < deadline
            time.sleep(0.001)
        started = time.monotonic()
        held.wait()  # the loop is idle, but hold() says other work is on a turn's path
        assert time.monotonic() - started >= 0.09
        started = time.monotonic()
        held.wait(use_hold=False)
        held.wait(lambda: True)  # stop() true: no wait at all
        assert time.monotonic() - started < 0.05
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def test_lazy_client_marks_the_wait_for_its_build() -> None:
    from threadline.core.providers import LazyModelClient

    seen: list[tuple[bool, bool]] = []

    class Built:
        provider_id = "probe"

        def context_window(self, model: str) -> int | None:
            return None

        async def stream(self, request: object) -> Any:
            yield "event"

        async def aclose(self) -> None:
            return None

    def build() -> Any:
        seen.append((warm_up.model_client_wanted(), warm_up.model_client_awaited()))
        return Built()

    client = LazyModelClient("probe", build, warm_after_s=60)
    events = [event async for event in client.stream(object())]  # type: ignore[arg-type]
    assert events == ["event"]
    assert seen == [(True, True)]  # the warm-up held back while the turn waited
    assert warm_up.model_client_wanted() and not warm_up.model_client_awaited()
    await client.aclose()


def test_yielder_waits_while_a_history_loads() -> None:
    """A big load runs in a worker thread and leaves the loop idle; the collector's pause
    it holds (``core.stored.loading``) counts as busy, until the pause ends."""
    from threadline.core.stored import loading, pause_collector

    loop, thread = _run_loop_in_thread()
    try:
        yielder = warm_up.Yielder(thread.ident, poll_s=0.001, settle_s=0.01, max_wait_s=5)
        deadline = time.monotonic() + 5
        while not yielder.loop_idle():
            assert time.monotonic() < deadline
            time.sleep(0.001)
        release = pause_collector()
        try:
            assert loading() and not yielder.loop_idle()
            timer = threading.Timer(0.1, release)
            started = time.monotonic()
            timer.start()
            yielder.wait()
            assert 0.1 <= time.monotonic() - started < 4
            assert not loading() and yielder.loop_idle()
        finally:
            release()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_yielder_goes_on_when_the_loop_waits_for_its_module_mid_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load is on, but the loop's thread waits for the lock of a module the warm-up is
    importing (its gate waits holding it): the warm-up goes on at once, not after
    ``max_wait_s``, or the request would wait that long for the module."""
    from threadline.core.stored import pause_collector

    stem = f"tl_warm_locked_{time.monotonic_ns()}"
    (tmp_path / f"{stem}.py").write_text("VALUE = 5\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    loop, thread = _run_loop_in_thread()
    release = pause_collector()
    try:
        yielder = warm_up.Yielder(thread.ident, poll_s=0.001, settle_s=0.005, max_wait_s=3)
        imported: list[object] = []
        waited: list[float] = []

        def before_each() -> None:  # runs holding the module's lock
            loop.call_soon_threadsafe(lambda: imported.append(__import__(stem).VALUE))
            time.sleep(0.05)  # the loop's thread is blocked on the module's lock by now
            started = time.monotonic()
            yielder.wait()
            waited.append(time.monotonic() - started)

        warm_up.import_yielding([stem], before_each)
        deadline = time.monotonic() + 5
        while not imported:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert imported == [5] and waited and waited[0] < 1.5
    finally:
        release()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_yielder_waits_out_a_request_that_awaits_between_its_steps() -> None:
    """A request that awaits between its steps (store writes in a worker thread) leaves
    the loop idle for moments. A poll that lands on one after slower polls saw the loop
    busy is no sign that the request is over: the wait ends only once polls close
    together have found the loop idle for ``settle_s`` in a row."""
    loop, thread = _run_loop_in_thread()
    try:
        yielder = warm_up.Yielder(
            thread.ident, poll_s=0.001, max_poll_s=0.01, settle_s=0.05, max_wait_s=30
        )
        running = threading.Event()
        done = threading.Event()

        async def request() -> None:
            running.set()
            for _ in range(300):  # about 3 ms of Python code, then 1.5 ms awaiting
                ends = time.perf_counter() + 0.003
                while time.perf_counter() < ends:
                    sum(range(100))
                await asyncio.sleep(0.0015)
            done.set()

        asyncio.run_coroutine_threadsafe(request(), loop)
        assert running.wait(5)
        yielder.wait()
        assert done.is_set()  # not in one of the request's idle moments
        yielder.close()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
